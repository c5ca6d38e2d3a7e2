//! The SQS batch handler: decode and validate, dead-letter the poison, store the rest in one
//! statement, publish what is stored and not yet on the bus, sweep the outbox, report failures.
//!
//! One invocation ([`Consumer::handle_batch`]) runs these steps, one file each:
//!
//! - `decode`: each record's body becomes a [`kx_events::TrackedEvent`] or poison; a record with
//!   no `messageId` fails the whole invocation ([`HandlerError`]), since it cannot be reported on
//!   its own.
//! - `batch`: the poison goes to the dead-letter queue with its reason; the valid records are
//!   stored in one statement, which also leases the new rows for publishing and says whether the
//!   outbox has stale rows. A record stays a batch item failure until its event is stored and on
//!   the bus (or the bus's refusal is recorded), except on its last receive, when a stored row is
//!   left to the outbox sweep instead of being dead-lettered unpublished.
//! - `publish`: claimed events go on the bus in chunks of [`crate::MAX_ENTRIES_PER_PUT`], and
//!   each chunk is marked published while the next one is put, so that a batch that runs out of
//!   time never puts again what it already put.
//! - `sweep`: a bounded number of stale unpublished rows of earlier batches are claimed and put
//!   on the bus, and children stored without their parent are linked to a parent stored since.
//! - `requeue`: while the database is unavailable, a valid record on its last receive goes back
//!   to the events queue (a fresh receive count) instead of to the DLQ by redrive.
//! - `summary`: the counts and phase timings, logged once per invocation as `batch done` and
//!   written as metrics; `trace`: each record's log lines share a span with its message id, event
//!   id and X-Ray `traceId`.
//!
//! No database call outlives the invocation's deadline less a margin (see
//! [`crate::with_deadline`]); a publish lease lasts until the deadline plus a grace, so a crashed
//! invocation's claims expire on their own.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::bus::Bus;
use crate::dlq::DeadLetterQueue;
use crate::metrics::Metrics;
use crate::store::Store;

mod batch;
mod decode;
mod options;
mod publish;
mod requeue;
mod summary;
mod sweep;
mod trace;

pub use options::{ConsumerOptions, HandlerError};
pub use requeue::REQUEUED_ATTRIBUTE;
pub use summary::{PhaseTimings, Summary};
pub use trace::{trace_id, TRACE_HEADER_ATTRIBUTE};

/// The consumer: store, bus, dead-letter queue. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Consumer {
    store: Store,
    bus: Bus,
    dlq: DeadLetterQueue,
    options: ConsumerOptions,
    /// When the sweep last linked orphans (shared by the clones of one consumer).
    last_orphan_link: Arc<Mutex<Option<Instant>>>,
    requeue: Option<requeue::Requeue>,
    metrics: Option<Metrics>,
}

impl Consumer {
    /// A consumer of `store`, publishing on `bus`, dead-lettering to `dlq`.
    pub fn new(store: Store, bus: Bus, dlq: DeadLetterQueue, options: ConsumerOptions) -> Self {
        Self {
            store,
            bus,
            dlq,
            options,
            last_orphan_link: Default::default(),
            requeue: None,
            metrics: None,
        }
    }

    /// Writes one CloudWatch Embedded Metric Format record per invocation to stdout (see
    /// [`Metrics`]): in Lambda, CloudWatch Logs turns it into metrics, with no API call.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}
