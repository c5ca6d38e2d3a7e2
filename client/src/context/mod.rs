//! Where a handler's request keeps the `clientId` and `previousEventId` of the event it tracks.
//!
//! The order is the TypeScript system's tracking decorator's, made explicit and extended to every
//! request shape a Rust Lambda receives. `clientId`: headers `X-Client-Id`, `Client-Id`
//! (case-insensitive), query parameter `clientId`, JSON body `clientId` (a base64-encoded body
//! too), the authorizer context (`requestContext.authorizer.clientId` of a REST or WebSocket API
//! Lambda authorizer, `requestContext.authorizer.lambda.clientId` of an HTTP API Lambda
//! authorizer, `requestContext.authorizer.jwt.claims.clientId` of a JWT authorizer), then the
//! event's own `clientId`. `previousEventId`: headers `X-Previous-Event-Id`, `Previous-Event-Id`,
//! JSON body, query parameter, then the event's own `previousEventId`. The first non-empty value
//! wins.
//!
//! One file per role:
//!
//! - this file: the [`TrackingContext`] trait, [`ExplicitContext`], and the two public lookups;
//! - `order`: whether the authorizer context comes first, for the whole process;
//! - `value`: reading an id out of a string, a JSON value or a JSON body;
//! - `lambda_events`: the `aws_lambda_events` request structs (API Gateway REST and HTTP API,
//!   ALB, Function URL);
//! - `json`: any event as a `serde_json::Value` (worker events, or the request shapes as JSON);
//! - `http`: the `http` crate's types (`HeaderMap`, and with `lambda-http` a `lambda_http`
//!   request and `Parts`).

mod http;
mod json;
mod lambda_events;
mod order;
mod value;

pub(crate) use order::set_authorizer_first;

use lambda_runtime::LambdaEvent;
use uuid::Uuid;

use crate::contract::parse_uuid;
use crate::report;

/// A context's `(clientId, previousEventId)`, both as found.
pub(crate) type Ids = (Option<String>, Option<String>);

const CLIENT_ID_HEADERS: [&str; 2] = ["x-client-id", "client-id"];
const PREVIOUS_EVENT_ID_HEADERS: [&str; 2] = ["x-previous-event-id", "previous-event-id"];
const CLIENT_ID: &str = "clientId";
const PREVIOUS_EVENT_ID: &str = "previousEventId";

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
