//! Producer → SQS → consumer (the real `bootstrap`, driven by the local event-source mapping) →
//! PostgreSQL → bus, with the real-time path: events the producer put on the bus itself are on
//! the bus once — the consumer stores them as published and does not put them again — and an
//! event sent without the bus is published by the consumer, also once.

#[path = "producer_common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use kx_events::{Config, Publisher, TrackedEvent};
use kx_events_tests::e2e::{until, Pipeline, PipelineOptions, RunnerOptions};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_put_on_the_bus_by_the_producer_are_on_the_bus_once() {
    common::endpoint();
    let p = Pipeline::create("producer-rt", PipelineOptions::default()).await;
    let sqs = &p.moto.sqs;

    // The real-time path: the producer puts each event on the bus and marks its message.
    let realtime = Publisher::new(
        Config::from_env()
            .with_queue_url(&p.queues.queue_url)
            .with_event_bus_name(Some(p.bus_name.clone()))
            // moto routes each put before it answers: give it longer than AWS needs.
            .with_bus_put_timeout(Duration::from_secs(10)),
    );
    let mut events = Vec::new();
    let parent = TrackedEvent::new("client_123", "order", "order_created");
    let mut child = TrackedEvent::new("client_123", "order", "order_paid");
    child.previous_event_id = Some(parent.event_id);
    events.push(parent);
    events.push(child);
    for i in 0..10 {
        let mut e = TrackedEvent::new("client_123", "user", "user_created");
        e.points_awarded = Some(i);
        events.push(e);
    }
    for e in &events {
        assert!(realtime.publish(e.clone()).is_queued());
    }
    realtime.flush().await;
    // Without a bus: the consumer publishes this one.
    let queued_only = Publisher::new(
        Config::from_env()
            .with_queue_url(&p.queues.queue_url)
            .with_event_bus_name(None),
    );
    let late = TrackedEvent::new("client_123", "order", "order_shipped");
    assert!(queued_only.publish(late.clone()).is_queued());
    queued_only.flush().await;

    // On the bus already, before any consumer ran: exactly the real-time events.
    let mut on_bus: HashMap<Uuid, usize> = HashMap::new();
    count(&mut on_bus, common::take_all(sqs, &p.subscriber_url).await);
    assert_eq!(on_bus.len(), events.len());

    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let total = events.len() as i64 + 1;
    let stored = until(Duration::from_secs(60), || async {
        let (rows, published, _) = p.outbox_counts().await;
        rows == total && published == total
    })
    .await;
    let (stats, output) = consumer.stop().await;
    assert!(
        stored,
        "not all stored and published: {:?}\n{stats:?}\n{output}",
        p.outbox_counts().await
    );

    count(&mut on_bus, common::take_all(sqs, &p.subscriber_url).await);
    assert_eq!(
        on_bus.get(&late.event_id),
        Some(&1),
        "the consumer published the unmarked event"
    );
    for e in &events {
        assert_eq!(
            on_bus.get(&e.event_id),
            Some(&1),
            "{} on the bus once",
            e.event_id
        );
    }
    assert_eq!(on_bus.len() as i64, total);
}

fn count(on_bus: &mut HashMap<Uuid, usize>, messages: Vec<aws_sdk_sqs::types::Message>) {
    for m in messages {
        let envelope: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
        let detail = TrackedEvent::from_value(envelope["detail"].clone()).unwrap();
        *on_bus.entry(detail.event_id).or_default() += 1;
    }
}
