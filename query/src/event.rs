//! One stored event, as read back.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::params::{Field, Fields};

/// The columns every query reads, in [`Event::from_row`]'s order (`e` is `events`).
pub(crate) const COLUMNS: &str = "e.event_id, e.client_id, e.previous_event_id, e.user_id, \
     e.entity_id, e.entity_type, e.event_type, e.source, e.campaign_id, e.points_awarded, \
     e.session_id, e.occurred_at, e.metadata, e.extra_fields, e.created_at, \
     nullif(e.published_at, '-infinity') AS published_at";
/// [`COLUMNS`] without reading the JSON columns (up to 64 KiB a row) when `metadata` is not
/// among the selected fields.
pub(crate) const COLUMNS_NO_METADATA: &str = "e.event_id, e.client_id, e.previous_event_id, \
     e.user_id, e.entity_id, e.entity_type, e.event_type, e.source, e.campaign_id, \
     e.points_awarded, e.session_id, e.occurred_at, NULL::jsonb AS metadata, \
     NULL::jsonb AS extra_fields, e.created_at, \
     nullif(e.published_at, '-infinity') AS published_at";

/// The column list for `fields`: one of two fixed fragments.
pub(crate) fn columns(fields: &Fields) -> &'static str {
    if fields.contains(Field::Metadata) {
        COLUMNS
    } else {
        COLUMNS_NO_METADATA
    }
}

/// A stored event: the contract's `TrackedEvent` fields plus when it was stored and published.
///
/// Serialises (serde) as camelCase JSON with every field present (`null` when absent), in the
/// contract's order, then `createdAt` and `publishedAt`; timestamps as the contract writes
/// them (RFC 3339 UTC, milliseconds, or microseconds when there are any). Unknown top-level
/// fields that the producer sent are inlined after `metadata`, as the bus carries them; one
/// named like a field of this row (`createdAt`, say) never replaces the stored value.
/// [`Event::to_json`] gives a selection of fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `eventId`
    pub event_id: Uuid,
    /// `clientId`
    pub client_id: String,
    /// `previousEventId`: the parent in a chain.
    pub previous_event_id: Option<Uuid>,
    /// `userId`
    pub user_id: Option<String>,
    /// `entityId`
    pub entity_id: Option<String>,
    /// `entityType` (required by the contract; nullable in the TypeScript system's `events`
    /// table, so old rows may lack it).
    pub entity_type: Option<String>,
    /// `eventType`
    pub event_type: String,
    /// `source`
    pub source: Option<String>,
    /// `campaignId`
    pub campaign_id: Option<String>,
    /// `pointsAwarded`
    pub points_awarded: Option<i32>,
    /// `sessionId`
    pub session_id: Option<String>,
    /// `occurredAt`
    pub occurred_at: DateTime<Utc>,
    /// `metadata` (`None` also when not selected).
    pub metadata: Option<Value>,
    /// Top-level fields the contract does not know, as the producer sent them.
    pub extra_fields: Map<String, Value>,
    /// `createdAt`: when the consumer stored it.
    pub created_at: DateTime<Utc>,
    /// `publishedAt`: when it was put on the bus (`None`: not yet, or never: history of an
    /// adopted table and rows of other writers, stored as `-infinity`).
    pub published_at: Option<DateTime<Utc>>,
}

impl Event {
    /// Reads a row whose first columns are [`COLUMNS`].
    pub(crate) fn from_row(r: &postgres::Row) -> Result<Self, postgres::Error> {
        let extra: Option<Value> = r.try_get(13)?;
        Ok(Self {
            event_id: r.try_get(0)?,
            client_id: r.try_get(1)?,
            previous_event_id: r.try_get(2)?,
            user_id: r.try_get(3)?,
            entity_id: r.try_get(4)?,
            entity_type: r.try_get(5)?,
            event_type: r.try_get(6)?,
            source: r.try_get(7)?,
            campaign_id: r.try_get(8)?,
            points_awarded: r.try_get(9)?,
            session_id: r.try_get(10)?,
            occurred_at: r.try_get(11)?,
            metadata: r.try_get(12)?,
            extra_fields: match extra {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            },
            created_at: r.try_get(14)?,
            published_at: r.try_get(15)?,
        })
    }

    /// The value of one field as JSON.
    pub fn field(&self, field: Field) -> Value {
        fn text(s: &Option<String>) -> Value {
            s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
        }
        match field {
            Field::EventId => Value::String(self.event_id.to_string()),
            Field::ClientId => Value::String(self.client_id.clone()),
            Field::PreviousEventId => self
                .previous_event_id
                .map_or(Value::Null, |u| Value::String(u.to_string())),
            Field::UserId => text(&self.user_id),
            Field::EntityId => text(&self.entity_id),
            Field::EntityType => text(&self.entity_type),
            Field::EventType => Value::String(self.event_type.clone()),
            Field::Source => text(&self.source),
            Field::CampaignId => text(&self.campaign_id),
            Field::PointsAwarded => self.points_awarded.map_or(Value::Null, Value::from),
            Field::SessionId => text(&self.session_id),
            Field::OccurredAt => Value::String(format_timestamp(&self.occurred_at)),
            Field::Metadata => self.metadata.clone().unwrap_or(Value::Null),
            Field::CreatedAt => Value::String(format_timestamp(&self.created_at)),
            Field::PublishedAt => self
                .published_at
                .map_or(Value::Null, |t| Value::String(format_timestamp(&t))),
        }
    }

    /// The selected fields as a JSON object, in output order (see the type's docs).
    pub fn to_json(&self, fields: &Fields) -> Map<String, Value> {
        let mut m = Map::new();
        for f in fields.iter() {
            m.insert(f.name().to_owned(), self.field(f));
            if f == Field::Metadata && fields.is_all() {
                for (k, v) in &self.extra_fields {
                    if Field::from_name(k).is_none() && k != "level" {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        m
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json(&Fields::default()).serialize(s)
    }
}

/// RFC 3339 in UTC with `Z`: milliseconds, or microseconds when there are any (the contract's
/// `format_timestamp`, so a stored event reads back as the producer wrote it).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    let format = if t.nanosecond().is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event generated by the TypeScript system's producer (tests/fixtures), as it sends it.
    const GENERATED_EVENT: &str =
        include_str!("../../tests/fixtures/typescript/examples/generated_event.json");

    #[test]
    fn field_names_are_the_contracts() {
        let wire: Map<String, Value> = serde_json::from_str(GENERATED_EVENT).unwrap();
        let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        let wire_names: Vec<&str> = wire.keys().map(String::as_str).collect();
        assert_eq!(
            &names[..13],
            wire_names,
            "the contract's fields, in wire order"
        );
        assert_eq!(&names[13..], ["createdAt", "publishedAt"]);
    }
}
