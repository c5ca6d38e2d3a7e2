//! The AWS Lambda Runtime API and Extensions API, served on 127.0.0.1.
//!
//! [`RuntimeApi`] is what a Lambda execution environment offers a `bootstrap` through
//! `AWS_LAMBDA_RUNTIME_API`: the runtime long-polls `GET /2018-06-01/runtime/invocation/next`,
//! posts `…/invocation/{id}/response` or `…/error` (or `…/init/error`), and internal or external
//! extensions register with `POST /2020-01-01/extension/register` and long-poll
//! `GET /2020-01-01/extension/event/next`. It is compatible with the `lambda_runtime` (1.5) and
//! `lambda-extension` (1.1) crates, including internal extensions as in aws-lambda-rust-runtime's
//! `extension-internal-flush` example.
//!
//! # Lifecycle, as Lambda runs it
//!
//! - **Init.** Extensions may register only until the runtime first asks for its next
//!   invocation; a later `register` is refused with `403`. The init phase is complete when the
//!   runtime *and* every registered extension are parked in their `next` call
//!   ([`ProtocolEvent::InitCompleted`]).
//! - **Invoke.** [`RuntimeApi::invoke`] waits for that state, then hands the event to the runtime
//!   and an `INVOKE` event to every extension registered for it.
//! - **Freeze.** An invocation is complete — the sandbox may freeze, the next invocation may
//!   start — only when the runtime has posted its response (or error) **and** asked for its next
//!   invocation **and** every extension has called `event/next` again
//!   ([`ProtocolEvent::InvocationCompleted`]). [`RuntimeApi::invoke`] returns only then, so work
//!   an extension does after the response (e.g. flushing events) is finished when it returns.
//! - **Timeout.** If that does not happen before the deadline (`Lambda-Runtime-Deadline-Ms`), the
//!   outcome is [`InvocationOutcome::Timeout`], even if the response was already posted: on AWS an
//!   extension that overruns the deadline times the invocation out and the environment is reset.
//!   Callers should then restart the process and call [`RuntimeApi::reset`] (the
//!   [`runner`](crate::runner) does).
//! - **Shutdown.** [`RuntimeApi::shutdown`] sends `SHUTDOWN` to the extensions registered for it.
//!
//! # Where this differs from AWS (on purpose, and documented)
//!
//! - A process is not frozen between invocations: background tasks keep running.
//! - Every extension is accepted for `SHUTDOWN`. On AWS an *internal* extension (one living in the
//!   runtime process) may register for `INVOKE` only; there is no way to tell internal from
//!   external here.
//! - An extension that reports an error (`/extension/init/error` or `/exit/error`) while an
//!   invocation runs fails that invocation at once with an `Extension.Crash` function error, so
//!   the batch is retried rather than acknowledged (on AWS the environment is reset).
//! - Response streaming (`Lambda-Runtime-Function-Response-Mode: streaming`) is collected and
//!   returned as a buffered body.
//! - Error bodies' `errorType` strings for protocol misuse (e.g. `InvalidRequestID`) follow the
//!   documented Runtime API where it documents them, and are descriptive elsewhere.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> kx_events_local::Result<()> {
//! use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
//! use std::time::Duration;
//!
//! let api = RuntimeApi::start().await?;
//! // spawn the bootstrap with AWS_LAMBDA_RUNTIME_API = api.host_port() (see `function`) …
//! match api.invoke(serde_json::json!({"Records": []}), Duration::from_secs(30)).await? {
//!     InvocationOutcome::Response(body) => println!("response: {body}"),
//!     other => println!("failed: {other:?}"),
//! }
//! # Ok(()) }
//! ```

use crate::http_util::{bind_loopback, epoch_ms, json_response, serve, AbortOnDrop, Body};
use crate::{Error, Result};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The largest response payload Lambda accepts from a runtime (6 MB), and the largest
/// synchronous invocation payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// How long [`RuntimeApi::shutdown`] gives extensions to acknowledge `SHUTDOWN` (Lambda gives
/// 2000 ms when extensions are registered).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);

/// The timeline keeps at most this many entries; beyond it the oldest half is dropped (a
/// long-running `kx-events-local run` must not grow without bound).
pub const TIMELINE_CAP: usize = 100_000;

/// Identity of the simulated function, returned to extensions on `register` and used for the
/// invoked function ARN.
#[derive(Debug, Clone)]
pub struct FunctionIdentity {
    /// `functionName` (default `kx-events-consumer`).
    pub function_name: String,
    /// `functionVersion` (default `$LATEST`).
    pub function_version: String,
    /// `handler` (default `bootstrap`).
    pub handler: String,
    /// The account id, returned as `accountId` to extensions that accept the feature
    /// (default `123456789012`, moto's account).
    pub account_id: String,
    /// The region used in the invoked function ARN (default `AWS_REGION`, else `us-east-1`).
    pub region: String,
}

impl Default for FunctionIdentity {
    fn default() -> Self {
        FunctionIdentity {
            function_name: "kx-events-consumer".into(),
            function_version: "$LATEST".into(),
            handler: "bootstrap".into(),
            account_id: "123456789012".into(),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        }
    }
}

impl FunctionIdentity {
    /// `arn:aws:lambda:{region}:{account}:function:{name}`.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }
}

/// Settings of a [`RuntimeApi`].
#[derive(Debug, Clone)]
pub struct RuntimeApiConfig {
    /// The function the API pretends to serve.
    pub identity: FunctionIdentity,
    /// How long [`RuntimeApi::invoke`] waits for the init phase to complete (the runtime and
    /// every extension parked in `next`) before giving up with
    /// [`InvocationOutcome::Timeout`]. Lambda allows 10 s of init.
    pub init_timeout: Duration,
}

impl Default for RuntimeApiConfig {
    fn default() -> Self {
        RuntimeApiConfig {
            identity: FunctionIdentity::default(),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// One invocation request with every optional field of the `next` response.
#[derive(Debug, Clone)]
pub struct Invoke {
    /// The event, sent as the body of the runtime's `next` response.
    pub payload: Value,
    /// The function timeout: the deadline (`Lambda-Runtime-Deadline-Ms`) is now + timeout.
    pub timeout: Duration,
    /// `Lambda-Runtime-Client-Context` (JSON text), if any.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` (JSON text), if any.
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Trace-Id`; a fresh X-Ray id (`Root=1-…;Sampled=0`) when `None`.
    pub trace_id: Option<String>,
}

impl Invoke {
    /// An invocation of `payload` with the given function timeout.
    pub fn new(payload: Value, timeout: Duration) -> Self {
        Invoke {
            payload,
            timeout,
            client_context: None,
            cognito_identity: None,
            trace_id: None,
        }
    }
}

/// An error a runtime reported on `POST /2018-06-01/runtime/init/error`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
    pub error_type: Option<String>,
    /// The body: normally `{"errorType": …, "errorMessage": …}`; a non-JSON body is kept as a
    /// JSON string.
    pub body: Value,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// The runtime posted `…/response`; the body parsed as JSON (a non-JSON body is returned as a
    /// JSON string).
    Response(Value),
    /// The runtime posted `…/error` (body normally `{"errorType", "errorMessage"}`), the response
    /// was too large (`Function.ResponseSizeTooLarge`), or an extension crashed during the
    /// invocation (`Extension.Crash`).
    FunctionError(Value),
    /// The runtime reported an init error before it could take the invocation.
    InitError(InitError),
    /// The invocation did not complete before its deadline (or init did not complete within
    /// [`RuntimeApiConfig::init_timeout`]).
    Timeout,
}

impl InvocationOutcome {
    /// The response body, if the runtime posted one.
    pub fn response(&self) -> Option<&Value> {
        match self {
            InvocationOutcome::Response(value) => Some(value),
            _ => None,
        }
    }
}

/// Something that happened on the protocol, in order; see [`RuntimeApi::timeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolEvent {
    /// The runtime called `GET …/runtime/invocation/next`.
    NextRequested,
    /// The init phase completed: the runtime and every extension were parked in `next`.
    InitCompleted,
    /// An invocation was handed to the runtime (and `INVOKE` to extensions).
    InvocationDispatched {
        /// The Lambda request id.
        request_id: String,
    },
    /// The runtime posted `…/invocation/{id}/response`.
    ResponsePosted {
        /// The Lambda request id.
        request_id: String,
    },
    /// The runtime posted `…/invocation/{id}/error`.
    ErrorPosted {
        /// The Lambda request id.
        request_id: String,
        /// `errorType` from the body (or the header).
        error_type: Option<String>,
    },
    /// The runtime posted `…/runtime/init/error`.
    InitErrorPosted {
        /// `errorType` from the body (or the header).
        error_type: Option<String>,
    },
    /// A post referred to a request id that is not the running invocation (`400`).
    InvalidRequestId {
        /// The id in the path.
        request_id: String,
    },
    /// The invocation completed (the sandbox may freeze).
    InvocationCompleted {
        /// The Lambda request id.
        request_id: String,
    },
    /// The invocation missed its deadline.
    InvocationTimedOut {
        /// The Lambda request id.
        request_id: String,
    },
    /// An extension registered.
    ExtensionRegistered {
        /// `Lambda-Extension-Identifier` given to it.
        extension_id: String,
        /// `Lambda-Extension-Name`.
        name: String,
        /// The events it registered for (`INVOKE`, `SHUTDOWN`).
        events: Vec<String>,
    },
    /// A registration was refused (after init, or malformed).
    ExtensionRegistrationRefused {
        /// `Lambda-Extension-Name`.
        name: String,
        /// Why.
        reason: String,
    },
    /// An extension called `GET /2020-01-01/extension/event/next`.
    ExtensionNextRequested {
        /// Its identifier.
        extension_id: String,
    },
    /// An event was handed to an extension.
    ExtensionEventDelivered {
        /// Its identifier.
        extension_id: String,
        /// `INVOKE` or `SHUTDOWN`.
        event_type: String,
        /// The request id of an `INVOKE`.
        request_id: Option<String>,
    },
    /// An extension posted `/extension/init/error` or `/extension/exit/error`.
    ExtensionErrorPosted {
        /// Its identifier.
        extension_id: String,
        /// `init` or `exit`.
        phase: String,
        /// `Lambda-Extension-Function-Error-Type`.
        error_type: Option<String>,
    },
    /// [`RuntimeApi::shutdown`] sent `SHUTDOWN`.
    ShutdownSent,
    /// [`RuntimeApi::reset`] forgot the environment (a new process is expected).
    Reset,
}

/// A [`ProtocolEvent`] with the time it happened.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub event: ProtocolEvent,
}

/// The Runtime API server. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct RuntimeApi {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    invoke_lock: tokio::sync::Mutex<()>,
    _server: AbortOnDrop,
}

struct Shared {
    config: RuntimeApiConfig,
    started: Instant,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// What the runtime receives from `next`.
#[derive(Debug)]
struct Dispatch {
    request_id: String,
    deadline_ms: u64,
    trace_id: String,
    client_context: Option<String>,
    cognito_identity: Option<String>,
    body: Bytes,
}

#[derive(Default)]
struct State {
    /// The runtime has called `next` at least once: registration is closed.
    runtime_started: bool,
    init_completed: bool,
    runtime_next: Option<oneshot::Sender<Dispatch>>,
    runtime_pending: Option<Dispatch>,
    extensions: Vec<Extension>,
    current: Option<Current>,
    init_error: Option<InitError>,
    timeline: Vec<TimelineEntry>,
}

struct Extension {
    id: String,
    invoke: bool,
    shutdown: bool,
    /// Crashed (posted an error): no longer waited for.
    dead: bool,
    next: Option<oneshot::Sender<Value>>,
    pending: Option<Value>,
}

struct Current {
    request_id: String,
    outcome: Option<InvocationOutcome>,
    crash: Option<Value>,
}

impl State {
    fn record(&mut self, event: ProtocolEvent) {
        tracing::trace!(?event, "runtime API");
        if self.timeline.len() >= TIMELINE_CAP {
            self.timeline.drain(..TIMELINE_CAP / 2);
        }
        self.timeline.push(TimelineEntry {
            at: Instant::now(),
            event,
        });
    }

    fn runtime_parked(&self) -> bool {
        self.runtime_pending.is_none()
            && self.runtime_next.as_ref().is_some_and(|tx| !tx.is_closed())
    }

    fn extensions_parked(&self) -> bool {
        self.extensions
            .iter()
            .filter(|e| !e.dead)
            .all(|e| e.pending.is_none() && e.next.as_ref().is_some_and(|tx| !tx.is_closed()))
    }

    /// The runtime and every live extension are parked in `next`.
    fn ready(&self) -> bool {
        self.runtime_parked() && self.extensions_parked()
    }

    fn deliver_runtime(&mut self) {
        if self.runtime_pending.is_some() {
            if let Some(tx) = self.runtime_next.take() {
                let dispatch = self.runtime_pending.take().expect("checked");
                if let Err(dispatch) = tx.send(dispatch) {
                    // The runtime hung up that `next`; keep the event for its next call.
                    self.runtime_pending = Some(dispatch);
                }
            }
        }
    }

    fn deliver_extension(&mut self, index: usize) {
        let ext = &mut self.extensions[index];
        if ext.pending.is_some() {
            if let Some(tx) = ext.next.take() {
                let event = ext.pending.take().expect("checked");
                let event_type = event["eventType"].as_str().unwrap_or_default().to_string();
                let request_id = event["requestId"].as_str().map(str::to_string);
                let id = ext.id.clone();
                match tx.send(event) {
                    Ok(()) => self.record(ProtocolEvent::ExtensionEventDelivered {
                        extension_id: id,
                        event_type,
                        request_id,
                    }),
                    Err(event) => self.extensions[index].pending = Some(event),
                }
            }
        }
    }

    /// Records `InitCompleted` the first time the init phase is over.
    fn check_init_completed(&mut self) {
        if !self.init_completed && self.runtime_started && self.current.is_none() && self.ready() {
            self.init_completed = true;
            self.record(ProtocolEvent::InitCompleted);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Waits until `done(state)` returns `Some`, or until `deadline`.
    async fn wait_until<T>(
        &self,
        deadline: tokio::time::Instant,
        mut done: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.changed.subscribe();
        // A parked `next` whose client hung up changes no state: poll now and then as well.
        let tick = Duration::from_millis(100);
        loop {
            rx.borrow_and_update();
            if let Some(value) = done(&mut self.lock()) {
                return Some(value);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let wake = deadline.min(now + tick);
            let _ = tokio::time::timeout_at(wake, rx.changed()).await;
        }
    }
}

impl RuntimeApi {
    /// Starts the server on 127.0.0.1 (ephemeral port) with the default configuration.
    pub async fn start() -> Result<RuntimeApi> {
        Self::start_with(RuntimeApiConfig::default()).await
    }

    /// Starts the server on 127.0.0.1 (ephemeral port).
    pub async fn start_with(config: RuntimeApiConfig) -> Result<RuntimeApi> {
        let (listener, addr) = bind_loopback().await?;
        let (changed, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            config,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            changed,
        });
        let handler_shared = shared.clone();
        let server = serve(listener, move |request| {
            let shared = handler_shared.clone();
            async move { handle(&shared, request).await }
        });
        Ok(RuntimeApi {
            inner: Arc::new(Inner {
                addr,
                shared,
                invoke_lock: tokio::sync::Mutex::new(()),
                _server: AbortOnDrop(server),
            }),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.inner.addr.to_string()
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &RuntimeApiConfig {
        &self.inner.shared.config
    }

    /// When the server started.
    pub fn started_at(&self) -> Instant {
        self.inner.shared.started
    }

    /// Invokes the function with `payload` and a function timeout of `timeout`; see
    /// [`RuntimeApi::invoke_with`].
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Result<InvocationOutcome> {
        self.invoke_with(Invoke::new(payload, timeout)).await
    }

    /// Runs one invocation the way Lambda does and returns when it is complete (see the module
    /// documentation): waits for the init phase (or the previous invocation) to be over, hands
    /// the event to the runtime and `INVOKE` to the extensions, then waits until the runtime has
    /// posted its result and asked for its next invocation and every extension has asked for its
    /// next event, or until the deadline. Invocations are serialised (one execution environment
    /// runs one invocation at a time).
    ///
    /// Errors only if the payload is larger than [`MAX_PAYLOAD_BYTES`]; everything the function
    /// does wrong is an [`InvocationOutcome`].
    pub async fn invoke_with(&self, invoke: Invoke) -> Result<InvocationOutcome> {
        let body = Bytes::from(invoke.payload.to_string());
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::RuntimeApi(format!(
                "payload of {} bytes is over Lambda's {} byte limit",
                body.len(),
                MAX_PAYLOAD_BYTES
            )));
        }
        let _serial = self.inner.invoke_lock.lock().await;
        let shared = &self.inner.shared;

        // 1. Init (or the end of the previous invocation).
        let init_deadline = tokio::time::Instant::now() + shared.config.init_timeout;
        let ready = shared
            .wait_until(init_deadline, |state| {
                if let Some(error) = &state.init_error {
                    return Some(Err(error.clone()));
                }
                state.ready().then_some(Ok(()))
            })
            .await;
        match ready {
            None => return Ok(InvocationOutcome::Timeout),
            Some(Err(init_error)) => return Ok(InvocationOutcome::InitError(init_error)),
            Some(Ok(())) => {}
        }

        // 2. Dispatch.
        let request_id = uuid::Uuid::new_v4().to_string();
        let deadline_ms = epoch_ms() + invoke.timeout.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + invoke.timeout;
        let trace_id = invoke.trace_id.clone().unwrap_or_else(new_trace_id);
        let identity = &shared.config.identity;
        {
            let mut state = shared.lock();
            state.check_init_completed();
            state.current = Some(Current {
                request_id: request_id.clone(),
                outcome: None,
                crash: None,
            });
            state.runtime_pending = Some(Dispatch {
                request_id: request_id.clone(),
                deadline_ms,
                trace_id: trace_id.clone(),
                client_context: invoke.client_context.clone(),
                cognito_identity: invoke.cognito_identity.clone(),
                body,
            });
            state.record(ProtocolEvent::InvocationDispatched {
                request_id: request_id.clone(),
            });
            state.deliver_runtime();
            for index in 0..state.extensions.len() {
                let ext = &mut state.extensions[index];
                if ext.dead || !ext.invoke {
                    continue;
                }
                ext.pending = Some(json!({
                    "eventType": "INVOKE",
                    "deadlineMs": deadline_ms,
                    "requestId": request_id,
                    "invokedFunctionArn": identity.function_arn(),
                    "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id},
                }));
                state.deliver_extension(index);
            }
        }
        shared.notify();

        // 3. Wait for completion ("freeze").
        let completed = shared
            .wait_until(deadline, |state| {
                let current = state.current.as_ref()?;
                if let Some(crash) = &current.crash {
                    return Some(InvocationOutcome::FunctionError(crash.clone()));
                }
                let outcome = current.outcome.clone()?;
                state.ready().then_some(outcome)
            })
            .await;
        let mut state = shared.lock();
        state.current = None;
        let outcome = match completed {
            Some(outcome) => {
                state.record(ProtocolEvent::InvocationCompleted { request_id });
                outcome
            }
            None => {
                state.runtime_pending = None;
                for ext in &mut state.extensions {
                    ext.pending = None;
                }
                state.record(ProtocolEvent::InvocationTimedOut { request_id });
                InvocationOutcome::Timeout
            }
        };
        drop(state);
        shared.notify();
        Ok(outcome)
    }

    /// Sends `SHUTDOWN` (reason `spindown`) to every live extension registered for it and waits
    /// up to [`SHUTDOWN_GRACE`] for them to call `event/next` again. Returns whether they all did
    /// (an extension that exits instead makes this wait the full grace period).
    pub async fn shutdown(&self) -> bool {
        let _serial = self.inner.invoke_lock.lock().await;
        let shared = &self.inner.shared;
        let deadline_ms = epoch_ms() + SHUTDOWN_GRACE.as_millis() as u64;
        {
            let mut state = shared.lock();
            state.record(ProtocolEvent::ShutdownSent);
            for index in 0..state.extensions.len() {
                let ext = &mut state.extensions[index];
                if ext.dead || !ext.shutdown {
                    continue;
                }
                ext.pending = Some(json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": "spindown",
                    "deadlineMs": deadline_ms,
                }));
                state.deliver_extension(index);
            }
        }
        shared.notify();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        shared
            .wait_until(deadline, |state| {
                state
                    .extensions
                    .iter()
                    .filter(|e| !e.dead && e.shutdown)
                    .all(|e| e.pending.is_none() && e.next.is_some())
                    .then_some(())
            })
            .await
            .is_some()
    }

    /// Forgets the execution environment — extensions, parked calls, a pending invocation, an
    /// init error — and reopens the init phase. Call it when the function process is replaced.
    pub fn reset(&self) {
        let shared = &self.inner.shared;
        {
            let mut state = shared.lock();
            let timeline = std::mem::take(&mut state.timeline);
            *state = State {
                timeline,
                ..State::default()
            };
            state.record(ProtocolEvent::Reset);
        }
        shared.notify();
    }

    /// Every protocol event so far, oldest first (the last [`TIMELINE_CAP`] at most).
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        self.inner.shared.lock().timeline.clone()
    }

    /// The first timeline entry at or after `since` that matches `predicate`.
    pub fn find_event(
        &self,
        since: Instant,
        predicate: impl Fn(&ProtocolEvent) -> bool,
    ) -> Option<TimelineEntry> {
        self.inner
            .shared
            .lock()
            .timeline
            .iter()
            .find(|entry| entry.at >= since && predicate(&entry.event))
            .cloned()
    }

    /// Waits up to `timeout` for a timeline entry at or after `since` that matches `predicate`.
    pub async fn wait_for_event(
        &self,
        since: Instant,
        timeout: Duration,
        predicate: impl Fn(&ProtocolEvent) -> bool,
    ) -> Option<TimelineEntry> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.inner
            .shared
            .wait_until(deadline, |state| {
                state
                    .timeline
                    .iter()
                    .find(|entry| entry.at >= since && predicate(&entry.event))
                    .cloned()
            })
            .await
    }

    /// The runtime has asked for an invocation at least once since start or the last reset.
    pub fn runtime_started(&self) -> bool {
        self.inner.shared.lock().runtime_started
    }

    /// Number of extensions registered since start or the last reset.
    pub fn extension_count(&self) -> usize {
        self.inner.shared.lock().extensions.len()
    }
}

fn new_trace_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        epoch_ms() / 1000,
        &id[..24],
        &parent[..16]
    )
}

fn error_body(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"errorMessage": message, "errorType": error_type}),
    )
}

fn accepted() -> Response<Body> {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a body as JSON, keeping a non-JSON body as a JSON string.
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

async fn handle(shared: &Arc<Shared>, request: Request<hyper::body::Incoming>) -> Response<Body> {
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

async fn runtime_next(shared: &Arc<Shared>) -> Response<Body> {
    let (tx, rx) = oneshot::channel();
    {
        let mut state = shared.lock();
        state.record(ProtocolEvent::NextRequested);
        state.runtime_started = true;
        state.runtime_next = Some(tx);
        state.deliver_runtime();
        state.check_init_completed();
    }
    shared.notify();
    let Ok(dispatch) = rx.await else {
        // Replaced by a newer `next` or the environment was reset.
        return error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.NextCancelled",
            "this next call was superseded",
        );
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

fn runtime_result(
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

fn runtime_too_large(shared: &Arc<Shared>, request_id: String, size: usize) -> Response<Body> {
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

fn runtime_init_error(shared: &Arc<Shared>, headers: &HeaderMap, bytes: Bytes) -> Response<Body> {
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

fn extension_register(shared: &Arc<Shared>, headers: &HeaderMap, bytes: Bytes) -> Response<Body> {
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

async fn extension_next(shared: &Arc<Shared>, headers: &HeaderMap) -> Response<Body> {
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
    shared.notify();
    let Ok(event) = rx.await else {
        return error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Extension.NextCancelled",
            "this next call was superseded",
        );
    };
    let mut response = json_response(StatusCode::OK, &event);
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response
            .headers_mut()
            .insert("lambda-extension-event-identifier", value);
    }
    response
}

fn extension_error(
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
