//! The local event-source mapping against a real moto server, invoking a real `lambda_runtime`
//! function (the `echo` example) through the Runtime API.
//!
//! Needs `scripts/services.sh up && source .state/env` (fails otherwise).
mod common;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runner::{Runner, RunnerConfig, StopMode};
use kx_events_local::runtime_api::RuntimeApi;
use std::time::Duration;

struct Queues {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    dlq_url: String,
}

async fn queues(max_receive_count: u32) -> Queues {
    common::moto_endpoint();
    let sdk = kx_events_local::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("kx-local-runner-{}", uuid::Uuid::new_v4().simple());
    // kx-events' queue: a long visibility timeout, so retries rely on retry_delay locally.
    let (url, dlq_url) = common::queue_with_dlq(
        &sqs,
        &name,
        max_receive_count,
        &[(QueueAttributeName::VisibilityTimeout, "300".into())],
    )
    .await;
    let arn = common::queue_arn(&sqs, &url).await;
    Queues {
        sqs,
        url,
        arn,
        dlq_url,
    }
}

async fn send(q: &Queues, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_attributes(
                        "kind",
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value("test")
                            .build()
                            .unwrap(),
                    )
                    .message_attributes(
                        "points",
                        MessageAttributeValue::builder()
                            .data_type("Number")
                            .string_value("42")
                            .build()
                            .unwrap(),
                    )
                    .message_attributes(
                        "blob",
                        MessageAttributeValue::builder()
                            .data_type("Binary")
                            .binary_value(Blob::new(vec![0u8, 1, 2, 255]))
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap()
            })
            .collect();
        let out = q
            .sqs
            .send_message_batch()
            .queue_url(&q.url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty());
    }
}

/// Receives everything currently visible on a queue (bodies).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        bodies.extend(messages.into_iter().filter_map(|m| m.body));
    }
}

fn batch_sizes(function: &Function) -> Vec<usize> {
    function
        .lines_containing("echo: ")
        .iter()
        .filter_map(|line| line.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

async fn echo(dump: bool) -> Function {
    let api = RuntimeApi::start().await.unwrap();
    let mut config = FunctionConfig::new(common::example("echo"));
    if dump {
        config = config.env("ECHO_DUMP", "1");
    }
    Function::spawn(&api, config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_successes_and_redrives_reported_failures_to_the_dlq() {
    let q = queues(3).await;
    let mut bodies: Vec<String> = (0..25).map(|i| format!("ok-{i}")).collect();
    bodies.push("please fail-a".into());
    bodies.push("please fail-b".into());
    send(&q, &bodies).await;

    let mut function = echo(true).await;
    let mut config = RunnerConfig::new(&q.url);
    config.batch_size = 10;
    config.batching_window = Duration::from_millis(500);
    config.retry_delay = Some(Duration::from_secs(1));
    config.stop = StopMode::WhenIdle(Duration::from_secs(4));
    let runner = Runner::new(config).await.unwrap();
    assert_eq!(runner.queue_arn(), q.arn);
    let stats = runner.run(&mut function).await.unwrap();
    eprintln!("stats: {stats}");

    // Every good message deleted once; each failing one seen 3 times, then moved to the DLQ.
    assert_eq!(stats.deleted, 25, "{stats}");
    assert_eq!(stats.failed, 6, "{stats}");
    assert_eq!(stats.messages, 31, "{stats}");
    assert_eq!(stats.errors, 0, "{stats}");
    assert!(batch_sizes(&function).iter().all(|&n| n <= 10));
    assert!(
        batch_sizes(&function).contains(&10),
        "{:?}",
        batch_sizes(&function)
    );
    assert!(drain(&q.sqs, &q.url).await.is_empty());
    let mut dlq = drain(&q.sqs, &q.dlq_url).await;
    dlq.sort();
    assert_eq!(dlq, vec!["please fail-a", "please fail-b"]);

    // The event is what Lambda sends.
    let line = function.lines_containing("event: ").remove(0);
    let event: serde_json::Value =
        serde_json::from_str(line.trim_start_matches("event: ")).unwrap();
    let record = &event["Records"][0];
    for key in ["messageId", "receiptHandle", "body", "md5OfBody"] {
        assert!(
            record[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {record}"
        );
    }
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(record["eventSourceARN"], q.arn.as_str());
    assert_eq!(record["awsRegion"], "us-east-1");
    let attributes = &record["attributes"];
    for key in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(attributes[key].is_string(), "{key}: {attributes}");
    }
    assert_eq!(attributes["ApproximateReceiveCount"], "1");
    let message_attributes = &record["messageAttributes"];
    assert_eq!(
        message_attributes["kind"],
        serde_json::json!({"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
    );
    assert_eq!(message_attributes["points"]["dataType"], "Number");
    assert_eq!(message_attributes["points"]["stringValue"], "42");
    assert_eq!(message_attributes["blob"]["binaryValue"], "AAEC/w==");
    assert_eq!(message_attributes["blob"]["dataType"], "Binary");

    // Redeliveries carry the growing receive count.
    let counts: Vec<String> = function
        .lines_containing("event: ")
        .iter()
        .filter(|line| line.contains("please fail-a"))
        .map(|line| {
            let event: serde_json::Value =
                serde_json::from_str(line.trim_start_matches("event: ")).unwrap();
            event["Records"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["body"] == "please fail-a")
                .unwrap()["attributes"]["ApproximateReceiveCount"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(counts, ["1", "2", "3"]);
    function.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_window_gathers_several_polls_into_one_invocation() {
    let q = queues(3).await;
    let bodies: Vec<String> = (0..25).map(|i| format!("m-{i}")).collect();
    send(&q, &bodies).await;

    let mut function = echo(false).await;
    let mut config = RunnerConfig::new(&q.url);
    config.batch_size = 100;
    config.batching_window = Duration::from_millis(1500);
    config.stop = StopMode::WhenIdle(Duration::from_secs(2));
    let runner = Runner::new(config).await.unwrap();
    let stats = runner.run(&mut function).await.unwrap();
    assert_eq!(stats.deleted, 25, "{stats}");
    assert_eq!(batch_sizes(&function), vec![25]);
    assert!(stats.polls >= 3, "{stats}");
    function.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_timeouts_fail_the_batch_and_replace_the_process() {
    let q = queues(2).await;
    send(&q, &["exit".to_string()]).await;

    let mut function = echo(false).await;
    let mut config = RunnerConfig::new(&q.url);
    config.retry_delay = Some(Duration::from_secs(1));
    config.function_timeout = Duration::from_secs(1);
    config.stop = StopMode::WhenIdle(Duration::from_secs(3));
    let runner = Runner::new(config.clone()).await.unwrap();
    let stats = runner.run(&mut function).await.unwrap();
    eprintln!("crash stats: {stats}");
    assert_eq!(stats.errors, 2, "{stats}");
    assert_eq!(stats.restarts, 2, "{stats}");
    assert_eq!(stats.deleted, 0, "{stats}");
    assert_eq!(drain(&q.sqs, &q.dlq_url).await, vec!["exit"]);

    // A handler slower than the function timeout: timeout, new process, then it is served.
    send(&q, &["sleep:3000".to_string(), "after".to_string()]).await;
    let runner = Runner::new(config).await.unwrap();
    let stats = runner.run(&mut function).await.unwrap();
    eprintln!("timeout stats: {stats}");
    assert!(stats.timeouts >= 1, "{stats}");
    assert!(function.restarts() >= 3);
    let mut dlq = drain(&q.sqs, &q.dlq_url).await;
    dlq.sort();
    // "after" may share the slow message's batches (then it fails with them and is redriven too)
    // or come in a batch of its own (then it is deleted): either way it is accounted for once.
    assert!(dlq.contains(&"sleep:3000".to_string()), "{dlq:?}");
    let after_in_dlq = dlq.iter().filter(|b| *b == "after").count() as u64;
    assert_eq!(stats.deleted + after_in_dlq, 1, "{stats} {dlq:?}");
    assert!(drain(&q.sqs, &q.url).await.is_empty());
    function.kill().await.unwrap();
}
