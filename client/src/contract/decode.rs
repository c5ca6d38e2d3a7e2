//! JSON text or an already parsed value → a validated [`TrackedEvent`], with the coercions
//! applied.
//!
//! Every message the TypeScript system's producer emits is accepted, and so is what the
//! TypeScript system's consumer accepted: numbers for the string fields, `pointsAwarded` as a
//! numeric string, a timestamp without an offset or on a leap second, and lone UTF-16 surrogate
//! escapes. Each such coercion is returned as one sentence, so that the consumer can log it; the
//! first value that breaks a rule is an error naming its field.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::timestamp::parse_timestamp_noting;
use super::validate::{preview, type_name};
use super::{Rule, TrackedEvent, ValidationError};

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

    /// A string field. A number is accepted as its decimal text (the TypeScript system's consumer
    /// sent every parameter as text and PostgreSQL stored `42` as `'42'`), noted as a coercion.
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
    /// Decodes and validates one message body (UTF-8 JSON).
    ///
    /// Every message the TypeScript system's producer emits is accepted. The error names the first
    /// field that breaks a rule; see [`ValidationError`].
    pub fn from_json(body: &[u8]) -> Result<Self, ValidationError> {
        Self::decode(body).map(|(event, _)| event)
    }

    /// [`TrackedEvent::from_json`], also returning the coercions applied, one sentence each
    /// (the consumer logs them). What the TypeScript system's consumer accepted is accepted:
    /// numbers for the string fields (`userId: 42` is `"42"`), `pointsAwarded` as a numeric
    /// string, a timestamp without an offset (UTC), a leap second, and lone UTF-16 surrogate
    /// escapes (replaced with U+FFFD).
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

impl<'de> serde::Deserialize<'de> for TrackedEvent {
    /// Deserialises with every validation rule of [`TrackedEvent::from_value`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        TrackedEvent::from_value(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_events::with;
    use super::*;

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
