//! # kx-events
//!
//! Track business events from Rust services into the kx-events pipeline
//! (SQS → consumer Lambda → PostgreSQL → EventBridge) with one line, and share the event
//! contract ([`TrackedEvent`] and its validation) with the consumer.
//!
//! ## Quick start
//!
//! ```no_run
//! use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
//! use kx_events::track;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//!
//! async fn handler(
//!     event: LambdaEvent<ApiGatewayProxyRequest>,
//! ) -> Result<ApiGatewayProxyResponse, Error> {
//!     // clientId from X-Client-Id / Client-Id, ?clientId=, the body or the authorizer.
//!     let order_id = "order_42";
//!     track!(event, "order", "order_created", entity_id = order_id, source = "api");
//!     let mut response = ApiGatewayProxyResponse::default();
//!     response.status_code = 201;
//!     Ok(response)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // EVENTS_QUEUE_URL (required), EVENT_BUS_NAME and EVENT_SOURCE come from the environment.
//!     kx_events::run(service_fn(handler)).await
//! }
//! ```
//!
//! With `lambda_http` (feature `lambda-http`), an axum router or any `tower` service of
//! `lambda_http::Request` tracks from its request, or from the `Parts`/`HeaderMap` an axum
//! handler extracts, and starts with [`run_http`] instead of `lambda_http::run`:
//!
//! ```no_run
//! # #[cfg(feature = "lambda-http")]
//! # mod with_lambda_http {
//! use axum::{http::request::Parts, http::StatusCode, routing::post, Router};
//! use kx_events::track;
//!
//! async fn create_order(parts: Parts) -> StatusCode {
//!     track!(parts, "order", "order_created", source = "api");
//!     StatusCode::CREATED
//! }
//!
//! pub async fn main() -> Result<(), lambda_http::Error> {
//!     kx_events::run_http(Router::new().route("/orders", post(create_order))).await
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! A subscriber Lambda of the bus reads each event as a [`BusEvent`] (feature `subscriber`, on by
//! default).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `producer` | yes | `track!`, [`publish_event`], request extraction, [`run`] with the flush extension |
//! | `subscriber` | yes | [`BusEvent`], the EventBridge event of a tracked event |
//! | `lambda-http` | no | [`TrackingContext`] for `lambda_http::Request` and `http::request::Parts`, and [`run_http`] |
//! | `preserve_order` | no | keeps the key order of `metadata` and unknown fields (serde_json's `preserve_order`) |
//!
//! Without default features the crate is the event contract alone ([`TrackedEvent`] and its
//! validation), as the consumer uses it.
//!
//! ## Delivery guarantee
//!
//! `track!` and [`publish_event`] never wait on the network and never fail the handler: they
//! validate the event and put it on a bounded in-memory queue (at most
//! [`Config::with_queue_capacity`] events and [`Config::with_queue_max_bytes`] bytes held at
//! once, whatever state they are in). A background sender delivers it to SQS with
//! `SendMessageBatch`, retrying transient failures with exponential backoff and jitter (longer
//! after throttling) and giving up at once on permanent ones (AccessDenied, a queue that does not
//! exist, …), with a circuit breaker after repeated permanent failures. Under [`run`], every event
//! tracked during an invocation is sent after the response is posted and before Lambda freezes
//! the sandbox, within the flush budget ([`Config::with_flush_timeout`]); elsewhere, [`flush`] or
//! a [`flush_guard`] waits for delivery, and an exit hook flushes what is left when `main`
//! returns. **Every event is either delivered to the queue at least once or logged at error level
//! with its id and its full JSON** (invalid, queue full, `EVENTS_QUEUE_URL` unset, a permanent
//! error, given up on after the last retry, the flush budget or deadline reached): an event is
//! never dropped silently. An event without a `clientId` is not tracked and is reported with a
//! warning naming its entity and event type. Delivery is at-least-once: the consumer
//! deduplicates on `eventId`.
//!
//! With `EVENT_BUS_NAME` set, each event is also put on the bus at once (`PutEvents`) and its
//! SQS message is marked with [`ON_BUS_ATTRIBUTE`], so the consumer stores it without
//! publishing it again; if that put fails or does not answer within
//! [`Config::with_bus_put_timeout`], the message goes unmarked and the consumer publishes.
//!
//! ## Where the ids come from
//!
//! `clientId`: headers `X-Client-Id`, `Client-Id` (case-insensitive), query parameter
//! `clientId`, JSON body `clientId` (base64-encoded bodies too), the authorizer context
//! (`requestContext.authorizer.clientId`, `.lambda.clientId`, `.jwt.claims.clientId`), then the
//! event's own `clientId`. `previousEventId`: headers `X-Previous-Event-Id`,
//! `Previous-Event-Id`, JSON body, query parameter, then the event's own `previousEventId`; a
//! value that is not a UUID is dropped with a warning. See [`extract_client_id`] and
//! [`extract_previous_event_id`]. In a multi-tenant API, [`Config::with_authorizer_first`] puts
//! the verified authorizer context first, so that a caller cannot name another tenant.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Everything but the contract is the producer side, behind the default `producer` feature: the
// consumer depends on this crate with `default-features = false` for the contract alone, which
// keeps the Lambda runtime extension and its dependencies out of the consumer's zip.
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "producer")]
mod builder;
#[cfg(feature = "producer")]
mod config;
#[cfg(feature = "producer")]
mod context;
mod contract;
mod error_chain;
#[cfg(feature = "producer")]
mod lambda;
#[cfg(feature = "producer")]
mod publisher;
#[cfg(feature = "producer")]
mod report;
#[cfg(feature = "producer")]
mod sender;

#[cfg(feature = "producer")]
pub use builder::{EventBuilder, TrackError};
#[cfg(feature = "producer")]
pub use config::Config;
#[cfg(feature = "producer")]
pub use context::{extract_client_id, extract_previous_event_id, ExplicitContext, TrackingContext};
pub use contract::{
    format_timestamp, BusEntry, Rule, TrackedEvent, ValidationError, DEFAULT_EVENT_SOURCE,
    FIELD_NAMES, MAX_ID_CHARS, MAX_METADATA_BYTES, MAX_SOURCE_CHARS, MAX_TYPE_CHARS,
    ON_BUS_ATTRIBUTE,
};
pub use error_chain::error_chain;
#[cfg(feature = "lambda-http")]
pub use lambda::run_http;
#[cfg(feature = "producer")]
pub use lambda::{run, track_on_ok, SuccessStatus, TrackOnOk, TrackOnOkFuture};
#[cfg(feature = "producer")]
pub use publisher::{
    flush, flush_before, flush_guard, global, init, publish_event, AlreadyInitialized, FlushGuard,
    Publisher, Tracked,
};

/// An event of the kx-events bus as EventBridge delivers it to a target (a subscriber Lambda,
/// a queue): the envelope (`id`, `detail-type` = `{entityType}.{eventType}`, `source`, `time` =
/// `occurredAt`, …) with the tracked event, validated, as its `detail`.
///
/// ```
/// use kx_events::{BusEvent, TrackedEvent, DEFAULT_EVENT_SOURCE};
/// use serde_json::json;
///
/// // What the consumer puts on the bus for an event…
/// let event = TrackedEvent::new("client_123", "order", "order_created");
/// let entry = event.bus_entry(DEFAULT_EVENT_SOURCE);
/// // …and what EventBridge hands a rule's target for that entry.
/// let delivered = json!({
///     "version": "0",
///     "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
///     "detail-type": entry.detail_type,
///     "source": entry.source,
///     "account": "123456789012",
///     "time": kx_events::format_timestamp(&entry.time),
///     "region": "eu-west-1",
///     "resources": [],
///     "detail": serde_json::from_str::<serde_json::Value>(&entry.detail).unwrap(),
/// });
///
/// let received: BusEvent = serde_json::from_value(delivered).unwrap();
/// assert_eq!(received.detail_type, "order.order_created");
/// assert_eq!(received.source, "kx-event-tracking");
/// assert_eq!(received.detail, event);
/// ```
///
/// The detail is checked with every rule of [`TrackedEvent::from_value`]: an entry that is not
/// a valid event fails to deserialize, with the rule it broke.
#[cfg(feature = "subscriber")]
pub type BusEvent = aws_lambda_events::eventbridge::EventBridgeEvent<TrackedEvent>;

// The foreign types of the public API, re-exported: use them from here and a second, mismatched
// version of `lambda_runtime` or `aws_lambda_events` in your build cannot be the cause of a
// confusing "expected `LambdaEvent`, found `LambdaEvent`" error.
#[cfg(any(feature = "producer", feature = "subscriber"))]
pub use aws_lambda_events;
#[cfg(feature = "producer")]
#[doc(no_inline)]
pub use aws_lambda_events::{
    alb::AlbTargetGroupRequest,
    apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest},
    lambda_function_urls::LambdaFunctionUrlRequest,
};
#[cfg(feature = "lambda-http")]
pub use lambda_http;
#[cfg(feature = "producer")]
pub use lambda_runtime;
#[cfg(feature = "producer")]
#[doc(no_inline)]
pub use lambda_runtime::LambdaEvent;

/// The code blocks of `README.md` (the crate's page), compiled as doctests.
#[cfg(all(doctest, feature = "lambda-http", feature = "subscriber"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "producer")]
/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__track_extra as track_extra;
    pub use crate::builder::EventBuilder;
    pub use crate::context::TrackingContext;
    pub use crate::publisher::Tracked;

    /// `track!`'s body: build from the context, queue on the global publisher.
    #[inline]
    pub fn track<C: TrackingContext + ?Sized>(ctx: &C, event: EventBuilder) -> Tracked {
        event.track(ctx)
    }
}

/// Tracks a business event from what the handler has, in one line; returns [`Tracked`] (the new
/// event's id, or why nothing was tracked). Never waits on the network, never panics, never
/// fails the handler.
///
/// `ctx` is the request or event (borrowed, not moved): an API Gateway REST or HTTP API request,
/// an ALB or Function URL request, a `LambdaEvent` of one of them, a `serde_json::Value`, an
/// [`ExplicitContext`], or anything implementing [`TrackingContext`]. Named extras follow, in
/// any order: `user_id`, `entity_id`, `source`, `campaign_id`, `session_id` (strings),
/// `points_awarded` (`i32`), `metadata` (a JSON object), `previous_event_id` (a `Uuid` or
/// `Option<Uuid>`, overriding the request's). A trailing comma is allowed.
///
/// ```
/// use kx_events::{track, ExplicitContext};
/// use serde_json::json;
///
/// let ctx = ExplicitContext::new("client_123");
/// let created = track!(ctx, "order", "order_created");
/// let confirmed = track!(
///     ctx,
///     "order",
///     "order_confirmed",
///     user_id = "user_789",
///     entity_id = "order_42",
///     source = "api",
///     campaign_id = "spring",
///     points_awarded = 100,
///     session_id = "session_1",
///     metadata = json!({ "total": 99.5 }),
///     previous_event_id = created.event_id(),
/// );
/// # let _ = confirmed;
/// ```
///
/// An extra that does not exist is a compile error naming the ones that do:
///
/// ```compile_fail
/// # use kx_events::{track, ExplicitContext};
/// track!(ExplicitContext::new("c1"), "order", "order_created", customer = "x");
/// ```
#[cfg(feature = "producer")]
#[macro_export]
macro_rules! track {
    // track!(ctx, "order", "order_created")
    // track!(ctx, "order", "order_created",)
    ($ctx:expr, $entity_type:expr, $event_type:expr $(,)?) => {
        $crate::__private::track(
            &$ctx,
            $crate::__private::EventBuilder::new($entity_type, $event_type),
        )
    };
    // track!(ctx, "order", "order_created", user_id = "u1", points_awarded = 10)
    // track!(ctx, "order", "order_created", user_id = "u1", points_awarded = 10,)
    ($ctx:expr, $entity_type:expr, $event_type:expr, $($extra:ident = $value:expr),+ $(,)?) => {{
        let event = $crate::__private::EventBuilder::new($entity_type, $event_type);
        $( let event = $crate::__private::track_extra!($extra, event, $value); )+
        $crate::__private::track(&$ctx, event)
    }};
}

/// One named extra of `track!`: the builder call it stands for, or a compile error naming the
/// extras that exist.
#[doc(hidden)]
#[cfg(feature = "producer")]
#[macro_export]
macro_rules! __track_extra {
    // user_id = "user_789"
    (user_id, $event:ident, $value:expr) => { $event.user_id($value) };
    // entity_id = "order_42"
    (entity_id, $event:ident, $value:expr) => { $event.entity_id($value) };
    // source = "api"
    (source, $event:ident, $value:expr) => { $event.source($value) };
    // campaign_id = "spring"
    (campaign_id, $event:ident, $value:expr) => { $event.campaign_id($value) };
    // points_awarded = 100
    (points_awarded, $event:ident, $value:expr) => { $event.points_awarded($value) };
    // session_id = "session_1"
    (session_id, $event:ident, $value:expr) => { $event.session_id($value) };
    // metadata = json!({ "total": 99.5 })
    (metadata, $event:ident, $value:expr) => { $event.metadata($value) };
    // previous_event_id = some_uuid (or an Option<Uuid>)
    (previous_event_id, $event:ident, $value:expr) => { $event.previous_event_id($value) };
    // anything_else = value
    ($other:ident, $event:ident, $value:expr) => {
        ::core::compile_error!(::core::concat!(
            "track!: unknown extra `",
            ::core::stringify!($other),
            "`; expected user_id, entity_id, source, campaign_id, points_awarded, session_id, metadata or previous_event_id"
        ))
    };
}
