//! The wire contract of a tracked event, shared by producers and the consumer.
//!
//! The JSON form is the TypeScript system's `TrackedEvent`, camelCase, exactly as its producer
//! emits it with `JSON.stringify`. Decoding is strict about values (every rule names the field it
//! checks) and lenient about shape where the TypeScript producer is (`null` for an absent
//! optional field, integral numbers written as `100.0`), and accepts what the TypeScript
//! system's consumer accepted (numbers for string fields, a timestamp without an offset, …),
//! noting each such coercion so that the consumer can log it.
//!
//! Unknown top-level fields are kept rather than dropped, so that a newer producer's fields
//! survive an older consumer; they are bounded together with `metadata` and may not shadow a
//! contract field in another case, which is almost always a typo.
//!
//! One file per role:
//!
//! - this file: the [`TrackedEvent`] type, its limits and a fresh event;
//! - `decode`: JSON text or value → a validated event, with the coercions applied;
//! - `encode`: a [`TrackedEvent`] → the wire JSON, the contract's fields in wire order;
//! - `timestamp`: `occurredAt` as text, read as PostgreSQL reads it and written as JavaScript's
//!   `toISOString` writes it;
//! - `validate`: the rules a typed event can break, and [`ValidationError`], which names the
//!   field and the [`Rule`];
//! - `bus`: the EventBridge `PutEvents` entry of an event ([`BusEntry`]).

mod bus;
mod decode;
mod encode;
mod timestamp;
mod validate;

pub use bus::BusEntry;
// The producer checks a request's `previousEventId` with the decoder's own rule.
#[cfg(feature = "producer")]
pub(crate) use decode::parse_uuid;
pub use timestamp::format_timestamp;
pub use validate::{Rule, ValidationError};

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The EventBridge `Source` used when none is configured (`EVENT_SOURCE`).
pub const DEFAULT_EVENT_SOURCE: &str = "kx-event-tracking";

/// SQS message attribute that a producer sets (string value `"true"`) when it has already put the
/// event on the bus itself (the real-time path). The consumer stores such an event as published
/// and does not put it on the bus again.
pub const ON_BUS_ATTRIBUTE: &str = "kx-on-bus";

/// Maximum characters of `clientId`, `userId`, `entityId`, `campaignId` and `sessionId`
/// (the schema's `VARCHAR(128)` columns; counted as PostgreSQL counts characters).
pub const MAX_ID_CHARS: usize = 128;
/// Maximum characters of `entityType` and `eventType` (`VARCHAR(48)`).
pub const MAX_TYPE_CHARS: usize = 48;
/// Maximum characters of `source` (`VARCHAR(32)`).
pub const MAX_SOURCE_CHARS: usize = 32;
/// Maximum size in bytes of `metadata` plus any unknown top-level fields, as compact JSON.
///
/// 64 KiB keeps every event, with all of its other fields at their maximum length, far below
/// EventBridge's 256 KB entry limit and SQS's message limit, so an accepted event can always be
/// stored, queued and put on the bus.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The camelCase names of the contract's fields, in wire order.
pub const FIELD_NAMES: [&str; 13] = [
    "eventId",
    "clientId",
    "previousEventId",
    "userId",
    "entityId",
    "entityType",
    "eventType",
    "source",
    "campaignId",
    "pointsAwarded",
    "sessionId",
    "occurredAt",
    "metadata",
];

/// A business event, as tracked by a producer and stored by the consumer.
///
/// Build one with [`TrackedEvent::new`] and the `with_*`/field setters, or decode one with
/// [`TrackedEvent::from_json`]. Serialising with `serde_json` gives the TypeScript system's wire
/// format.
///
/// Unknown top-level fields in a decoded message are **kept**, not dropped: they live in
/// [`TrackedEvent::extra`], are serialised back after the contract's fields, are stored by the
/// consumer (column `extra_fields`) and travel in the bus entry's `Detail`. They count toward
/// [`MAX_METADATA_BYTES`] and may not shadow a contract field.
///
/// ```
/// use kx_events::TrackedEvent;
///
/// let event = TrackedEvent::new("client_123", "order", "order_created");
/// let json = serde_json::to_string(&event).unwrap();
/// let back = TrackedEvent::from_json(json.as_bytes()).unwrap();
/// assert_eq!(back, event);
/// assert!(json.contains("\"previousEventId\":null"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedEvent {
    /// Unique id of the event (idempotency key).
    pub event_id: Uuid,
    /// The client (tenant) the event belongs to.
    pub client_id: String,
    /// The event this one follows in a chain, if any.
    pub previous_event_id: Option<Uuid>,
    /// The acting user.
    pub user_id: Option<String>,
    /// The entity the event is about.
    pub entity_id: Option<String>,
    /// Kind of entity, e.g. `order`.
    pub entity_type: String,
    /// What happened, e.g. `order_created`.
    pub event_type: String,
    /// Where the event was recorded, e.g. `api`.
    pub source: Option<String>,
    /// Marketing campaign, if any.
    pub campaign_id: Option<String>,
    /// Loyalty points awarded by the event.
    pub points_awarded: Option<i32>,
    /// Session the event happened in.
    pub session_id: Option<String>,
    /// When the event happened (UTC, microsecond precision as PostgreSQL stores it).
    pub occurred_at: DateTime<Utc>,
    /// Free-form JSON object.
    pub metadata: Option<Map<String, Value>>,
    /// Unknown top-level fields of a decoded message, kept as they came.
    pub extra: Map<String, Value>,
}

impl TrackedEvent {
    /// A new event with a fresh `eventId`, `occurredAt` now, and no optional fields.
    ///
    /// The id is a UUID v7 (RFC 9562): its first 48 bits are the Unix time in milliseconds, so
    /// ids made later sort later and a growing table's primary-key and foreign-key indexes take
    /// them on their right-hand pages instead of random ones. It is still a UUID to every reader
    /// of the contract; ids of older producers (random v4) are stored and compared the same way.
    pub fn new(
        client_id: impl Into<String>,
        entity_type: impl Into<String>,
        event_type: impl Into<String>,
    ) -> Self {
        let now = Utc::now();
        let now = now
            .with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        Self {
            event_id: Uuid::now_v7(),
            client_id: client_id.into(),
            previous_event_id: None,
            user_id: None,
            entity_id: None,
            entity_type: entity_type.into(),
            event_type: event_type.into(),
            source: None,
            campaign_id: None,
            points_awarded: None,
            session_id: None,
            occurred_at: now,
            metadata: None,
            extra: Map::new(),
        }
    }
}

/// Events shared by the submodules' tests.
#[cfg(test)]
mod test_events {
    use serde_json::{json, Value};

    /// A full event as the TypeScript system documents it (its generated event structure, also
    /// its sample bus `Detail`), with the documentation's placeholder `previousEventId`
    /// (`"event_456"`, not a UUID) replaced by a UUID.
    pub(super) const FULL_EVENT: &str = include_str!("fixtures/full_event.json");

    /// The smallest valid event: the required fields and a `null` `previousEventId`.
    pub(super) fn minimal() -> Value {
        json!({
            "eventId": "550e8400-e29b-41d4-a716-446655440000",
            "clientId": "client_123",
            "previousEventId": null,
            "entityType": "user",
            "eventType": "user_created",
            "occurredAt": "2024-01-15T10:30:00.000Z"
        })
    }

    /// [`minimal`] with `field` set to `v`.
    pub(super) fn with(field: &str, v: Value) -> Value {
        let mut b = minimal();
        b[field] = v;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_event_ids_are_time_ordered_v7_and_v4_ids_still_decode() {
        let ids: Vec<Uuid> = (0..1_000)
            .map(|_| TrackedEvent::new("client_123", "order", "order_created").event_id)
            .collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7), "{}", ids[0]);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids made later sort later"
        );
        // An older producer's random v4 id is as good an eventId as ever.
        let v4 = Uuid::new_v4();
        let body = format!(
            r#"{{"eventId":"{v4}","clientId":"c","entityType":"order","eventType":"order_created","occurredAt":"2024-01-15T10:30:00.000Z","previousEventId":"{}"}}"#,
            ids[0]
        );
        let e = TrackedEvent::from_json(body.as_bytes()).unwrap();
        assert_eq!((e.event_id, e.previous_event_id), (v4, Some(ids[0])));
    }
}
