//! `track_on_ok`: the decorator's contract. An event is recorded only when the wrapped handler
//! returns `Ok`, with the wrapper's extras and the ids of the incoming event.

mod common;

use kx_events::{track_on_ok, Config, EventBuilder, TrackedEvent};
use lambda_runtime::{Error, LambdaEvent, Service};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_tracked_only_when_the_handler_succeeds() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "wrapper").await;
    kx_events::init(Config::from_env().with_queue_url(&url)).unwrap();

    let mut handler = track_on_ok(
        EventBuilder::new("notification", "email_sent")
            .source("worker")
            .points_awarded(10),
        |event: LambdaEvent<Value>| async move {
            if event.payload["fail"] == true {
                Err::<Value, Error>("the job failed".into())
            } else {
                Ok(json!({ "jobId": event.payload["jobId"], "status": "completed" }))
            }
        },
    );
    let worker: Value = serde_json::from_str(include_str!("fixtures/worker_event.json")).unwrap();
    let ok = handler
        .call(LambdaEvent::new(worker.clone(), Default::default()))
        .await
        .unwrap();
    assert_eq!(ok["status"], "completed");

    let mut failing = worker.clone();
    failing["fail"] = json!(true);
    failing["clientId"] = json!("client_that_failed");
    let err = handler
        .call(LambdaEvent::new(failing, Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the job failed");

    kx_events::flush().await;
    // flush() returned: everything tracked has been sent.
    let messages = common::receive(&sqs, &url, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        common::queue_depth(&sqs, &url).await,
        0,
        "only the successful call is tracked"
    );
    let event = TrackedEvent::from_json(messages[0].body().unwrap().as_bytes()).unwrap();
    assert_eq!(event.client_id, "client_123");
    assert_eq!(event.detail_type(), "notification.email_sent");
    assert_eq!(event.source.as_deref(), Some("worker"));
    assert_eq!(event.points_awarded, Some(10));
}
