//! Shared setup: data sets and helpers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kx_events_query::{events, Event, EventsRequest};
use kx_events_testdb::{NewEvent, TestDb};
use serde_json::json;

/// A fixed "now" for data sets, so that expectations do not depend on the clock.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap()
}

/// `n` events with every filterable column varied (and some absent), spread over 40 days
/// before [`base_time`], some sharing a timestamp (to exercise the `event_id` tie-break).
pub fn varied(n: usize) -> Vec<NewEvent> {
    let types = [
        ("order", "order_created"),
        ("order", "order_paid"),
        ("user", "login"),
        ("user", "user_created"),
        ("email", "email_sent"),
    ];
    let sources = [Some("api"), Some("web"), Some("batch"), None];
    (0..n)
        .map(|i| {
            let (entity, event) = types[i % types.len()];
            // Every third event shares its timestamp with the one before it.
            let step = i - i / 3;
            let at = base_time() - Duration::minutes((step * 277) as i64 % (40 * 24 * 60));
            let mut e = NewEvent::new(&format!("client_{}", i % 4), entity, event, at);
            e.user_id = (i % 5 != 0).then(|| format!("user_{}", i % 7));
            e.entity_id = Some(format!("{entity}_{}", i % 11));
            e.source = sources[i % sources.len()].map(str::to_owned);
            e.campaign_id = (i % 2 == 0).then(|| format!("campaign_{}", i % 3));
            e.session_id = Some(format!("session_{}", i % 13));
            e.points_awarded = (i % 4 == 1).then_some((i % 10) as i32 * 5);
            e.metadata = Some(json!({"campaign": format!("k{}", i % 6), "n": i, "tags": ["a", format!("t{}", i % 2)]}));
            e
        })
        .collect()
}

/// The rows `events()` must return for a filter, computed here from the inserted data:
/// newest first, `event_id` breaking ties.
pub fn expected(rows: &[NewEvent], keep: impl Fn(&NewEvent) -> bool) -> Vec<uuid::Uuid> {
    let mut v: Vec<&NewEvent> = rows.iter().filter(|e| keep(e)).collect();
    v.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.event_id)));
    v.iter().map(|e| e.event_id).collect()
}

/// The ids of one page for `pairs` (parsed as the API and `kx` parse them).
pub fn ids(db: &mut postgres::Client, pairs: &[(&str, &str)]) -> Vec<uuid::Uuid> {
    let req = EventsRequest::from_query_pairs(pairs).unwrap();
    events(db, &req)
        .unwrap()
        .events
        .iter()
        .map(|e: &Event| e.event_id)
        .collect()
}

/// `count` generated rows made by SQL (fast), for plans and volume: 200 clients, 1,000 users,
/// 5 entity types, 20 event types, 4 sources, chains of 10, metadata with 50 campaigns; then
/// `ANALYZE`.
pub fn generate(db: &TestDb, count: i64) {
    db.execute(&format!(
        "INSERT INTO events (event_id, previous_event_id, client_id, user_id, entity_id, entity_type, event_type,
           source, campaign_id, points_awarded, session_id, occurred_at, metadata)
         SELECT md5(i::text)::uuid, CASE WHEN i % 10 <> 1 THEN md5((i - 1)::text)::uuid END,
           'client_' || (i % 200), 'user_' || (i % 1000),
           'entity_' || (i % 5000), 'type_' || (i % 5), 'event_' || (i % 20),
           (ARRAY['api', 'web', 'batch', 'mobile'])[1 + i % 4], 'campaign_' || (i % 300),
           i % 100, 'session_' || (i % 4000),
           timestamptz '2024-03-01 12:00:00+00' - (i * interval '7 minutes'),
           jsonb_build_object('campaign', 'k' || (i % 50), 'n', i)
         FROM generate_series(1, {count}) AS i;
         ANALYZE events;"
    ));
}
