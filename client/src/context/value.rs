//! Reading an id out of what a request carries: a trimmed string, a JSON string or number, and
//! the two ids of a JSON body (text, base64-encoded text, or bytes), parsed without building the
//! rest of the body.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Keeps a value only if it has something in it.
pub(super) fn non_empty(s: Cow<'_, str>) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else if t.len() == s.len() {
        Some(s.into_owned())
    } else {
        Some(t.to_owned())
    }
}

/// A JSON string or number as an id.
pub(super) fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => non_empty(Cow::Borrowed(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The two ids a JSON body may carry; every other field is skipped without being built.
#[derive(Default, Deserialize)]
pub(super) struct BodyIds {
    #[serde(rename = "clientId", default)]
    pub(super) client_id: Option<Value>,
    #[serde(rename = "previousEventId", default)]
    pub(super) previous_event_id: Option<Value>,
}

impl BodyIds {
    pub(super) fn parse(body: Option<&str>, is_base64: bool) -> BodyIds {
        let Some(body) = body else {
            return BodyIds::default();
        };
        let decoded;
        let bytes: &[u8] = if is_base64 {
            match base64::engine::general_purpose::STANDARD.decode(body.trim()) {
                Ok(b) => {
                    decoded = b;
                    &decoded
                }
                Err(_) => return BodyIds::default(),
            }
        } else {
            body.as_bytes()
        };
        BodyIds::parse_bytes(bytes)
    }

    /// The ids of a body that is already decoded (text or binary).
    pub(super) fn parse_bytes(bytes: &[u8]) -> BodyIds {
        // Only a JSON object can carry the ids: skip anything else (forms, text) cheaply.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice(bytes).unwrap_or_default(),
            _ => BodyIds::default(),
        }
    }
}
