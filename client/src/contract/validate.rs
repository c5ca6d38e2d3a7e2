//! The rules of the contract that a typed event can still break, and the error that names the
//! field and the rule it broke.
//!
//! Limits are the schema's columns (`VARCHAR(n)` counted in characters, as PostgreSQL counts
//! them), PostgreSQL's refusal of NUL characters in `text` and `jsonb`, and
//! [`MAX_METADATA_BYTES`] for `metadata` and the unknown fields together. The decoder checks the
//! JSON types as it reads; everything else is here, so that a producer checks a built event with
//! exactly the rules the consumer applies to a message.

use std::fmt;

use serde_json::Value;

use super::{
    TrackedEvent, FIELD_NAMES, MAX_ID_CHARS, MAX_METADATA_BYTES, MAX_SOURCE_CHARS, MAX_TYPE_CHARS,
};

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

pub(super) fn type_name(v: &Value) -> &'static str {
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
pub(super) fn preview(s: &str) -> String {
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

impl TrackedEvent {
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
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::test_events::with;
    use super::*;

    fn err(v: Value) -> ValidationError {
        TrackedEvent::from_value(v).unwrap_err()
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
}
