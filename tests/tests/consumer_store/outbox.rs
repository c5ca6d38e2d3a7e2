//! The outbox: exclusive claims, published rows never claimed, and the leases an insert takes.

use std::time::Duration;

use kx_events::TrackedEvent;
use kx_events_consumer::{NewEvent, Store, StoreStatus};
use kx_events_tests::TestDb;
use uuid::Uuid;

use crate::{event, migrated};

#[tokio::test(flavor = "multi_thread")]
async fn claims_are_exclusive_and_published_rows_are_never_claimed() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let other = Store::connect(db.settings.clone()).unwrap();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let events: Vec<TrackedEvent> = ids.iter().map(|id| event(*id, None)).collect();
    store.insert_events(&events).await.unwrap();

    let first = store.claim(&ids, Duration::from_secs(60)).await.unwrap();
    assert_eq!(first.len(), 5);
    assert!(other
        .claim(&ids, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    assert!(other
        .claim_stale(10, Duration::ZERO, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .is_empty());

    store.mark_published(&ids[..2]).await.unwrap();
    store.release(&ids[2..]).await.unwrap();
    let swept = other
        .claim_stale(10, Duration::ZERO, Duration::from_secs(60), &[ids[4]])
        .await
        .unwrap();
    let mut swept_ids: Vec<Uuid> = swept.iter().map(|e| e.event_id).collect();
    swept_ids.sort();
    let mut expected = ids[2..4].to_vec();
    expected.sort();
    assert_eq!(swept_ids, expected);
    // An expired lease can be claimed again.
    store.claim(&[ids[4]], Duration::ZERO).await.unwrap();
    assert_eq!(
        other
            .claim(&[ids[4]], Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_and_claim_leases_the_rows_it_inserts_and_checks_for_stale_rows() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let other = Store::connect(db.settings.clone()).unwrap();
    let lease = Duration::from_secs(60);
    let age = Some(Duration::from_secs(60));
    let old = Uuid::new_v4();
    store.insert_events(&[event(old, None)]).await.unwrap();

    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let items = vec![
        NewEvent::from(event(a, None)),
        NewEvent {
            on_bus: true,
            ..NewEvent::from(event(b, Some(a)))
        },
        NewEvent::from(event(old, None)),
    ];
    let out = store.insert_and_claim(&items, lease, age).await.unwrap();
    // Only the new row that is not on the bus is leased; the stored one is not claimed.
    assert!(out.is_claimed(&a));
    assert!(!out.is_claimed(&b) && out.is_published(&b));
    assert!(!out.is_claimed(&old));
    assert_eq!(out.status(&old), Some(StoreStatus::AlreadyStored));
    assert!(other.claim(&[a], lease).await.unwrap().is_empty(), "leased");
    assert_eq!(other.claim(&[old], lease).await.unwrap().len(), 1);
    assert_eq!(out.stale, Some(false), "nothing is a minute old");

    // A row unpublished for longer than the age with a free lease: the check says so.
    store.release(&[old]).await.unwrap();
    db.execute(&format!(
        "UPDATE events SET created_at = now() - interval '2 minutes' WHERE event_id = '{old}'"
    ))
    .await;
    let c = Uuid::new_v4();
    let out = store
        .insert_and_claim(&[NewEvent::from(event(c, None))], lease, age)
        .await
        .unwrap();
    assert!(out.is_claimed(&c));
    assert_eq!(out.stale, Some(true));
    // The same check on a batch whose outside parent is missing (two statements).
    let (d, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let out = store
        .insert_and_claim(&[NewEvent::from(event(d, Some(missing)))], lease, age)
        .await
        .unwrap();
    assert!(matches!(
        out.status(&d),
        Some(StoreStatus::WaitingForParent { .. })
    ));
    assert_eq!(out.stale, Some(true));
    // Not asked: no answer, and insert_batch takes no lease.
    let e = Uuid::new_v4();
    let out = store
        .insert_and_claim(&[NewEvent::from(event(e, None))], lease, None)
        .await
        .unwrap();
    assert_eq!(out.stale, None);
    let f = Uuid::new_v4();
    let out = store
        .insert_batch(&[NewEvent::from(event(f, None))])
        .await
        .unwrap();
    assert!(!out.is_claimed(&f) && out.stale.is_none());
    assert_eq!(other.claim(&[f], lease).await.unwrap().len(), 1);
}
