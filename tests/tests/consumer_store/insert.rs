//! The single-statement insert: the foreign key checked at its end, parents that are missing,
//! late or outside the batch, and fields that round-trip through the row.

use std::time::Duration;

use kx_events::TrackedEvent;
use kx_events_consumer::StoreStatus;
use kx_events_tests::TestDb;
use serde_json::json;
use uuid::Uuid;

use crate::{event, item, migrated};

#[tokio::test(flavor = "multi_thread")]
async fn foreign_key_is_checked_at_the_end_of_the_single_insert() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    // Rows go in sorted by event_id: this child precedes its parent inside the statement.
    let child = Uuid::parse_str("00000000-0000-4000-8000-000000000001").unwrap();
    let parent = Uuid::parse_str("ffffffff-ffff-4fff-bfff-ffffffffffff").unwrap();
    let grandchild = Uuid::new_v4();
    let out = store
        .insert_events(&[
            event(grandchild, Some(child)),
            event(child, Some(parent)),
            event(parent, None),
        ])
        .await
        .unwrap();
    for id in [child, parent, grandchild] {
        assert_eq!(out.status(&id), Some(StoreStatus::Inserted));
    }
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], parent.to_string());
    assert_eq!(db.count_events("").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_parent_waits_then_is_stored_unlinked_and_linked_when_the_parent_comes() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let (parent, child, grandchild) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let items = |last_receive| {
        vec![
            item(event(grandchild, Some(child)), false),
            item(event(child, Some(parent)), last_receive),
        ]
    };
    let out = store.insert_batch(&items(false)).await.unwrap();
    assert_eq!(
        out.status(&child),
        Some(StoreStatus::WaitingForParent {
            missing_parent: parent
        })
    );
    assert_eq!(
        out.status(&grandchild),
        Some(StoreStatus::WaitingForParent {
            missing_parent: child
        })
    );
    assert_eq!(db.count_events("").await, 0);

    // Last receive of the child: stored unlinked, and its own child links to it.
    let out = store.insert_batch(&items(true)).await.unwrap();
    assert_eq!(
        out.status(&child),
        Some(StoreStatus::InsertedUnlinked {
            missing_parent: parent
        })
    );
    assert_eq!(out.status(&grandchild), Some(StoreStatus::Inserted));
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], serde_json::Value::Null);
    assert_eq!(row["unresolved_previous_event_id"], parent.to_string());

    // The claim rebuilds the event as it was sent: previousEventId is still the parent.
    let claimed = store
        .claim(&[child], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed[0].previous_event_id, Some(parent));

    // The late parent arrives: the child is linked.
    let out = store.insert_events(&[event(parent, None)]).await.unwrap();
    assert_eq!(out.linked_children, 1);
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], parent.to_string());
    assert_eq!(row["unresolved_previous_event_id"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_outside_parent_does_not_hold_back_its_siblings() {
    // The store first tries the batch in one statement that assumes every parent named from
    // outside the batch is stored; here one is not, so that statement must write nothing and the
    // batch is decided again on what is stored.
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let (stored_parent, old, missing) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store
        .insert_events(&[event(stored_parent, None), event(old, None)])
        .await
        .unwrap();
    store.mark_published(&[old]).await.unwrap();
    let (linked, waiting, last, fresh, in_batch_child) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let out = store
        .insert_batch(&[
            item(event(in_batch_child, Some(waiting)), false),
            item(event(linked, Some(stored_parent)), false),
            item(event(waiting, Some(missing)), false),
            item(event(last, Some(missing)), true),
            item(event(old, None), false),
            item(event(fresh, None), false),
        ])
        .await
        .unwrap();
    assert_eq!(out.status(&linked), Some(StoreStatus::Inserted));
    assert_eq!(out.status(&fresh), Some(StoreStatus::Inserted));
    assert_eq!(
        out.status(&waiting),
        Some(StoreStatus::WaitingForParent {
            missing_parent: missing
        })
    );
    assert_eq!(
        out.status(&in_batch_child),
        Some(StoreStatus::WaitingForParent {
            missing_parent: waiting
        })
    );
    assert_eq!(
        out.status(&last),
        Some(StoreStatus::InsertedUnlinked {
            missing_parent: missing
        })
    );
    assert_eq!(out.status(&old), Some(StoreStatus::AlreadyStored));
    assert!(out.is_published(&old));
    assert!(!out.is_published(&linked));
    assert_eq!(out.inserted(), 3);
    assert_eq!(db.count_events("").await, 5);
    let row = db.event_row(linked).await.unwrap();
    assert_eq!(row["previous_event_id"], stored_parent.to_string());

    // The same batch again, now that `missing` is stored: the waiting ones link, nothing else
    // changes.
    store.insert_events(&[event(missing, None)]).await.unwrap();
    let again = store
        .insert_batch(&[
            item(event(in_batch_child, Some(waiting)), false),
            item(event(linked, Some(stored_parent)), false),
            item(event(waiting, Some(missing)), false),
            item(event(last, Some(missing)), false),
        ])
        .await
        .unwrap();
    assert_eq!(again.status(&waiting), Some(StoreStatus::Inserted));
    assert_eq!(again.status(&in_batch_child), Some(StoreStatus::Inserted));
    assert_eq!(again.status(&linked), Some(StoreStatus::AlreadyStored));
    assert_eq!(again.status(&last), Some(StoreStatus::AlreadyStored));
    assert_eq!(db.count_events("").await, 8);
    let row = db.event_row(last).await.unwrap();
    assert_eq!(
        row["previous_event_id"],
        missing.to_string(),
        "linked when the parent came"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_and_metadata_round_trip_through_the_row() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let body = json!({
        "eventId": Uuid::new_v4().to_string(), "clientId": "c", "previousEventId": null,
        "entityType": "order", "eventType": "order_created", "occurredAt": "2024-01-15T12:30:00.123456+02:00",
        "metadata": {"b": 1, "a": {"nested": [1, "x"]}}, "tenantRegion": "eu"
    });
    let e = TrackedEvent::from_json(body.to_string().as_bytes()).unwrap();
    store.insert_events(std::slice::from_ref(&e)).await.unwrap();
    let row = db.event_row(e.event_id).await.unwrap();
    assert_eq!(row["extra_fields"], json!({"tenantRegion": "eu"}));
    let claimed = store
        .claim(&[e.event_id], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(claimed, vec![e]);
}
