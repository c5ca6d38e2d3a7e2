//! Correct data against a real PostgreSQL server and moto: no cycles ever stored as links (a
//! self-reference, a cycle in one batch, a late parent closing a cycle across batches), a child
//! stored unlinked while its parent was being inserted concurrently ends up linked, numbers keep
//! their exact value, what the old system's consumer accepted is accepted, a leap second never
//! panics, and an eventId reused with another body keeps the first copy.

use std::time::Duration;

use kx_events::TrackedEvent;
use kx_events_consumer::{ConsumerOptions, NewEvent, Store, StoreStatus};
use kx_events_tests::{blocking, event_json, sqs_record, Harness, HarnessOptions, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

async fn migrated(db: &TestDb) -> Store {
    let store = Store::connect(db.settings.clone()).unwrap();
    store.migrate().await.unwrap();
    store
}

fn item(id: Uuid, previous: Option<Uuid>, last_receive: bool) -> NewEvent {
    let mut e = TrackedEvent::new("client_123", "order", "order_created");
    e.event_id = id;
    e.previous_event_id = previous;
    NewEvent {
        event: e,
        on_bus: false,
        last_receive,
    }
}

/// Rows from which following `previous_event_id` comes back to themselves.
async fn cyclic_rows(db: &TestDb) -> i64 {
    db.rows(
        "WITH RECURSIVE walk(start, id, depth) AS (
           SELECT event_id, previous_event_id, 1 FROM events WHERE previous_event_id IS NOT NULL
           UNION ALL
           SELECT w.start, e.previous_event_id, w.depth + 1
           FROM walk w JOIN events e ON e.event_id = w.id
           WHERE w.id IS NOT NULL AND w.id <> w.start AND w.depth < 100)
         SELECT count(DISTINCT start) AS n FROM walk WHERE id = start",
    )
    .await[0]["n"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cycle_is_ever_stored_as_a_link() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;

    // A self-reference: stored at once (waiting could never help), never linked to itself.
    let s = Uuid::new_v4();
    let out = store
        .insert_batch(&[item(s, Some(s), false)])
        .await
        .unwrap();
    assert_eq!(
        out.status(&s),
        Some(StoreStatus::InsertedUnlinked { missing_parent: s })
    );
    let row = db.event_row(s).await.unwrap();
    assert!(row["previous_event_id"].is_null(), "{row}");
    assert_eq!(row["unresolved_previous_event_id"], s.to_string());

    // Two events naming each other in one batch, on their last receive: one link at most.
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let out = store
        .insert_batch(&[item(a, Some(b), true), item(b, Some(a), true)])
        .await
        .unwrap();
    assert_eq!(out.inserted(), 2);
    assert_eq!(
        db.count_events(&format!(
            "event_id IN ('{a}', '{b}') AND previous_event_id IS NOT NULL"
        ))
        .await,
        1
    );

    // Across batches: c is stored unlinked naming d; then d arrives naming c. d links to c; the
    // late-parent link of c to d would close the cycle and is not made.
    let (c, d) = (Uuid::new_v4(), Uuid::new_v4());
    store.insert_batch(&[item(c, Some(d), true)]).await.unwrap();
    let out = store
        .insert_batch(&[item(d, Some(c), false)])
        .await
        .unwrap();
    assert_eq!(out.status(&d), Some(StoreStatus::Inserted));
    assert_eq!(
        db.event_row(d).await.unwrap()["previous_event_id"],
        c.to_string()
    );
    let row_c = db.event_row(c).await.unwrap();
    assert!(row_c["previous_event_id"].is_null(), "{row_c}");
    assert_eq!(row_c["unresolved_previous_event_id"], d.to_string());

    // A longer one: e -> f stored, g stored unlinked naming e... then e's ancestor arrives as g's
    // parent? Here: h unlinked names i; i arrives naming j; j arrives naming h: j -> h, i -> j, and
    // h -> i would close h -> i -> j -> h.
    let (h, i, j) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store.insert_batch(&[item(h, Some(i), true)]).await.unwrap();
    store
        .insert_batch(&[item(j, Some(h), false)])
        .await
        .unwrap();
    store
        .insert_batch(&[item(i, Some(j), false)])
        .await
        .unwrap();
    assert!(db.event_row(h).await.unwrap()["previous_event_id"].is_null());

    // The repair step never closes one either.
    store.link_orphans().await.unwrap();
    assert_eq!(cyclic_rows(&db).await, 0);
    assert!(db.event_row(c).await.unwrap()["previous_event_id"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_stored_while_its_parent_was_being_inserted_is_linked_by_the_sweep() {
    let h = Harness::build(HarnessOptions {
        consumer: ConsumerOptions {
            sweep_min_age: Duration::ZERO,
            orphan_link_interval: Duration::ZERO,
            ..ConsumerOptions::default()
        },
        ..HarnessOptions::default()
    })
    .await;
    let parent = event_json(json!({}));
    let parent_id: Uuid = parent["eventId"].as_str().unwrap().parse().unwrap();
    let child = event_json(json!({"previousEventId": parent["eventId"]}));
    let child_id: Uuid = child["eventId"].as_str().unwrap().parse().unwrap();

    // Another consumer is inserting the parent: its statement has not committed yet.
    let settings = h.db.settings.clone();
    let (commit_tx, commit_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let mut c = postgres::Config::new();
        c.host(&settings.host)
            .port(settings.port)
            .user(&settings.user)
            .password(&settings.password)
            .dbname(&settings.dbname);
        let mut c = c.connect(postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO events (event_id, client_id, entity_type, event_type, occurred_at, published_at)
             VALUES ($1, 'client_123', 'order', 'order_created', now(), now())",
            &[&parent_id],
        )
        .unwrap();
        ready_tx.send(()).unwrap();
        commit_rx.recv().unwrap();
        tx.commit().unwrap();
    });
    blocking(move || ready_rx.recv().unwrap()).await;
    // This consumer sees no parent and stores the child unlinked on its last receive.
    assert!(h
        .handle(vec![sqs_record(&child.to_string(), 3, &[])])
        .await
        .is_empty());
    let row = h.db.event_row(child_id).await.unwrap();
    assert!(row["previous_event_id"].is_null());
    commit_tx.send(()).unwrap();
    other.join().unwrap();

    // The next invocation's sweep links it.
    assert!(h.handle(vec![]).await.is_empty());
    let row = h.db.event_row(child_id).await.unwrap();
    assert_eq!(row["previous_event_id"], parent_id.to_string());
    assert!(row["unresolved_previous_event_id"].is_null());
}

/// A deterministic stream of doubles over many magnitudes (xorshift64*).
fn doubles(n: usize) -> Vec<f64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = ((bits & 0x3f) as i32) - 32;
            unit * 10f64.powi(exponent)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_keep_their_exact_value_in_the_row_and_on_the_bus() {
    let h = Harness::new().await;
    let values = doubles(200);
    let mut metadata = serde_json::Map::new();
    metadata.insert("seed".into(), json!(0.9856906946328695));
    for (i, v) in values.iter().enumerate() {
        metadata.insert(format!("v{i}"), json!(v));
    }
    let body = event_json(json!({ "metadata": metadata }));
    let id: Uuid = body["eventId"].as_str().unwrap().parse().unwrap();
    // The body as JavaScript writes it: shortest round-trip digits (ryu gives the same).
    let text = body.to_string();
    assert!(text.contains("0.9856906946328695"));
    assert!(h.handle(vec![sqs_record(&text, 1, &[])]).await.is_empty());

    let stored =
        h.db.rows(&format!(
            "SELECT metadata::text AS m FROM events WHERE event_id = '{id}'"
        ))
        .await;
    let stored: Value = serde_json::from_str(stored[0]["m"].as_str().unwrap()).unwrap();
    let on_bus = h.bus_events().await;
    let detail = &on_bus[0]["detail"]["metadata"];
    for (i, v) in values.iter().enumerate() {
        let key = format!("v{i}");
        assert_eq!(
            stored[&key].as_f64().unwrap().to_bits(),
            v.to_bits(),
            "{key}"
        );
        assert_eq!(
            detail[&key].as_f64().unwrap().to_bits(),
            v.to_bits(),
            "{key}"
        );
    }
    assert_eq!(stored["seed"].to_string(), "0.9856906946328695");
    assert_eq!(detail["seed"].to_string(), "0.9856906946328695");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_old_consumer_accepted_is_accepted_and_a_leap_second_never_panics() {
    let h = Harness::new().await;
    let id = Uuid::new_v4();
    let upper = id.to_string().to_uppercase();
    // As node-pg producers sent them: numbers for text columns, points as text, no offset, an
    // upper-case UUID, and a lone surrogate escape in a string.
    let lenient = format!(
        r#"{{"eventId":"{upper}","clientId":"client_1","userId":42,"entityId":7.5,
            "entityType":"order","eventType":"order_created","pointsAwarded":"10",
            "occurredAt":"2024-01-15T10:30:00.123","metadata":{{"note":"a\ud800b"}}}}"#
    );
    let leap_id = Uuid::new_v4();
    let leap = event_json(json!({"eventId": leap_id, "occurredAt": "2016-12-31T23:59:60.500Z"}));
    let failed = h
        .handle(vec![
            sqs_record(&lenient, 1, &[]),
            sqs_record(&leap.to_string(), 1, &[]),
        ])
        .await;
    assert!(failed.is_empty(), "{failed:?}");
    let dlq = h.dlq().await;
    assert!(dlq.is_empty(), "{dlq:?}");
    let row = h.db.event_row(id).await.unwrap();
    assert_eq!(row["user_id"], "42");
    assert_eq!(row["entity_id"], "7.5");
    assert_eq!(row["points_awarded"], 10);
    assert!(
        row["occurred_at"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-15T10:30:00.123"),
        "{row}"
    );
    assert_eq!(row["metadata"]["note"], "a\u{fffd}b");
    let row = h.db.event_row(leap_id).await.unwrap();
    assert!(
        row["occurred_at"]
            .as_str()
            .unwrap()
            .starts_with("2017-01-01T00:00:00.5"),
        "{row}"
    );
    let on_bus = h.bus_events().await;
    assert_eq!(on_bus.len(), 2);
    let leap_on_bus = on_bus
        .iter()
        .find(|e| e["detail"]["eventId"] == leap_id.to_string())
        .unwrap();
    assert_eq!(
        leap_on_bus["detail"]["occurredAt"],
        "2017-01-01T00:00:00.500Z"
    );

    // Still refused: what PostgreSQL refused too.
    for bad in [
        json!({"pointsAwarded": "10.5"}),
        json!({"userId": true}),
        json!({"occurredAt": "yesterday"}),
    ] {
        let failed = h
            .handle(vec![sqs_record(
                &event_json(bad.clone()).to_string(),
                1,
                &[],
            )])
            .await;
        assert!(failed.is_empty());
        let _ = bad;
    }
    assert_eq!(h.dlq().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_id_reused_with_another_body_keeps_the_first_copy() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let first = item(Uuid::new_v4(), None, false);
    store
        .insert_batch(std::slice::from_ref(&first))
        .await
        .unwrap();
    let mut second = first.clone();
    second.event.event_type = "order_cancelled".into();
    let out = store
        .insert_batch(&[second, item(Uuid::new_v4(), None, false)])
        .await
        .unwrap();
    assert_eq!(
        out.status(&first.event.event_id),
        Some(StoreStatus::AlreadyStored)
    );
    assert!(out.differs(&first.event.event_id));
    assert_eq!(
        db.event_row(first.event.event_id).await.unwrap()["event_type"],
        "order_created"
    );
    // The same body again is a plain duplicate.
    let mut copy = first.clone();
    copy.on_bus = false;
    let out = store
        .insert_batch(&[copy, item(Uuid::new_v4(), None, false)])
        .await
        .unwrap();
    assert!(!out.differs(&first.event.event_id));
}
