//! The counts and phase timings of one invocation, and its `batch done` log line.

use std::time::Duration;

#[cfg(doc)]
use crate::{Consumer, Store};
use tracing::info;

/// The counts of one invocation, also logged as its summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records in the batch.
    pub received: usize,
    /// New rows.
    pub stored: usize,
    /// Records whose event was already stored, or repeated in the batch.
    pub duplicates: usize,
    /// Events of this batch put on the bus now.
    pub published: usize,
    /// Stale rows of earlier batches put on the bus by the sweep.
    pub swept: usize,
    /// Records sent to the DLQ.
    pub dlq: usize,
    /// Valid records sent back to the events queue on their last receive while the database
    /// was unavailable (see [`Consumer::with_requeue`]).
    pub requeued: usize,
    /// Stored events the bus refused for good (recorded on their rows, skipped by the sweep).
    pub rejected: usize,
    /// Records reported as batch item failures (SQS delivers them again).
    pub retried: usize,
    /// Events not put on the bus this time after every retry (they stay in the outbox), plus
    /// those the bus refused for good (`rejected`).
    pub publish_failed: usize,
    /// Wall time of each phase of the invocation.
    pub timings: PhaseTimings,
}

/// Wall time of each phase of one [`Consumer::handle_batch`], measured inside it (a phase that did
/// not run is zero). The phases run one after the other; their sum is close to the handler's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimings {
    /// Decoding and validating the records' bodies.
    pub decode_validate: Duration,
    /// Sending the records that can never be valid to the dead-letter queue.
    pub dlq: Duration,
    /// Storing the valid records ([`Store::insert_batch`]).
    pub store: Duration,
    /// Claiming the batch's stored, unpublished events for the bus ([`Store::claim`]).
    pub claim: Duration,
    /// Putting the batch's claimed events on the bus (`PutEvents`, retries included).
    pub put_events: Duration,
    /// Marking the batch's put events published ([`Store::mark_published`], retries included),
    /// and releasing the leases of failed puts.
    pub mark: Duration,
    /// The outbox sweep as a whole: its claim, put and mark (not counted in the phases above).
    pub sweep: Duration,
}

impl PhaseTimings {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.decode_validate
            + self.dlq
            + self.store
            + self.claim
            + self.put_events
            + self.mark
            + self.sweep
    }
}

impl Summary {
    /// The invocation's `batch done` log line: the counts and each phase's time in ms.
    pub(super) fn log(&self) {
        info!(
            received = self.received,
            stored = self.stored,
            duplicates = self.duplicates,
            published = self.published,
            swept = self.swept,
            dlq = self.dlq,
            rejected = self.rejected,
            requeued = self.requeued,
            retried = self.retried,
            publish_failed = self.publish_failed,
            decode_validate_ms = ms(self.timings.decode_validate),
            dlq_ms = ms(self.timings.dlq),
            store_ms = ms(self.timings.store),
            claim_ms = ms(self.timings.claim),
            put_events_ms = ms(self.timings.put_events),
            mark_ms = ms(self.timings.mark),
            sweep_ms = ms(self.timings.sweep),
            "batch done"
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
