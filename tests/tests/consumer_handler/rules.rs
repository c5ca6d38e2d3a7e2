//! One dead letter per validation rule: its field, rule and reason attributes.

use serde_json::{json, Value};

use crate::{assert_dead_lettered, with, without};

#[tokio::test(flavor = "multi_thread")]
async fn rule_json() {
    assert_dead_lettered(
        "{\"eventId\":",
        "$",
        "json",
        "$: the message body is not valid JSON: …",
    )
    .await;
    assert_dead_lettered("[1,2]", "$", "json", "$: must be a JSON object, got array").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_required() {
    assert_dead_lettered(
        &without("clientId"),
        "clientId",
        "required",
        "clientId: is required (a non-empty string)",
    )
    .await;
    assert_dead_lettered(
        &with("eventId", Value::Null),
        "eventId",
        "required",
        "eventId: is required (a UUID)",
    )
    .await;
    assert_dead_lettered(
        &without("occurredAt"),
        "occurredAt",
        "required",
        "occurredAt: is required (an RFC 3339 timestamp)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_non_empty() {
    assert_dead_lettered(
        &with("eventType", json!("  ")),
        "eventType",
        "non_empty",
        "eventType: must be a non-empty string",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_type() {
    assert_dead_lettered(
        &with("clientId", json!([7])),
        "clientId",
        "type",
        "clientId: must be a string, got array",
    )
    .await;
    assert_dead_lettered(
        &with("pointsAwarded", json!("ten")),
        "pointsAwarded",
        "type",
        "pointsAwarded: must be an integer number, got string",
    )
    .await;
    assert_dead_lettered(
        &with("metadata", json!([1])),
        "metadata",
        "type",
        "metadata: must be a JSON object, got array",
    )
    .await;
    assert_dead_lettered(
        &with("userId", json!({"a": 1})),
        "userId",
        "type",
        "userId: must be a string, got object",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_max_length() {
    assert_dead_lettered(
        &with("entityType", json!("é".repeat(49))),
        "entityType",
        "max_length",
        "entityType: must be at most 48 characters, got 49",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_uuid() {
    assert_dead_lettered(
        &with("eventId", json!("not-a-uuid")),
        "eventId",
        "uuid",
        "eventId: must be a UUID, got \"not-a-uuid\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_integer() {
    assert_dead_lettered(
        &with("pointsAwarded", json!(2_147_483_648i64)),
        "pointsAwarded",
        "integer",
        "pointsAwarded: must fit PostgreSQL INTEGER (-2147483648 to 2147483647), got 2147483648",
    )
    .await;
    assert_dead_lettered(
        &with("pointsAwarded", json!(1.5)),
        "pointsAwarded",
        "integer",
        "pointsAwarded: must be an integer, got 1.5",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_timestamp() {
    assert_dead_lettered(&with("occurredAt", json!("yesterday")), "occurredAt", "timestamp", "occurredAt: must be an RFC 3339 timestamp such as 2024-01-15T10:30:00.000Z, got \"yesterday\" …").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_nul() {
    assert_dead_lettered(
        &with("sessionId", json!("a\u{0}b")),
        "sessionId",
        "nul",
        "sessionId: must not contain a NUL character (\\u0000)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_max_size() {
    let big = "x".repeat(kx_events::MAX_METADATA_BYTES);
    assert_dead_lettered(
        &with("metadata", json!({ "blob": big })),
        "metadata",
        "max_size",
        "metadata: must be at most 65536 bytes of JSON, got about …",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_shadow() {
    assert_dead_lettered(
        &with("EventType", json!("x")),
        "EventType",
        "shadow",
        "EventType: unknown field; did you mean `eventType`? (field names are case-sensitive)",
    )
    .await;
}
