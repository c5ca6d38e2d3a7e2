//! Flushing and shutting down: the control line between the publisher and the sender, and the
//! process-exit hook.
//!
//! Control requests travel on their own unbounded line, apart from the events, so a flush is
//! never stuck behind a full queue. A flush is answered once every event queued before it is
//! settled (the sender drains the event line first, so "before" is exact); an abandon gives up
//! on every event not sent yet, logging each with the reason, and is answered without waiting on
//! the network. Answers go to an async waiter ([`Reply::Async`]) or to a thread that cannot
//! await ([`Reply::Blocking`]: a guard's drop, the exit hook), which blocks itself, never the
//! sender's thread.
//!
//! A bounded flush is a flush, then, at its deadline, an abandon: what is not sent in time is
//! logged with its id and JSON ([`DEADLINE_REASON`]) rather than held past the deadline.
//!
//! Every running sender is registered in [`LIVE`] with its control line and flush budget. The
//! exit hook (`atexit`, registered once) asks all of them to flush at once when `main` returns
//! or `std::process::exit` runs, waits for each until its own budget, and abandons what is left,
//! so that events still queued at exit are either sent or logged, never silently dropped.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Where the answer to a control request goes: an async waiter or a blocking one (a guard's
/// drop, the exit hook).
pub(super) enum Reply {
    Async(oneshot::Sender<()>),
    Blocking(std::sync::mpsc::Sender<()>),
}

impl Reply {
    pub(super) fn send(self) {
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(());
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

/// A request on the control line.
pub(super) enum Control {
    /// Answer once every event queued before the request is sent or given up on.
    Flush(Reply),
    /// Give up on every event not yet sent, logging each with `reason`, then answer.
    Abandon(String, Reply),
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Control::Flush(_) => "Flush",
            Control::Abandon(..) => "Abandon",
        })
    }
}

/// Why a bounded flush gave up, for the log line of each event.
pub(crate) const DEADLINE_REASON: &str =
    "not sent before the flush deadline (the flush budget or the Lambda invocation's): given up";

/// A bounded flush for a thread that cannot await: flush, wait until `deadline`, then abandon
/// what is left with `reason`. `true` when everything was settled in time.
pub(super) fn flush_blocking(
    control: &mpsc::UnboundedSender<Control>,
    deadline: std::time::Instant,
    reason: &str,
) -> bool {
    let (done, wait) = std::sync::mpsc::channel();
    if control.send(Control::Flush(Reply::Blocking(done))).is_err() {
        return true;
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match wait.recv_timeout(left) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
    }
    let (done, wait) = std::sync::mpsc::channel();
    if control
        .send(Control::Abandon(reason.to_owned(), Reply::Blocking(done)))
        .is_ok()
    {
        // The sender answers an abandon without waiting on the network.
        let _ = wait.recv_timeout(Duration::from_secs(1));
    }
    false
}

/// The senders still running, for the exit hook: (id, control line, flush budget).
type Live = Vec<(u64, mpsc::UnboundedSender<Control>, Duration)>;

static LIVE: Mutex<Live> = Mutex::new(Vec::new());

pub(super) fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the process-exit hook once: when `main` returns (or `std::process::exit` runs),
/// every sender still holding events gets one bounded flush, and what it cannot send is logged
/// with each event's id and JSON instead of vanishing with the process.
pub(super) fn install_exit_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        extern "C" {
            fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
        }
        extern "C" fn at_exit() {
            // Never unwind into C.
            let _ = std::panic::catch_unwind(|| {
                let senders: Live = live().clone();
                let now = std::time::Instant::now();
                // Every sender flushes at once; each is then waited for until its own budget.
                let waits: Vec<_> = senders
                    .iter()
                    .filter_map(|(_, control, budget)| {
                        let (done, wait) = std::sync::mpsc::channel();
                        control
                            .send(Control::Flush(Reply::Blocking(done)))
                            .ok()
                            .map(|()| (control, now + *budget, wait))
                    })
                    .collect();
                for (control, deadline, wait) in waits {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(left)
                    {
                        let (done, wait) = std::sync::mpsc::channel();
                        let reason =
                            "not sent before the process exited (flush budget at exit): given up";
                        if control
                            .send(Control::Abandon(reason.into(), Reply::Blocking(done)))
                            .is_ok()
                        {
                            let _ = wait.recv_timeout(Duration::from_secs(1));
                        }
                    }
                }
            });
        }
        // SAFETY: `atexit` is the C library's (linked by std on every unix target); the
        // callback is a plain `extern "C" fn` that never unwinds.
        #[cfg(unix)]
        unsafe {
            atexit(at_exit);
        }
    });
}
