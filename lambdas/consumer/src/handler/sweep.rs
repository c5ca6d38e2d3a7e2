//! The outbox sweep: stale unpublished rows of earlier batches put on the bus, orphans linked to
//! a parent stored since, and the backlog sample for the metrics.

use std::collections::HashMap;

use tokio::time::Instant;
use tracing::{info, warn};
use uuid::Uuid;

use super::{Consumer, PhaseTimings};
use crate::metrics::Observed;
#[cfg(doc)]
use crate::Store;

impl Consumer {
    /// The `OutboxBacklog` sample: unpublished rows older than the sweep age, counted up to
    /// [`crate::metrics::BACKLOG_CAP`] on the outbox's partial index; `None` when the count failed.
    pub(super) async fn outbox_backlog(&self) -> Option<u64> {
        match self
            .store
            .outbox_backlog(self.options.sweep_min_age, crate::metrics::BACKLOG_CAP)
            .await
        {
            Ok(n) => Some(n),
            Err(e) => {
                warn!(cause = %e, "could not sample the outbox backlog");
                None
            }
        }
    }

    /// Links orphans (see [`Store::link_orphans`]) when the interval has passed.
    async fn link_orphans(&self) {
        let due = {
            let mut last = self
                .last_orphan_link
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= self.options.orphan_link_interval);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if !due {
            return;
        }
        match self.store.link_orphans().await {
            Ok(0) => {}
            Ok(n) => info!(
                linked = n,
                "linked events stored without their parent to the parent stored since"
            ),
            Err(e) => warn!(cause = %e, "could not link events stored without their parent"),
        }
    }

    /// Publishes a bounded number of stale unpublished rows of earlier batches. `stale` is the
    /// batch statement's check (`Some(false)`: nothing stale then, no claim statement).
    pub(super) async fn sweep(
        &self,
        deadline: Instant,
        exclude: &[Uuid],
        stale: Option<bool>,
        observed: &mut Observed,
    ) -> usize {
        if self.options.sweep_limit == 0 || Instant::now() >= deadline {
            return 0;
        }
        self.link_orphans().await;
        if stale == Some(false) {
            return 0;
        }
        let claimed = match self
            .store
            .claim_stale(
                self.options.sweep_limit,
                self.options.sweep_min_age,
                self.lease(deadline),
                exclude,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                warn!(cause = %e, "outbox sweep skipped");
                return 0;
            }
        };
        if claimed.is_empty() {
            return 0;
        }
        let (done, rejected) = self
            .put_and_mark(
                &claimed,
                &HashMap::new(),
                deadline,
                &mut PhaseTimings::default(),
                observed,
            )
            .await;
        let n = done.len() - rejected;
        info!(
            claimed = claimed.len(),
            published = n,
            rejected,
            "outbox sweep"
        );
        n
    }
}
