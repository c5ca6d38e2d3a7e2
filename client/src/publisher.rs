//! The handler's side of delivery: validate, push onto a bounded in-memory queue, return.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::builder::TrackError;
use crate::config::Config;
use crate::contract::TrackedEvent;
use crate::report;
use crate::sender::{self, Handle};

/// What `track!` and [`publish_event`] did with an event.
///
/// ```
/// use kx_events::{track, ExplicitContext, Tracked};
///
/// match track!(ExplicitContext::new("client_123"), "order", "order_created") {
///     Tracked::Queued(event_id) => println!("queued {event_id}"),
///     Tracked::NotTracked(reason) => println!("not tracked: {reason}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Tracked {
    /// The event is queued for delivery; this is its `eventId` (pass it on as the next
    /// `previousEventId`).
    Queued(Uuid),
    /// Nothing was queued, for this reason (already logged).
    NotTracked(TrackError),
}

impl Tracked {
    /// The id of the queued event, or `None` when nothing was queued.
    pub fn event_id(&self) -> Option<Uuid> {
        match self {
            Tracked::Queued(id) => Some(*id),
            Tracked::NotTracked(_) => None,
        }
    }

    /// `true` when the event was queued.
    pub fn is_queued(&self) -> bool {
        matches!(self, Tracked::Queued(_))
    }

    /// `Ok(event_id)` when queued, the reason otherwise.
    pub fn into_result(self) -> Result<Uuid, TrackError> {
        match self {
            Tracked::Queued(id) => Ok(id),
            Tracked::NotTracked(e) => Err(e),
        }
    }
}

/// Sends tracked events to the events queue (and, when configured, the bus) from a background
/// thread.
///
/// Most programs use the global publisher through `track!`, [`publish_event`] and [`flush`]
/// (configured from the environment, or once with [`init`]). A `Publisher` of your own is for a
/// program that needs two configurations at once.
///
/// ```no_run
/// use kx_events::{Config, Publisher, TrackedEvent};
///
/// # async fn demo() {
/// let publisher = Publisher::new(Config::from_env().with_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/events"));
/// publisher.publish(TrackedEvent::new("client_123", "order", "order_created"));
/// publisher.flush().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    /// `None` when no queue URL is configured: every event is reported instead.
    sender: Option<Handle>,
}

impl Publisher {
    /// A publisher for `config`. Its background thread starts now and loads the AWS SDK
    /// configuration; events published meanwhile wait in the queue.
    pub fn new(config: Config) -> Self {
        let sender = match config.queue_url.clone() {
            None => {
                tracing::warn!(target: "kx_events", "EVENTS_QUEUE_URL is not set: tracked events will be logged, not sent");
                None
            }
            Some(queue_url) => sender::spawn(config.clone(), queue_url),
        };
        Self {
            inner: Arc::new(Inner { config, sender }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Validates `event` and queues it; never waits on the network.
    ///
    /// An invalid event, a full queue or a missing queue URL is logged once (at error level,
    /// with the event's JSON) and returned as [`Tracked::NotTracked`].
    pub fn publish(&self, event: TrackedEvent) -> Tracked {
        if let Err(error) = event.validate() {
            report::lost(&event, &error, None);
            return Tracked::NotTracked(TrackError::Invalid {
                event_id: event.event_id,
                error,
            });
        }
        self.enqueue(event)
    }

    /// Queues an event that has been validated.
    pub(crate) fn enqueue(&self, event: TrackedEvent) -> Tracked {
        let event_id = event.event_id;
        let Some(sender) = &self.inner.sender else {
            let e = TrackError::NotConfigured { event_id };
            report::lost(&event, &e, None);
            return Tracked::NotTracked(e);
        };
        match sender.events.try_send(Box::new(sender::Queued::new(event))) {
            Ok(()) => Tracked::Queued(event_id),
            Err(mpsc::error::TrySendError::Full(event)) => {
                let e = TrackError::QueueFull { event_id };
                report::lost(&event, &e, None);
                Tracked::NotTracked(e)
            }
            Err(mpsc::error::TrySendError::Closed(event)) => {
                let e = TrackError::Stopped { event_id };
                report::lost(&event, &e, None);
                Tracked::NotTracked(e)
            }
        }
    }

    /// Waits until every event published before this call has been sent or given up on (and
    /// logged). Returns at once when nothing is pending or no queue is configured.
    pub async fn flush(&self) {
        if let Some(sender) = &self.inner.sender {
            sender.flush().await;
        }
    }

    /// Like [`Publisher::flush`], but bounded: at `deadline`, every event not sent yet is given
    /// up on and logged (at error level, with its JSON). Returns `true` when everything was sent
    /// (or given up on after its last retry) before the deadline.
    pub async fn flush_before(&self, deadline: std::time::Instant) -> bool {
        match &self.inner.sender {
            Some(sender) => sender.flush_before(deadline).await,
            None => true,
        }
    }

    /// Holds events until the next [`Publisher::flush`] instead of sending them as they come,
    /// so that no send competes with the handler for CPU or network. [`run`](crate::run) turns
    /// it on for the global publisher: it flushes after each response.
    pub fn hold_until_flush(&self) {
        if let Some(sender) = &self.inner.sender {
            sender.hold_until_flush();
        }
    }
}

static GLOBAL: OnceLock<Publisher> = OnceLock::new();

/// The publisher behind `track!`, [`publish_event`] and [`flush`]: the one installed by
/// [`init`], or else one configured with [`Config::from_env`] on first use.
pub fn global() -> &'static Publisher {
    GLOBAL.get_or_init(|| Publisher::new(Config::from_env()))
}

/// The global publisher was already in use when [`init`] was called; the configuration given to
/// `init` was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kx_events::init called after the global publisher was already configured")]
pub struct AlreadyInitialized;

/// Configures the global publisher (queue capacity, batch size, retries, …) before the first
/// event is tracked. Without it, the global publisher reads [`Config::from_env`].
///
/// ```no_run
/// use kx_events::Config;
///
/// kx_events::init(Config::from_env().with_queue_capacity(1_000).with_max_attempts(3)).unwrap();
/// ```
pub fn init(config: Config) -> Result<(), AlreadyInitialized> {
    let mut installed = false;
    GLOBAL.get_or_init(|| {
        installed = true;
        Publisher::new(config)
    });
    if installed {
        Ok(())
    } else {
        Err(AlreadyInitialized)
    }
}

/// Validates a built event and queues it on the global publisher; never waits on the network
/// and never fails the caller (see [`Publisher::publish`]).
///
/// ```
/// use kx_events::{publish_event, EventBuilder, ExplicitContext};
///
/// let ctx = ExplicitContext::new("client_123");
/// if let Ok(event) = EventBuilder::new("payment", "payment_completed").points_awarded(50).build(&ctx) {
///     let tracked = publish_event(event);
///     # let _ = tracked;
/// }
/// ```
pub fn publish_event(event: TrackedEvent) -> Tracked {
    global().publish(event)
}

/// Waits until every event tracked before this call has been sent, or given up on and logged.
///
/// Inside Lambda, [`run`](crate::run) calls it after each response; elsewhere, call it before
/// the program exits.
///
/// ```no_run
/// # async fn demo() {
/// kx_events::track!(kx_events::ExplicitContext::new("client_123"), "job", "job_finished");
/// kx_events::flush().await;
/// # }
/// ```
pub async fn flush() {
    if let Some(p) = GLOBAL.get() {
        p.flush().await;
    }
}

/// [`flush`], bounded: at `deadline`, every event not sent yet is given up on and logged at
/// error level with its JSON, so that nothing is lost silently when the process must stop (see
/// [`Publisher::flush_before`]). [`run`](crate::run) uses it with the invocation's deadline.
///
/// ```no_run
/// use std::time::{Duration, Instant};
///
/// # async fn demo() {
/// let all_sent = kx_events::flush_before(Instant::now() + Duration::from_secs(2)).await;
/// # let _ = all_sent;
/// # }
/// ```
pub async fn flush_before(deadline: std::time::Instant) -> bool {
    match GLOBAL.get() {
        Some(p) => p.flush_before(deadline).await,
        None => true,
    }
}
