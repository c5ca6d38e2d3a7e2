//! The producer's sender through kx-events-local's fault-injecting proxy in front of moto:
//! failed `SendMessageBatch` requests and entries are retried and then delivered (once each),
//! the give-up path logs every id with its JSON, AccessDenied is given up on at once and opens
//! the circuit breaker, throttling is retried by the client alone (no SDK retries on top), a
//! failed or slow direct `PutEvents` leaves the SQS message unmarked (and never holds the SQS
//! send past the bus put timeout) so the consumer publishes the event.

#[path = "producer_common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kx_events::{Config, Publisher, TrackedEvent, ON_BUS_ATTRIBUTE};
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use uuid::Uuid;

fn events(n: usize, marker: &str) -> Vec<TrackedEvent> {
    (0..n)
        .map(|i| {
            let mut e = TrackedEvent::new("client_123", "order", "order_created");
            e.points_awarded = Some(i as i32);
            e.session_id = Some(format!("{marker}-{i}"));
            e
        })
        .collect()
}

async fn proxied_publisher(
    proxy: &FaultProxy,
    queue_url: &str,
    attempts: u32,
    bus: Option<String>,
) -> Publisher {
    Publisher::new(
        Config::from_env()
            .with_queue_url(queue_url)
            .with_event_bus_name(bus)
            .with_endpoint_url(proxy.url())
            .with_max_attempts(attempts)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
            // moto routes each put before it answers: give it longer than AWS needs.
            .with_bus_put_timeout(Duration::from_secs(10)),
    )
}

/// Message bodies by event id; panics on a duplicate.
fn by_id(messages: &[aws_sdk_sqs::types::Message]) -> HashMap<Uuid, &aws_sdk_sqs::types::Message> {
    let mut out = HashMap::new();
    for m in messages {
        let e = TrackedEvent::from_json(m.body().unwrap().as_bytes()).unwrap();
        assert!(
            out.insert(e.event_id, m).is_none(),
            "{} delivered twice",
            e.event_id
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_retried_then_delivered() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-req").await;
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    proxy.fail_requests(SEND_MESSAGE_BATCH, 500, Some(2));
    proxy.fail_requests(SEND_MESSAGE_BATCH, 503, Some(1));
    let publisher = proxied_publisher(&proxy, &url, 10, None).await;

    let sent = events(15, "req");
    for e in &sent {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    let messages = common::take_all(&sqs, &url).await;
    let got = by_id(&messages);
    assert_eq!(
        got.keys().copied().collect::<HashSet<_>>(),
        sent.iter().map(|e| e.event_id).collect()
    );
    for e in &sent {
        assert_eq!(got[&e.event_id].body(), Some(e.to_json().as_str()));
    }
    let stats = proxy.stats().target(SEND_MESSAGE_BATCH);
    assert_eq!(stats.failed_requests, 3);
    assert!(stats.forwarded >= 2, "{stats:?}");
    assert!(common::lines()
        .iter()
        .any(|l| l.field("message") == Some("send failed; retrying with backoff")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_are_retried_alone_then_delivered_once() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-entries").await;
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    proxy
        .fail_entries(SEND_MESSAGE_BATCH, EntrySelector::EveryNth(3), Some(7))
        .unwrap();
    let publisher = proxied_publisher(&proxy, &url, 10, None).await;

    let sent = events(30, "entries");
    for e in &sent {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    let messages = common::take_all(&sqs, &url).await;
    let got = by_id(&messages);
    assert_eq!(got.len(), sent.len(), "each event delivered exactly once");
    let stats = proxy.stats().target(SEND_MESSAGE_BATCH);
    assert_eq!(stats.failed_entries, 7);
    // Only the failed entries were sent again.
    assert_eq!(stats.forwarded_entries, sent.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_give_up_path_logs_every_id_with_its_json() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-giveup").await;
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    proxy.fail_requests(SEND_MESSAGE_BATCH, 503, None);
    let publisher = proxied_publisher(&proxy, &url, 3, None).await;

    let sent = events(21, "giveup");
    for e in &sent {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    let lines = common::lines();
    for e in &sent {
        let id = e.event_id.to_string();
        let lost: Vec<_> = lines
            .iter()
            .filter(|l| {
                l.level == tracing::Level::ERROR && l.field("event_id") == Some(id.as_str())
            })
            .collect();
        assert_eq!(lost.len(), 1, "one give-up line for {id}");
        assert_eq!(lost[0].field("event"), Some(e.to_json().as_str()));
        assert!(lost[0]
            .field("reason")
            .unwrap()
            .starts_with("gave up after 3 attempts"));
    }
    assert!(common::take_all(&sqs, &url).await.is_empty());
    // Every request failed; three attempts of 21 events, at most 10 per request: at least 9.
    let stats = proxy.stats().target(SEND_MESSAGE_BATCH);
    assert_eq!(stats.failed_requests, stats.requests);
    assert!(stats.requests >= 9, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_direct_put_leaves_the_message_unmarked() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-bus").await;
    let bus = common::unique("fault-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    // Entries whose Detail mentions "unlucky" fail; the others are put.
    proxy
        .fail_entries(
            PUT_EVENTS,
            EntrySelector::PayloadContains("unlucky".into()),
            None,
        )
        .unwrap();
    let publisher = proxied_publisher(&proxy, &url, 5, Some(bus.clone())).await;

    let lucky = events(8, "lucky");
    let unlucky = events(4, "unlucky");
    for e in lucky.iter().chain(&unlucky) {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    // And a whole PutEvents failure: everything goes unmarked.
    let down = proxy.fail_requests(PUT_EVENTS, 500, None);
    let during_outage = events(3, "outage");
    for e in &during_outage {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;
    proxy.remove(down);

    let messages = common::take_all(&sqs, &url).await;
    let got = by_id(&messages);
    assert_eq!(got.len(), lucky.len() + unlucky.len() + during_outage.len());
    let marked = |id: &Uuid| {
        got[id]
            .message_attributes()
            .and_then(|a| a.get(ON_BUS_ATTRIBUTE))
            .and_then(|v| v.string_value())
            == Some("true")
    };
    for e in &lucky {
        assert!(marked(&e.event_id), "put on the bus: marked");
    }
    for e in unlucky.iter().chain(&during_outage) {
        assert!(
            !marked(&e.event_id),
            "not on the bus: unmarked, the consumer publishes it"
        );
        let id = e.event_id.to_string();
        assert!(common::lines()
            .iter()
            .any(|l| l.level == tracing::Level::WARN
                && l.field("event_id") == Some(id.as_str())
                && l.field("message")
                    .is_some_and(|m| m.starts_with("direct PutEvents failed"))));
    }
}

/// The error lines of `id`.
fn lost_lines(id: &Uuid) -> Vec<common::Line> {
    let id = id.to_string();
    common::lines()
        .into_iter()
        .filter(|l| l.level == tracing::Level::ERROR && l.field("event_id") == Some(id.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_given_up_at_once_and_opens_the_circuit_breaker() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-denied").await;
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    let denied = proxy.fail_requests_with_code(SEND_MESSAGE_BATCH, 403, "AccessDenied", None);
    // Six attempts and a long backoff allowed: a permanent error must use neither.
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_endpoint_url(proxy.url())
            .with_max_attempts(6)
            .with_backoff(Duration::from_secs(5), Duration::from_secs(30))
            .with_circuit_breaker(3, Duration::from_millis(600)),
    );

    // Round 1: 15 events, two requests, each refused once; nothing retried.
    let first = events(15, "denied");
    for e in &first {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    let started = std::time::Instant::now();
    publisher.flush().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no backoff waited out"
    );
    assert_eq!(proxy.stats().target(SEND_MESSAGE_BATCH).requests, 2);
    for e in &first {
        let lost = lost_lines(&e.event_id);
        assert_eq!(lost.len(), 1, "one line for {}", e.event_id);
        assert_eq!(lost[0].field("event"), Some(e.to_json().as_str()));
        let reason = lost[0].field("reason").unwrap();
        assert!(
            reason.starts_with("permanent error, not retried"),
            "{reason}"
        );
        assert!(reason.contains("AccessDenied"), "{reason}");
    }

    // Rounds 2 and 3 fail the same way: the third permanent failure in a row opens the breaker.
    for round in 0..2 {
        for e in events(3, &format!("denied-{round}")) {
            assert!(publisher.publish(e).is_queued());
        }
        publisher.flush().await;
    }
    assert_eq!(proxy.stats().target(SEND_MESSAGE_BATCH).requests, 4);
    assert!(common::lines().iter().any(|l| l
        .field("message")
        .is_some_and(|m| m.starts_with("circuit breaker open"))));

    // While it is open, events are given up on without a request, each logged with its id.
    let while_open = events(4, "open");
    for e in &while_open {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;
    assert_eq!(proxy.stats().target(SEND_MESSAGE_BATCH).requests, 4);
    for e in &while_open {
        let lost = lost_lines(&e.event_id);
        assert_eq!(lost.len(), 1);
        assert!(lost[0]
            .field("reason")
            .unwrap()
            .contains("circuit breaker is open"));
    }

    // The permission is fixed; after the cooldown one round goes through and closes it.
    proxy.remove(denied);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = events(5, "fixed");
    for e in &after {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;
    let got = by_id(&common::take_all(&sqs, &url).await)
        .keys()
        .copied()
        .collect::<HashSet<_>>();
    assert_eq!(got, after.iter().map(|e| e.event_id).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_a_longer_backoff_and_the_sdk_adds_no_attempts() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-throttled").await;
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    proxy.fail_requests_with_code(SEND_MESSAGE_BATCH, 400, "RequestThrottled", Some(2));
    // An SDK configuration of the user's, with the SDK's standard retries (3 attempts) on:
    // the client turns them off, so each of its attempts is one request.
    let user_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .endpoint_url(proxy.url())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await;
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_sdk_config(user_sdk)
            .with_max_attempts(5)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
    );
    // One batch at the flush, so that every request is one attempt of the same 7 events.
    publisher.hold_until_flush();
    let sent = events(7, "throttled");
    for e in &sent {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    let messages = common::take_all(&sqs, &url).await;
    let got = by_id(&messages);
    assert_eq!(got.len(), sent.len());
    let stats = proxy.stats().target(SEND_MESSAGE_BATCH);
    assert_eq!(stats.failed_requests, 2);
    assert_eq!(
        stats.requests, 3,
        "two throttled attempts and one that went through, no SDK retries: {stats:?}"
    );
    // Both throttled answers reached the client's own retry (the SDK retried neither).
    let retries = common::lines()
        .iter()
        .filter(|l| {
            l.field("message") == Some("send failed; retrying with backoff")
                && l.field("error")
                    .is_some_and(|e| e.contains("RequestThrottled"))
        })
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_bus_does_not_hold_the_sqs_send() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    let url = common::create_queue(&sqs, "fault-slow-bus").await;
    let bus = common::unique("slow-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let proxy = FaultProxy::start(&common::endpoint()).await.unwrap();
    // Every PutEvents is held for 5 s.
    proxy.delay_requests(PUT_EVENTS, Duration::from_secs(5), None);
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_event_bus_name(Some(bus))
            .with_endpoint_url(proxy.url())
            .with_bus_put_timeout(Duration::from_millis(200)),
    );
    let sent = events(12, "slow-bus");
    for e in &sent {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    let started = std::time::Instant::now();
    publisher.flush().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the SQS send did not wait for the held PutEvents ({:?})",
        started.elapsed()
    );

    let messages = common::take_all(&sqs, &url).await;
    let got = by_id(&messages);
    assert_eq!(got.len(), sent.len(), "every event is in the queue");
    for e in &sent {
        assert!(
            got[&e.event_id]
                .message_attributes()
                .is_none_or(|a| !a.contains_key(ON_BUS_ATTRIBUTE)),
            "unmarked: the consumer publishes it"
        );
        let id = e.event_id.to_string();
        assert!(common::lines()
            .iter()
            .any(|l| l.level == tracing::Level::WARN
                && l.field("event_id") == Some(id.as_str())
                && l.field("error")
                    .is_some_and(|m| m.contains("bus_put_timeout"))));
    }
}
