//! The background sender: batches queued events into `SendMessageBatch` (and, with a bus,
//! `PutEvents`) calls, retries what may succeed later with backoff, gives up at once on what
//! never will, and logs every event it gives up on.
//!
//! It runs on a thread of its own with a single-threaded tokio runtime, so it works the same
//! under any caller (a multi-threaded or current-thread runtime, or none) and never competes
//! with the handler's tasks.
//!
//! Memory is bounded by a [`Budget`] shared with the publisher: an event counts from the moment
//! it is queued until it is sent or given up on, wherever it is in between (the channel, ready,
//! backing off, in flight), so `queue_capacity` and `queue_max_bytes` hold during an outage too.
//!
//! One file per role, the way a sink is laid out:
//!
//! - this file: the publisher's [`Handle`] (queue an event, flush, flush before a deadline,
//!   hold until a flush), [`spawn`] (the thread and its runtime) and the SDK clients the
//!   sender builds for itself;
//! - [`queue`]: what the sender keeps of an event ([`Head`]), the memory [`Budget`], and the
//!   items on their way (ready or backing off);
//! - [`worker`]: the sender's loop: rounds, settling their outcomes, flushes and abandons;
//! - [`retry`]: error classification (transient, throttled, permanent) and the circuit
//!   breaker over permanent failures;
//! - [`sqs`]: a round, cut into `SendMessageBatch` calls, and the outcome of each entry;
//! - [`bus`]: the direct `PutEvents` of a round's new events, bounded by `bus_put_timeout`;
//! - [`shutdown`]: the control line (flush and abandon requests, answered to async or blocking
//!   waiters) and the process-exit hook that flushes every live sender once.

mod bus;
mod queue;
mod retry;
mod shutdown;
mod sqs;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use aws_sdk_sqs::Client as Sqs;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::Config;

pub(crate) use queue::{Budget, Head};
pub(crate) use shutdown::DEADLINE_REASON;

use shutdown::{flush_blocking, install_exit_hook, live, Control, Reply};
use worker::Sender;

/// The publisher's side of the sender: the event line, an unbounded control line (flush
/// requests), the shared budget, and the switch to hold events until a flush (under Lambda).
#[derive(Debug)]
pub(crate) struct Handle {
    events: mpsc::UnboundedSender<(Head, usize)>,
    control: mpsc::UnboundedSender<Control>,
    pub(crate) budget: Arc<Budget>,
    hold_until_flush: Arc<AtomicBool>,
}

impl Handle {
    /// Queues an event that holds room in the budget; gives it back when the sender is gone.
    pub(crate) fn send(&self, head: Head, cost: usize) -> Result<(), Head> {
        self.events.send((head, cost)).map_err(|e| {
            self.budget.give_back(cost);
            e.0 .0
        })
    }

    /// Waits until every event queued before the call is sent or given up on.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self
            .control
            .send(Control::Flush(Reply::Async(done)))
            .is_ok()
        {
            // An error means the sender is gone, so nothing is pending any more.
            let _ = wait.await;
        }
    }

    /// Like [`Handle::flush`], but at `deadline` gives up on (and logs, with `reason`) whatever
    /// is not sent yet. `true` when everything was sent or given up on in time.
    pub(crate) async fn flush_before(&self, deadline: std::time::Instant, reason: &str) -> bool {
        let (done, wait) = oneshot::channel();
        if self
            .control
            .send(Control::Flush(Reply::Async(done)))
            .is_err()
        {
            return true;
        }
        let deadline = Instant::from_std(deadline);
        if tokio::time::timeout_at(deadline, wait).await.is_ok() {
            return true;
        }
        let (done, wait) = oneshot::channel();
        if self
            .control
            .send(Control::Abandon(reason.to_owned(), Reply::Async(done)))
            .is_ok()
        {
            let _ = wait.await;
        }
        false
    }

    /// [`Handle::flush_before`] for code that cannot await (a drop, the exit hook): blocks the
    /// calling thread, never the sender's.
    pub(crate) fn flush_blocking(&self, deadline: std::time::Instant, reason: &str) -> bool {
        flush_blocking(&self.control, deadline, reason)
    }

    /// From now on, send only when flushed (see [`crate::run`]).
    pub(crate) fn hold_until_flush(&self) {
        self.hold_until_flush.store(true, Ordering::Release);
    }
}

/// Starts the sender thread; `None` (after logging) when the thread cannot be started.
pub(crate) fn spawn(config: Config, queue_url: String) -> Option<Handle> {
    static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) as u64;
    let (tx, rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget::new(config.queue_capacity, config.queue_max_bytes));
    let hold = Arc::new(AtomicBool::new(false));
    let hold_in_sender = hold.clone();
    let budget_in_sender = budget.clone();
    let flush_timeout = config.flush_timeout;
    live().push((id, control_tx.clone(), flush_timeout));
    install_exit_hook();
    let started = std::thread::Builder::new()
        .name("kx-events-sender".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(target: "kx_events", error = %e, "cannot start the sender's runtime: events will be logged, not sent");
                    live().retain(|(i, ..)| *i != id);
                    drain_unsent(rx, &budget_in_sender, &e);
                    return;
                }
            };
            rt.block_on(async move {
                let clients = Clients::load(&config).await;
                Sender::new(config, queue_url, clients, hold_in_sender, budget_in_sender)
                    .run(rx, control_rx)
                    .await;
            });
            live().retain(|(i, ..)| *i != id);
        });
    match started {
        Ok(_) => Some(Handle {
            events: tx,
            control: control_tx,
            budget,
            hold_until_flush: hold,
        }),
        Err(e) => {
            live().retain(|(i, ..)| *i != id);
            tracing::error!(target: "kx_events", error = %e, "cannot start the sender thread: events will be logged, not sent");
            None
        }
    }
}

fn drain_unsent(
    mut rx: mpsc::UnboundedReceiver<(Head, usize)>,
    budget: &Budget,
    why: &dyn fmt::Display,
) {
    rx.close();
    while let Ok((head, cost)) = rx.try_recv() {
        head.lost(why);
        budget.give_back(cost);
    }
}

struct Clients {
    sqs: Sqs,
    bus: Option<EventBridge>,
}

fn default_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build()
}

impl Clients {
    async fn load(config: &Config) -> Self {
        let sdk = match &config.sdk_config {
            Some(sdk) => sdk.clone(),
            None => {
                // rustls with ring only (no aws-lc, no legacy hyper).
                let mut loader = crate::aws::config_loader().timeout_config(default_timeouts());
                if let Some(url) = &config.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            }
        };
        // Retries are ours (per entry, classified, bounded): one attempt per SDK call, whatever
        // configuration the SDK came with, so that attempts never multiply.
        let no_retries = aws_config::retry::RetryConfig::disabled();
        let timeouts = sdk
            .timeout_config()
            .cloned()
            .unwrap_or_else(default_timeouts);
        let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
            .retry_config(no_retries.clone())
            .timeout_config(timeouts.clone())
            .build();
        let bus = config.event_bus_name.as_ref().map(|_| {
            EventBridge::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&sdk)
                    .retry_config(no_retries)
                    .timeout_config(timeouts)
                    .build(),
            )
        });
        Self {
            sqs: Sqs::from_conf(sqs),
            bus,
        }
    }
}
