//! The consumer's handler end to end: `SqsEvent` in, rows in a real PostgreSQL, events on a
//! real (moto) EventBridge bus read back from the rule's SQS target, poison in the real DLQ.
//!
//! One binary, one file per scenario: `typescript_examples` (the TypeScript system's documented
//! messages), `rules` (one dead letter per validation rule), `poison` (NUL characters, sizes,
//! JSON types) and `batches` (mixed batches, duplicates, chains, events already on the bus);
//! this file holds the assertions they share.

mod batches;
mod poison;
mod rules;
mod typescript_examples;

use kx_events_consumer::{
    FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
use kx_events_tests::{event_json, sqs_record, Harness};
use serde_json::{json, Value};
use uuid::Uuid;

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn id_of(v: &Value) -> Uuid {
    v["eventId"].as_str().unwrap().parse().unwrap()
}

/// Asserts the TypeScript system's bus format for `body`: Source, DetailType, Detail, Time.
fn assert_bus_format(envelope: &Value, body: &Value) {
    assert_eq!(envelope["source"], "kx-event-tracking");
    assert_eq!(
        envelope["detail-type"],
        format!(
            "{}.{}",
            body["entityType"].as_str().unwrap(),
            body["eventType"].as_str().unwrap()
        )
    );
    assert_eq!(&envelope["detail"], body, "Detail is the camelCase event");
    let time = chrono::DateTime::parse_from_rfc3339(envelope["time"].as_str().unwrap()).unwrap();
    let occurred =
        chrono::DateTime::parse_from_rfc3339(body["occurredAt"].as_str().unwrap()).unwrap();
    assert_eq!(time.timestamp(), occurred.timestamp(), "Time is occurredAt");
}

fn by_event_id(events: &[Value]) -> std::collections::HashMap<String, Value> {
    events
        .iter()
        .map(|e| {
            (
                e["detail"]["eventId"].as_str().unwrap().to_owned(),
                e.clone(),
            )
        })
        .collect()
}

/// Runs one poison body through the handler and checks the DLQ message's attributes.
async fn assert_dead_lettered(body: &str, field: &str, rule: &str, reason: &str) {
    let h = Harness::new().await;
    let record = sqs_record(body, 1, &[]);
    let id = record.message_id.clone().unwrap();
    let failures = h.handle(vec![record]).await;
    assert!(failures.is_empty(), "{failures:?}");
    let dlq = h.dlq().await;
    assert_eq!(dlq.len(), 1);
    let m = &dlq[0];
    assert_eq!(m.body, body, "body verbatim");
    assert_eq!(m.attributes[FIELD_ATTRIBUTE], field);
    assert_eq!(m.attributes[RULE_ATTRIBUTE], rule);
    if reason.ends_with('…') {
        let prefix = reason.trim_end_matches('…');
        assert!(
            m.attributes[REASON_ATTRIBUTE].starts_with(prefix),
            "{}",
            m.attributes[REASON_ATTRIBUTE]
        );
    } else {
        assert_eq!(m.attributes[REASON_ATTRIBUTE], reason);
    }
    assert_eq!(m.attributes[SOURCE_MESSAGE_ID_ATTRIBUTE], id);
    assert_eq!(h.db.count_events("").await, 0);
    assert!(h.bus_events().await.is_empty());
}

fn with(field: &str, v: Value) -> String {
    event_json(json!({ field: v })).to_string()
}

fn without(field: &str) -> String {
    let mut e = event_json(json!({}));
    e.as_object_mut().unwrap().remove(field);
    e.to_string()
}
