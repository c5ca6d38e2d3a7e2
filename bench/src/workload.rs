//! The events the benchmarks store: realistic sizes (a ~200-byte metadata object, every optional
//! column filled as the TypeScript system's producers fill them) and chains (half of the events name a
//! previous event that is already stored, so every such insert runs the foreign-key check).

use chrono::Duration as ChronoDuration;
use kx_events::TrackedEvent;
use postgres::types::ToSql;
use serde_json::{json, Value};
use uuid::Uuid;

/// A small deterministic pseudo-random generator (xorshift64*), so that runs are comparable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a starting state (any value; 0 is mapped to a fixed non-zero state).
    pub fn new(start: u64) -> Rng {
        Rng(if start == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            start
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const EVENT_TYPES: [(&str, &str); 5] = [
    ("order", "order_created"),
    ("order", "order_paid"),
    ("order", "order_shipped"),
    ("product", "item_viewed"),
    ("user", "profile_updated"),
];

/// One event as a producer would track it. With `parent`, the event continues that chain
/// (`previousEventId`).
pub fn event(rng: &mut Rng, parent: Option<Uuid>) -> TrackedEvent {
    let n = rng.next_u64();
    let (entity_type, event_type) = EVENT_TYPES[(n % EVENT_TYPES.len() as u64) as usize];
    let mut event = TrackedEvent::new(format!("client_{:03}", n % 40), entity_type, event_type);
    event.previous_event_id = parent;
    event.user_id = Some(format!("user_{:06}", (n >> 8) % 100_000));
    event.entity_id = Some(format!("{entity_type}_{:08x}", (n >> 16) as u32));
    event.source = Some("api".into());
    if n.is_multiple_of(3) {
        event.campaign_id = Some(format!("spring_sale_{}", (n >> 24) % 12));
    }
    event.points_awarded = Some(((n >> 32) % 500) as i32);
    event.session_id = Some(format!("sess_{:016x}", n.rotate_left(17)));
    event.occurred_at -= ChronoDuration::seconds(((n >> 40) % 86_400) as i64);
    let metadata = json!({
        "orderId": format!("ord_{:010}", n % 10_000_000_000),
        "amount": ((n >> 20) % 100_000) as f64 / 100.0,
        "currency": "EUR",
        "items": [
            {"sku": format!("SKU-{:05}", (n >> 4) % 100_000), "qty": 1 + (n >> 50) % 3},
            {"sku": format!("SKU-{:05}", (n >> 12) % 100_000), "qty": 1}
        ],
        "channel": "web",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) kx-bench"
    });
    if let Value::Object(map) = metadata {
        event.metadata = Some(map);
    }
    event
}

/// `count` events; each one names, with probability one half, a previous event drawn from
/// `parents` (events already stored), as the TypeScript system's producers chain a request's events.
pub fn events(rng: &mut Rng, count: usize, parents: &[Uuid]) -> Vec<TrackedEvent> {
    (0..count)
        .map(|_| {
            let parent = if !parents.is_empty() && rng.below(2) == 0 {
                Some(parents[rng.below(parents.len() as u64) as usize])
            } else {
                None
            };
            event(rng, parent)
        })
        .collect()
}

/// The metadata object as a `serde_json::Value` (or JSON `null`), as the store binds it.
pub fn metadata_value(event: &TrackedEvent) -> Option<Value> {
    event.metadata.clone().map(Value::Object)
}

/// The columns the baselines write, in the order of [`row_params`].
pub const COLUMNS: &str =
    "event_id, client_id, previous_event_id, user_id, entity_id, entity_type, \
    event_type, source, campaign_id, points_awarded, session_id, occurred_at, metadata";

/// The TypeScript system's store: one autocommit `INSERT … ON CONFLICT DO NOTHING` per event,
/// its parameters from [`row_params`].
pub const PER_MESSAGE_INSERT: &str = "INSERT INTO events (event_id, client_id, previous_event_id, \
    user_id, entity_id, entity_type, event_type, source, campaign_id, points_awarded, session_id, \
    occurred_at, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
    ON CONFLICT (event_id) DO NOTHING";

/// One event as the 13 parameters of [`COLUMNS`] (`$1 … $13` of a per-message INSERT, one row
/// of a COPY), with `metadata` from [`metadata_value`].
pub fn row_params<'a>(
    e: &'a TrackedEvent,
    metadata: &'a Option<Value>,
) -> [&'a (dyn ToSql + Sync); 13] {
    [
        &e.event_id,
        &e.client_id,
        &e.previous_event_id,
        &e.user_id,
        &e.entity_id,
        &e.entity_type,
        &e.event_type,
        &e.source,
        &e.campaign_id,
        &e.points_awarded,
        &e.session_id,
        &e.occurred_at,
        metadata,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_and_chained_about_half_the_time() {
        let mut rng = Rng::new(7);
        let parents: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
        let events = events(&mut rng, 1000, &parents);
        for e in &events {
            e.validate().unwrap();
        }
        let chained = events
            .iter()
            .filter(|e| e.previous_event_id.is_some())
            .count();
        assert!((350..650).contains(&chained), "{chained}");
        let json = events[0].to_json();
        assert!(json.len() > 300 && json.len() < 1000, "{}", json.len());
    }
}
