//! The HTTP side: one handler for both APIs, dispatching on method and path, and the helpers
//! the routes share (error bodies, headers, bounded body reads).
//!
//! Paths are matched after the API version (`/2018-06-01/` for the Runtime API, `/2020-01-01/`
//! for the Extensions API), so a prefix before it is tolerated. Anything else is a `404` whose
//! body says so.

use super::extension::{extension_error, extension_next, extension_register};
use super::runtime::{runtime_init_error, runtime_next, runtime_result, runtime_too_large};
use super::state::Shared;
use super::MAX_PAYLOAD_BYTES;
use crate::http_util::{json_response, Body};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

pub(super) fn error_body(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"errorMessage": message, "errorType": error_type}),
    )
}

/// The end of a `next` call once it is parked: wakes the driver (the state changed), then waits
/// for the event handed to the call. When the sender is dropped instead — the call was replaced
/// by a newer `next`, or the environment was reset — the answer is `500 {error_type}`.
pub(super) async fn await_next<T>(
    shared: &Shared,
    rx: oneshot::Receiver<T>,
    error_type: &str,
) -> Result<T, Response<Body>> {
    shared.notify();
    rx.await.map_err(|_| {
        error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_type,
            "this next call was superseded",
        )
    })
}

pub(super) fn accepted() -> Response<Body> {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a body as JSON, keeping a non-JSON body as a JSON string.
pub(super) fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

pub(super) async fn handle(
    shared: &Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // Tolerate a prefix before the API version (as `cargo lambda watch` uses).
    let path = ["/2018-06-01/", "/2020-01-01/"]
        .iter()
        .find_map(|version| path.find(version).map(|i| path[i..].to_string()))
        .unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (parts, body) = request.into_parts();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            runtime_next(shared).await
        }
        (
            Method::POST,
            ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")],
        ) => {
            let id = id.to_string();
            let is_error = *kind == "error";
            match collect_limited(body).await {
                Ok(bytes) => runtime_result(shared, &parts.headers, id, is_error, bytes),
                Err(too_large) => runtime_too_large(shared, id, too_large),
            }
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            let bytes = collect_limited(body).await.unwrap_or_default();
            runtime_init_error(shared, &parts.headers, bytes)
        }
        (Method::POST, ["2020-01-01", "extension", "register"]) => {
            let bytes = collect_limited(body).await.unwrap_or_default();
            extension_register(shared, &parts.headers, bytes)
        }
        (Method::GET, ["2020-01-01", "extension", "event", "next"]) => {
            extension_next(shared, &parts.headers).await
        }
        (Method::POST, ["2020-01-01", "extension", phase @ ("init" | "exit"), "error"]) => {
            let bytes = collect_limited(body).await.unwrap_or_default();
            extension_error(shared, &parts.headers, phase, bytes)
        }
        (method, _) => error_body(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{method} {path} is not part of the Runtime or Extensions API"),
        ),
    }
}

/// Collects a body up to [`MAX_PAYLOAD_BYTES`]; `Err(size)` when it is larger. A larger body is
/// still read to its end (up to 64 MB), so the client gets the `413` rather than a reset
/// connection.
async fn collect_limited(mut body: hyper::body::Incoming) -> std::result::Result<Bytes, usize> {
    let mut kept = bytes::BytesMut::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            size += data.len();
            if size <= MAX_PAYLOAD_BYTES {
                kept.extend_from_slice(&data);
            } else if size > 64 * 1024 * 1024 {
                break;
            }
        }
    }
    if size > MAX_PAYLOAD_BYTES {
        Err(size)
    } else {
        Ok(kept.freeze())
    }
}
