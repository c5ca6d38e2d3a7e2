//! An axum router on Lambda (API Gateway REST or HTTP API, ALB, Function URL) that tracks an
//! event per order, served by `kx_events::run_http`: `lambda_http::run` plus the extension that
//! sends tracked events after each response and before the sandbox freezes.
//!
//! `POST /orders` with `X-Client-Id` (or `Client-Id`, `?clientId=`, a Lambda or JWT authorizer's
//! `clientId`) records `order.order_created`; an `X-Previous-Event-Id` header chains it. The new
//! event's id comes back in `X-Event-Id`, ready to be the next request's `X-Previous-Event-Id`.
//!
//! The handler tracks from `Parts` (the request head, which axum extracts next to the body):
//! under `lambda_http` its extensions hold the query string and the authorizer context, so every
//! source but the body is read. To read a JSON body's `clientId` too, take the whole
//! `lambda_http::Request` in a `lambda_http::service_fn` instead of a router.
//!
//! Build: `cargo lambda build --release --example axum --features lambda-http`. Environment:
//! `EVENTS_QUEUE_URL` (required), `EVENT_BUS_NAME`, `EVENT_SOURCE` (optional).

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kx_events::{track, Tracked};
use serde_json::{json, Value};

async fn create_order(parts: Parts, body: Bytes) -> Response {
    let order: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    let order_id = format!("order_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // … store the order …

    let tracked = track!(
        parts,
        "order",
        "order_created",
        entity_id = order_id.as_str(),
        source = "api",
        metadata = json!({ "items": order["items"].as_array().map_or(0, Vec::len) }),
    );

    let mut response = (StatusCode::CREATED, Json(json!({ "orderId": order_id }))).into_response();
    if let Tracked::Queued(event_id) = tracked {
        if let Ok(value) = HeaderValue::from_str(&event_id.to_string()) {
            response.headers_mut().insert("x-event-id", value);
        }
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let app = Router::new().route("/orders", post(create_order));
    kx_events::run_http(app).await
}
