//! Delivery against a real SQS/EventBridge emulator (moto) through the real AWS SDK: the wire
//! format, batching, retries, give-up logging, the real-time bus path, and every way an event
//! can fail to be queued.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kx_events::{Config, Publisher, TrackError, Tracked, TrackedEvent, ON_BUS_ATTRIBUTE};
use serde_json::{json, Value};
use uuid::Uuid;

/// The seed's full sample event ("Generated Event Structure"), with a fresh id and a UUID
/// `previousEventId`.
fn seed_event() -> TrackedEvent {
    let mut v: Value = serde_json::from_str(
        r#"{
      "eventId": "550e8400-e29b-41d4-a716-446655440000",
      "clientId": "client_123",
      "previousEventId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
      "userId": "user_789",
      "entityId": "entity_123",
      "entityType": "user",
      "eventType": "user_created",
      "source": "api",
      "campaignId": "campaign_456",
      "pointsAwarded": 100,
      "sessionId": "session_789",
      "occurredAt": "2024-01-15T10:30:00.000Z",
      "metadata": {
        "userAgent": "Mozilla/5.0...",
        "ipAddress": "192.168.1.1",
        "customField": "customValue"
      }
    }"#,
    )
    .unwrap();
    v["eventId"] = json!(Uuid::new_v4());
    TrackedEvent::from_value(v).unwrap()
}

fn fast_retries(config: Config, attempts: u32) -> Config {
    config
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(20), Duration::from_millis(200))
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

    // 25 events: three SendMessageBatch calls' worth, one of them the seed's full sample.
    let mut sent: Vec<TrackedEvent> = vec![seed_event()];
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
    // The seed sample is exactly the seed's JSON (compact, in the seed's field order); the order
    // of the keys inside `metadata` is kept only with the `preserve_order` feature.
    let seed = &sent[0];
    let metadata_start = if cfg!(feature = "preserve_order") {
        r#"{"userAgent":"Mozilla/5.0...""#
    } else {
        "{"
    };
    assert!(bodies[&seed.event_id].starts_with(&format!(
        r#"{{"eventId":"{}","clientId":"client_123","previousEventId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","userId":"user_789","entityId":"entity_123","entityType":"user","eventType":"user_created","source":"api","campaignId":"campaign_456","pointsAwarded":100,"sessionId":"session_789","occurredAt":"2024-01-15T10:30:00.000Z","metadata":{metadata_start}"#,
        seed.event_id
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
    let event = seed_event();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_reported_with_the_event_json() {
    common::capture_logs();
    // An endpoint that accepts connections and never answers holds the sender's first request,
    // so the in-memory queue (capacity 1) fills up.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = blackhole.accept().await {
            held.push(conn);
        }
    });
    let sdk = common::sdk().await;
    let publisher = Publisher::new(
        Config::default()
            .with_queue_url(format!("http://{addr}/000000000000/held"))
            .with_sdk_config(
                sdk.into_builder()
                    .endpoint_url(format!("http://{addr}"))
                    .build(),
            )
            .with_queue_capacity(1),
    );
    let mut full = None;
    for _ in 0..1_000 {
        let event = TrackedEvent::new("client_123", "order", "order_created");
        if let Tracked::NotTracked(e) = publisher.publish(event.clone()) {
            full = Some((e, event));
            break;
        }
        tokio::task::yield_now().await;
    }
    let (error, event) = full.expect("the queue never filled");
    assert_eq!(
        error,
        TrackError::QueueFull {
            event_id: event.event_id
        }
    );
    let lines = common::logs_for(&event.event_id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["event"], event.to_json().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_retried_then_delivered() {
    common::capture_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // The queue does not exist yet: every SendMessageBatch fails until the test creates it.
    let probe = common::create_queue(&sqs, "probe").await;
    let name = common::unique("late");
    let url = probe.rsplit_once('/').unwrap().0.to_string() + "/" + &name;
    let publisher = Publisher::new(fast_retries(Config::from_env().with_queue_url(&url), 1_000));

    let events: Vec<TrackedEvent> = (0..12)
        .map(|_| TrackedEvent::new("client_123", "order", "order_created"))
        .collect();
    for e in &events {
        assert!(publisher.publish(e.clone()).is_queued());
    }
    let failure = common::wait_for_log(|l| {
        l["fields"]["message"] == "send failed; retrying with backoff"
            && l["fields"]["error"]
                .as_str()
                .is_some_and(|e| e.contains(&name) || e.contains("NonExistentQueue"))
    })
    .await;
    assert_eq!(failure["level"], "WARN");

    let created = sqs.create_queue().queue_name(&name).send().await.unwrap();
    assert_eq!(created.queue_url(), Some(url.as_str()));
    publisher.flush().await;

    let messages = common::receive(&sqs, &url, events.len()).await;
    let got: HashSet<Uuid> = messages
        .iter()
        .map(|m| {
            TrackedEvent::from_json(m.body().unwrap().as_bytes())
                .unwrap()
                .event_id
        })
        .collect();
    let want: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(got, want);
    for e in &events {
        assert!(
            common::logs_for(&e.event_id)
                .iter()
                .all(|l| l["level"] != "ERROR"),
            "delivered events are not reported lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_give_up_path_logs_every_id_with_its_json() {
    common::capture_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let probe = common::create_queue(&sqs, "probe").await;
    let url = probe.rsplit_once('/').unwrap().0.to_string() + "/" + &common::unique("never");
    let publisher = Publisher::new(fast_retries(Config::from_env().with_queue_url(&url), 3));

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
    // Returns once every event has been given up on.
    publisher.flush().await;

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
        assert!(reason.starts_with("gave up after 3 attempts"), "{reason}");
    }
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
            .with_event_source("kx-event-tracking"),
    );

    // 13 events: two PutEvents calls (10 + 3).
    let events: Vec<TrackedEvent> = (0..13)
        .map(|i| {
            let mut e = seed_event();
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
    let event = seed_event();
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
    // An endpoint that accepts connections and never answers: no send can finish.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = blackhole.accept().await {
            held.push(conn);
        }
    });
    let sdk = common::sdk().await;
    let publisher = Publisher::new(
        Config::default()
            .with_queue_url(format!("http://{addr}/000000000000/held"))
            .with_sdk_config(
                sdk.into_builder()
                    .endpoint_url(format!("http://{addr}"))
                    .build(),
            ),
    );
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
