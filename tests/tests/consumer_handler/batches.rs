//! Batches: valid, poison and retryable records together, duplicates, parents and children in
//! either order or apart, and events the producer already put on the bus.

use kx_events_tests::{event_json, sqs_record, Harness};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{by_event_id, id_of, with};

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
