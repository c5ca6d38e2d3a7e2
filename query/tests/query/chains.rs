//! `chain` and `ancestors`: order and levels, cycles in old data, the depth cap.

use chrono::Duration;
use kx_events_query::{ancestors, chain, Chain, Error, DEFAULT_MAX_DEPTH};
use kx_events_testdb::{NewEvent, TestDb};
use uuid::Uuid;

use crate::harness::base_time;

fn levels(c: &Chain) -> Vec<(u32, String)> {
    c.events
        .iter()
        .map(|e| (e.level, e.event.event_type.clone()))
        .collect()
}

/// `n` events, each the child of the one before, a minute apart.
fn line(n: usize) -> Vec<NewEvent> {
    let mut v: Vec<NewEvent> = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = NewEvent::new(
            "c",
            "step",
            &format!("s{i}"),
            base_time() + Duration::minutes(i as i64),
        );
        e.previous_event_id = v.last().map(|p| p.event_id);
        v.push(e);
    }
    v
}

#[test]
fn chain_is_the_event_and_its_descendants_by_level_then_time() {
    let db = TestDb::create();
    let t = base_time();
    let root = NewEvent::new("c", "order", "created", t);
    let mut late_child = NewEvent::new("c", "order", "b_paid", t + Duration::minutes(5));
    late_child.previous_event_id = Some(root.event_id);
    let mut early_child = NewEvent::new("c", "order", "a_viewed", t + Duration::minutes(1));
    early_child.previous_event_id = Some(root.event_id);
    let mut grandchild = NewEvent::new("c", "order", "shipped", t + Duration::minutes(2));
    grandchild.previous_event_id = Some(early_child.event_id);
    let mut great = NewEvent::new("c", "order", "delivered", t + Duration::minutes(3));
    great.previous_event_id = Some(grandchild.event_id);
    let unrelated = NewEvent::new("c", "order", "other", t);
    db.insert(&[
        root.clone(),
        late_child.clone(),
        early_child.clone(),
        grandchild.clone(),
        great.clone(),
        unrelated,
    ]);
    let mut c = db.client();

    let ch = chain(&mut c, root.event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(
        levels(&ch),
        [
            (1, "created".into()),
            (2, "a_viewed".into()),
            (2, "b_paid".into()),
            (3, "shipped".into()),
            (4, "delivered".into())
        ]
    );
    assert!(!ch.truncated && !ch.cycle_detected);
    let json = serde_json::to_value(&ch).unwrap();
    assert_eq!(json["count"], 5);
    assert_eq!(json["data"][3]["level"], 3);
    assert_eq!(json["data"][3]["eventType"], "shipped");
    assert_eq!(json["truncated"], false);

    // From the middle: only that subtree.
    let ch = chain(&mut c, grandchild.event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(
        levels(&ch),
        [(1, "shipped".into()), (2, "delivered".into())]
    );

    let up = ancestors(&mut c, great.event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(
        levels(&up),
        [
            (1, "delivered".into()),
            (2, "shipped".into()),
            (3, "a_viewed".into()),
            (4, "created".into())
        ]
    );
    let up = ancestors(&mut c, root.event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(levels(&up), [(1, "created".into())]);

    assert!(chain(&mut c, Uuid::new_v4(), 10).unwrap().is_none());
    assert!(ancestors(&mut c, Uuid::new_v4(), 10).unwrap().is_none());
}

#[test]
fn cycles_in_old_data_end_the_walk_and_are_reported() {
    let db = TestDb::create();
    // A -> B -> C -> A, written as old data could be: each link a valid foreign key.
    let v = line(3);
    db.insert(&v);
    db.execute(&format!(
        "UPDATE events SET previous_event_id = '{}' WHERE event_id = '{}'",
        v[2].event_id, v[0].event_id
    ));
    // And an event that is its own parent.
    let own = NewEvent::new("c", "step", "self", base_time());
    db.insert(std::slice::from_ref(&own));
    db.execute(&format!(
        "UPDATE events SET previous_event_id = event_id WHERE event_id = '{}'",
        own.event_id
    ));
    let mut c = db.client();

    let ch = chain(&mut c, v[0].event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(
        levels(&ch),
        [(1, "s0".into()), (2, "s1".into()), (3, "s2".into())]
    );
    assert!(ch.cycle_detected && !ch.truncated);
    let up = ancestors(&mut c, v[1].event_id, DEFAULT_MAX_DEPTH)
        .unwrap()
        .unwrap();
    assert_eq!(
        levels(&up),
        [(1, "s1".into()), (2, "s0".into()), (3, "s2".into())]
    );
    assert!(up.cycle_detected);

    for walk in [chain, ancestors] {
        let ch = walk(&mut c, own.event_id, DEFAULT_MAX_DEPTH)
            .unwrap()
            .unwrap();
        assert_eq!(levels(&ch), [(1, "self".into())]);
        assert!(ch.cycle_detected);
    }
}

#[test]
fn the_depth_cap_cuts_and_says_so() {
    let db = TestDb::create();
    let v = line(DEFAULT_MAX_DEPTH as usize + 5);
    db.insert(&v);
    let mut c = db.client();
    let root = v[0].event_id;
    let leaf = v.last().unwrap().event_id;

    let ch = chain(&mut c, root, DEFAULT_MAX_DEPTH).unwrap().unwrap();
    assert_eq!(ch.events.len(), DEFAULT_MAX_DEPTH as usize);
    assert!(ch.truncated && !ch.cycle_detected);
    assert_eq!(ch.events.last().unwrap().level, DEFAULT_MAX_DEPTH);
    assert_eq!(serde_json::to_value(&ch).unwrap()["truncated"], true);

    let up = ancestors(&mut c, leaf, DEFAULT_MAX_DEPTH).unwrap().unwrap();
    assert_eq!(up.events.len(), DEFAULT_MAX_DEPTH as usize);
    assert!(up.truncated);

    // Exactly as deep as the cap: complete, not truncated.
    let depth = v.len() as u32;
    assert!(!chain(&mut c, root, depth).unwrap().unwrap().truncated);
    assert!(chain(&mut c, root, depth - 1).unwrap().unwrap().truncated);
    assert!(!ancestors(&mut c, leaf, depth).unwrap().unwrap().truncated);
    let short = chain(&mut c, root, 3).unwrap().unwrap();
    assert_eq!(short.events.len(), 3);
    assert!(short.truncated);

    match chain(&mut c, root, 0) {
        Err(Error::Param(e)) => assert_eq!(e.to_string(), "maxDepth: must be 1..100000, got 0"),
        other => panic!("{other:?}"),
    }
}
