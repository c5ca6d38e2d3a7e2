//! Where a handler's request keeps the `clientId` and `previousEventId` of the event it tracks.
//!
//! The order is the seed decorator's, made explicit and extended to every request shape a Rust
//! Lambda receives. `clientId`: headers `X-Client-Id`, `Client-Id` (case-insensitive), query
//! parameter `clientId`, JSON body `clientId` (a base64-encoded body too), the authorizer context
//! (`requestContext.authorizer.clientId` of a REST or WebSocket API Lambda authorizer,
//! `requestContext.authorizer.lambda.clientId` of an HTTP API Lambda authorizer,
//! `requestContext.authorizer.jwt.claims.clientId` of a JWT authorizer), then the event's own
//! `clientId`. `previousEventId`: headers `X-Previous-Event-Id`, `Previous-Event-Id`, JSON body,
//! query parameter, then the event's own `previousEventId`. The first non-empty value wins.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayRequestAuthorizer, ApiGatewayV2httpRequest,
};
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::contract::parse_uuid;
use crate::report;

/// A context's `(clientId, previousEventId)`, both as found.
pub(crate) type Ids = (Option<String>, Option<String>);

/// The process-wide order of `clientId` sources: unset (read `EVENTS_AUTHORIZER_FIRST` on first
/// use), request first, or authorizer first.
static ORDER: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(ORDER_UNSET);
const ORDER_UNSET: u8 = 0;
const ORDER_REQUEST_FIRST: u8 = 1;
const ORDER_AUTHORIZER_FIRST: u8 = 2;

/// Sets the order of `clientId` sources for the whole process (the global publisher's
/// [`Config::with_authorizer_first`](crate::Config::with_authorizer_first)).
pub(crate) fn set_authorizer_first(on: bool) {
    let order = if on {
        ORDER_AUTHORIZER_FIRST
    } else {
        ORDER_REQUEST_FIRST
    };
    ORDER.store(order, std::sync::atomic::Ordering::Release);
}

/// Whether the authorizer context's `clientId` wins over the request's.
pub(crate) fn authorizer_first() -> bool {
    use std::sync::atomic::Ordering;
    match ORDER.load(Ordering::Acquire) {
        ORDER_UNSET => {
            let on = crate::config::authorizer_first_from_env();
            // `init` may have set it meanwhile: keep that.
            let _ = ORDER.compare_exchange(
                ORDER_UNSET,
                if on {
                    ORDER_AUTHORIZER_FIRST
                } else {
                    ORDER_REQUEST_FIRST
                },
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            ORDER.load(Ordering::Acquire) == ORDER_AUTHORIZER_FIRST
        }
        order => order == ORDER_AUTHORIZER_FIRST,
    }
}

pub(crate) const CLIENT_ID_HEADERS: [&str; 2] = ["x-client-id", "client-id"];
pub(crate) const PREVIOUS_EVENT_ID_HEADERS: [&str; 2] =
    ["x-previous-event-id", "previous-event-id"];
pub(crate) const CLIENT_ID: &str = "clientId";
pub(crate) const PREVIOUS_EVENT_ID: &str = "previousEventId";

/// What a handler has at hand when it tracks an event: the incoming request or event, or an
/// explicit value on hosts that are not Lambda.
///
/// Implemented for `lambda_http::Request` and `http::request::Parts` (feature `lambda-http`),
/// `http::HeaderMap` (headers only), API Gateway REST (v1) proxy requests, HTTP API (v2)
/// requests, ALB requests, Lambda Function URL requests, [`LambdaEvent`] of any of them, a raw [`serde_json::Value`]
/// (worker events, or any of the request shapes as JSON), [`ExplicitContext`], and references to
/// all of these. The lookup order is documented on [`extract_client_id`] and
/// [`extract_previous_event_id`].
///
/// Implement it for your own event type to make `track!` accept it:
///
/// ```
/// use kx_events::TrackingContext;
///
/// struct Job { tenant: String }
///
/// impl TrackingContext for Job {
///     fn client_id(&self) -> Option<String> { Some(self.tenant.clone()) }
///     fn previous_event_id(&self) -> Option<String> { None }
/// }
///
/// let job = Job { tenant: "client_123".into() };
/// assert_eq!(kx_events::extract_client_id(&job).as_deref(), Some("client_123"));
/// ```
pub trait TrackingContext {
    /// The client (tenant) id, as found: `None` when there is none.
    fn client_id(&self) -> Option<String>;

    /// The raw `previousEventId`, as found (not yet checked to be a UUID).
    fn previous_event_id(&self) -> Option<String>;

    /// Both ids at once; request types override it to parse a JSON body only once.
    #[doc(hidden)]
    fn tracking_ids(&self) -> Ids {
        (self.client_id(), self.previous_event_id())
    }
}

impl<T: TrackingContext + ?Sized> TrackingContext for &T {
    fn client_id(&self) -> Option<String> {
        (**self).client_id()
    }
    fn previous_event_id(&self) -> Option<String> {
        (**self).previous_event_id()
    }
    fn tracking_ids(&self) -> Ids {
        (**self).tracking_ids()
    }
}

impl<T: TrackingContext> TrackingContext for LambdaEvent<T> {
    fn client_id(&self) -> Option<String> {
        self.payload.client_id()
    }
    fn previous_event_id(&self) -> Option<String> {
        self.payload.previous_event_id()
    }
    fn tracking_ids(&self) -> Ids {
        self.payload.tracking_ids()
    }
}

/// Ids given explicitly, for hosts that are not Lambda (a container, a CLI, a test) or for a
/// handler that already knows them.
///
/// ```
/// use kx_events::{track, ExplicitContext};
///
/// let ctx = ExplicitContext::new("client_123");
/// let tracked = track!(ctx, "report", "report_generated");
/// # let _ = tracked;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExplicitContext {
    client_id: Option<String>,
    previous_event_id: Option<String>,
}

impl ExplicitContext {
    /// A context for `client_id`, with no previous event.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: Some(client_id.into()),
            previous_event_id: None,
        }
    }

    /// Chains the next event to `previous_event_id` (the id a previous `track!` returned).
    pub fn with_previous_event_id(mut self, previous_event_id: Uuid) -> Self {
        self.previous_event_id = Some(previous_event_id.to_string());
        self
    }
}

impl TrackingContext for ExplicitContext {
    fn client_id(&self) -> Option<String> {
        self.client_id.clone()
    }
    fn previous_event_id(&self) -> Option<String> {
        self.previous_event_id.clone()
    }
}

/// The `clientId` of a request or event, in this order (the first non-empty value wins):
///
/// 1. headers `X-Client-Id`, then `Client-Id` (case-insensitive; multi-value headers too);
/// 2. query parameter `clientId`;
/// 3. JSON body `clientId` (a base64-encoded body is decoded first; a body that is not JSON is
///    skipped);
/// 4. the authorizer context: `requestContext.authorizer.clientId` (REST or WebSocket API Lambda
///    authorizer), `requestContext.authorizer.lambda.clientId` (HTTP API Lambda authorizer),
///    `requestContext.authorizer.jwt.claims.clientId` (JWT authorizer);
/// 5. the event's own `clientId` (worker events passed as [`serde_json::Value`]).
///
/// With [`Config::with_authorizer_first`](crate::Config::with_authorizer_first) (or
/// `EVENTS_AUTHORIZER_FIRST=true`), step 4 comes first: in a multi-tenant API, a verified
/// authorizer's `clientId` cannot be overridden by a header, the query string or the body the
/// caller controls; requests without one fall back to steps 1–3 and 5.
///
/// Strings are taken as they are; numbers (an authorizer may return `"clientId": 1`) as their
/// decimal form.
///
/// ```
/// use serde_json::json;
///
/// let event = json!({
///     "headers": { "x-client-id": "from-header" },
///     "body": "{\"clientId\":\"from-body\"}"
/// });
/// assert_eq!(kx_events::extract_client_id(&event).as_deref(), Some("from-header"));
/// assert_eq!(kx_events::extract_client_id(&json!({ "clientId": "c1" })).as_deref(), Some("c1"));
/// ```
pub fn extract_client_id<C: TrackingContext + ?Sized>(ctx: &C) -> Option<String> {
    ctx.client_id()
}

/// The `previousEventId` of a request or event, in this order (the first non-empty value wins):
///
/// 1. headers `X-Previous-Event-Id`, then `Previous-Event-Id` (case-insensitive);
/// 2. JSON body `previousEventId` (base64-encoded bodies too);
/// 3. query parameter `previousEventId`;
/// 4. the event's own `previousEventId`.
///
/// A value that is not a UUID is dropped with a warning (the event is tracked without it rather
/// than failing later at the consumer); this function then returns `None`.
///
/// ```
/// use serde_json::json;
///
/// let id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
/// let event = json!({ "headers": { "Previous-Event-Id": id } });
/// assert_eq!(kx_events::extract_previous_event_id(&event).unwrap().to_string(), id);
/// assert_eq!(kx_events::extract_previous_event_id(&json!({ "previousEventId": "event_456" })), None);
/// ```
pub fn extract_previous_event_id<C: TrackingContext + ?Sized>(ctx: &C) -> Option<Uuid> {
    let raw = ctx.previous_event_id()?;
    match parse_uuid("previousEventId", &raw) {
        Ok(id) => Some(id),
        Err(e) => {
            report::bad_previous_event_id(None, &e);
            None
        }
    }
}

/// Keeps a value only if it has something in it.
fn non_empty(s: Cow<'_, str>) -> Option<String> {
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
pub(crate) fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => non_empty(Cow::Borrowed(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn from_headers(
    headers: &HeaderMap,
    multi: Option<&HeaderMap>,
    names: &[&str],
) -> Option<String> {
    names.iter().find_map(|name| {
        [Some(headers), multi]
            .into_iter()
            .flatten()
            .flat_map(|h| h.get_all(*name))
            .find_map(|v| v.to_str().ok().and_then(|s| non_empty(Cow::Borrowed(s))))
    })
}

pub(crate) fn from_query_map(
    query: &QueryMap,
    multi: Option<&QueryMap>,
    name: &str,
) -> Option<String> {
    [Some(query), multi]
        .into_iter()
        .flatten()
        .find_map(|q| q.first(name).and_then(|s| non_empty(Cow::Borrowed(s))))
}

pub(crate) fn from_authorizer(authorizer: Option<&ApiGatewayRequestAuthorizer>) -> Option<String> {
    let authorizer = authorizer?;
    // v1 Lambda authorizer context and v2 `lambda` context both land in `fields`.
    authorizer
        .fields
        .get(CLIENT_ID)
        .and_then(json_id)
        .or_else(|| {
            let claims = &authorizer.jwt.as_ref()?.claims;
            claims
                .get(CLIENT_ID)
                .and_then(|s| non_empty(Cow::Borrowed(s)))
        })
}

/// The two ids a JSON body may carry; every other field is skipped without being built.
#[derive(Default, Deserialize)]
pub(crate) struct BodyIds {
    #[serde(rename = "clientId", default)]
    pub(crate) client_id: Option<Value>,
    #[serde(rename = "previousEventId", default)]
    pub(crate) previous_event_id: Option<Value>,
}

impl BodyIds {
    fn parse(body: Option<&str>, is_base64: bool) -> BodyIds {
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
    pub(crate) fn parse_bytes(bytes: &[u8]) -> BodyIds {
        // Only a JSON object can carry the ids: skip anything else (forms, text) cheaply.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice(bytes).unwrap_or_default(),
            _ => BodyIds::default(),
        }
    }
}

/// The parts of an HTTP-style Lambda event that carry ids.
pub(crate) struct HttpParts<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) multi_value_headers: Option<&'a HeaderMap>,
    pub(crate) query: Query<'a>,
    pub(crate) body: BodySource<'a>,
    pub(crate) authorizer: Option<&'a ApiGatewayRequestAuthorizer>,
}

pub(crate) enum Query<'a> {
    Map(&'a QueryMap, Option<&'a QueryMap>),
    Plain(&'a HashMap<String, String>),
    /// A `lambda_http` request without the query extension.
    #[cfg(feature = "lambda-http")]
    None,
}

impl Query<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Query::Map(q, multi) => from_query_map(q, *multi, name),
            Query::Plain(q) => q.get(name).and_then(|s| non_empty(Cow::Borrowed(s))),
            #[cfg(feature = "lambda-http")]
            Query::None => None,
        }
    }
}

/// A request body as the event carries it.
pub(crate) enum BodySource<'a> {
    /// The raw event's `body`, base64-encoded when `is_base64` is true.
    Encoded {
        body: Option<&'a str>,
        is_base64: bool,
    },
    /// Already decoded (a `lambda_http::Body`), or none at all.
    #[cfg(feature = "lambda-http")]
    Decoded(&'a [u8]),
}

impl BodySource<'_> {
    fn ids(&self) -> BodyIds {
        match self {
            BodySource::Encoded { body, is_base64 } => BodyIds::parse(*body, *is_base64),
            #[cfg(feature = "lambda-http")]
            BodySource::Decoded(bytes) => BodyIds::parse_bytes(bytes),
        }
    }
}

impl HttpParts<'_> {
    pub(crate) fn ids(&self, want_client: bool, want_previous: bool) -> Ids {
        let mut client = None;
        if want_client && authorizer_first() {
            client = from_authorizer(self.authorizer);
        }
        if want_client && client.is_none() {
            client = from_headers(self.headers, self.multi_value_headers, &CLIENT_ID_HEADERS)
                .or_else(|| self.query.get(CLIENT_ID));
        }
        let mut previous = None;
        if want_previous {
            previous = from_headers(
                self.headers,
                self.multi_value_headers,
                &PREVIOUS_EVENT_ID_HEADERS,
            );
        }
        let need_body = (want_client && client.is_none()) || (want_previous && previous.is_none());
        if need_body {
            let body = self.body.ids();
            if want_client && client.is_none() {
                client = body
                    .client_id
                    .as_ref()
                    .and_then(json_id)
                    .or_else(|| from_authorizer(self.authorizer));
            }
            if want_previous && previous.is_none() {
                previous = body
                    .previous_event_id
                    .as_ref()
                    .and_then(json_id)
                    .or_else(|| self.query.get(PREVIOUS_EVENT_ID));
            }
        }
        (client, previous)
    }
}

macro_rules! http_tracking_context {
    ($ty:ty, |$r:ident| $parts:expr) => {
        impl TrackingContext for $ty {
            fn client_id(&self) -> Option<String> {
                let $r = self;
                $parts.ids(true, false).0
            }
            fn previous_event_id(&self) -> Option<String> {
                let $r = self;
                $parts.ids(false, true).1
            }
            fn tracking_ids(&self) -> Ids {
                let $r = self;
                $parts.ids(true, true)
            }
        }
    };
}

http_tracking_context!(ApiGatewayProxyRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: Some(&r.multi_value_headers),
    query: Query::Map(
        &r.query_string_parameters,
        Some(&r.multi_value_query_string_parameters)
    ),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: Some(&r.request_context.authorizer),
});

http_tracking_context!(ApiGatewayV2httpRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: None,
    query: Query::Map(&r.query_string_parameters, None),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: r.request_context.authorizer.as_ref(),
});

http_tracking_context!(AlbTargetGroupRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: Some(&r.multi_value_headers),
    query: Query::Map(
        &r.query_string_parameters,
        Some(&r.multi_value_query_string_parameters)
    ),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: None,
});

http_tracking_context!(LambdaFunctionUrlRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: None,
    query: Query::Plain(&r.query_string_parameters),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: None,
});

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
