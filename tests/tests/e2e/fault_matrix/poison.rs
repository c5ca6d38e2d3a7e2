//! Poison among valid events: 25 kinds of message that can never become a valid event, from
//! `tests/fixtures/poison/` (one file per kind) or, where a value is too long to read in a file,
//! built in code from a valid event with one field broken.

use kx_events::TrackedEvent;
use kx_events_demo::accounting::{Accounting, InvalidInput};
use kx_events_tests::e2e::{Pipeline, PipelineOptions, RunnerOptions};
use serde_json::{json, Value};

use super::{events, observe, print_output, valid_input};
use crate::{message, LIMIT};

/// A valid event as JSON, to break one field at a time.
fn base(tag: &str) -> Value {
    let mut e = TrackedEvent::new("e2e-poison", "order", "order_created");
    e.entity_id = Some(tag.to_string());
    serde_json::from_str(&e.to_json()).expect("event JSON")
}

fn with(tag: &str, field: &str, value: Value) -> String {
    let mut v = base(tag);
    v[field] = value;
    v.to_string()
}

/// A poison fixture, its `eventId` and `occurredAt` placeholders filled as a new event's are.
fn fixture(text: &str) -> String {
    let fresh = base("fixture");
    let value = |field: &str| fresh[field].as_str().expect(field).to_owned();
    message(
        text,
        &[
            ("eventId", &value("eventId")),
            ("occurredAt", &value("occurredAt")),
        ],
    )
}

/// The poison messages: each can never become a valid event.
fn poison_kinds() -> Vec<(&'static str, String)> {
    vec![
        (
            "bad JSON",
            include_str!("../../../fixtures/poison/truncated_json.txt").to_string(),
        ),
        ("empty body", String::new()),
        ("whitespace body", " \n ".to_string()),
        (
            "JSON array",
            fixture(include_str!("../../../fixtures/poison/json_array.json")),
        ),
        (
            "JSON string",
            fixture(include_str!("../../../fixtures/poison/json_string.json")),
        ),
        (
            "JSON null",
            fixture(include_str!("../../../fixtures/poison/json_null.json")),
        ),
        (
            "empty object",
            fixture(include_str!("../../../fixtures/poison/empty_object.json")),
        ),
        (
            "missing clientId",
            fixture(include_str!(
                "../../../fixtures/poison/missing_client_id.json"
            )),
        ),
        (
            "empty eventType",
            fixture(include_str!(
                "../../../fixtures/poison/empty_event_type.json"
            )),
        ),
        (
            // A string of digits is coerced as the old consumer did ("100"); words are not.
            "pointsAwarded a non-numeric string",
            fixture(include_str!(
                "../../../fixtures/poison/points_awarded_words.json"
            )),
        ),
        (
            // A number is stored as its text, as the old consumer did; a boolean is not.
            "clientId a boolean",
            fixture(include_str!(
                "../../../fixtures/poison/client_id_boolean.json"
            )),
        ),
        (
            "metadata an array",
            fixture(include_str!("../../../fixtures/poison/metadata_array.json")),
        ),
        (
            "pointsAwarded beyond INTEGER",
            fixture(include_str!(
                "../../../fixtures/poison/points_awarded_beyond_integer.json"
            )),
        ),
        (
            "pointsAwarded fractional",
            fixture(include_str!(
                "../../../fixtures/poison/points_awarded_fractional.json"
            )),
        ),
        (
            "NUL in clientId",
            fixture(include_str!("../../../fixtures/poison/client_id_nul.json")),
        ),
        (
            "NUL in metadata",
            fixture(include_str!("../../../fixtures/poison/metadata_nul.json")),
        ),
        (
            "clientId 129 characters",
            with("long-client", "clientId", json!("c".repeat(129))),
        ),
        (
            "eventType 49 characters",
            with("long-type", "eventType", json!("t".repeat(49))),
        ),
        (
            "source 33 characters",
            with("long-source", "source", json!("s".repeat(33))),
        ),
        (
            "eventId not a UUID",
            fixture(include_str!(
                "../../../fixtures/poison/event_id_not_uuid.json"
            )),
        ),
        (
            "previousEventId not a UUID",
            fixture(include_str!(
                "../../../fixtures/poison/previous_event_id_not_uuid.json"
            )),
        ),
        (
            "occurredAt not a timestamp",
            fixture(include_str!(
                "../../../fixtures/poison/occurred_at_words.json"
            )),
        ),
        (
            "occurredAt impossible date",
            fixture(include_str!(
                "../../../fixtures/poison/occurred_at_impossible_date.json"
            )),
        ),
        (
            "metadata over 64 KiB",
            with(
                "meta-big",
                "metadata",
                json!({ "blob": "x".repeat(70_000) }),
            ),
        ),
        (
            "300 KB body",
            with(
                "body-300k",
                "metadata",
                json!({ "blob": "x".repeat(300_000) }),
            ),
        ),
    ]
}

/// 25 kinds of poison among valid siblings: the poison goes to the DLQ with its reason, the
/// siblings are stored and published.
pub(super) async fn poison() -> Accounting {
    let p = Pipeline::create("e2e-poison", PipelineOptions::default()).await;
    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let siblings = events("poison-siblings", 3);
    let mut input = valid_input(&siblings);
    for (i, (label, body)) in poison_kinds().into_iter().enumerate() {
        if i % 8 == 0 {
            if let Some(e) = siblings.get(i / 8) {
                p.send(&e.to_json()).await;
            }
        }
        let message_id = p.send(&body).await;
        input.invalid.push(InvalidInput {
            label: label.to_string(),
            body,
            message_id: Some(message_id),
        });
    }
    let (_, output) = observe(&p, &input, LIMIT).await;
    let mut acc = Accounting::compute(&input, &output);
    // Every reason names a field and a rule.
    for m in &output.dlq {
        if m.field().is_none() || !m.attributes.contains_key("kx-rule") {
            acc.unexpected.push(format!(
                "DLQ message {} without field/rule attributes",
                m.message_id
            ));
        }
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("poison", &out);
    }
    acc
}

#[test]
fn poison_kinds_are_invalid_and_distinct() {
    let kinds = poison_kinds();
    assert!(kinds.len() >= 15);
    for (label, body) in &kinds {
        assert!(
            TrackedEvent::from_json(body.as_bytes()).is_err(),
            "{label} is accepted by the contract"
        );
    }
    let mut bodies: Vec<&String> = kinds.iter().map(|(_, b)| b).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), kinds.len());
}
