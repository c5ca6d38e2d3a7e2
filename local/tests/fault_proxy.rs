//! The fault proxy in front of a real moto server, driven by the real AWS SDK.
//!
//! Needs `scripts/services.sh up && source .state/env` (fails otherwise).
mod common;

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use std::collections::BTreeSet;

struct Env {
    proxy: FaultProxy,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    bus: String,
    /// Receives every event put on `bus` (rule → SQS target), read directly from moto.
    sink_url: String,
    direct_sqs: aws_sdk_sqs::Client,
}

async fn env() -> Env {
    let moto = common::moto_endpoint();
    let proxy = FaultProxy::start(&moto).await.unwrap();
    let direct = kx_events_local::aws_sdk_config().await;
    // Set the endpoint on the service config: on an `SdkConfig` loaded from the environment,
    // `to_builder().endpoint_url(..)` loses to `AWS_ENDPOINT_URL`.
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&direct)
            .endpoint_url(proxy.url())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&direct)
            .endpoint_url(proxy.url())
            .build(),
    );
    let direct_sqs = aws_sdk_sqs::Client::new(&direct);
    let direct_events = aws_sdk_eventbridge::Client::new(&direct);

    let name = format!("kx-local-proxy-{}", uuid::Uuid::new_v4().simple());
    direct_events
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .unwrap();
    let sink_url = common::create_queue(&direct_sqs, &format!("{name}-sink"), &[]).await;
    let sink_arn = common::queue_arn(&direct_sqs, &sink_url).await;
    direct_events
        .put_rule()
        .name(format!("{name}-all"))
        .event_bus_name(&name)
        .event_pattern(r#"{"source":["kx-local-test"]}"#)
        .send()
        .await
        .unwrap();
    direct_events
        .put_targets()
        .rule(format!("{name}-all"))
        .event_bus_name(&name)
        .targets(Target::builder().id("sink").arn(sink_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    Env {
        proxy,
        events,
        sqs,
        bus: name,
        sink_url,
        direct_sqs,
    }
}

fn entries(bus: &str, details: &[String]) -> Vec<PutEventsRequestEntry> {
    details
        .iter()
        .map(|detail| {
            PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source("kx-local-test")
                .detail_type("order.order_created")
                .detail(detail)
                .build()
        })
        .collect()
}

impl Env {
    /// `PutEvents` of `details` on the test bus, through the proxy.
    async fn put(
        &self,
        details: &[String],
    ) -> Result<
        aws_sdk_eventbridge::operation::put_events::PutEventsOutput,
        aws_sdk_eventbridge::error::SdkError<
            aws_sdk_eventbridge::operation::put_events::PutEventsError,
        >,
    > {
        self.events
            .put_events()
            .set_entries(Some(entries(&self.bus, details)))
            .send()
            .await
    }
}

/// The `detail.n` of every event on the sink queue.
async fn delivered(env: &Env) -> BTreeSet<u64> {
    let mut seen = BTreeSet::new();
    loop {
        let out = env
            .direct_sqs
            .receive_message()
            .queue_url(&env.sink_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return seen;
        }
        for message in messages {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body().unwrap()).unwrap();
            assert!(
                seen.insert(envelope["detail"]["n"].as_u64().unwrap()),
                "duplicate"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_partial_failures_are_merged_in_place() {
    let env = env().await;
    let details: Vec<String> = (0..10)
        .map(|n| {
            let tag = if n == 7 { "poison" } else { "fine" };
            serde_json::json!({"n": n, "tag": tag}).to_string()
        })
        .collect();

    // Every 3rd entry (3rd, 6th, 9th) and the one whose Detail says "poison".
    env.proxy
        .fail_entries(PUT_EVENTS, EntrySelector::EveryNth(3), None)
        .unwrap();
    let poison = env
        .proxy
        .fail_entries(
            PUT_EVENTS,
            EntrySelector::PayloadContains("poison".into()),
            Some(1),
        )
        .unwrap();
    let out = env.put(&details).await.unwrap();
    assert_eq!(out.failed_entry_count(), 4);
    let results = out.entries();
    assert_eq!(results.len(), 10);
    for (i, result) in results.iter().enumerate() {
        let should_fail = [2, 5, 7, 8].contains(&i);
        assert_eq!(
            result.error_code().is_some(),
            should_fail,
            "entry {i}: {result:?}"
        );
        assert_eq!(result.event_id().is_some(), !should_fail, "entry {i}");
    }
    assert_eq!(delivered(&env).await, BTreeSet::from([0, 1, 3, 4, 6, 9]));
    // The poison fault was used up; only every-3rd remains.
    assert_eq!(env.proxy.remaining(poison), None);
    let stats = env.proxy.stats().target(PUT_EVENTS);
    assert_eq!(stats.failed_entries, 4);
    assert_eq!(stats.forwarded_entries, 6);
    assert_eq!(
        stats.last_content_type.as_deref(),
        Some("application/x-amz-json-1.1")
    );

    // Retry just the failed ones (as the consumer does), with one more entry failure injected:
    // the first retried entry fails again.
    env.proxy.clear();
    env.proxy
        .fail_entries(PUT_EVENTS, EntrySelector::All, Some(1))
        .unwrap();
    let retry: Vec<String> = [2, 5, 7, 8].iter().map(|&i| details[i].clone()).collect();
    let out = env.put(&retry).await.unwrap();
    assert_eq!(out.failed_entry_count(), 1);
    assert!(out.entries()[0].error_code().is_some());
    assert_eq!(delivered(&env).await, BTreeSet::from([5, 7, 8]));

    // Every entry failing: nothing is forwarded, the answer is synthesised.
    env.proxy
        .fail_entries(PUT_EVENTS, EntrySelector::All, None)
        .unwrap();
    let forwarded_before = env.proxy.stats().target(PUT_EVENTS).forwarded;
    let out = env.put(&details[..3]).await.unwrap();
    assert_eq!(out.failed_entry_count(), 3);
    assert_eq!(
        env.proxy.stats().target(PUT_EVENTS).forwarded,
        forwarded_before
    );
    assert!(delivered(&env).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_request_failures_are_retried_by_the_sdk_or_surface() {
    let env = env().await;
    let details = vec![serde_json::json!({"n": 1}).to_string()];

    // One 500: the SDK's retry hides it.
    env.proxy.fail_requests(PUT_EVENTS, 500, Some(1));
    let out = env.put(&details).await.unwrap();
    assert_eq!(out.failed_entry_count(), 0);
    let stats = env.proxy.stats().target(PUT_EVENTS);
    assert_eq!((stats.failed_requests, stats.forwarded), (1, 1));

    // 503 until turned off: the call fails with the service's error.
    let outage = env.proxy.fail_requests(PUT_EVENTS, 503, None);
    let error = env.put(&details).await.unwrap_err();
    let text = format!(
        "{:?}",
        aws_sdk_eventbridge::error::DisplayErrorContext(&error)
    );
    assert!(text.contains("ServiceUnavailable"), "{text}");
    let failed = env.proxy.stats().target(PUT_EVENTS).failed_requests;
    assert!(failed >= 3, "the SDK should have retried: {failed}");
    env.proxy.remove(outage);
    let details = vec![serde_json::json!({"n": 2}).to_string()];
    env.put(&details).await.unwrap();
    assert_eq!(delivered(&env).await, BTreeSet::from([1, 2]));

    // A held request: the caller is stuck in the call until the delay is over.
    env.proxy
        .delay_requests(PUT_EVENTS, std::time::Duration::from_millis(800), Some(1));
    let started = std::time::Instant::now();
    let put = tokio::spawn({
        let events = env.events.clone();
        let entries = entries(&env.bus, &[serde_json::json!({"n": 3}).to_string()]);
        async move { events.put_events().set_entries(Some(entries)).send().await }
    });
    while env.proxy.stats().target(PUT_EVENTS).delayed == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!put.is_finished());
    put.await.unwrap().unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(800));
    assert_eq!(delivered(&env).await, BTreeSet::from([3]));

    // Other operations pass through untouched.
    env.sqs
        .get_queue_attributes()
        .queue_url(&env.sink_url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.proxy
            .stats()
            .target("AmazonSQS.GetQueueAttributes")
            .forwarded,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_batch_partial_failures() {
    let env = env().await;
    let queue = common::create_queue(&env.sqs, &format!("{}-q", env.bus), &[]).await;
    env.proxy
        .fail_entries(
            SEND_MESSAGE_BATCH,
            EntrySelector::PayloadContains("bad".into()),
            None,
        )
        .unwrap();
    let bodies = ["good-0", "bad-1", "good-2", "bad-3", "good-4"];
    let batch: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(*body)
                .build()
                .unwrap()
        })
        .collect();
    let out = env
        .sqs
        .send_message_batch()
        .queue_url(&queue)
        .set_entries(Some(batch))
        .send()
        .await
        .unwrap();
    let failed: BTreeSet<&str> = out.failed().iter().map(|f| f.id()).collect();
    assert_eq!(failed, BTreeSet::from(["e1", "e3"]));
    assert!(out.failed().iter().all(|f| !f.sender_fault()));
    let ok: BTreeSet<&str> = out.successful().iter().map(|s| s.id()).collect();
    assert_eq!(ok, BTreeSet::from(["e0", "e2", "e4"]));
    let stats = env.proxy.stats().target(SEND_MESSAGE_BATCH);
    assert_eq!(
        stats.last_content_type.as_deref(),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!((stats.failed_entries, stats.forwarded_entries), (2, 3));

    let mut on_queue = Vec::new();
    loop {
        let got = env
            .direct_sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        on_queue.extend(got.into_iter().filter_map(|m| m.body));
    }
    on_queue.sort();
    assert_eq!(on_queue, ["good-0", "good-2", "good-4"]);

    // A whole SendMessageBatch outage surfaces as the SQS error after the SDK's retries.
    env.proxy.clear();
    env.proxy.fail_requests(SEND_MESSAGE_BATCH, 500, None);
    let error = env
        .sqs
        .send_message_batch()
        .queue_url(&queue)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("x")
                .message_body("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let text = format!("{:?}", aws_sdk_sqs::error::DisplayErrorContext(&error));
    assert!(text.contains("InternalError"), "{text}");
}
