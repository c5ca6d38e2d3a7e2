//! A fault-injecting HTTP reverse proxy in front of an AWS emulator (moto).
//!
//! Point an SDK client's endpoint at [`FaultProxy::url`] and it reaches moto through the proxy,
//! which can be told at runtime to:
//!
//! - fail **whole requests** whose `X-Amz-Target` matches (e.g. `AWSEvents.PutEvents`,
//!   `AmazonSQS.SendMessageBatch`) with an AWS-shaped JSON error (`500` `InternalFailure`,
//!   `503` `ServiceUnavailable`, `400` `ThrottlingException`, …), a number of times or until
//!   removed ([`FaultProxy::fail_requests`]), or with the error code given, e.g. `AccessDenied`
//!   or `RequestThrottled` per call of one action ([`FaultProxy::fail_requests_with_code`]);
//! - fail **some entries** of a `PutEvents` or `SendMessageBatch` request
//!   ([`FaultProxy::fail_entries`]): the proxy forwards only the other entries to moto and merges
//!   moto's answer with the injected failures, at the right positions for `PutEvents`
//!   (`ErrorCode`/`ErrorMessage`, `FailedEntryCount`) and as `Failed[]` entries (`Id`, `Code`,
//!   `SenderFault: false`, `Message`) for `SendMessageBatch`;
//! - **hold** matching requests for a while ([`FaultProxy::delay_requests`]);
//! - **record** the JSON bodies of `PutEvents` / `SendMessageBatch` requests as the client sent
//!   them ([`FaultProxy::record_requests`]), e.g. to check a field the emulator drops.
//!
//! The SDK speaks the JSON protocol to both services (`application/x-amz-json-1.1` for
//! EventBridge, `application/x-amz-json-1.0` for SQS) and names the operation in `X-Amz-Target`.
//! Requests the proxy does not touch are forwarded byte for byte. Note that the SDK retries
//! `500`/`503`/throttling errors (3 attempts by default): a whole-request fault with `times = 1`
//! is usually invisible to the caller, which is the point of testing it.
//!
//! The proxy does not re-sign modified requests; moto does not check signatures.

use crate::http_util::{bind_loopback, json_response, serve, AbortOnDrop, Body};
use crate::{Error, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// `X-Amz-Target` of EventBridge `PutEvents`.
pub const PUT_EVENTS: &str = "AWSEvents.PutEvents";
/// `X-Amz-Target` of SQS `SendMessageBatch`.
pub const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";

/// Which entries of a batch request an entry fault fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntrySelector {
    /// Every entry.
    All,
    /// The k-th, 2k-th, … entry this fault sees, counted across requests (1-based).
    EveryNth(u64),
    /// Entries whose payload — `Detail` for `PutEvents`, `MessageBody` for `SendMessageBatch` —
    /// contains this text.
    PayloadContains(String),
}

/// Identifies an installed fault, for [`FaultProxy::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FaultId(u64);

/// Counters of one `X-Amz-Target` (or `-` for requests without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// Requests received.
    pub requests: u64,
    /// Requests forwarded to the upstream (possibly with fewer entries).
    pub forwarded: u64,
    /// Requests answered with an injected error.
    pub failed_requests: u64,
    /// Entries forwarded in batch requests the proxy inspected.
    pub forwarded_entries: u64,
    /// Entries failed by an entry fault.
    pub failed_entries: u64,
    /// Requests held by a delay fault.
    pub delayed: u64,
    /// The `Content-Type` of the last request (e.g. `application/x-amz-json-1.1`).
    pub last_content_type: Option<String>,
}

/// Counters of the proxy, per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Keyed by `X-Amz-Target`.
    pub by_target: BTreeMap<String, TargetStats>,
}

impl ProxyStats {
    /// The counters of `target` (zero if never seen).
    pub fn target(&self, target: &str) -> TargetStats {
        self.by_target.get(target).cloned().unwrap_or_default()
    }
}

#[derive(Debug)]
enum FaultKind {
    Request {
        status: StatusCode,
        code: Option<String>,
    },
    Delay {
        delay: std::time::Duration,
    },
    Entries {
        selector: EntrySelector,
        seen: u64,
        code: Option<String>,
    },
}

#[derive(Debug)]
struct Fault {
    id: FaultId,
    target: String,
    kind: FaultKind,
    /// Failures left to inject (`None`: until removed).
    remaining: Option<u64>,
}

#[derive(Default)]
struct ProxyState {
    next_id: u64,
    faults: Vec<Fault>,
    stats: ProxyStats,
    /// Request bodies kept per recorded `X-Amz-Target`.
    recorded: BTreeMap<String, Vec<Value>>,
}

struct ProxyShared {
    upstream: Uri,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    state: Mutex<ProxyState>,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    _server: AbortOnDrop,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

impl FaultProxy {
    /// Starts the proxy on 127.0.0.1 (ephemeral port) in front of `upstream`, e.g.
    /// `http://127.0.0.1:5000` (plain HTTP).
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        let upstream: Uri = upstream
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::Config(format!("upstream URL {upstream:?}: {e}")))?;
        if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
            return Err(Error::Config(format!(
                "upstream {upstream} must be an http://host:port URL"
            )));
        }
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let (listener, addr) = bind_loopback().await?;
        let shared = Arc::new(ProxyShared {
            upstream,
            client,
            state: Mutex::new(ProxyState::default()),
        });
        let handler_shared = shared.clone();
        let server = serve(listener, move |request| {
            let shared = handler_shared.clone();
            async move { proxy(&shared, request).await }
        });
        Ok(FaultProxy {
            addr,
            shared,
            _server: AbortOnDrop(server),
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`: use it as the SDK endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn install(&self, target: &str, kind: FaultKind, times: Option<u64>) -> FaultId {
        let mut state = self.lock();
        state.next_id += 1;
        let id = FaultId(state.next_id);
        state.faults.push(Fault {
            id,
            target: target.to_string(),
            kind,
            remaining: times,
        });
        id
    }

    /// Fails requests whose `X-Amz-Target` is `target` with `status` (and the matching AWS
    /// error: `InternalFailure` for 500, `ServiceUnavailable` for 503, `ThrottlingException` for
    /// 400/429), `times` times or, with `None`, until removed.
    pub fn fail_requests(&self, target: &str, status: u16, times: Option<u64>) -> FaultId {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.install(target, FaultKind::Request { status, code: None }, times)
    }

    /// Like [`FaultProxy::fail_requests`], with the AWS error code given: `AccessDenied` (403
    /// or 400), `QueueDoesNotExist`, `RequestThrottled` or `ThrottlingException` (400), … The
    /// answer carries it as AWS does for the JSON protocol: `__type`, `x-amzn-errortype` and,
    /// for SQS, `x-amzn-query-error` (`{code};Sender` for a 4xx, `;Receiver` for a 5xx).
    pub fn fail_requests_with_code(
        &self,
        target: &str,
        status: u16,
        code: &str,
        times: Option<u64>,
    ) -> FaultId {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        self.install(
            target,
            FaultKind::Request {
                status,
                code: Some(code.to_owned()),
            },
            times,
        )
    }

    /// Holds requests whose `X-Amz-Target` is `target` for `delay` before handling them (other
    /// faults still apply afterwards), `times` times or, with `None`, until removed. Useful to
    /// catch a process in the middle of a call, e.g. to kill the consumer between its database
    /// insert and its `PutEvents`.
    pub fn delay_requests(
        &self,
        target: &str,
        delay: std::time::Duration,
        times: Option<u64>,
    ) -> FaultId {
        self.install(target, FaultKind::Delay { delay }, times)
    }

    /// Fails the entries `selector` picks in `PutEvents` or `SendMessageBatch` requests
    /// (`target` is [`PUT_EVENTS`] or [`SEND_MESSAGE_BATCH`]), `times` entries in total or, with
    /// `None`, until removed.
    pub fn fail_entries(
        &self,
        target: &str,
        selector: EntrySelector,
        times: Option<u64>,
    ) -> Result<FaultId> {
        self.fail_entries_with_code(target, selector, times, None)
    }

    /// Like [`FaultProxy::fail_entries`], with the entry error code given (for `PutEvents`, e.g.
    /// `ValidationException` or `NotAuthorizedForDetailTypeException`; for `SendMessageBatch`,
    /// the `Failed[].Code`); `None` keeps the default (`InternalFailure` / `InternalError`).
    pub fn fail_entries_with_code(
        &self,
        target: &str,
        selector: EntrySelector,
        times: Option<u64>,
        code: Option<&str>,
    ) -> Result<FaultId> {
        if target != PUT_EVENTS && target != SEND_MESSAGE_BATCH {
            return Err(Error::Config(format!(
                "entry faults support {PUT_EVENTS} and {SEND_MESSAGE_BATCH}, not {target}"
            )));
        }
        if selector == EntrySelector::EveryNth(0) {
            return Err(Error::Config("EveryNth(0) selects nothing".into()));
        }
        Ok(self.install(
            target,
            FaultKind::Entries {
                selector,
                seen: 0,
                code: code.map(str::to_owned),
            },
            times,
        ))
    }

    /// Removes a fault.
    pub fn remove(&self, id: FaultId) {
        self.lock().faults.retain(|f| f.id != id);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    /// Failures a fault has left to inject (`Some(None)`: unlimited; `None`: gone — removed or
    /// used up).
    pub fn remaining(&self, id: FaultId) -> Option<Option<u64>> {
        self.lock()
            .faults
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.remaining)
    }

    /// Keeps the JSON body of every later request whose `X-Amz-Target` is `target` ([`PUT_EVENTS`]
    /// or [`SEND_MESSAGE_BATCH`]), as the client sent it, before any fault applies.
    pub fn record_requests(&self, target: &str) -> Result<()> {
        if target != PUT_EVENTS && target != SEND_MESSAGE_BATCH {
            return Err(Error::Config(format!(
                "recording supports {PUT_EVENTS} and {SEND_MESSAGE_BATCH}, not {target}"
            )));
        }
        self.lock().recorded.entry(target.to_owned()).or_default();
        Ok(())
    }

    /// The bodies recorded so far for `target` (see [`FaultProxy::record_requests`]).
    pub fn recorded(&self, target: &str) -> Vec<Value> {
        self.lock()
            .recorded
            .get(target)
            .cloned()
            .unwrap_or_default()
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.lock().stats.clone()
    }
}

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

/// What the proxy decided to do with a request.
enum Plan {
    Forward,
    Fail(StatusCode, Option<String>),
    /// Fail these entry positions (sorted).
    FailEntries(Vec<(usize, Option<String>)>),
}

fn payload_field(target: &str) -> &'static str {
    if target == PUT_EVENTS {
        "Detail"
    } else {
        "MessageBody"
    }
}

/// Takes one use of the first delay fault for `target`, if any.
fn take_delay(state: &mut ProxyState, target: &str) -> Option<std::time::Duration> {
    let fault = state.faults.iter_mut().find(|f| {
        f.target == target && matches!(f.kind, FaultKind::Delay { .. }) && f.remaining != Some(0)
    })?;
    if let Some(left) = fault.remaining.as_mut() {
        *left -= 1;
    }
    let FaultKind::Delay { delay } = fault.kind else {
        unreachable!()
    };
    state.faults.retain(|f| f.remaining != Some(0));
    Some(delay)
}

fn plan(state: &mut ProxyState, target: &str, body: Option<&Value>) -> Plan {
    // Whole-request faults first.
    if let Some(fault) = state.faults.iter_mut().find(|f| {
        f.target == target && matches!(f.kind, FaultKind::Request { .. }) && f.remaining != Some(0)
    }) {
        if let Some(left) = fault.remaining.as_mut() {
            *left -= 1;
        }
        let FaultKind::Request { status, code } = &fault.kind else {
            unreachable!()
        };
        let plan = Plan::Fail(*status, code.clone());
        state.faults.retain(|f| f.remaining != Some(0));
        return plan;
    }
    let Some(entries) = body.and_then(|b| b["Entries"].as_array()) else {
        return Plan::Forward;
    };
    let field = payload_field(target);
    let mut failing = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let payload = entry[field].as_str().unwrap_or_default();
        let mut fail: Option<Option<String>> = None;
        for fault in state.faults.iter_mut().filter(|f| f.target == target) {
            let FaultKind::Entries {
                selector,
                seen,
                code,
            } = &mut fault.kind
            else {
                continue;
            };
            *seen += 1;
            if fail.is_some() || fault.remaining == Some(0) {
                continue;
            }
            let selected = match selector {
                EntrySelector::All => true,
                EntrySelector::EveryNth(k) => *seen % *k == 0,
                EntrySelector::PayloadContains(text) => payload.contains(text.as_str()),
            };
            if selected {
                fail = Some(code.clone());
                if let Some(left) = fault.remaining.as_mut() {
                    *left -= 1;
                }
            }
        }
        if let Some(code) = fail {
            failing.push((index, code));
        }
    }
    state.faults.retain(|f| f.remaining != Some(0));
    if failing.is_empty() {
        Plan::Forward
    } else {
        Plan::FailEntries(failing)
    }
}

async fn proxy(
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
