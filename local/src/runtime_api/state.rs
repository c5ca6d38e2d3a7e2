//! The lifecycle state of one execution environment, shared by the driver and the routes.
//!
//! [`State`] is what Lambda knows about the sandbox: whether the runtime has asked for its first
//! invocation (which closes extension registration), the parked `next` calls of the runtime and
//! of every extension (a `oneshot` sender each), the event waiting for each of them, the running
//! invocation and the timeline. Everything is changed under one mutex, and every change is
//! followed by [`Shared::notify`], which wakes the driver's [`Shared::wait_until`]: the driver
//! waits for *conditions on the state* (init over, invocation complete), never for a particular
//! request.
//!
//! "Parked" means a `next` call is waiting and its client has not hung up; an event is handed
//! over (`deliver_*`) as soon as both an event and a parked call exist, in either order.

use super::{
    InitError, InvocationOutcome, ProtocolEvent, RuntimeApiConfig, TimelineEntry, TIMELINE_CAP,
};
use bytes::Bytes;
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The state, the configuration and the change signal: one per server, shared by its handlers
/// and the driver.
pub(super) struct Shared {
    pub(super) config: RuntimeApiConfig,
    pub(super) started: Instant,
    pub(super) state: Mutex<State>,
    pub(super) changed: watch::Sender<u64>,
}

/// What the runtime receives from `next`.
#[derive(Debug)]
pub(super) struct Dispatch {
    pub(super) request_id: String,
    pub(super) deadline_ms: u64,
    pub(super) trace_id: String,
    pub(super) client_context: Option<String>,
    pub(super) cognito_identity: Option<String>,
    pub(super) body: Bytes,
}

/// What Lambda knows about the execution environment (see the module documentation).
#[derive(Default)]
pub(super) struct State {
    /// The runtime has called `next` at least once: registration is closed.
    pub(super) runtime_started: bool,
    pub(super) init_completed: bool,
    pub(super) runtime_next: Option<oneshot::Sender<Dispatch>>,
    pub(super) runtime_pending: Option<Dispatch>,
    pub(super) extensions: Vec<Extension>,
    pub(super) current: Option<Current>,
    pub(super) init_error: Option<InitError>,
    pub(super) timeline: Vec<TimelineEntry>,
}

/// A registered extension.
pub(super) struct Extension {
    pub(super) id: String,
    pub(super) invoke: bool,
    pub(super) shutdown: bool,
    /// Crashed (posted an error): no longer waited for.
    pub(super) dead: bool,
    pub(super) next: Option<oneshot::Sender<Value>>,
    pub(super) pending: Option<Value>,
}

/// The running invocation.
pub(super) struct Current {
    pub(super) request_id: String,
    pub(super) outcome: Option<InvocationOutcome>,
    pub(super) crash: Option<Value>,
}

impl State {
    pub(super) fn record(&mut self, event: ProtocolEvent) {
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
    pub(super) fn ready(&self) -> bool {
        self.runtime_parked() && self.extensions_parked()
    }

    pub(super) fn deliver_runtime(&mut self) {
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

    pub(super) fn deliver_extension(&mut self, index: usize) {
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
    pub(super) fn check_init_completed(&mut self) {
        if !self.init_completed && self.runtime_started && self.current.is_none() && self.ready() {
            self.init_completed = true;
            self.record(ProtocolEvent::InitCompleted);
        }
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Waits until `done(state)` returns `Some`, or until `deadline`.
    pub(super) async fn wait_until<T>(
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
