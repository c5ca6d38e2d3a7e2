//! Reading the JSON this library writes back into its types: the query API's answers, for
//! clients such as `kx --api-url` that print them as they print database results.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::chain::{Chain, ChainEvent};
use crate::cursor::Cursor;
use crate::event::Event;
use crate::events::EventPage;
use crate::params::{Field, Fields};

fn text(m: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key}: expected a string, got {other}")),
    }
}

fn time(m: &Map<String, Value>, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    text(m, key)?
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{key}: not an RFC 3339 time ({e})"))
        })
        .transpose()
}

fn uuid(m: &Map<String, Value>, key: &str) -> Result<Option<Uuid>, String> {
    text(m, key)?
        .map(|s| Uuid::parse_str(&s).map_err(|_| format!("{key}: not a UUID")))
        .transpose()
}

impl Event {
    /// An event from its JSON (as [`Event::to_json`] writes it). Fields left out of a selection
    /// read as empty (nil id, empty strings, the epoch); print them with the same [`Fields`].
    ///
    /// ```
    /// use kx_events_query::Event;
    ///
    /// let v = serde_json::json!({"eventId": "550e8400-e29b-41d4-a716-446655440000",
    ///     "clientId": "c", "eventType": "order_created", "occurredAt": "2024-01-15T10:30:00.000Z"});
    /// let e = Event::from_json(v.as_object().unwrap()).unwrap();
    /// assert_eq!(e.client_id, "c");
    /// ```
    pub fn from_json(m: &Map<String, Value>) -> Result<Self, String> {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let extra_fields = m
            .iter()
            .filter(|(k, _)| Field::from_name(k).is_none() && k.as_str() != "level")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Event {
            event_id: uuid(m, "eventId")?.unwrap_or(Uuid::nil()),
            client_id: text(m, "clientId")?.unwrap_or_default(),
            previous_event_id: uuid(m, "previousEventId")?,
            user_id: text(m, "userId")?,
            entity_id: text(m, "entityId")?,
            entity_type: text(m, "entityType")?,
            event_type: text(m, "eventType")?.unwrap_or_default(),
            source: text(m, "source")?,
            campaign_id: text(m, "campaignId")?,
            points_awarded: match m.get("pointsAwarded") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| format!("pointsAwarded: not an integer: {v}"))?,
                ),
            },
            session_id: text(m, "sessionId")?,
            occurred_at: time(m, "occurredAt")?.unwrap_or(epoch),
            metadata: m.get("metadata").filter(|v| !v.is_null()).cloned(),
            extra_fields,
            created_at: time(m, "createdAt")?.unwrap_or(epoch),
            published_at: time(m, "publishedAt")?,
        })
    }
}

fn rows(v: &Value) -> Result<&Vec<Value>, String> {
    v["data"]
        .as_array()
        .ok_or_else(|| "data: expected an array".to_string())
}

fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| "expected a JSON object".to_string())
}

impl EventPage {
    /// A page from the query API's `GET /events` answer, requested with `fields`.
    pub fn from_json(v: &Value, fields: Fields) -> Result<Self, String> {
        let events = rows(v)?
            .iter()
            .map(|r| Event::from_json(object(r)?))
            .collect::<Result<_, _>>()?;
        let next_cursor = match v.get("nextCursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Cursor::decode(s).map_err(|e| e.to_string())?),
            Some(other) => return Err(format!("nextCursor: expected a string, got {other}")),
        };
        Ok(EventPage {
            events,
            next_cursor,
            fields,
        })
    }
}

impl Chain {
    /// A chain from the query API's `GET /events/{eventId}/chain` (or `/ancestors`) answer.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let events = rows(v)?
            .iter()
            .map(|r| {
                let m = object(r)?;
                let level = m["level"]
                    .as_u64()
                    .and_then(|l| u32::try_from(l).ok())
                    .ok_or_else(|| "level: expected a positive integer".to_string())?;
                Ok(ChainEvent {
                    level,
                    event: Event::from_json(m)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Chain {
            events,
            truncated: v["truncated"].as_bool().unwrap_or(false),
            cycle_detected: v["cycleDetected"].as_bool().unwrap_or(false),
            max_depth: v["maxDepth"]
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(crate::DEFAULT_MAX_DEPTH),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_as_written() {
        let e = Event {
            event_id: Uuid::new_v4(),
            client_id: "c".into(),
            previous_event_id: Some(Uuid::new_v4()),
            user_id: Some("u".into()),
            entity_id: None,
            entity_type: Some("order".into()),
            event_type: "order_created".into(),
            source: Some("api".into()),
            campaign_id: None,
            points_awarded: Some(7),
            session_id: None,
            occurred_at: "2024-01-15T10:30:00.123456Z".parse().unwrap(),
            metadata: Some(serde_json::json!({"a": 1})),
            extra_fields: Map::new(),
            created_at: "2024-01-15T10:30:01Z".parse().unwrap(),
            published_at: None,
        };
        let json = e.to_json(&Fields::default());
        assert_eq!(Event::from_json(&json).unwrap(), e);
    }
}
