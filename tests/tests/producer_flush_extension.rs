//! `kx_events::run` under the Lambda Runtime API and Extensions API (kx-events-local's server,
//! which completes an invocation only when the runtime *and* every extension asked for their
//! next event): the events a handler tracks are in the SQS queue (moto) before the invocation
//! completes, and they are sent only after the response was posted.

#[path = "producer_common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use kx_events::{track, TrackedEvent};
use kx_events_local::runtime_api::{InvocationOutcome, ProtocolEvent, RuntimeApi};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use uuid::Uuid;

/// Tracks `count` events (the request's `clientId`), returns their ids; fails on `"fail": true`.
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == true {
        return Err("asked to fail".into());
    }
    let count = event.payload["count"].as_u64().unwrap_or(1);
    let mut ids = Vec::new();
    for i in 0..count {
        let tracked = track!(event, "order", "order_created", points_awarded = i as i32);
        ids.push(tracked.event_id().expect("queued"));
    }
    Ok(json!({ "ids": ids }))
}

fn ids_of(messages: &[aws_sdk_sqs::types::Message]) -> HashSet<Uuid> {
    messages
        .iter()
        .map(|m| {
            TrackedEvent::from_json(m.body().unwrap().as_bytes())
                .expect("the consumer's decoder accepts it")
                .event_id
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_queue_after_the_response_and_before_the_next_invocation() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "flush-ext").await;

    let api = RuntimeApi::start().await.expect("Runtime API");
    // The environment Lambda gives a function (this test binary plays the function).
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", api.host_port());
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "producer");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    std::env::set_var("EVENTS_QUEUE_URL", &url);
    tokio::spawn(kx_events::run(service_fn(handler)));

    let timeout = Duration::from_secs(30);
    for (round, count) in [1u64, 12, 25].into_iter().enumerate() {
        let outcome = api
            .invoke(json!({ "clientId": "client_123", "count": count }), timeout)
            .await
            .expect("invoke");
        let InvocationOutcome::Response(body) = &outcome else {
            panic!("invocation {round}: {outcome:?}")
        };
        let tracked: HashSet<Uuid> = serde_json::from_value(body["ids"].clone()).unwrap();
        assert_eq!(tracked.len() as u64, count);

        // `invoke` returns once the invocation completed (the extension asked for its next
        // event): every event is already in the queue, no waiting.
        let in_queue = ids_of(&common::take_all(&sqs, &url).await);
        assert_eq!(
            in_queue, tracked,
            "invocation {round}: delivered before it completed"
        );

        // And it was sent after the response was posted.
        let timeline = api.timeline();
        let request_id = timeline
            .iter()
            .rev()
            .find_map(|e| match &e.event {
                ProtocolEvent::InvocationDispatched { request_id } => Some(request_id.clone()),
                _ => None,
            })
            .unwrap();
        let at = |want: fn(&ProtocolEvent, &str) -> bool| {
            timeline
                .iter()
                .find(|e| want(&e.event, &request_id))
                .map(|e| e.at)
                .unwrap()
        };
        let dispatched = at(
            |e, id| matches!(e, ProtocolEvent::InvocationDispatched { request_id } if request_id == id),
        );
        let responded = at(
            |e, id| matches!(e, ProtocolEvent::ResponsePosted { request_id } if request_id == id),
        );
        let completed = at(
            |e, id| matches!(e, ProtocolEvent::InvocationCompleted { request_id } if request_id == id),
        );
        let sends: Vec<_> = common::lines()
            .into_iter()
            .filter(|l| {
                l.at >= dispatched
                    && l.at <= completed
                    && l.field("operation") == Some("SendMessageBatch")
                    && l.field("message") == Some("sending")
            })
            .collect();
        assert!(
            !sends.is_empty(),
            "invocation {round}: no SendMessageBatch recorded"
        );
        assert_eq!(
            sends
                .iter()
                .map(|l| l.fields["entries"].as_u64().unwrap())
                .sum::<u64>(),
            count,
            "every event of the invocation was sent during its flush"
        );
        for send in &sends {
            assert!(
                send.at > responded,
                "invocation {round}: a send started before the response was posted"
            );
        }
    }

    // A failing invocation tracks nothing itself (the handler returned before tracking).
    let outcome = api
        .invoke(json!({ "clientId": "client_123", "fail": true }), timeout)
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::FunctionError(_)),
        "{outcome:?}"
    );
    assert!(common::take_all(&sqs, &url).await.is_empty());
}
