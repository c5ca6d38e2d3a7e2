//! An API Gateway (REST API, v1 proxy integration) handler that tracks an event per request.
//!
//! The client id comes from the request (`X-Client-Id`/`Client-Id` header, `?clientId=`, the JSON
//! body, or the Lambda authorizer's context); an `X-Previous-Event-Id` header chains the event.
//! The new event's id goes back in the `X-Event-Id` header, ready to be the next request's
//! `X-Previous-Event-Id`.
//!
//! Build it like any Rust Lambda (`cargo lambda build --release --example api_gateway`) with
//! `EVENTS_QUEUE_URL` (and optionally `EVENT_BUS_NAME`) in the function's environment, or run it
//! locally with `cargo lambda watch --example api_gateway` / kx-events-local, pointing
//! `AWS_ENDPOINT_URL` at an emulator.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use kx_events::{track, Tracked};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn create_order(
    event: LambdaEvent<ApiGatewayProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let order: Value = event
        .payload
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_else(|| json!({}));
    let order_id = format!("order_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // … store the order …

    let tracked = track!(
        event,
        "order",
        "order_created",
        entity_id = order_id.as_str(),
        source = "api",
        metadata = json!({ "items": order["items"].as_array().map_or(0, Vec::len) }),
    );

    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 201;
    response
        .headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    if let Tracked::Queued(event_id) = tracked {
        response
            .headers
            .insert("x-event-id", HeaderValue::from_str(&event_id.to_string())?);
    }
    response.body = Some(Body::Text(json!({ "orderId": order_id }).to_string()));
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    // Starts the runtime plus the internal extension that sends tracked events after each
    // response and before the sandbox freezes.
    kx_events::run(service_fn(create_order)).await
}
