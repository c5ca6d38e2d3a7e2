//! `analytics`: every figure, for one client and for all, over a time range.

use chrono::{Duration, NaiveDate};
use kx_events_query::{analytics_at, DayCount, Filter, SourceCount, TypeCount};
use kx_events_testdb::{NewEvent, TestDb};
use serde_json::json;

use crate::harness::base_time;

#[test]
fn analytics_figures() {
    let db = TestDb::create();
    let now = base_time(); // 2024-03-01T12:00Z
    let ev = |client: &str,
              et: &str,
              hours_ago: i64,
              user: Option<&str>,
              points: Option<i32>,
              source: Option<&str>| {
        let mut e = NewEvent::new(client, "order", et, now - Duration::hours(hours_ago));
        e.user_id = user.map(str::to_owned);
        e.points_awarded = points;
        e.source = source.map(str::to_owned);
        e
    };
    db.insert(&[
        ev("a", "created", 1, Some("u1"), Some(10), Some("api")),
        ev("a", "created", 2, Some("u2"), None, Some("api")),
        ev("a", "paid", 13, Some("u1"), Some(5), Some("web")),
        ev("a", "paid", 24 * 3, None, Some(-2), None),
        // 40 days ago: counted everywhere but in eventsPerDay (the last 30 days).
        ev("a", "created", 24 * 40, Some("u3"), Some(100), Some("api")),
        ev("b", "created", 1, Some("u1"), Some(7), Some("batch")),
    ]);
    let mut c = db.client();

    let a = analytics_at(
        &mut c,
        &Filter::from_query_pairs(&[("clientId", "a")]).unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(a.client_id.as_deref(), Some("a"));
    assert_eq!(a.total_events, 5);
    assert_eq!(a.total_points, 113);
    assert_eq!(a.unique_users, 3);
    let t = |et: &str, count| TypeCount {
        entity_type: Some("order".into()),
        event_type: et.into(),
        count,
    };
    assert_eq!(a.events_by_type, [t("created", 3), t("paid", 2)]);
    let d = |day: u32, month: u32, count| DayCount {
        date: NaiveDate::from_ymd_opt(2024, month, day).unwrap(),
        count,
    };
    assert_eq!(a.events_per_day, [d(1, 3, 2), d(29, 2, 1), d(27, 2, 1)]);
    let s = |src: Option<&str>, count| SourceCount {
        source: src.map(str::to_owned),
        count,
    };
    assert_eq!(
        a.by_source,
        [s(Some("api"), 3), s(Some("web"), 1), s(None, 1)]
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "clientId",
            "totalEvents",
            "eventsByType",
            "totalPoints",
            "eventsPerDay",
            "uniqueUsers",
            "bySource"
        ]
    );
    assert_eq!(
        json["eventsPerDay"][0],
        json!({"date": "2024-03-01", "count": 2})
    );
    assert_eq!(
        json["eventsByType"][0],
        json!({"entityType": "order", "eventType": "created", "count": 3})
    );

    let all = analytics_at(&mut c, &Filter::default(), now).unwrap();
    assert_eq!(
        (
            all.client_id,
            all.total_events,
            all.total_points,
            all.unique_users
        ),
        (None, 6, 120, 3)
    );
    assert_eq!(all.by_source[0], s(Some("api"), 3));

    // A range: the last day only (startDate inclusive, endDate exclusive).
    let start = (now - Duration::hours(13)).to_rfc3339();
    let end = (now - Duration::hours(1)).to_rfc3339();
    let f =
        Filter::from_query_pairs(&[("clientId", "a"), ("startDate", &start), ("endDate", &end)])
            .unwrap();
    let r = analytics_at(&mut c, &f, now).unwrap();
    assert_eq!((r.total_events, r.total_points, r.unique_users), (2, 5, 2));
    assert_eq!(r.events_per_day, [d(1, 3, 1), d(29, 2, 1)]);

    // Inside a caller's transaction too (any GenericClient), with the same answer.
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SELECT 1").unwrap();
    assert_eq!(analytics_at(&mut tx, &f, now).unwrap(), r);
    tx.commit().unwrap();

    let none = analytics_at(
        &mut c,
        &Filter::from_query_pairs(&[("clientId", "zz")]).unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(
        (none.total_events, none.total_points, none.unique_users),
        (0, 0, 0)
    );
    assert!(none.events_by_type.is_empty() && none.events_per_day.is_empty());
}
