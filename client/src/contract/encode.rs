//! A [`TrackedEvent`] → the TypeScript system's wire JSON: camelCase, the contract's fields in
//! wire order (the order of [`FIELD_NAMES`](super::FIELD_NAMES)), then the unknown fields as they
//! came.
//!
//! Absent optional fields are left out, except `previousEventId`, which the TypeScript producer
//! always writes (`null` when there is none); `occurredAt` is written as `toISOString` writes it.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::timestamp::format_timestamp;
use super::TrackedEvent;

impl TrackedEvent {
    /// The event as compact wire JSON.
    pub fn to_json(&self) -> String {
        // Serialising strings, numbers and `Value`s into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for TrackedEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("eventId", &self.event_id)?;
        m.serialize_entry("clientId", &self.client_id)?;
        // The TypeScript producer always writes `previousEventId`, `null` when there is none.
        m.serialize_entry("previousEventId", &self.previous_event_id)?;
        let optional = [("userId", &self.user_id), ("entityId", &self.entity_id)];
        for (k, v) in optional {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("entityType", &self.entity_type)?;
        m.serialize_entry("eventType", &self.event_type)?;
        if let Some(v) = &self.source {
            m.serialize_entry("source", v)?;
        }
        if let Some(v) = &self.campaign_id {
            m.serialize_entry("campaignId", v)?;
        }
        if let Some(v) = &self.points_awarded {
            m.serialize_entry("pointsAwarded", v)?;
        }
        if let Some(v) = &self.session_id {
            m.serialize_entry("sessionId", v)?;
        }
        m.serialize_entry("occurredAt", &format_timestamp(&self.occurred_at))?;
        if let Some(v) = &self.metadata {
            m.serialize_entry("metadata", v)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::test_events::FULL_EVENT;
    use super::*;

    #[test]
    fn full_event_round_trips() {
        let e = TrackedEvent::from_json(FULL_EVENT.as_bytes()).unwrap();
        assert_eq!(e.points_awarded, Some(100));
        assert_eq!(e.detail_type(), "user.user_created");
        let compact: Value = serde_json::from_str(FULL_EVENT).unwrap();
        let json = e.to_json();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), compact);
        // The contract's fields are written in wire order, with or without `preserve_order`.
        let at = |field: &str| json.find(&format!("\"{field}\":")).unwrap();
        let positions: Vec<usize> = ["eventId", "clientId", "previousEventId", "userId"]
            .into_iter()
            .chain([
                "entityId",
                "entityType",
                "eventType",
                "source",
                "campaignId",
            ])
            .chain(["pointsAwarded", "sessionId", "occurredAt", "metadata"])
            .map(at)
            .collect();
        assert!(positions.is_sorted(), "{json}");
    }

    /// With `preserve_order`, `metadata` keeps the producer's key order too: byte for byte.
    #[cfg(feature = "preserve_order")]
    #[test]
    fn full_event_round_trips_byte_for_byte_with_preserve_order() {
        let e = TrackedEvent::from_json(FULL_EVENT.as_bytes()).unwrap();
        let compact: Value = serde_json::from_str(FULL_EVENT).unwrap();
        assert_eq!(e.to_json(), serde_json::to_string(&compact).unwrap());
    }
}
