//! The TypeScript system's documented example messages (`tests/fixtures/typescript/examples/`,
//! verbatim): stored and published in that system's bus format, or dead-lettered where their ids
//! are placeholders.

use kx_events_consumer::{
    FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
use kx_events_tests::{sqs_record, Harness};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{assert_bus_format, by_event_id, id_of, parse};

const BUS_DETAIL: &str = include_str!("../../fixtures/typescript/examples/bus_detail.json");
// `query/src/event.rs` reads this file too.
const GENERATED: &str = include_str!("../../fixtures/typescript/examples/generated_event.json");
const PUBLISH: &str = include_str!("../../fixtures/typescript/examples/publish_event.json");
const PAYMENT: &str = include_str!("../../fixtures/typescript/examples/payment_completed.json");
const EMAIL: &str = include_str!("../../fixtures/typescript/examples/email_sent.json");

#[tokio::test(flavor = "multi_thread")]
async fn typescript_examples_are_stored_and_published_in_its_bus_format() {
    let h = Harness::new().await;
    let payment = parse(PAYMENT);
    // The documented bus-format example, its placeholder previousEventId replaced by a real
    // parent.
    let mut detail = parse(BUS_DETAIL);
    detail["previousEventId"] = payment["eventId"].clone();
    // The "Generated Event Structure" sample shares the same eventId: give it its own.
    let mut generated = parse(GENERATED);
    generated["eventId"] = json!(Uuid::new_v4().to_string());
    generated["previousEventId"] = Value::Null;
    // publishEvent's sample with a UUID instead of 'custom_event_123'.
    let mut manual = parse(PUBLISH);
    manual["eventId"] = json!(Uuid::new_v4().to_string());
    let email = parse(EMAIL);
    let bodies = [detail, generated, manual, payment, email];

    let failures = h
        .handle(
            bodies
                .iter()
                .map(|b| sqs_record(&b.to_string(), 1, &[]))
                .collect(),
        )
        .await;
    assert!(failures.is_empty(), "{failures:?}");

    // Rows: every column as sent.
    let row = h.db.event_row(id_of(&bodies[0])).await.unwrap();
    for (column, field) in [
        ("client_id", "clientId"),
        ("previous_event_id", "previousEventId"),
        ("user_id", "userId"),
        ("entity_id", "entityId"),
        ("entity_type", "entityType"),
        ("event_type", "eventType"),
        ("source", "source"),
        ("campaign_id", "campaignId"),
        ("points_awarded", "pointsAwarded"),
        ("session_id", "sessionId"),
        ("metadata", "metadata"),
    ] {
        assert_eq!(row[column], bodies[0][field], "{column}");
    }
    assert_eq!(row["occurred_at"], "2024-01-15T10:30:00+00:00");
    assert!(row["published_at"].is_string());
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 5);

    // Bus: one entry per event, in the TypeScript system's format.
    let events = h.bus_events().await;
    assert_eq!(events.len(), 5, "{events:#?}");
    let published = by_event_id(&events);
    for body in &bodies {
        assert_bus_format(&published[body["eventId"].as_str().unwrap()], body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_examples_with_placeholder_ids_go_to_the_dlq_with_their_reason() {
    let h = Harness::new().await;
    let a = sqs_record(BUS_DETAIL, 1, &[]);
    let b = sqs_record(PUBLISH, 1, &[]);
    let ids = [a.message_id.clone().unwrap(), b.message_id.clone().unwrap()];
    let failures = h.handle(vec![a, b]).await;
    assert!(
        failures.is_empty(),
        "dead-lettered records are done: {failures:?}"
    );
    assert_eq!(h.db.count_events("").await, 0);
    assert!(h.bus_events().await.is_empty());

    let dlq = h.dlq().await;
    assert_eq!(dlq.len(), 2);
    let find = |id: &str| {
        dlq.iter()
            .find(|m| m.attributes[SOURCE_MESSAGE_ID_ATTRIBUTE] == id)
            .unwrap_or_else(|| panic!("{id} not in the DLQ: {dlq:?}"))
    };
    let m = find(&ids[0]);
    assert_eq!(m.body, BUS_DETAIL, "body verbatim");
    assert_eq!(
        m.attributes[REASON_ATTRIBUTE],
        "previousEventId: must be a UUID, got \"event_456\""
    );
    assert_eq!(m.attributes[FIELD_ATTRIBUTE], "previousEventId");
    assert_eq!(m.attributes[RULE_ATTRIBUTE], "uuid");
    let m = find(&ids[1]);
    assert_eq!(m.body, PUBLISH);
    assert_eq!(
        m.attributes[REASON_ATTRIBUTE],
        "eventId: must be a UUID, got \"custom_event_123\""
    );
    assert_eq!(m.attributes[FIELD_ATTRIBUTE], "eventId");
}
