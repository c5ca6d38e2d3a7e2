//! A tiny SQS function built with `lambda_runtime`, used to exercise the local Runtime API and
//! runner: it reports every record whose body contains `fail` as a batch item failure.
//!
//! Bodies that steer it (for tests): `sleep:<ms>` sleeps before answering, `panic` panics (the
//! runtime posts an `…/error`), `error` returns an error, `exit` exits the process mid-invocation,
//! `huge` answers with a 7 MB response. Each invocation prints one line
//! `echo: <request id> <n> records …` to stdout, and with `ECHO_DUMP=1` also `event: <json>`.
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    let payload = event.payload.clone();
    if std::env::var("ECHO_DUMP").is_ok_and(|v| v == "1") {
        println!("event: {payload}");
    }
    let payload: SqsEvent = serde_json::from_value(payload)?;
    let records = &payload.records;
    println!(
        "echo: {} {} records deadline={} arn={} app={} pool={} trace={}",
        event.context.request_id,
        records.len(),
        event.context.deadline,
        event.context.invoked_function_arn,
        event
            .context
            .client_context
            .as_ref()
            .map_or("-", |c| c.client.app_title.as_str()),
        event
            .context
            .identity
            .as_ref()
            .map_or("-", |i| i.identity_pool_id.as_str()),
        event.context.xray_trace_id.as_deref().unwrap_or("-"),
    );
    let mut response = SqsBatchResponse::default();
    for record in records {
        let body = record.body.as_deref().unwrap_or_default();
        if let Some(ms) = body.strip_prefix("sleep:") {
            let ms: u64 = ms.trim().parse().unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        match body {
            "panic" => panic!("asked to panic"),
            "exit" => std::process::exit(3),
            "huge" => return Ok(serde_json::json!({"padding": "x".repeat(7 * 1024 * 1024)})),
            "error" => return Err("asked to fail the invocation".into()),
            _ => {}
        }
        if body.contains("fail") {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    Ok(serde_json::to_value(response)?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var("ECHO_DUMP").is_ok_and(|v| v == "1") {
        let vars: Vec<String> = [
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "_HANDLER",
            "AWS_REGION",
            "LAMBDA_TASK_ROOT",
        ]
        .iter()
        .map(|name| format!("{name}={}", std::env::var(name).unwrap_or_default()))
        .collect();
        println!("env: {}", vars.join(" "));
    }
    lambda_runtime::run(service_fn(handler)).await
}
