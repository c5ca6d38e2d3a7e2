//! Poison that must not take the batch down: NUL characters anywhere, oversize fields (and
//! fields at their limit), wrong JSON types, a 250 KB metadata object.

use kx_events_consumer::{FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE};
use kx_events_tests::{event_json, sqs_record, Harness};
use serde_json::{json, Value};

use crate::{id_of, with};

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
