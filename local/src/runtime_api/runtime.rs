//! The Runtime API routes (`/2018-06-01/runtime/…`): the runtime's long-polled `next`, its
//! `response` / `error` posts for the running invocation, and `init/error`.
//!
//! A post for any request id but the running invocation's, or a second post for it, is refused
//! with `400 InvalidRequestID`, as Lambda does. A response over [`MAX_PAYLOAD_BYTES`] fails the
//! invocation with `Function.ResponseSizeTooLarge` and is answered with `413`.

use super::routes::{accepted, await_next, body_value, error_body, header};
use super::state::Shared;
use super::{InitError, InvocationOutcome, ProtocolEvent, MAX_PAYLOAD_BYTES};
use crate::http_util::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::oneshot;

pub(super) async fn runtime_next(shared: &Arc<Shared>) -> Response<Body> {
    let (tx, rx) = oneshot::channel();
    {
        let mut state = shared.lock();
        state.record(ProtocolEvent::NextRequested);
        state.runtime_started = true;
        state.runtime_next = Some(tx);
        state.deliver_runtime();
        state.check_init_completed();
    }
    let dispatch = match await_next(shared, rx, "Runtime.NextCancelled").await {
        Ok(dispatch) => dispatch,
        Err(superseded) => return superseded,
    };
    let mut response = Response::new(http_body_util::Full::new(dispatch.body));
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put("content-type", "application/json");
    put("lambda-runtime-aws-request-id", &dispatch.request_id);
    put(
        "lambda-runtime-deadline-ms",
        &dispatch.deadline_ms.to_string(),
    );
    put(
        "lambda-runtime-invoked-function-arn",
        &shared.config.identity.function_arn(),
    );
    put("lambda-runtime-trace-id", &dispatch.trace_id);
    if let Some(context) = &dispatch.client_context {
        put("lambda-runtime-client-context", context);
    }
    if let Some(identity) = &dispatch.cognito_identity {
        put("lambda-runtime-cognito-identity", identity);
    }
    response
}

pub(super) fn runtime_result(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    request_id: String,
    is_error: bool,
    bytes: Bytes,
) -> Response<Body> {
    let mut state = shared.lock();
    let current_matches = state
        .current
        .as_ref()
        .is_some_and(|c| c.request_id == request_id && c.outcome.is_none());
    if !current_matches {
        state.record(ProtocolEvent::InvalidRequestId { request_id });
        return error_body(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    }
    let value = body_value(&bytes);
    let outcome = if is_error {
        let error_type = value["errorType"]
            .as_str()
            .map(str::to_string)
            .or_else(|| header(headers, "lambda-runtime-function-error-type"));
        state.record(ProtocolEvent::ErrorPosted {
            request_id,
            error_type,
        });
        InvocationOutcome::FunctionError(value)
    } else {
        state.record(ProtocolEvent::ResponsePosted { request_id });
        InvocationOutcome::Response(value)
    };
    if let Some(current) = state.current.as_mut() {
        current.outcome = Some(outcome);
    }
    drop(state);
    shared.notify();
    accepted()
}

pub(super) fn runtime_too_large(
    shared: &Arc<Shared>,
    request_id: String,
    size: usize,
) -> Response<Body> {
    let mut state = shared.lock();
    let message = format!(
        "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."
    );
    if let Some(current) = state
        .current
        .as_mut()
        .filter(|c| c.request_id == request_id && c.outcome.is_none())
    {
        current.outcome = Some(InvocationOutcome::FunctionError(json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": message,
        })));
        state.record(ProtocolEvent::ErrorPosted {
            request_id,
            error_type: Some("Function.ResponseSizeTooLarge".into()),
        });
    }
    drop(state);
    shared.notify();
    error_body(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &message,
    )
}

pub(super) fn runtime_init_error(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    bytes: Bytes,
) -> Response<Body> {
    let body = body_value(&bytes);
    let error_type = body["errorType"]
        .as_str()
        .map(str::to_string)
        .or_else(|| header(headers, "lambda-runtime-function-error-type"));
    {
        let mut state = shared.lock();
        state.record(ProtocolEvent::InitErrorPosted {
            error_type: error_type.clone(),
        });
        state.init_error = Some(InitError { error_type, body });
    }
    shared.notify();
    accepted()
}
