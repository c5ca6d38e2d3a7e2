//! The Extensions API routes (`/2020-01-01/extension/…`): `register` (during the init phase
//! only), the long-polled `event/next`, and `init/error` / `exit/error`.
//!
//! An extension that posts an error is marked dead: it is no longer waited for. During init its
//! error becomes the environment's init error (`Extension.InitError`); during an invocation it
//! fails that invocation with `Extension.Crash` (see the module documentation of
//! [`runtime_api`](super) for why this differs from AWS).

use super::routes::{accepted, await_next, body_value, error_body, header};
use super::state::{Extension, Shared, State};
use super::{InitError, ProtocolEvent};
use crate::http_util::{json_response, Body};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

pub(super) fn extension_register(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    bytes: Bytes,
) -> Response<Body> {
    let name = header(headers, "lambda-extension-name").unwrap_or_default();
    let refuse = |state: &mut State, status: StatusCode, error_type: &str, reason: String| {
        state.record(ProtocolEvent::ExtensionRegistrationRefused {
            name: name.clone(),
            reason: reason.clone(),
        });
        error_body(status, error_type, &reason)
    };
    let mut state = shared.lock();
    if name.is_empty() {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "missing Lambda-Extension-Name header".into(),
        );
    }
    if state.runtime_started {
        return refuse(
            &mut state,
            StatusCode::FORBIDDEN,
            "Extension.RegistrationAfterInit",
            format!(
                "extension {name} registered after the runtime asked for its first invocation: \
                 extensions must register during the init phase"
            ),
        );
    }
    let events: Vec<String> = match serde_json::from_slice::<Value>(&bytes) {
        Ok(body) => body["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        Err(error) => {
            return refuse(
                &mut state,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("register body is not JSON: {error}"),
            )
        }
    };
    if let Some(bad) = events.iter().find(|e| *e != "INVOKE" && *e != "SHUTDOWN") {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            "InvalidEventType",
            format!("unknown event type {bad}: INVOKE and SHUTDOWN are supported"),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    state.extensions.push(Extension {
        id: id.clone(),
        invoke: events.iter().any(|e| e == "INVOKE"),
        shutdown: events.iter().any(|e| e == "SHUTDOWN"),
        dead: false,
        next: None,
        pending: None,
    });
    state.record(ProtocolEvent::ExtensionRegistered {
        extension_id: id.clone(),
        name,
        events,
    });
    drop(state);
    shared.notify();
    let identity = &shared.config.identity;
    let mut body = json!({
        "functionName": identity.function_name,
        "functionVersion": identity.function_version,
        "handler": identity.handler,
    });
    if header(headers, "lambda-extension-accept-feature").is_some_and(|f| f.contains("accountId")) {
        body["accountId"] = json!(identity.account_id);
    }
    let mut response = json_response(StatusCode::OK, &body);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert("lambda-extension-identifier", value);
    }
    response
}

pub(super) async fn extension_next(shared: &Arc<Shared>, headers: &HeaderMap) -> Response<Body> {
    let id = header(headers, "lambda-extension-identifier").unwrap_or_default();
    let (tx, rx) = oneshot::channel();
    {
        let mut state = shared.lock();
        let Some(index) = state.extensions.iter().position(|e| e.id == id) else {
            return error_body(
                StatusCode::FORBIDDEN,
                "Extension.InvalidExtensionIdentifier",
                &format!("unknown Lambda-Extension-Identifier {id:?}"),
            );
        };
        state.record(ProtocolEvent::ExtensionNextRequested {
            extension_id: id.clone(),
        });
        state.extensions[index].next = Some(tx);
        state.deliver_extension(index);
        state.check_init_completed();
    }
    let event = match await_next(shared, rx, "Extension.NextCancelled").await {
        Ok(event) => event,
        Err(superseded) => return superseded,
    };
    let mut response = json_response(StatusCode::OK, &event);
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response
            .headers_mut()
            .insert("lambda-extension-event-identifier", value);
    }
    response
}

pub(super) fn extension_error(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    phase: &str,
    bytes: Bytes,
) -> Response<Body> {
    let id = header(headers, "lambda-extension-identifier").unwrap_or_default();
    let error_type = header(headers, "lambda-extension-function-error-type");
    let mut state = shared.lock();
    let Some(index) = state.extensions.iter().position(|e| e.id == id) else {
        return error_body(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionIdentifier",
            &format!("unknown Lambda-Extension-Identifier {id:?}"),
        );
    };
    state.extensions[index].dead = true;
    state.record(ProtocolEvent::ExtensionErrorPosted {
        extension_id: id.clone(),
        phase: phase.to_string(),
        error_type: error_type.clone(),
    });
    let detail = body_value(&bytes);
    if !state.runtime_started && phase == "init" {
        state.init_error = Some(InitError {
            error_type: Some("Extension.InitError".into()),
            body: json!({
                "errorType": "Extension.InitError",
                "errorMessage": format!("extension {id} failed to initialise: {}", error_type.clone().unwrap_or_default()),
                "extensionError": detail,
            }),
        });
    }
    if let Some(current) = state.current.as_mut() {
        current.crash = Some(json!({
            "errorType": "Extension.Crash",
            "errorMessage": format!(
                "extension {id} reported an {phase} error during the invocation: {}",
                error_type.unwrap_or_default()
            ),
            "extensionError": detail,
        }));
    }
    drop(state);
    shared.notify();
    accepted()
}
