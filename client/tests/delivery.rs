//! Delivery against a real SQS/EventBridge emulator (moto) through the real AWS SDK: the wire
//! format, batching, permanent errors given up on at once, the real-time bus path, the memory
//! bounds, and every way an event can fail to be queued. Retries through injected faults are in
//! the workspace's `tests/tests/producer_faults.rs`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use kx_events::{Config, Publisher, TrackError, Tracked, TrackedEvent, ON_BUS_ATTRIBUTE};
use serde_json::{json, Value};
use uuid::Uuid;

/// The full event of the contract's unit tests (the TypeScript system's documented event
/// structure, with a UUID `previousEventId`), with a fresh id.
fn full_event() -> TrackedEvent {
    let mut v: Value =
        serde_json::from_str(include_str!("../src/contract/fixtures/full_event.json")).unwrap();
    v["eventId"] = json!(Uuid::new_v4());
    TrackedEvent::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_the_wire_format_byte_for_byte() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "wire").await;
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_event_bus_name(None),
    );

    // 25 events: three SendMessageBatch calls' worth, one of them the full event.
    let mut sent: Vec<TrackedEvent> = vec![full_event()];
    for i in 0..24 {
        let mut e = TrackedEvent::new("client_123", "order", "order_created");
        e.points_awarded = Some(i);
        e.metadata = Some(
            json!({ "i": i, "ünïcødé": "✓", "nested": { "a": [1, 2.5, null] } })
                .as_object()
                .unwrap()
                .clone(),
        );
        sent.push(e);
    }
    for e in &sent {
        assert_eq!(publisher.publish(e.clone()), Tracked::Queued(e.event_id));
    }
    publisher.flush().await;

    let messages = common::receive(&sqs, &url, sent.len()).await;
    let bodies: HashMap<Uuid, &str> = messages
        .iter()
        .map(|m| {
            let body = m.body().unwrap();
            (
                TrackedEvent::from_json(body.as_bytes()).unwrap().event_id,
                body,
            )
        })
        .collect();
    assert_eq!(bodies.len(), sent.len());
    for e in &sent {
        let body = bodies[&e.event_id];
        assert_eq!(
            body,
            e.to_json(),
            "the body is the contract's wire JSON, byte for byte"
        );
        assert_eq!(&TrackedEvent::from_json(body.as_bytes()).unwrap(), e);
    }
    // The full event is exactly the TypeScript system's JSON (compact, in its field order); the
    // order of the keys inside `metadata` is kept only with the `preserve_order` feature.
    let full = &sent[0];
    let metadata_start = if cfg!(feature = "preserve_order") {
        r#"{"userAgent":"Mozilla/5.0...""#
    } else {
        "{"
    };
    assert!(bodies[&full.event_id].starts_with(&format!(
        r#"{{"eventId":"{}","clientId":"client_123","previousEventId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","userId":"user_789","entityId":"entity_123","entityType":"user","eventType":"user_created","source":"api","campaignId":"campaign_456","pointsAwarded":100,"sessionId":"session_789","occurredAt":"2024-01-15T10:30:00.000Z","metadata":{metadata_start}"#,
        full.event_id
    )));
    // Without a bus, no message is marked as already published.
    for m in &messages {
        assert!(m
            .message_attributes()
            .is_none_or(|a| !a.contains_key(ON_BUS_ATTRIBUTE)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_queue_url_is_reported_with_the_event_json() {
    common::capture_logs();
    let publisher = Publisher::new(Config::default());
    let event = full_event();
    let json = event.to_json();
    let tracked = publisher.publish(event.clone());
    assert_eq!(
        tracked,
        Tracked::NotTracked(TrackError::NotConfigured {
            event_id: event.event_id
        })
    );
    let lines = common::logs_for(&event.event_id);
    assert_eq!(lines.len(), 1, "reported once: {lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["event"], json.as_str());
    assert!(lines[0]["fields"]["reason"]
        .as_str()
        .unwrap()
        .contains("EVENTS_QUEUE_URL"));
    // Flushing with nothing configured returns at once.
    publisher.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_event_is_reported_not_queued() {
    common::capture_logs();
    let publisher =
        Publisher::new(Config::default().with_queue_url("http://127.0.0.1:9/000000000000/never"));
    let mut event = TrackedEvent::new("client_123", "order", "x".repeat(49));
    event.source = Some("api".into());
    let json = event.to_json();
    let Tracked::NotTracked(TrackError::Invalid { event_id, error }) =
        publisher.publish(event.clone())
    else {
        panic!("expected Invalid")
    };
    assert_eq!(event_id, event.event_id);
    assert_eq!(
        error.to_string(),
        "eventType: must be at most 48 characters, got 49"
    );
    let lines = common::logs_for(&event.event_id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["event"], json.as_str());
}

/// An endpoint that accepts connections and never answers: no send can finish.
async fn blackhole() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    addr
}

async fn held_publisher(config: Config) -> Publisher {
    common::endpoint();
    let addr = blackhole().await;
    Publisher::new(
        config
            .with_queue_url(format!("http://{addr}/000000000000/held"))
            .with_endpoint_url(format!("http://{addr}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capacity_bounds_every_event_held_during_an_outage() {
    common::capture_logs();
    // Sending as events come (not holding for a flush), against an endpoint that never
    // answers: the events in flight and waiting count too, so exactly `capacity` are accepted.
    let publisher = held_publisher(Config::default().with_queue_capacity(25)).await;
    let mut queued = Vec::new();
    let mut refused = Vec::new();
    for i in 0..200 {
        let mut event = TrackedEvent::new("client_123", "order", "order_created");
        event.points_awarded = Some(i);
        match publisher.publish(event.clone()) {
            Tracked::Queued(id) => queued.push(id),
            Tracked::NotTracked(e) => refused.push((e, event)),
        }
        if i % 10 == 0 {
            // Give the sender the chance to take events off the line and start sending.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(
        queued.len(),
        25,
        "the capacity holds, whatever the sender does"
    );
    assert_eq!(publisher.queued(), 25);
    assert_eq!(refused.len(), 175);
    for (error, event) in &refused {
        assert_eq!(
            *error,
            TrackError::QueueFull {
                event_id: event.event_id
            }
        );
    }
    let (_, event) = &refused[0];
    let lines = common::logs_for(&event.event_id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["event"], event.to_json().as_str());
    assert!(lines[0]["fields"]["reason"]
        .as_str()
        .unwrap()
        .contains("queue_capacity"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_bounds_large_events() {
    common::capture_logs();
    let publisher = held_publisher(
        Config::default()
            .with_queue_capacity(10_000)
            .with_queue_max_bytes(256 * 1024),
    )
    .await;
    // 30 KB of metadata each: 8 fit in 256 KiB with their JSON, the 9th does not.
    let big = "x".repeat(30_000);
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        let mut event = TrackedEvent::new("client_123", "order", "order_created");
        event.metadata = Some(json!({ "blob": big }).as_object().unwrap().clone());
        outcomes.push((publisher.publish(event.clone()), event));
    }
    let queued = outcomes.iter().filter(|(t, _)| t.is_queued()).count();
    assert_eq!(queued, 8, "bounded by bytes, not by the event count");
    let (refused, event) = outcomes.iter().find(|(t, _)| !t.is_queued()).unwrap();
    assert_eq!(
        *refused,
        Tracked::NotTracked(TrackError::QueueFull {
            event_id: event.event_id
        })
    );
    let lines = common::logs_for(&event.event_id);
    assert!(lines[0]["fields"]["reason"]
        .as_str()
        .unwrap()
        .contains("queue_max_bytes"));
    // A small event still fits in what is left.
    let small = TrackedEvent::new("client_123", "order", "order_created");
    assert!(publisher.publish(small).is_queued());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_a_permanent_error_given_up_at_once() {
    common::capture_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let probe = common::create_queue(&sqs, "probe").await;
    let url = probe.rsplit_once('/').unwrap().0.to_string() + "/" + &common::unique("never");
    // Many attempts allowed, long backoff: a permanent error must use neither.
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_max_attempts(6)
            .with_backoff(Duration::from_secs(5), Duration::from_secs(30)),
    );

    let events: Vec<TrackedEvent> = (0..23)
        .map(|i| {
            let mut e = TrackedEvent::new("client_123", "order", "order_created");
            e.points_awarded = Some(i);
            e
        })
        .collect();
    for e in &events {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    let started = std::time::Instant::now();
    // Returns once every event has been given up on: no backoff was waited out.
    publisher.flush().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a permanent error is not retried"
    );

    for e in &events {
        let lost: Vec<Value> = common::logs_for(&e.event_id)
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect();
        assert_eq!(
            lost.len(),
            1,
            "one give-up line for {}: {lost:#?}",
            e.event_id
        );
        assert_eq!(lost[0]["fields"]["event"], e.to_json().as_str());
        let reason = lost[0]["fields"]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("permanent error, not retried"),
            "{reason}"
        );
        assert!(
            reason.contains("NonExistentQueue") || reason.contains("QueueDoesNotExist"),
            "{reason}"
        );
    }
    assert_eq!(publisher.queued(), 0);
}

async fn bus_with_sqs_target(
    sdk: &aws_config::SdkConfig,
    sqs: &aws_sdk_sqs::Client,
) -> (String, String) {
    let eb = aws_sdk_eventbridge::Client::new(sdk);
    let bus = common::unique("kx-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    let target_url = common::create_queue(sqs, "bus-target").await;
    let target_arn = sqs
        .get_queue_attributes()
        .queue_url(&target_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    eb.put_rule()
        .name("all-kx-events")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["kx-event-tracking"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("all-kx-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(target_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, target_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_bus_each_event_is_on_the_bus_once_and_its_message_is_marked() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "events").await;
    let (bus, target_url) = bus_with_sqs_target(&sdk, &sqs).await;
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_event_bus_name(Some(bus.clone()))
            .with_event_source("kx-event-tracking")
            // moto routes each put to the target queue before it answers: slower than AWS.
            .with_bus_put_timeout(Duration::from_secs(10)),
    );

    // 13 events: two PutEvents calls (10 + 3).
    let events: Vec<TrackedEvent> = (0..13)
        .map(|i| {
            let mut e = full_event();
            e.points_awarded = Some(i);
            e
        })
        .collect();
    for e in &events {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    publisher.flush().await;

    let queued = common::receive(&sqs, &url, events.len()).await;
    assert_eq!(queued.len(), events.len());
    for m in &queued {
        let attr = &m.message_attributes().expect("attributes")[ON_BUS_ATTRIBUTE];
        assert_eq!(attr.data_type(), "String");
        assert_eq!(attr.string_value(), Some("true"));
    }

    let on_bus = common::receive(&sqs, &target_url, events.len()).await;
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for m in &on_bus {
        let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
        assert_eq!(envelope["source"], "kx-event-tracking");
        assert_eq!(envelope["detail-type"], "user.user_created");
        let detail = TrackedEvent::from_value(envelope["detail"].clone()).unwrap();
        let sent = events
            .iter()
            .find(|e| e.event_id == detail.event_id)
            .unwrap();
        assert_eq!(&detail, sent);
        assert_eq!(envelope["time"], "2024-01-15T10:30:00Z");
        *seen.entry(detail.event_id).or_default() += 1;
    }
    assert_eq!(seen.len(), events.len(), "every event is on the bus");
    assert!(seen.values().all(|&n| n == 1), "and only once: {seen:?}");
    assert_eq!(common::queue_depth(&sqs, &target_url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_direct_put_fails_the_message_goes_unmarked() {
    common::capture_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "events").await;
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&url)
            .with_event_bus_name(Some(common::unique("no-such-bus"))),
    );
    let event = full_event();
    assert!(publisher.publish(event.clone()).is_queued());
    publisher.flush().await;

    let queued = common::receive(&sqs, &url, 1).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].body(), Some(event.to_json().as_str()));
    assert!(queued[0]
        .message_attributes()
        .is_none_or(|a| !a.contains_key(ON_BUS_ATTRIBUTE)));
    let lines = common::logs_for(&event.event_id);
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["fields"]["message"]
                .as_str()
                .unwrap()
                .starts_with("direct PutEvents failed")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_flush_gives_up_at_its_deadline_and_logs_every_event() {
    common::capture_logs();
    let publisher = held_publisher(Config::default()).await;
    publisher.hold_until_flush();
    let events: Vec<TrackedEvent> = (0..25)
        .map(|_| TrackedEvent::new("client_123", "order", "order_created"))
        .collect();
    for e in &events {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    let all_sent = publisher
        .flush_before(std::time::Instant::now() + Duration::from_millis(500))
        .await;
    assert!(!all_sent);
    for e in &events {
        let lines = common::logs_for(&e.event_id);
        let lost: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
        assert_eq!(lost.len(), 1, "{lines:#?}");
        assert_eq!(lost[0]["fields"]["event"], e.to_json().as_str());
        assert!(lost[0]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("deadline"));
    }
    // Nothing is left to wait for.
    assert!(
        publisher
            .flush_before(std::time::Instant::now() + Duration::from_secs(5))
            .await
    );
}

#[test]
fn no_client_id_and_a_bad_previous_event_id_are_warned_about() {
    common::capture_logs();
    let entity = format!("entity_{}", Uuid::new_v4().simple());
    let err = kx_events::EventBuilder::new(entity.as_str(), "nothing_to_see")
        .build(&json!({ "jobId": "j1" }))
        .unwrap_err();
    assert!(matches!(err, TrackError::NoClientId { .. }));
    let warned = common::logs().into_iter().any(|l| {
        l["level"] == "WARN"
            && l["fields"]["entity_type"] == entity.as_str()
            && l["fields"]["event_type"] == "nothing_to_see"
    });
    assert!(warned, "a warning names the entity and event type");

    let event = kx_events::EventBuilder::new("order", "order_created")
        .build(&json!({ "clientId": "c1", "previousEventId": "event_456" }))
        .unwrap();
    assert_eq!(event.previous_event_id, None);
    let lines = common::logs_for(&event.event_id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(
        lines[0]["fields"]["error"],
        "previousEventId: must be a UUID, got \"event_456\""
    );
}
