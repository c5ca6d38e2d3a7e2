//! `kx_events::run` when the network hangs: the flush extension stops shortly before the
//! invocation's deadline, logs every event it could not send (id and JSON, at error level), and
//! the invocation still completes instead of timing out (which would reset the sandbox and lose
//! the events without a trace).

#[path = "producer_common/mod.rs"]
mod common;

use std::time::Duration;

use kx_events::{track, TrackedEvent};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use uuid::Uuid;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let ids: Vec<Uuid> = (0..5)
        .filter_map(|_| track!(event, "order", "order_created").event_id())
        .collect();
    Ok(json!({ "ids": ids }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_network_never_times_the_invocation_out_and_every_event_is_logged() {
    common::record_logs();
    // SQS that accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = blackhole.accept().await {
            held.push(conn);
        }
    });

    let api = RuntimeApi::start().await.expect("Runtime API");
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", api.host_port());
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "producer");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://{addr}"));
    std::env::set_var(
        "EVENTS_QUEUE_URL",
        format!("http://{addr}/123456789012/events"),
    );
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    tokio::spawn(kx_events::run(service_fn(handler)));

    // A 2 s function timeout; the send would hang for 10 s per attempt.
    let outcome = api
        .invoke(json!({ "clientId": "client_123" }), Duration::from_secs(2))
        .await
        .expect("invoke");
    let InvocationOutcome::Response(body) = &outcome else {
        panic!("the invocation must complete, got {outcome:?}")
    };
    let ids: Vec<Uuid> = serde_json::from_value(body["ids"].clone()).unwrap();
    assert_eq!(ids.len(), 5);
    let lines = common::lines();
    for id in &ids {
        let id = id.to_string();
        let lost: Vec<_> = lines
            .iter()
            .filter(|l| {
                l.level == tracing::Level::ERROR && l.field("event_id") == Some(id.as_str())
            })
            .collect();
        assert_eq!(lost.len(), 1, "one error line for {id}");
        let event = TrackedEvent::from_json(lost[0].field("event").unwrap().as_bytes())
            .expect("the logged JSON is the event, recoverable");
        assert_eq!(event.event_id.to_string(), id);
        assert!(lost[0].field("reason").unwrap().contains("deadline"));
    }
}
