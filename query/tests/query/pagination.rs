//! Keyset pagination to the end while events keep arriving: no gaps, no repeats.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use kx_events_query::{events, Cursor, EventsRequest, Start};
use kx_events_testdb::{NewEvent, TestDb};

use crate::harness::{expected, varied};

#[test]
fn pages_to_the_end_without_gaps_or_repeats_while_events_are_inserted() {
    let db = TestDb::create();
    let rows = varied(500);
    db.insert(&rows);
    let mut c = db.client();
    let mut req = EventsRequest::from_query_pairs(&[("limit", "37")]).unwrap();

    let mut seen = Vec::new();
    let mut must_appear = Vec::new();
    let mut pages = 0;
    loop {
        let page = events(&mut c, &req).unwrap();
        pages += 1;
        assert!(page.events.len() <= 37);
        seen.extend(page.events.iter().map(|e| (e.occurred_at, e.event_id)));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        // A cursor round-trips through its text form, as it does through a URL.
        let cursor = Cursor::decode(&cursor.encode()).unwrap();
        // Between pages: a new event (newer than everything: before the cursor, never seen
        // here), one at the cursor's own timestamp (on either side of the tie, by id), and a
        // late one older than the cursor (still ahead: it must appear exactly once).
        let newest = NewEvent::new("client_0", "order", "order_created", Utc::now());
        let mut tie = NewEvent::new("client_0", "order", "tie", cursor.occurred_at());
        tie.event_id = uuid::Uuid::new_v4();
        let late = NewEvent::new(
            "client_0",
            "order",
            "late",
            cursor.occurred_at() - Duration::milliseconds(1),
        );
        if tie.event_id < cursor.event_id() {
            must_appear.push(tie.event_id);
        }
        must_appear.push(late.event_id);
        db.insert(&[newest, tie, late]);
        req.page.start = Start::After(cursor);
    }
    assert!(pages >= 14, "{pages} pages");

    let ids: Vec<_> = seen.iter().map(|(_, id)| *id).collect();
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a row was returned twice");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "rows are strictly newest first"
    );
    for id in expected(&rows, |_| true).iter().chain(&must_appear) {
        assert!(unique.contains(id), "{id} was skipped");
    }
    // Nothing newer than the first page's start was returned.
    assert_eq!(ids.len(), rows.len() + must_appear.len());
}

#[test]
fn the_last_page_has_no_cursor() {
    let db = TestDb::create();
    db.insert(&varied(10));
    let mut c = db.client();
    let page = events(
        &mut c,
        &EventsRequest::from_query_pairs(&[("limit", "10")]).unwrap(),
    )
    .unwrap();
    assert_eq!(page.events.len(), 10);
    assert_eq!(
        page.next_cursor, None,
        "exactly `limit` rows left: no empty extra page"
    );
    let json = serde_json::to_value(&page).unwrap();
    assert_eq!(json["nextCursor"], serde_json::Value::Null);

    let page = events(
        &mut c,
        &EventsRequest::from_query_pairs(&[("limit", "4")]).unwrap(),
    )
    .unwrap();
    let text = page.next_cursor.unwrap().encode();
    let next = events(
        &mut c,
        &EventsRequest::from_query_pairs(&[("limit", "4"), ("cursor", text.as_str())]).unwrap(),
    )
    .unwrap();
    assert_eq!(next.events.len(), 4);
    assert!(next.events[0].occurred_at <= page.events[3].occurred_at);
}
