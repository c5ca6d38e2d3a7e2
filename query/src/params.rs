//! The request parameters, and their one parser (the HTTP API's query string and `kx`'s flags
//! both go through [`EventsRequest::from_query_pairs`] / [`Filter::from_query_pairs`]).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::cursor::Cursor;
use crate::error::ParamError;

/// Default page size of [`EventsRequest`].
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size accepted.
pub const MAX_LIMIT: u32 = 1000;
/// Longest accepted value of an id filter (the schema's `VARCHAR(128)`): anything longer cannot
/// match a row.
const MAX_VALUE_CHARS: usize = 128;

/// A field of an event row, as named on the wire (camelCase, the contract's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
    /// `eventId`
    EventId,
    /// `clientId`
    ClientId,
    /// `previousEventId`
    PreviousEventId,
    /// `userId`
    UserId,
    /// `entityId`
    EntityId,
    /// `entityType`
    EntityType,
    /// `eventType`
    EventType,
    /// `source`
    Source,
    /// `campaignId`
    CampaignId,
    /// `pointsAwarded`
    PointsAwarded,
    /// `sessionId`
    SessionId,
    /// `occurredAt`
    OccurredAt,
    /// `metadata` (with the unknown top-level fields the producer sent, inlined after it as the
    /// bus carries them, when every field is selected)
    Metadata,
    /// `createdAt`: when the consumer stored the event.
    CreatedAt,
    /// `publishedAt`: when it was put on the bus (`null`: not yet).
    PublishedAt,
}

impl Field {
    /// Every field, in output order.
    pub const ALL: [Field; 15] = [
        Field::EventId,
        Field::ClientId,
        Field::PreviousEventId,
        Field::UserId,
        Field::EntityId,
        Field::EntityType,
        Field::EventType,
        Field::Source,
        Field::CampaignId,
        Field::PointsAwarded,
        Field::SessionId,
        Field::OccurredAt,
        Field::Metadata,
        Field::CreatedAt,
        Field::PublishedAt,
    ];

    /// The camelCase wire name.
    pub fn name(self) -> &'static str {
        self.names().0
    }

    /// (wire name, column name); the TypeScript system's `qkeys` used the column names, both are
    /// accepted.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Field::EventId => ("eventId", "event_id"),
            Field::ClientId => ("clientId", "client_id"),
            Field::PreviousEventId => ("previousEventId", "previous_event_id"),
            Field::UserId => ("userId", "user_id"),
            Field::EntityId => ("entityId", "entity_id"),
            Field::EntityType => ("entityType", "entity_type"),
            Field::EventType => ("eventType", "event_type"),
            Field::Source => ("source", "source"),
            Field::CampaignId => ("campaignId", "campaign_id"),
            Field::PointsAwarded => ("pointsAwarded", "points_awarded"),
            Field::SessionId => ("sessionId", "session_id"),
            Field::OccurredAt => ("occurredAt", "occurred_at"),
            Field::Metadata => ("metadata", "metadata"),
            Field::CreatedAt => ("createdAt", "created_at"),
            Field::PublishedAt => ("publishedAt", "published_at"),
        }
    }

    /// The field called `name` (camelCase, or the column's snake_case name).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.names().0 == name || f.names().1 == name)
    }
}

/// Which fields a row carries in its JSON, in that order (the TypeScript system's `qkeys`).
/// Default: all of them, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<Field>);

impl Default for Fields {
    fn default() -> Self {
        Fields(Field::ALL.to_vec())
    }
}

impl Fields {
    /// The selected fields, in the order given (the order of the output), without repeats.
    pub fn new(fields: impl IntoIterator<Item = Field>) -> Self {
        let mut v: Vec<Field> = Vec::new();
        for f in fields {
            if !v.contains(&f) {
                v.push(f);
            }
        }
        Fields(v)
    }

    /// Parses `eventId,clientId,occurredAt`; an unknown name is an error naming it.
    ///
    /// ```
    /// use kx_events_query::{Field, Fields};
    ///
    /// let f = Fields::parse("occurredAt, eventId, occurredAt").unwrap();
    /// assert_eq!(f.iter().collect::<Vec<_>>(), [Field::OccurredAt, Field::EventId]);
    /// let err = Fields::parse("eventId,colour").unwrap_err();
    /// assert!(err.to_string().starts_with("fields: unknown field \"colour\""));
    /// ```
    pub fn parse(list: &str) -> Result<Self, ParamError> {
        Self::parse_as("fields", list)
    }

    fn parse_as(param: &str, list: &str) -> Result<Self, ParamError> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(ParamError::new(
                    param,
                    "must be a comma-separated list of field names, e.g. eventId,clientId,occurredAt",
                ));
            }
            let field = Field::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                ParamError::new(
                    param,
                    format!("unknown field {name:?}; known: {}", known.join(",")),
                )
            })?;
            out.push(field);
        }
        Ok(Fields::new(out))
    }

    /// Whether `field` is selected.
    pub fn contains(&self, field: Field) -> bool {
        self.0.contains(&field)
    }

    /// `true` when every field is selected.
    pub fn is_all(&self) -> bool {
        self.0.len() == Field::ALL.len()
    }

    /// The selected fields, in the order of the output.
    pub fn iter(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().copied()
    }
}

/// Which events: every set filter must match (AND). Used by [`crate::events`] and
/// [`crate::analytics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// `clientId`
    pub client_id: Option<String>,
    /// `userId`
    pub user_id: Option<String>,
    /// `entityId`
    pub entity_id: Option<String>,
    /// `entityType`
    pub entity_type: Option<String>,
    /// `eventType`
    pub event_type: Option<String>,
    /// `source`
    pub source: Option<String>,
    /// `campaignId`
    pub campaign_id: Option<String>,
    /// `sessionId`
    pub session_id: Option<String>,
    /// `startDate`: `occurredAt >= start` (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// `endDate`: `occurredAt < end` (exclusive).
    pub end: Option<DateTime<Utc>>,
    /// `metadata`: the event's metadata contains this object (`@>`), e.g. `{"campaign":"x"}`.
    pub metadata: Option<Map<String, Value>>,
}

/// The parameters of [`Filter`], in the order `--help` and errors list them.
const FILTER_PARAMS: [&str; 11] = [
    "clientId",
    "userId",
    "entityId",
    "entityType",
    "eventType",
    "source",
    "campaignId",
    "sessionId",
    "startDate",
    "endDate",
    "metadata",
];
const PAGE_PARAMS: [&str; 5] = ["limit", "cursor", "offset", "fields", "qkeys"];

impl Filter {
    /// Parses the filter parameters (`clientId`, `userId`, `entityId`, `entityType`,
    /// `eventType`, `source`, `campaignId`, `sessionId`, `startDate`, `endDate`, `metadata`).
    /// Any other name, a repeated name or a bad value is an error naming the parameter.
    ///
    /// ```
    /// use kx_events_query::Filter;
    ///
    /// let f = Filter::from_query_pairs(&[("clientId", "c1"), ("startDate", "2024-01-01")]).unwrap();
    /// assert_eq!(f.client_id.as_deref(), Some("c1"));
    /// assert_eq!(f.start.unwrap().to_rfc3339(), "2024-01-01T00:00:00+00:00");
    /// let err = Filter::from_query_pairs(&[("client", "c1")]).unwrap_err();
    /// assert_eq!(err.param(), "client");
    /// ```
    pub fn from_query_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, ParamError> {
        let mut filter = Filter::default();
        let mut seen = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            once(&mut seen, k)?;
            if !filter.set(k, v)? {
                return Err(unknown(k, &FILTER_PARAMS));
            }
        }
        filter.check_range()?;
        Ok(filter)
    }

    /// Sets one parameter; `Ok(false)` when `name` is not a filter parameter.
    fn set(&mut self, name: &str, value: &str) -> Result<bool, ParamError> {
        let text = |slot: &mut Option<String>| -> Result<bool, ParamError> {
            *slot = Some(text_value(name, value)?);
            Ok(true)
        };
        match name {
            "clientId" => text(&mut self.client_id),
            "userId" => text(&mut self.user_id),
            "entityId" => text(&mut self.entity_id),
            "entityType" => text(&mut self.entity_type),
            "eventType" => text(&mut self.event_type),
            "source" => text(&mut self.source),
            "campaignId" => text(&mut self.campaign_id),
            "sessionId" => text(&mut self.session_id),
            "startDate" => {
                self.start = Some(timestamp(name, value)?);
                Ok(true)
            }
            "endDate" => {
                self.end = Some(timestamp(name, value)?);
                Ok(true)
            }
            "metadata" => {
                let rule = "must be a JSON object, e.g. {\"campaign\":\"x\"}";
                match serde_json::from_str::<Value>(value) {
                    Ok(Value::Object(m)) => {
                        self.metadata = Some(m);
                        Ok(true)
                    }
                    _ => Err(ParamError::new(name, rule)),
                }
            }
            _ => Ok(false),
        }
    }

    fn check_range(&self) -> Result<(), ParamError> {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if e <= s {
                return Err(ParamError::new(
                    "endDate",
                    "must be after startDate (the range is startDate inclusive to endDate exclusive)",
                ));
            }
        }
        Ok(())
    }
}

/// Where a page starts: after a cursor, or (slow on deep pages) after skipping rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Start {
    /// The newest events.
    #[default]
    First,
    /// After the last row of a previous page (`cursor=` its `nextCursor`).
    After(Cursor),
    /// After skipping this many rows (`offset=`): the database still reads every skipped row,
    /// so deep pages get slower; prefer the cursor.
    Offset(u64),
}

/// A page of [`crate::events`]: size, start and which fields each row carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page, 1..=[`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]).
    pub limit: u32,
    /// Where the page starts.
    pub start: Start,
    /// The fields of each row.
    pub fields: Fields,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            start: Start::First,
            fields: Fields::default(),
        }
    }
}

/// The whole of a `GET /events` request: a [`Filter`] and a [`PageRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsRequest {
    /// Which events.
    pub filter: Filter,
    /// Which page of them.
    pub page: PageRequest,
}

impl EventsRequest {
    /// Parses the filter parameters of [`Filter::from_query_pairs`] plus `limit` (1..1000,
    /// default 50), `cursor` (a previous page's `nextCursor`), `offset` (not with `cursor`) and
    /// `fields` (or the TypeScript system's `qkeys`).
    ///
    /// ```
    /// use kx_events_query::{EventsRequest, Start};
    ///
    /// let r = EventsRequest::from_query_pairs(&[("eventType", "login"), ("limit", "10")]).unwrap();
    /// assert_eq!(r.filter.event_type.as_deref(), Some("login"));
    /// assert_eq!((r.page.limit, r.page.start), (10, Start::First));
    /// let err = EventsRequest::from_query_pairs(&[("cursor", "nope")]).unwrap_err();
    /// assert_eq!(err.param(), "cursor");
    /// ```
    pub fn from_query_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, ParamError> {
        let mut r = EventsRequest::default();
        let mut seen = Vec::new();
        let (mut cursor, mut offset) = (None, None);
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            once(&mut seen, k)?;
            if r.filter.set(k, v)? {
                continue;
            }
            match k {
                "limit" => {
                    r.page.limit = match v.trim().parse::<u32>() {
                        Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                        _ => {
                            return Err(ParamError::new(
                                k,
                                format!("must be 1..{MAX_LIMIT}, got {v:?}"),
                            ))
                        }
                    }
                }
                "cursor" => cursor = Some(Cursor::decode(v)?),
                "offset" => {
                    offset = Some(v.trim().parse::<u64>().map_err(|_| {
                        ParamError::new(k, format!("must be a whole number >= 0, got {v:?}"))
                    })?)
                }
                "fields" | "qkeys" => {
                    if seen
                        .iter()
                        .filter(|s| **s == "fields" || **s == "qkeys")
                        .count()
                        > 1
                    {
                        return Err(ParamError::new(k, "give fields or qkeys, not both"));
                    }
                    r.page.fields = Fields::parse_as(k, v)?;
                }
                _ => {
                    let mut known = FILTER_PARAMS.to_vec();
                    known.extend(PAGE_PARAMS);
                    return Err(unknown(k, &known));
                }
            }
        }
        r.page.start = match (cursor, offset) {
            (Some(_), Some(_)) => return Err(ParamError::new(
                "offset",
                "cannot be combined with cursor (the cursor already says where the page starts)",
            )),
            (Some(c), None) => Start::After(c),
            (None, Some(n)) => Start::Offset(n),
            (None, None) => Start::First,
        };
        r.filter.check_range()?;
        Ok(r)
    }
}

fn once<'a>(seen: &mut Vec<&'a str>, name: &'a str) -> Result<(), ParamError> {
    if seen.contains(&name) {
        return Err(ParamError::new(name, "given more than once"));
    }
    seen.push(name);
    Ok(())
}

fn unknown(name: &str, known: &[&str]) -> ParamError {
    ParamError::new(
        name,
        format!("unknown parameter; known: {}", known.join(", ")),
    )
}

fn text_value(name: &str, value: &str) -> Result<String, ParamError> {
    if value.is_empty() {
        return Err(ParamError::new(name, "must not be empty"));
    }
    if value.contains('\0') {
        return Err(ParamError::new(name, "must not contain a NUL character"));
    }
    let chars = value.chars().count();
    if chars > MAX_VALUE_CHARS {
        return Err(ParamError::new(
            name,
            format!("must be at most {MAX_VALUE_CHARS} characters, got {chars}"),
        ));
    }
    Ok(value.to_owned())
}

/// ISO 8601: an RFC 3339 timestamp (`2024-01-15T10:30:00Z`, any offset) or a date
/// (`2024-01-15`, midnight UTC).
fn timestamp(name: &str, value: &str) -> Result<DateTime<Utc>, ParamError> {
    let v = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    Err(ParamError::new(
        name,
        format!(
            "must be an ISO 8601 date or timestamp (2024-01-15 or 2024-01-15T10:30:00Z), got {value:?}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(pairs: &[(&str, &str)]) -> String {
        EventsRequest::from_query_pairs(pairs)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_filter_parses() {
        let r = EventsRequest::from_query_pairs(&[
            ("clientId", "c"),
            ("userId", "u"),
            ("entityId", "e"),
            ("entityType", "order"),
            ("eventType", "order_created"),
            ("source", "api"),
            ("campaignId", "k"),
            ("sessionId", "s"),
            ("startDate", "2024-01-01T00:00:00+02:00"),
            ("endDate", "2024-02-01"),
            ("metadata", r#"{"campaign":"x"}"#),
            ("limit", "1000"),
            ("offset", "20"),
            ("qkeys", "event_id,occurredAt"),
        ])
        .unwrap();
        let f = &r.filter;
        assert_eq!(f.client_id.as_deref(), Some("c"));
        assert_eq!(f.session_id.as_deref(), Some("s"));
        assert_eq!(f.start.unwrap().to_rfc3339(), "2023-12-31T22:00:00+00:00");
        assert_eq!(f.metadata.as_ref().unwrap()["campaign"], "x");
        assert_eq!(r.page.limit, 1000);
        assert_eq!(r.page.start, Start::Offset(20));
        assert_eq!(
            r.page.fields,
            Fields::new([Field::EventId, Field::OccurredAt])
        );
    }

    #[test]
    fn bad_parameters_name_the_parameter_and_the_rule() {
        assert_eq!(err(&[("limit", "0")]), "limit: must be 1..1000, got \"0\"");
        assert_eq!(err(&[("limit", "x")]), "limit: must be 1..1000, got \"x\"");
        assert_eq!(
            err(&[("limit", "1001")]),
            "limit: must be 1..1000, got \"1001\""
        );
        assert_eq!(
            err(&[("offset", "-1")]),
            "offset: must be a whole number >= 0, got \"-1\""
        );
        assert!(err(&[("startDate", "yesterday")]).starts_with("startDate: must be an ISO 8601"));
        assert!(err(&[("endDate", "2024-13-01")]).starts_with("endDate: must be an ISO 8601"));
        assert!(
            err(&[("startDate", "2024-02-01"), ("endDate", "2024-01-01")])
                .starts_with("endDate: must be after startDate")
        );
        assert_eq!(
            err(&[("metadata", "[1]")]),
            "metadata: must be a JSON object, e.g. {\"campaign\":\"x\"}"
        );
        assert_eq!(err(&[("clientId", "")]), "clientId: must not be empty");
        assert_eq!(
            err(&[("userId", &"u".repeat(129))]),
            "userId: must be at most 128 characters, got 129"
        );
        assert_eq!(
            err(&[("clientId", "a"), ("clientId", "b")]),
            "clientId: given more than once"
        );
        assert!(err(&[("cursor", "abc")]).starts_with("cursor: "));
        assert!(err(&[("fields", "eventId,nope")])
            .starts_with("fields: unknown field \"nope\"; known: eventId,clientId,"));
        assert!(err(&[("fields", "")]).starts_with("fields: must be a comma-separated list"));
        assert_eq!(
            err(&[("fields", "eventId"), ("qkeys", "eventId")]),
            "qkeys: give fields or qkeys, not both"
        );
        assert!(err(&[("clientid", "c")])
            .starts_with("clientid: unknown parameter; known: clientId, userId,"));
        let c = Cursor::new(Utc::now(), uuid::Uuid::new_v4()).encode();
        assert!(err(&[("cursor", &c), ("offset", "1")])
            .starts_with("offset: cannot be combined with cursor"));
    }

    #[test]
    fn filter_alone_refuses_page_parameters() {
        let e = Filter::from_query_pairs(&[("limit", "5")]).unwrap_err();
        assert_eq!(e.param(), "limit");
        assert!(e.rule().starts_with("unknown parameter"));
    }
}
