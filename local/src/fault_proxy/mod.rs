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
//!
//! # Layout
//!
//! This module holds the public types and the control side of [`FaultProxy`] (installing,
//! removing and counting faults); `plan` decides what to do with one request from the installed
//! faults, and `request` carries it out: it records, holds, fails or forwards the request and
//! builds the AWS-shaped answers.

mod plan;
mod request;

use crate::http_util::{bind_loopback, serve, AbortOnDrop};
use crate::{Error, Result};
use bytes::Bytes;
use http::{StatusCode, Uri};
use http_body_util::Full;
use request::proxy;
use serde_json::Value;
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
