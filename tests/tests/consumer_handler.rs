//! The consumer's handler end to end: `SqsEvent` in, rows in a real PostgreSQL, events on a
//! real (moto) EventBridge bus read back from the rule's SQS target, poison in the real DLQ.

use kx_events_consumer::{
    FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
use kx_events_tests::{event_json, sqs_record, Harness};
use serde_json::{json, Value};
use uuid::Uuid;

const SEED_BUS_DETAIL: &str = include_str!("../fixtures/seed_bus_detail.json");
const SEED_GENERATED: &str = include_str!("../fixtures/seed_generated_event.json");
const SEED_PUBLISH: &str = include_str!("../fixtures/seed_publish_event.json");
const SEED_PAYMENT: &str = include_str!("../fixtures/seed_payment_completed.json");
const SEED_EMAIL: &str = include_str!("../fixtures/seed_email_sent.json");

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn id_of(v: &Value) -> Uuid {
    v["eventId"].as_str().unwrap().parse().unwrap()
}

/// Asserts the seed's bus format for `body`: Source, DetailType, Detail, Time.
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

#[tokio::test(flavor = "multi_thread")]
async fn seed_samples_are_stored_and_published_in_the_seed_bus_format() {
    let h = Harness::new().await;
    let payment = parse(SEED_PAYMENT);
    // The seed's bus-format sample, its placeholder previousEventId replaced by a real parent.
    let mut detail = parse(SEED_BUS_DETAIL);
    detail["previousEventId"] = payment["eventId"].clone();
    // The "Generated Event Structure" sample shares the same eventId: give it its own.
    let mut generated = parse(SEED_GENERATED);
    generated["eventId"] = json!(Uuid::new_v4().to_string());
    generated["previousEventId"] = Value::Null;
    // publishEvent's sample with a UUID instead of 'custom_event_123'.
    let mut manual = parse(SEED_PUBLISH);
    manual["eventId"] = json!(Uuid::new_v4().to_string());
    let email = parse(SEED_EMAIL);
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

    // Bus: one entry per event, in the seed's format.
    let events = h.bus_events().await;
    assert_eq!(events.len(), 5, "{events:#?}");
    let published = by_event_id(&events);
    for body in &bodies {
        assert_bus_format(&published[body["eventId"].as_str().unwrap()], body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_samples_with_placeholder_ids_go_to_the_dlq_with_their_reason() {
    let h = Harness::new().await;
    let a = sqs_record(SEED_BUS_DETAIL, 1, &[]);
    let b = sqs_record(SEED_PUBLISH, 1, &[]);
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
    assert_eq!(m.body, SEED_BUS_DETAIL, "body verbatim");
    assert_eq!(
        m.attributes[REASON_ATTRIBUTE],
        "previousEventId: must be a UUID, got \"event_456\""
    );
    assert_eq!(m.attributes[FIELD_ATTRIBUTE], "previousEventId");
    assert_eq!(m.attributes[RULE_ATTRIBUTE], "uuid");
    let m = find(&ids[1]);
    assert_eq!(m.body, SEED_PUBLISH);
    assert_eq!(
        m.attributes[REASON_ATTRIBUTE],
        "eventId: must be a UUID, got \"custom_event_123\""
    );
    assert_eq!(m.attributes[FIELD_ATTRIBUTE], "eventId");
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

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_anywhere_are_dead_lettered_not_fatal_to_the_batch() {
    let h = Harness::new().await;
    let good = event_json(json!({}));
    let poison = [
        with("clientId", json!("c\u{0}")),
        with("metadata", json!({"a": {"b": ["ok", "x\u{0}y"]}})),
        with("metadata", json!({"k\u{0}": 1})),
        with("tenantRegion", json!("eu\u{0}")),
    ];
    let mut records: Vec<_> = poison.iter().map(|b| sqs_record(b, 1, &[])).collect();
    records.push(sqs_record(&good.to_string(), 1, &[]));
    assert!(h.handle(records).await.is_empty());
    assert_eq!(
        h.db.count_events("").await,
        1,
        "the valid sibling is stored"
    );
    let mut fields: Vec<String> = h
        .dlq()
        .await
        .iter()
        .map(|m| m.attributes[FIELD_ATTRIBUTE].clone())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "clientId",
            "metadata.a.b[1]",
            "metadata.k\u{0}",
            "tenantRegion"
        ]
        .map(|s| {
            // SQS attribute values cannot hold NUL: the consumer replaces it.
            s.replace('\u{0}', "\u{fffd}")
        })
    );
    assert_eq!(h.bus_events().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_fields_are_dead_lettered_and_fields_at_their_limit_are_stored() {
    let h = Harness::new().await;
    let limits = [
        ("clientId", 128),
        ("userId", 128),
        ("entityId", 128),
        ("campaignId", 128),
        ("sessionId", 128),
        ("entityType", 48),
        ("eventType", 48),
        ("source", 32),
    ];
    let mut records = Vec::new();
    let mut fitting = Vec::new();
    for (field, max) in limits {
        // Multi-byte characters: the limit counts characters, as PostgreSQL does.
        records.push(sqs_record(&with(field, json!("ü".repeat(max + 1))), 1, &[]));
        let ok = event_json(json!({ field: "ü".repeat(max) }));
        fitting.push(id_of(&ok));
        records.push(sqs_record(&ok.to_string(), 1, &[]));
    }
    assert!(h.handle(records).await.is_empty());
    assert_eq!(h.db.count_events("").await, limits.len() as i64);
    let dlq = h.dlq().await;
    assert_eq!(dlq.len(), limits.len());
    for (field, max) in limits {
        let m = dlq
            .iter()
            .find(|m| m.attributes[FIELD_ATTRIBUTE] == field)
            .unwrap_or_else(|| panic!("{field}"));
        assert_eq!(
            m.attributes[REASON_ATTRIBUTE],
            format!("{field}: must be at most {max} characters, got {}", max + 1)
        );
        assert_eq!(m.attributes[RULE_ATTRIBUTE], "max_length");
    }
    for id in fitting {
        assert!(h.db.event_row(id).await.is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_json_types_are_dead_lettered_with_the_type_found() {
    let h = Harness::new().await;
    let cases = [
        (
            "eventId",
            json!(12),
            "eventId: must be a string, got number",
        ),
        (
            "previousEventId",
            json!(true),
            "previousEventId: must be a string, got boolean",
        ),
        (
            "entityType",
            json!(["a"]),
            "entityType: must be a string, got array",
        ),
        (
            "occurredAt",
            json!(1705314600000i64),
            "occurredAt: must be a string, got number",
        ),
        (
            "metadata",
            json!("text"),
            "metadata: must be a JSON object, got string",
        ),
        ("pointsAwarded", json!(null), ""),
    ];
    let records = cases
        .iter()
        .map(|(f, v, _)| sqs_record(&with(f, v.clone()), 1, &[]))
        .collect();
    assert!(h.handle(records).await.is_empty());
    // `null` for an optional field is how the TypeScript producer writes "absent": accepted.
    assert_eq!(h.db.count_events("").await, 1);
    let dlq = h.dlq().await;
    for (field, _, reason) in cases.iter().filter(|c| !c.2.is_empty()) {
        let m = dlq
            .iter()
            .find(|m| m.attributes[FIELD_ATTRIBUTE] == *field)
            .unwrap();
        assert_eq!(m.attributes[REASON_ATTRIBUTE], *reason);
        assert_eq!(m.attributes[RULE_ATTRIBUTE], "type");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_250_kb_metadata_object_is_dead_lettered_verbatim() {
    let h = Harness::new().await;
    // 250 KiB of metadata: fits one SQS message (256 KiB) but not the contract's metadata cap.
    let items: Vec<Value> = (0..2580)
        .map(|i| json!({"i": i, "pad": "p".repeat(80)}))
        .collect();
    let body = event_json(json!({ "metadata": { "items": items } })).to_string();
    assert!(
        body.len() > 250 * 1024 && body.len() < 256 * 1024,
        "{}",
        body.len()
    );
    let record = sqs_record(&body, 1, &[]);
    assert!(h.handle(vec![record]).await.is_empty());
    let dlq = h.dlq().await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body, body);
    assert_eq!(dlq[0].attributes[RULE_ATTRIBUTE], "max_size");
    assert!(dlq[0].attributes[REASON_ATTRIBUTE]
        .starts_with("metadata: must be at most 65536 bytes of JSON"));
    assert_eq!(h.db.count_events("").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_batch_stores_the_valid_dead_letters_the_poison_and_retries_only_the_retryable() {
    let h = Harness::new().await;
    let a = event_json(json!({"metadata": {"k": "v"}, "tenantRegion": "eu"}));
    let b = event_json(json!({"pointsAwarded": 5}));
    let orphan = event_json(json!({"previousEventId": Uuid::new_v4().to_string()}));
    let orphan_record = sqs_record(&orphan.to_string(), 1, &[]);
    let orphan_id = orphan_record.message_id.clone().unwrap();
    let records = vec![
        sqs_record(&a.to_string(), 1, &[]),
        sqs_record("not json", 1, &[]),
        orphan_record,
        sqs_record(&with("eventId", json!("x")), 1, &[]),
        sqs_record(&b.to_string(), 1, &[]),
    ];
    let (response, summary) = h
        .consumer
        .handle_batch(
            kx_events_tests::sqs_event(records),
            tokio::time::Instant::now() + std::time::Duration::from_secs(20),
        )
        .await
        .unwrap();
    let failures = kx_events_tests::failures(&response);
    assert_eq!(
        failures,
        vec![orphan_id],
        "only the child waiting for its parent is retried"
    );
    assert_eq!(
        (
            summary.received,
            summary.stored,
            summary.duplicates,
            summary.published,
            summary.dlq,
            summary.retried
        ),
        (5, 2, 0, 2, 2, 1)
    );
    assert_eq!(h.db.count_events("").await, 2);
    assert_eq!(h.dlq().await.len(), 2);
    let bus = by_event_id(&h.bus_events().await);
    assert_eq!(bus.len(), 2);
    // Unknown top-level fields are kept: stored in extra_fields and carried in Detail.
    assert_eq!(
        bus[a["eventId"].as_str().unwrap()]["detail"]["tenantRegion"],
        "eu"
    );
    let row = h.db.event_row(id_of(&a)).await.unwrap();
    assert_eq!(row["extra_fields"], json!({"tenantRegion": "eu"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_in_one_batch_and_across_batches_make_one_row_and_one_bus_event() {
    let h = Harness::new().await;
    let e = event_json(json!({})).to_string();
    // Inside one batch.
    let failures = h
        .handle(vec![
            sqs_record(&e, 1, &[]),
            sqs_record(&e, 1, &[]),
            sqs_record(&e, 2, &[]),
        ])
        .await;
    assert!(failures.is_empty());
    // Across batches: a redelivery, and another message with the same event.
    assert!(h.handle(vec![sqs_record(&e, 2, &[])]).await.is_empty());
    assert!(h.handle(vec![sqs_record(&e, 1, &[])]).await.is_empty());
    assert_eq!(h.db.count_events("").await, 1);
    assert_eq!(h.bus_events().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn parent_and_child_in_one_batch_are_stored_in_either_order() {
    let h = Harness::new().await;
    for parent_first in [true, false] {
        let parent = event_json(json!({}));
        let child = event_json(json!({"previousEventId": parent["eventId"]}));
        let mut records = vec![
            sqs_record(&parent.to_string(), 1, &[]),
            sqs_record(&child.to_string(), 1, &[]),
        ];
        if !parent_first {
            records.reverse();
        }
        assert!(
            h.handle(records).await.is_empty(),
            "parent first: {parent_first}"
        );
        let row = h.db.event_row(id_of(&child)).await.unwrap();
        assert_eq!(row["previous_event_id"], parent["eventId"]);
        assert_eq!(row["unresolved_previous_event_id"], Value::Null);
    }
    assert_eq!(h.bus_events().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_without_its_parent_is_retried_then_stored_unlinked_on_its_last_receive() {
    let h = Harness::new().await;
    let parent = event_json(json!({}));
    let child = event_json(json!({"previousEventId": parent["eventId"]}));
    // Through the real queue: moto counts the receives, as SQS does.
    h.moto
        .send(&h.queues.queue_url, &child.to_string(), &[])
        .await;
    for receive in 1..=3 {
        let event = h.moto.receive_as_event(&h.queues).await;
        assert_eq!(event.records.len(), 1, "receive {receive}");
        assert_eq!(
            event.records[0].attributes["ApproximateReceiveCount"],
            receive.to_string()
        );
        let response = h
            .consumer
            .handle(event.clone(), &lambda_runtime::Context::default())
            .await
            .unwrap();
        let failures = kx_events_tests::failures(&response);
        h.moto.settle(&h.queues, &event, &failures).await;
        if receive < 3 {
            assert_eq!(failures.len(), 1, "receive {receive}: retried");
            assert_eq!(h.db.count_events("").await, 0);
        } else {
            assert!(failures.is_empty(), "last receive: stored");
        }
    }
    let row = h.db.event_row(id_of(&child)).await.unwrap();
    assert_eq!(row["previous_event_id"], Value::Null);
    assert_eq!(row["unresolved_previous_event_id"], parent["eventId"]);
    assert!(h.dlq().await.is_empty(), "nothing reached the DLQ");
    // Published with the previousEventId it was sent with.
    let bus = h.bus_events().await;
    assert_eq!(bus.len(), 1);
    assert_eq!(bus[0]["detail"], child);

    // The parent arrives late: stored, and the child is linked to it.
    assert!(h
        .handle(vec![sqs_record(&parent.to_string(), 1, &[])])
        .await
        .is_empty());
    let row = h.db.event_row(id_of(&child)).await.unwrap();
    assert_eq!(row["previous_event_id"], parent["eventId"]);
    assert_eq!(row["unresolved_previous_event_id"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_the_producer_put_on_the_bus_are_stored_as_published_and_not_put_again() {
    let h = Harness::new().await;
    let e = event_json(json!({}));
    let on_bus = [(kx_events::ON_BUS_ATTRIBUTE, "true")];
    assert!(h
        .handle(vec![sqs_record(&e.to_string(), 1, &on_bus)])
        .await
        .is_empty());
    let row = h.db.event_row(id_of(&e)).await.unwrap();
    assert!(row["published_at"].is_string());
    // A copy without the attribute (a retry of the producer's send) is a duplicate too.
    assert!(h
        .handle(vec![sqs_record(&e.to_string(), 1, &[])])
        .await
        .is_empty());
    assert!(h.bus_events().await.is_empty());
    assert_eq!(h.db.count_events("").await, 1);
}
