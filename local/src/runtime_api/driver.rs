//! [`RuntimeApi`]: the server's handle, and the driver that runs Lambda's lifecycle on it.
//!
//! The routes ([`super::runtime`], [`super::extension`]) only record what the runtime and the
//! extensions did; the decisions — when init is over, when an invocation may be dispatched,
//! when it is complete, when it has timed out — are taken here, by waiting on conditions of the
//! shared [`State`](super::state::State) (see [`Shared::wait_until`]). Invocations and
//! `SHUTDOWN` are serialised by one async mutex: an execution environment runs one invocation
//! at a time.

use super::routes::handle;
use super::state::{Current, Dispatch, Shared, State};
use super::{
    InvocationOutcome, Invoke, ProtocolEvent, RuntimeApiConfig, TimelineEntry, MAX_PAYLOAD_BYTES,
    SHUTDOWN_GRACE,
};
use crate::http_util::{bind_loopback, epoch_ms, serve, AbortOnDrop};
use crate::{Error, Result};
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
