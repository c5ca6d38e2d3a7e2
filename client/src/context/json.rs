//! The ids of any event as JSON: a worker's own event (`clientId`/`previousEventId` at the top
//! level) or one of the HTTP request shapes as raw JSON (`headers`, `multiValueHeaders`,
//! `queryStringParameters`, `body`, `requestContext.authorizer`), read in the same order as the
//! typed requests.

use serde_json::Value;

use super::order::authorizer_first;
use super::value::{json_id, BodyIds};
use super::{
    Ids, TrackingContext, CLIENT_ID, CLIENT_ID_HEADERS, PREVIOUS_EVENT_ID,
    PREVIOUS_EVENT_ID_HEADERS,
};

/// A member of a JSON object by name, ignoring ASCII case (HTTP header names).
fn get_ignore_case<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A JSON header or query value: a string, or the first non-empty entry of a multi-value list.
fn json_param(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items.iter().find_map(json_id),
        other => json_id(other),
    }
}

fn json_headers(event: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        ["headers", "multiValueHeaders"]
            .iter()
            .find_map(|field| get_ignore_case(event.get(field)?, name).and_then(json_param))
    })
}

fn json_query(event: &Value, name: &str) -> Option<String> {
    ["queryStringParameters", "multiValueQueryStringParameters"]
        .iter()
        .find_map(|field| event.get(field)?.get(name).and_then(json_param))
}

/// The ids of a JSON body: a string (JSON text, base64-encoded when `isBase64Encoded` is true)
/// or, when a caller invoked the function directly, an object.
fn json_body(event: &Value) -> BodyIds {
    match event.get("body") {
        Some(Value::String(s)) => BodyIds::parse(
            Some(s),
            event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true),
        ),
        Some(body @ Value::Object(_)) => BodyIds {
            client_id: body.get(CLIENT_ID).cloned(),
            previous_event_id: body.get(PREVIOUS_EVENT_ID).cloned(),
        },
        _ => BodyIds::default(),
    }
}

fn json_authorizer(event: &Value) -> Option<String> {
    let authorizer = event.get("requestContext")?.get("authorizer")?;
    authorizer
        .get(CLIENT_ID)
        .and_then(json_id)
        .or_else(|| authorizer.get("lambda")?.get(CLIENT_ID).and_then(json_id))
        .or_else(|| {
            authorizer
                .get("jwt")?
                .get("claims")?
                .get(CLIENT_ID)
                .and_then(json_id)
        })
}

fn json_ids(event: &Value, want_client: bool, want_previous: bool) -> Ids {
    let mut client = None;
    if want_client && authorizer_first() {
        client = json_authorizer(event);
    }
    if want_client && client.is_none() {
        client = json_headers(event, &CLIENT_ID_HEADERS).or_else(|| json_query(event, CLIENT_ID));
    }
    let mut previous = None;
    if want_previous {
        previous = json_headers(event, &PREVIOUS_EVENT_ID_HEADERS);
    }
    if (want_client && client.is_none()) || (want_previous && previous.is_none()) {
        let body = json_body(event);
        if want_client && client.is_none() {
            client = body
                .client_id
                .as_ref()
                .and_then(json_id)
                .or_else(|| json_authorizer(event))
                .or_else(|| event.get(CLIENT_ID).and_then(json_id));
        }
        if want_previous && previous.is_none() {
            previous = body
                .previous_event_id
                .as_ref()
                .and_then(json_id)
                .or_else(|| json_query(event, PREVIOUS_EVENT_ID))
                .or_else(|| event.get(PREVIOUS_EVENT_ID).and_then(json_id));
        }
    }
    (client, previous)
}

/// Any event as JSON: a worker's own event (`clientId`/`previousEventId` at the top level) or
/// one of the HTTP request shapes (`headers`, `queryStringParameters`, `body`, `requestContext`).
impl TrackingContext for Value {
    fn client_id(&self) -> Option<String> {
        json_ids(self, true, false).0
    }
    fn previous_event_id(&self) -> Option<String> {
        json_ids(self, false, true).1
    }
    fn tracking_ids(&self) -> Ids {
        json_ids(self, true, true)
    }
}
