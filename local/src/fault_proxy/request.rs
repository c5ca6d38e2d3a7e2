//! The request path: record, hold, then fail, forward or partly forward each request, and
//! the AWS-shaped answers built for injected failures.
//!
//! An injected whole-request error carries what the SDK reads to classify it: the JSON
//! protocol's `__type` and `x-amzn-errortype`, and for SQS `x-amzn-query-error`
//! (`Code;Sender|Receiver`). For entry failures the kept entries are forwarded as one request and
//! the upstream's answer is merged with the injected failures ([`merge`]).

use super::plan::{plan, take_delay, Plan};
use super::{ProxyShared, TargetStats, PUT_EVENTS, SEND_MESSAGE_BATCH};
use crate::http_util::{json_response, Body};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::sync::Arc;

fn error_type(target: &str, status: StatusCode) -> &'static str {
    let sqs = target.starts_with("AmazonSQS.");
    match status.as_u16() {
        503 => "ServiceUnavailable",
        400 | 429 if sqs => "RequestThrottled",
        400 | 429 => "ThrottlingException",
        _ if sqs => "InternalError",
        _ => "InternalFailure",
    }
}

fn injected_error(target: &str, status: StatusCode, code: Option<&str>) -> Response<Body> {
    let error_type = code.unwrap_or_else(|| error_type(target, status));
    let mut response = json_response(
        status,
        &json!({
            "__type": error_type,
            "message": format!("{error_type} injected by the kx-events-local fault proxy"),
        }),
    );
    let headers = response.headers_mut();
    let content_type = if target.starts_with("AmazonSQS.") {
        "application/x-amz-json-1.0"
    } else {
        "application/x-amz-json-1.1"
    };
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(value) = HeaderValue::from_str(error_type) {
        headers.insert("x-amzn-errortype", value);
    }
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    if target.starts_with("AmazonSQS.") {
        let fault = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        if let Ok(value) = HeaderValue::from_str(&format!("{error_type};{fault}")) {
            headers.insert("x-amzn-query-error", value);
        }
    }
    response
}

pub(super) async fn proxy(
    shared: &Arc<ProxyShared>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"__type": "BadRequest", "message": error.to_string()}),
            )
        }
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let inspect = target == PUT_EVENTS || target == SEND_MESSAGE_BATCH;
    let parsed: Option<Value> = if inspect {
        serde_json::from_slice(&body).ok()
    } else {
        None
    };
    let delay = {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(kept), Some(body)) = (state.recorded.get_mut(&target), parsed.as_ref()) {
            kept.push(body.clone());
        }
        let stats = state.stats.by_target.entry(target.clone()).or_default();
        stats.requests += 1;
        stats.last_content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        take_delay(&mut state, &target)
    };
    if let Some(delay) = delay {
        {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state
                .stats
                .by_target
                .entry(target.clone())
                .or_default()
                .delayed += 1;
        }
        tracing::debug!(%target, ?delay, "fault proxy: holding request");
        tokio::time::sleep(delay).await;
    }
    let decision = {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        plan(&mut state, &target, parsed.as_ref())
    };
    let record = |f: &dyn Fn(&mut TargetStats)| {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        f(state.stats.by_target.entry(target.clone()).or_default());
    };
    let entry_count = parsed
        .as_ref()
        .and_then(|b| b["Entries"].as_array())
        .map_or(0, Vec::len) as u64;

    match decision {
        Plan::Fail(status, code) => {
            record(&|s| s.failed_requests += 1);
            tracing::debug!(%target, %status, ?code, "fault proxy: failing request");
            injected_error(&target, status, code.as_deref())
        }
        Plan::Forward => {
            record(&|s| {
                s.forwarded += 1;
                s.forwarded_entries += entry_count;
            });
            forward(shared, &mut parts, body).await
        }
        Plan::FailEntries(failing) => {
            let mut body = parsed.expect("entries were parsed");
            let entries = body["Entries"].as_array().cloned().unwrap_or_default();
            let failing_count = failing.len() as u64;
            let kept: Vec<Value> = entries
                .iter()
                .enumerate()
                .filter(|(i, _)| !failing.iter().any(|(f, _)| f == i))
                .map(|(_, e)| e.clone())
                .collect();
            let kept_count = kept.len() as u64;
            record(&|s| {
                s.failed_entries += failing_count;
                s.forwarded_entries += kept_count;
            });
            tracing::debug!(%target, failed = failing_count, kept = kept_count, "fault proxy: failing entries");
            let upstream = if kept.is_empty() {
                None
            } else {
                record(&|s| s.forwarded += 1);
                body["Entries"] = Value::Array(kept);
                parts.headers.remove(http::header::CONTENT_LENGTH);
                let response = forward(shared, &mut parts, Bytes::from(body.to_string())).await;
                if response.status() != StatusCode::OK {
                    return response;
                }
                let (response_parts, response_body) = response.into_parts();
                let bytes = response_body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(value) => Some((response_parts, value)),
                    Err(_) => return Response::from_parts(response_parts, Full::new(bytes)),
                }
            };
            merge(&target, &entries, &failing, upstream)
        }
    }
}

/// Builds the client's response from the upstream's answer for the kept entries and the
/// injected failures.
fn merge(
    target: &str,
    entries: &[Value],
    failing: &[(usize, Option<String>)],
    upstream: Option<(http::response::Parts, Value)>,
) -> Response<Body> {
    let message = "injected by the kx-events-local fault proxy";
    let (parts, upstream_body) = match upstream {
        Some((parts, body)) => (Some(parts), body),
        None => (None, json!({})),
    };
    let body = if target == PUT_EVENTS {
        let mut upstream_entries = upstream_body["Entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let merged: Vec<Value> = (0..entries.len())
            .map(|i| {
                if let Some((_, code)) = failing.iter().find(|(f, _)| *f == i) {
                    let code = code.as_deref().unwrap_or("InternalFailure");
                    json!({"ErrorCode": code, "ErrorMessage": message})
                } else {
                    upstream_entries.next().unwrap_or_else(|| json!({}))
                }
            })
            .collect();
        let upstream_failed = upstream_body["FailedEntryCount"].as_u64().unwrap_or(0);
        json!({
            "FailedEntryCount": upstream_failed + failing.len() as u64,
            "Entries": merged,
        })
    } else {
        let mut failed = upstream_body["Failed"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, code) in failing {
            failed.push(json!({
                "Id": entries[*i]["Id"],
                "SenderFault": code.is_some(),
                "Code": code.as_deref().unwrap_or("InternalError"),
                "Message": message,
            }));
        }
        json!({
            "Successful": upstream_body["Successful"].as_array().cloned().unwrap_or_default(),
            "Failed": failed,
        })
    };
    let mut response = json_response(StatusCode::OK, &body);
    if let Some(parts) = parts {
        for (name, value) in &parts.headers {
            if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    } else {
        let content_type = if target == PUT_EVENTS {
            "application/x-amz-json-1.1"
        } else {
            "application/x-amz-json-1.0"
        };
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    response
}

async fn forward(
    shared: &Arc<ProxyShared>,
    parts: &mut http::request::Parts,
    body: Bytes,
) -> Response<Body> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = format!(
        "{}{}",
        shared.upstream.to_string().trim_end_matches('/'),
        path
    );
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = match uri.parse() {
        Ok(uri) => uri,
        Err(error) => {
            return json_response(
                StatusCode::BAD_GATEWAY,
                &json!({"__type": "BadGateway", "message": error.to_string()}),
            )
        }
    };
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    match shared.client.request(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            parts.headers.remove(http::header::CONTENT_LENGTH);
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            Response::from_parts(parts, Full::new(bytes))
        }
        Err(error) => json_response(
            StatusCode::BAD_GATEWAY,
            &json!({"__type": "BadGateway", "message": format!("upstream unreachable: {error}")}),
        ),
    }
}
