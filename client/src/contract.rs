//! The wire contract of a tracked event, shared by producers and the consumer.
//!
//! The JSON form is the seeds' `TrackedEvent`, camelCase, exactly as their TypeScript producer
//! emits it with `JSON.stringify`. Decoding is strict about values (every rule below names the
//! field it checks) and lenient about shape where the TypeScript producer is (`null` for an absent
//! optional field, integral numbers written as `100.0`).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
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
/// [`TrackedEvent::from_json`]. Serialising with `serde_json` gives the seeds' wire format.
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

/// Which rule a value broke. See [`ValidationError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The message is not a JSON object.
    Json,
    /// A required field is absent or `null`.
    Required,
    /// A required string is empty.
    NonEmpty,
    /// The value has the wrong JSON type.
    Type,
    /// A string is longer than its column allows.
    MaxLength,
    /// The value is not a UUID.
    Uuid,
    /// A number is not an integer or does not fit PostgreSQL's INTEGER.
    Integer,
    /// A timestamp is not RFC 3339.
    Timestamp,
    /// The value holds a NUL character, which PostgreSQL rejects in text and jsonb.
    Nul,
    /// The JSON value is larger than [`MAX_METADATA_BYTES`].
    MaxSize,
    /// An unknown top-level field has the name of a contract field in another case.
    Shadow,
}

impl Rule {
    /// A stable, machine-readable name (`max_length`, `uuid`, …) used in logs and DLQ attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Json => "json",
            Rule::Required => "required",
            Rule::NonEmpty => "non_empty",
            Rule::Type => "type",
            Rule::MaxLength => "max_length",
            Rule::Uuid => "uuid",
            Rule::Integer => "integer",
            Rule::Timestamp => "timestamp",
            Rule::Nul => "nul",
            Rule::MaxSize => "max_size",
            Rule::Shadow => "shadow",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event broke the contract: the field (camelCase, with a JSON path inside `metadata`),
/// the rule, and a sentence with the limit and what was found.
///
/// ```
/// use kx_events::{Rule, TrackedEvent};
///
/// let err = TrackedEvent::from_json(br#"{"eventId":"nope"}"#).unwrap_err();
/// assert_eq!(err.field(), "eventId");
/// assert_eq!(err.rule(), Rule::Uuid);
/// assert_eq!(err.to_string(), "eventId: must be a UUID, got \"nope\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    field: String,
    rule: Rule,
    detail: String,
}

impl ValidationError {
    pub(crate) fn new(field: impl Into<String>, rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            detail: detail.into(),
        }
    }

    /// The offending field, camelCase (`metadata.items[2].name` inside metadata; `$` for the
    /// message as a whole).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rule the value broke.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The sentence after `field: ` in the message.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

impl std::error::Error for ValidationError {}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Shortens a value for an error message, on a character boundary.
fn preview(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s.chars().take(MAX).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.contains('\0') {
        return Err(ValidationError::new(
            field,
            Rule::Nul,
            "must not contain a NUL character (\\u0000)",
        ));
    }
    let chars = s.chars().count();
    if chars > max {
        return Err(ValidationError::new(
            field,
            Rule::MaxLength,
            format!("must be at most {max} characters, got {chars}"),
        ));
    }
    Ok(())
}

fn check_required(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::new(
            field,
            Rule::NonEmpty,
            "must be a non-empty string",
        ));
    }
    check_text(field, s, max)
}

fn check_optional(field: &str, s: Option<&str>, max: usize) -> Result<(), ValidationError> {
    s.map_or(Ok(()), |s| check_text(field, s, max))
}

/// Walks a JSON value for NUL characters in keys and strings (PostgreSQL's jsonb rejects them).
fn check_json_nul(path: &mut String, v: &Value) -> Result<(), ValidationError> {
    match v {
        Value::String(s) if s.contains('\0') => Err(ValidationError::new(
            path.clone(),
            Rule::Nul,
            "must not contain a NUL character (\\u0000)",
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_json_nul(path, item)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if k.contains('\0') {
                    return Err(ValidationError::new(
                        path.clone(),
                        Rule::Nul,
                        "key must not contain a NUL character (\\u0000)",
                    ));
                }
                check_json_nul(path, item)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Counts the bytes of a value's compact JSON without building the string.
fn json_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    // Writing a `Value` to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Parses an RFC 3339 timestamp, normalises it to UTC and truncates it to microseconds
/// (PostgreSQL's precision, so the stored row and the bus entry agree).
/// Parses an RFC 3339 timestamp, normalised to UTC and truncated to microseconds
/// (PostgreSQL's precision, so the stored row and the bus entry agree), also accepting what PostgreSQL's `timestamptz` input accepts from the
/// old system's producers (a timestamp without an offset, read as UTC; a space for the `T`),
/// each noted in `coercions`. A leap second (`23:59:60`) becomes the next second, as PostgreSQL
/// stores it.
fn parse_timestamp_noting(
    field: &str,
    s: &str,
    coercions: &mut Vec<String>,
) -> Result<DateTime<Utc>, ValidationError> {
    let err = |e: String| {
        ValidationError::new(
            field,
            Rule::Timestamp,
            format!(
                "must be an RFC 3339 timestamp such as 2024-01-15T10:30:00.000Z, got {} ({e})",
                preview(s)
            ),
        )
    };
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => {
            let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                })
                .map_err(|_| err(e.to_string()))?;
            coercions.push(format!("{field}: no UTC offset, read as UTC"));
            naive.and_utc()
        }
    };
    // chrono keeps a leap second as a nanosecond count of 1e9 or more, which other code (the
    // AWS SDK's timestamps) cannot represent.
    let t = if t.nanosecond() >= 1_000_000_000 {
        coercions.push(format!("{field}: leap second read as the next second"));
        let base = t
            .with_nanosecond(t.nanosecond() - 1_000_000_000)
            .unwrap_or(t);
        base + chrono::Duration::seconds(1)
    } else {
        t
    };
    let micros = t.nanosecond() / 1_000 * 1_000;
    Ok(t.with_nanosecond(micros).unwrap_or(t))
}

/// Formats a timestamp as JavaScript's `toISOString` does (`2024-01-15T10:30:00.000Z`), with
/// microseconds when the value has them.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    let format = if t.nanosecond().is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}

struct Decoder {
    map: Map<String, Value>,
    coercions: Vec<String>,
}

impl Decoder {
    /// Takes a field out; `null` counts as absent.
    fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A string field. A number is accepted as its decimal text (the old system's consumer sent
    /// every parameter as text and PostgreSQL stored `42` as `'42'`), noted as a coercion.
    fn string(&mut self, field: &str) -> Result<Option<String>, ValidationError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => {
                self.coercions
                    .push(format!("{field}: number {n} stored as a string"));
                Ok(Some(n.to_string()))
            }
            Some(other) => Err(ValidationError::new(
                field,
                Rule::Type,
                format!("must be a string, got {}", type_name(&other)),
            )),
        }
    }

    /// A strict string field (ids that must be UUIDs, timestamps).
    fn text(&mut self, field: &str) -> Result<Option<String>, ValidationError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ValidationError::new(
                field,
                Rule::Type,
                format!("must be a string, got {}", type_name(&other)),
            )),
        }
    }

    fn required_string(&mut self, field: &str) -> Result<String, ValidationError> {
        self.string(field)?.ok_or_else(|| {
            ValidationError::new(field, Rule::Required, "is required (a non-empty string)")
        })
    }

    fn uuid(&mut self, field: &str) -> Result<Option<Uuid>, ValidationError> {
        match self.text(field)? {
            None => Ok(None),
            Some(s) => parse_uuid(field, &s).map(Some),
        }
    }
}

/// Replaces each lone UTF-16 surrogate escape (`\ud800` without its pair) in JSON text with
/// `\ufffd`, which serde_json (rightly) refuses and JavaScript's `JSON.stringify` may emit.
/// Returns `None` when there was none.
fn replace_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    fn hex4(b: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    let mut out = Vec::with_capacity(body.len());
    let mut changed = false;
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if !in_string {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
                i += 1;
            }
            b'\\' if body.get(i + 1) == Some(&b'u') => {
                let unit = hex4(&body[i + 2..]);
                match unit {
                    Some(high @ 0xD800..=0xDBFF) => {
                        let low = (body.get(i + 6) == Some(&b'\\')
                            && body.get(i + 7) == Some(&b'u'))
                        .then(|| hex4(&body[i + 8..]))
                        .flatten();
                        if matches!(low, Some(0xDC00..=0xDFFF)) {
                            out.extend_from_slice(&body[i..i + 12]);
                            i += 12;
                        } else {
                            let _ = high;
                            out.extend_from_slice(b"\\ufffd");
                            changed = true;
                            i += 6;
                        }
                    }
                    Some(0xDC00..=0xDFFF) => {
                        out.extend_from_slice(b"\\ufffd");
                        changed = true;
                        i += 6;
                    }
                    _ => {
                        let end = (i + 6).min(body.len());
                        out.extend_from_slice(&body[i..end]);
                        i = end;
                    }
                }
            }
            b'\\' => {
                let end = (i + 2).min(body.len());
                out.extend_from_slice(&body[i..end]);
                i = end;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// Parses a UUID in its usual hyphenated form (any case, as PostgreSQL accepts it), naming the
/// field in the error.
pub(crate) fn parse_uuid(field: &str, s: &str) -> Result<Uuid, ValidationError> {
    if s.contains('\0') {
        return Err(ValidationError::new(
            field,
            Rule::Nul,
            "must not contain a NUL character (\\u0000)",
        ));
    }
    match Uuid::try_parse(s) {
        Ok(u) if s.len() == 36 => Ok(u),
        _ => Err(ValidationError::new(
            field,
            Rule::Uuid,
            format!("must be a UUID, got {}", preview(s)),
        )),
    }
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

    /// Decodes and validates one message body (UTF-8 JSON).
    ///
    /// Every message the seeds' TypeScript producer emits is accepted. The error names the first
    /// field that breaks a rule; see [`ValidationError`].
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
        Self::decode(body).map(|(event, _)| event)
    }

    /// [`TrackedEvent::from_json`], also returning the coercions applied, one sentence each
    /// (the consumer logs them). What the old system's consumer accepted is accepted: numbers
    /// for the string fields (`userId: 42` is `"42"`), `pointsAwarded` as a numeric string,
    /// a timestamp without an offset (UTC), a leap second, and lone UTF-16 surrogate escapes
    /// (replaced with U+FFFD).
    ///
    /// ```
    /// use kx_events::TrackedEvent;
    ///
    /// let body = br#"{"eventId":"550E8400-E29B-41D4-A716-446655440000","clientId":"c",
    ///   "userId":42,"entityType":"order","eventType":"order_created","pointsAwarded":"10",
    ///   "occurredAt":"2024-01-15T10:30:00"}"#;
    /// let (event, coercions) = TrackedEvent::decode(body).unwrap();
    /// assert_eq!(event.user_id.as_deref(), Some("42"));
    /// assert_eq!(event.points_awarded, Some(10));
    /// assert_eq!(coercions.len(), 3);
    /// ```
    pub fn decode(body: &[u8]) -> Result<(Self, Vec<String>), ValidationError> {
        let parsed = serde_json::from_slice::<Value>(body);
        let (value, mut coercions) = match parsed {
            Ok(v) => (v, Vec::new()),
            Err(e) => {
                // (serde_json reports a lone surrogate in several ways: try the repair on any
                // failure; it changes nothing when there is none.)
                let fixed = replace_lone_surrogates(body)
                    .and_then(|fixed| serde_json::from_slice::<Value>(&fixed).ok());
                match fixed {
                    Some(v) => (
                        v,
                        vec!["$: lone UTF-16 surrogate escape replaced with U+FFFD".to_owned()],
                    ),
                    None => {
                        let what = if body.iter().all(u8::is_ascii_whitespace) {
                            "the message body is empty, expected a JSON object".to_string()
                        } else {
                            format!("the message body is not valid JSON: {e}")
                        };
                        return Err(ValidationError::new("$", Rule::Json, what));
                    }
                }
            }
        };
        let (event, more) = Self::decode_value(value)?;
        coercions.extend(more);
        Ok((event, coercions))
    }

    /// Decodes and validates an already parsed JSON value; see [`TrackedEvent::from_json`].
    pub fn from_value(value: Value) -> Result<Self, ValidationError> {
        Self::decode_value(value).map(|(event, _)| event)
    }

    fn decode_value(value: Value) -> Result<(Self, Vec<String>), ValidationError> {
        let map = match value {
            Value::Object(map) => map,
            other => {
                return Err(ValidationError::new(
                    "$",
                    Rule::Json,
                    format!("must be a JSON object, got {}", type_name(&other)),
                ))
            }
        };
        let mut d = Decoder {
            map,
            coercions: Vec::new(),
        };
        let event_id = d.uuid("eventId")?.ok_or_else(|| {
            ValidationError::new("eventId", Rule::Required, "is required (a UUID)")
        })?;
        let client_id = d.required_string("clientId")?;
        let previous_event_id = d.uuid("previousEventId")?;
        let user_id = d.string("userId")?;
        let entity_id = d.string("entityId")?;
        let entity_type = d.required_string("entityType")?;
        let event_type = d.required_string("eventType")?;
        let source = d.string("source")?;
        let campaign_id = d.string("campaignId")?;
        let points_awarded = match d.take("pointsAwarded") {
            None => None,
            Some(Value::Number(n)) => Some(points(&n)?),
            // PostgreSQL's INTEGER input: an optional sign and digits, blanks around.
            Some(Value::String(text))
                if {
                    let t = text.trim();
                    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                } =>
            {
                let n: serde_json::Number =
                    text.trim().trim_start_matches('+').parse().map_err(|_| {
                        ValidationError::new(
                            "pointsAwarded",
                            Rule::Integer,
                            format!("must fit PostgreSQL INTEGER, got {}", preview(&text)),
                        )
                    })?;
                d.coercions
                    .push(format!("pointsAwarded: string {text:?} read as a number"));
                Some(points(&n)?)
            }
            Some(other) => {
                return Err(ValidationError::new(
                    "pointsAwarded",
                    Rule::Type,
                    format!("must be an integer number, got {}", type_name(&other)),
                ))
            }
        };
        let session_id = d.string("sessionId")?;
        let occurred_at = match d.text("occurredAt")? {
            None => {
                return Err(ValidationError::new(
                    "occurredAt",
                    Rule::Required,
                    "is required (an RFC 3339 timestamp)",
                ))
            }
            Some(s) => parse_timestamp_noting("occurredAt", &s, &mut d.coercions)?,
        };
        let metadata = match d.take("metadata") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(ValidationError::new(
                    "metadata",
                    Rule::Type,
                    format!("must be a JSON object, got {}", type_name(&other)),
                ))
            }
        };
        let event = Self {
            event_id,
            client_id,
            previous_event_id,
            user_id,
            entity_id,
            entity_type,
            event_type,
            source,
            campaign_id,
            points_awarded,
            session_id,
            occurred_at,
            metadata,
            extra: d.map,
        };
        event.validate()?;
        Ok((event, d.coercions))
    }

    /// Checks the rules that a typed value can still break: required strings non-empty, lengths
    /// as the schema's columns, no NUL characters, the metadata size cap, and unknown fields that
    /// shadow contract fields. [`TrackedEvent::from_json`] calls it; producers call it before
    /// queueing a built event.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_required("clientId", &self.client_id, MAX_ID_CHARS)?;
        check_optional("userId", self.user_id.as_deref(), MAX_ID_CHARS)?;
        check_optional("entityId", self.entity_id.as_deref(), MAX_ID_CHARS)?;
        check_required("entityType", &self.entity_type, MAX_TYPE_CHARS)?;
        check_required("eventType", &self.event_type, MAX_TYPE_CHARS)?;
        check_optional("source", self.source.as_deref(), MAX_SOURCE_CHARS)?;
        check_optional("campaignId", self.campaign_id.as_deref(), MAX_ID_CHARS)?;
        check_optional("sessionId", self.session_id.as_deref(), MAX_ID_CHARS)?;
        let mut size = 0;
        if let Some(m) = &self.metadata {
            let mut path = String::from("metadata");
            for (k, v) in m {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if k.contains('\0') {
                    return Err(ValidationError::new(
                        path,
                        Rule::Nul,
                        "key must not contain a NUL character (\\u0000)",
                    ));
                }
                check_json_nul(&mut path, v)?;
                path.truncate(len);
            }
            size += m
                .iter()
                .map(|(k, v)| k.len() + 3 + json_len(v))
                .sum::<usize>();
        }
        for (k, v) in &self.extra {
            if k.contains('\0') {
                return Err(ValidationError::new(
                    "$",
                    Rule::Nul,
                    "a field name must not contain a NUL character (\\u0000)",
                ));
            }
            if let Some(known) = FIELD_NAMES.iter().find(|f| f.eq_ignore_ascii_case(k)) {
                return Err(ValidationError::new(
                    k.as_str(),
                    Rule::Shadow,
                    format!(
                        "unknown field; did you mean `{known}`? (field names are case-sensitive)"
                    ),
                ));
            }
            let mut path = k.clone();
            check_json_nul(&mut path, v)?;
            size += k.len() + 3 + json_len(v);
        }
        if size > MAX_METADATA_BYTES {
            let field = if self.extra.is_empty() {
                "metadata"
            } else {
                "metadata (with unknown fields)"
            };
            return Err(ValidationError::new(
                field,
                Rule::MaxSize,
                format!("must be at most {MAX_METADATA_BYTES} bytes of JSON, got about {size}"),
            ));
        }
        Ok(())
    }

    /// The event as compact wire JSON.
    pub fn to_json(&self) -> String {
        // Serialising strings, numbers and `Value`s into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The EventBridge entry for this event: `Source` = `source`, `DetailType` =
    /// `{entityType}.{eventType}`, `Detail` = the camelCase event, `Time` = `occurredAt`.
    ///
    /// ```
    /// use kx_events::{TrackedEvent, DEFAULT_EVENT_SOURCE};
    ///
    /// let event = TrackedEvent::new("c1", "order", "order_created");
    /// let entry = event.bus_entry(DEFAULT_EVENT_SOURCE);
    /// assert_eq!(entry.detail_type, "order.order_created");
    /// assert_eq!(entry.source, "kx-event-tracking");
    /// assert_eq!(entry.time, event.occurred_at);
    /// ```
    pub fn bus_entry(&self, source: &str) -> BusEntry {
        BusEntry {
            source: source.to_owned(),
            detail_type: self.detail_type(),
            detail: self.to_json(),
            time: self.occurred_at,
        }
    }

    /// `{entityType}.{eventType}`, the bus entry's `DetailType`.
    pub fn detail_type(&self) -> String {
        format!("{}.{}", self.entity_type, self.event_type)
    }
}

fn points(n: &serde_json::Number) -> Result<i32, ValidationError> {
    let err = |what: String| ValidationError::new("pointsAwarded", Rule::Integer, what);
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).map_err(|_| {
            err(format!(
                "must fit PostgreSQL INTEGER ({} to {}), got {i}",
                i32::MIN,
                i32::MAX
            ))
        });
    }
    if n.is_u64() {
        return Err(err(format!(
            "must fit PostgreSQL INTEGER ({} to {}), got {n}",
            i32::MIN,
            i32::MAX
        )));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 || !f.is_finite() {
        return Err(err(format!("must be an integer, got {n}")));
    }
    if f < f64::from(i32::MIN) || f > f64::from(i32::MAX) {
        return Err(err(format!(
            "must fit PostgreSQL INTEGER ({} to {}), got {n}",
            i32::MIN,
            i32::MAX
        )));
    }
    Ok(f as i32)
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

impl<'de> serde::Deserialize<'de> for TrackedEvent {
    /// Deserialises with every validation rule of [`TrackedEvent::from_value`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        TrackedEvent::from_value(v).map_err(serde::de::Error::custom)
    }
}

/// An EventBridge `PutEvents` entry built from a [`TrackedEvent`] (see
/// [`TrackedEvent::bus_entry`]); the bus name is added by whoever puts it.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEntry {
    /// `Source`: the configured event source (default [`DEFAULT_EVENT_SOURCE`]).
    pub source: String,
    /// `DetailType`: `{entityType}.{eventType}`.
    pub detail_type: String,
    /// `Detail`: the event's camelCase JSON.
    pub detail: String,
    /// `Time`: the event's `occurredAt`.
    pub time: DateTime<Utc>,
}

impl BusEntry {
    /// Size of the entry as EventBridge counts it against its 256 KB request limit
    /// (`Source`, `DetailType`, `Detail`, `EventBusName`, plus 14 bytes for `Time`).
    pub fn size(&self, event_bus_name: &str) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len() + event_bus_name.len() + 14
    }

    /// The AWS SDK entry for `event_bus_name`.
    pub fn to_sdk(
        &self,
        event_bus_name: &str,
    ) -> aws_sdk_eventbridge::types::PutEventsRequestEntry {
        let secs = self.time.timestamp();
        // A leap second is normalised on decoding; never let one panic here either.
        let nanos = self.time.timestamp_subsec_nanos().min(999_999_999);
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(event_bus_name)
            .source(&self.source)
            .detail_type(&self.detail_type)
            .detail(&self.detail)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs_and_nanos(secs, nanos))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "eventId": "550e8400-e29b-41d4-a716-446655440000",
            "clientId": "client_123",
            "previousEventId": null,
            "entityType": "user",
            "eventType": "user_created",
            "occurredAt": "2024-01-15T10:30:00.000Z"
        })
    }

    fn with(field: &str, v: Value) -> Value {
        let mut b = base();
        b[field] = v;
        b
    }

    fn err(v: Value) -> ValidationError {
        TrackedEvent::from_value(v).unwrap_err()
    }

    /// The seed's "Generated Event Structure" / bus `Detail` sample, with its placeholder
    /// `previousEventId` ("event_456", not a UUID) replaced by a UUID.
    const SEED_FULL: &str = r#"{
      "eventId": "550e8400-e29b-41d4-a716-446655440000",
      "clientId": "client_123",
      "previousEventId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
      "userId": "user_789",
      "entityId": "entity_123",
      "entityType": "user",
      "eventType": "user_created",
      "source": "api",
      "campaignId": "campaign_456",
      "pointsAwarded": 100,
      "sessionId": "session_789",
      "occurredAt": "2024-01-15T10:30:00.000Z",
      "metadata": {
        "userAgent": "Mozilla/5.0...",
        "ipAddress": "192.168.1.1",
        "customField": "customValue"
      }
    }"#;

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

    #[test]
    fn seed_sample_round_trips() {
        let e = TrackedEvent::from_json(SEED_FULL.as_bytes()).unwrap();
        assert_eq!(e.points_awarded, Some(100));
        assert_eq!(e.detail_type(), "user.user_created");
        let compact: Value = serde_json::from_str(SEED_FULL).unwrap();
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
    fn seed_sample_round_trips_byte_for_byte_with_preserve_order() {
        let e = TrackedEvent::from_json(SEED_FULL.as_bytes()).unwrap();
        let compact: Value = serde_json::from_str(SEED_FULL).unwrap();
        assert_eq!(e.to_json(), serde_json::to_string(&compact).unwrap());
    }

    #[test]
    fn typescript_nulls_and_absent_fields_are_accepted() {
        let e = TrackedEvent::from_value(with("userId", Value::Null)).unwrap();
        assert_eq!(e.user_id, None);
        assert_eq!(e.previous_event_id, None);
        assert_eq!(
            e.to_json(),
            r#"{"eventId":"550e8400-e29b-41d4-a716-446655440000","clientId":"client_123","previousEventId":null,"entityType":"user","eventType":"user_created","occurredAt":"2024-01-15T10:30:00.000Z"}"#
        );
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let e = TrackedEvent::from_value(with("occurredAt", json!("2024-01-15T12:30:00+02:00")))
            .unwrap();
        assert_eq!(format_timestamp(&e.occurred_at), "2024-01-15T10:30:00.000Z");
        let e =
            TrackedEvent::from_value(with("occurredAt", json!("2024-01-15T10:30:00.123456789Z")))
                .unwrap();
        assert_eq!(
            format_timestamp(&e.occurred_at),
            "2024-01-15T10:30:00.123456Z"
        );
    }

    #[test]
    fn each_rule_names_field_and_limit() {
        let cases: Vec<(Value, &str, Rule, &str)> = vec![
            (json!([1]), "$", Rule::Json, "$: must be a JSON object, got array"),
            (with("eventId", json!("x")), "eventId", Rule::Uuid, "eventId: must be a UUID, got \"x\""),
            (with("eventId", Value::Null), "eventId", Rule::Required, "eventId: is required (a UUID)"),
            (with("clientId", json!("")), "clientId", Rule::NonEmpty, "clientId: must be a non-empty string"),
            (with("clientId", json!(true)), "clientId", Rule::Type, "clientId: must be a string, got boolean"),
            (with("entityType", Value::Null), "entityType", Rule::Required, "entityType: is required (a non-empty string)"),
            (with("eventType", json!("é".repeat(49))), "eventType", Rule::MaxLength, "eventType: must be at most 48 characters, got 49"),
            (with("source", json!("s".repeat(33))), "source", Rule::MaxLength, "source: must be at most 32 characters, got 33"),
            (with("userId", json!("u".repeat(129))), "userId", Rule::MaxLength, "userId: must be at most 128 characters, got 129"),
            (with("pointsAwarded", json!(2_147_483_648i64)), "pointsAwarded", Rule::Integer, "pointsAwarded: must fit PostgreSQL INTEGER (-2147483648 to 2147483647), got 2147483648"),
            (with("pointsAwarded", json!(1.5)), "pointsAwarded", Rule::Integer, "pointsAwarded: must be an integer, got 1.5"),
            (with("pointsAwarded", json!("10.5")), "pointsAwarded", Rule::Type, "pointsAwarded: must be an integer number, got string"),
            (with("pointsAwarded", json!("99999999999")), "pointsAwarded", Rule::Integer, "pointsAwarded: must fit PostgreSQL INTEGER (-2147483648 to 2147483647), got 99999999999"),
            (with("occurredAt", json!("yesterday")), "occurredAt", Rule::Timestamp, ""),
            (with("metadata", json!([1, 2])), "metadata", Rule::Type, "metadata: must be a JSON object, got array"),
            (with("metadata", json!({"a": {"b": ["ok", "x\u{0}y"]}})), "metadata.a.b[1]", Rule::Nul, "metadata.a.b[1]: must not contain a NUL character (\\u0000)"),
            (with("sessionId", json!("a\u{0}")), "sessionId", Rule::Nul, "sessionId: must not contain a NUL character (\\u0000)"),
            (with("previousEventId", json!("event_456")), "previousEventId", Rule::Uuid, "previousEventId: must be a UUID, got \"event_456\""),
            (with("EventType", json!("x")), "EventType", Rule::Shadow, "EventType: unknown field; did you mean `eventType`? (field names are case-sensitive)"),
        ];
        for (input, field, rule, text) in cases {
            let e = err(input);
            assert_eq!(e.field(), field, "{e}");
            assert_eq!(e.rule(), rule, "{e}");
            if !text.is_empty() {
                assert_eq!(e.to_string(), text);
            }
        }
    }

    #[test]
    fn metadata_size_cap() {
        let big = "x".repeat(MAX_METADATA_BYTES);
        let e = err(with("metadata", json!({ "blob": big })));
        assert_eq!(e.rule(), Rule::MaxSize);
        assert!(
            e.to_string()
                .starts_with("metadata: must be at most 65536 bytes"),
            "{e}"
        );
        let fits = "x".repeat(MAX_METADATA_BYTES - 20);
        assert!(TrackedEvent::from_value(with("metadata", json!({ "blob": fits }))).is_ok());
    }

    #[test]
    fn unknown_fields_are_kept() {
        let e = TrackedEvent::from_value(with("tenantRegion", json!("eu"))).unwrap();
        assert_eq!(e.extra.get("tenantRegion"), Some(&json!("eu")));
        assert!(e.to_json().ends_with(r#""tenantRegion":"eu"}"#));
    }

    #[test]
    fn empty_and_bad_json_bodies() {
        let e = TrackedEvent::from_json(b"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "$: the message body is empty, expected a JSON object"
        );
        let e = TrackedEvent::from_json(b"{\"eventId\":").unwrap_err();
        assert_eq!(e.rule(), Rule::Json);
    }
}
