//! Putting claimed events on the bus a chunk at a time and marking them published as they go.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kx_events::TrackedEvent;
use tokio::time::Instant;
use tracing::{error, warn};
use uuid::Uuid;

use super::{Consumer, PhaseTimings, Summary};
use crate::bus::{EntryExtras, PublishReport, MAX_ENTRIES_PER_PUT};
use crate::metrics::Observed;
use crate::store::Store;

impl Consumer {
    pub(super) fn lease(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(Instant::now())
            + self.options.deadline_margin
            + self.options.lease_grace
    }

    /// Claims `ids`, then puts and marks them with `leased` (events whose lease this invocation
    /// holds already); returns the ids that are now on the bus and marked.
    pub(super) async fn publish(
        &self,
        ids: &[Uuid],
        leased: Vec<TrackedEvent>,
        traces: &HashMap<Uuid, String>,
        deadline: Instant,
        summary: &mut Summary,
        observed: &mut Observed,
    ) -> HashSet<Uuid> {
        let mut claimed = leased;
        if !ids.is_empty() {
            let started = Instant::now();
            let more = self.store.claim(ids, self.lease(deadline)).await;
            summary.timings.claim += started.elapsed();
            match more {
                Ok(c) => claimed.extend(c),
                Err(e) => error!(cause = %e, "could not claim stored events for publishing"),
            }
        }
        if claimed.is_empty() {
            return HashSet::new();
        }
        let (done, rejected) = self
            .put_and_mark(&claimed, traces, deadline, &mut summary.timings, observed)
            .await;
        summary.published += done.len() - rejected;
        summary.rejected += rejected;
        done
    }

    /// Puts `claimed` on the bus, a chunk at a time, and marks what is put as soon as it is put
    /// (a batch that runs out of time never puts again what it already put): a mark runs beside
    /// the next `PutEvents`, and the chunks put while it runs are marked together by the next
    /// one, so a fast bus costs fewer statements than chunks. Records permanent rejections on
    /// their rows. Returns the ids that need nothing more from the bus (put and marked, or
    /// rejected and recorded) and how many were rejected. Adds its time to
    /// `timings.put_events` and `timings.mark` (the time spent waiting for marks).
    pub(super) async fn put_and_mark(
        &self,
        claimed: &[TrackedEvent],
        traces: &HashMap<Uuid, String>,
        deadline: Instant,
        timings: &mut PhaseTimings,
        observed: &mut Observed,
    ) -> (HashSet<Uuid>, usize) {
        let extras = |e: &TrackedEvent| EntryExtras {
            resources: Vec::new(),
            trace_header: traces.get(&e.event_id).cloned(),
        };
        let mut done = HashSet::new();
        let mut rejected_count = 0;
        // The mark in flight (a task: it runs while the next chunk is put) and what it marks.
        let mut marking: Option<(tokio::task::JoinHandle<bool>, Vec<Uuid>)> = None;
        // Put on the bus, not yet being marked.
        let mut put: Vec<Uuid> = Vec::new();
        let hard = deadline + self.options.deadline_margin / 2;
        let start_mark = |ids: Vec<Uuid>| {
            let store = self.store.clone();
            let marked = ids.clone();
            let task = tokio::spawn(crate::store::with_deadline(
                hard,
                mark_published(store, ids, deadline),
            ));
            (task, marked)
        };
        for (i, chunk) in claimed.chunks(MAX_ENTRIES_PER_PUT).enumerate() {
            if Instant::now() >= deadline {
                let rest: Vec<Uuid> = claimed[i * MAX_ENTRIES_PER_PUT..]
                    .iter()
                    .map(|e| e.event_id)
                    .collect();
                warn!(
                    left = rest.len(),
                    "out of time before the next PutEvents chunk; leaving the rest to a retry"
                );
                if let Err(e) = self.store.release(&rest).await {
                    warn!(cause = %e, "could not release publish leases; they expire on their own");
                }
                break;
            }
            let started = Instant::now();
            // A slow bus must not hold the invocation past its deadline: entries of a call cut
            // short may or may not be on the bus, so they stay in the outbox (at-least-once).
            let report = match tokio::time::timeout_at(
                deadline,
                self.bus.publish_with(chunk, extras, deadline),
            )
            .await
            {
                Ok(report) => report,
                Err(_) => PublishReport {
                    failed: chunk
                        .iter()
                        .map(|e| {
                            (
                                e.event_id,
                                "PutEvents did not answer before the deadline".to_owned(),
                            )
                        })
                        .collect(),
                    ..PublishReport::default()
                },
            };
            timings.put_events += started.elapsed();
            observed.publish_failed += report.failed.len();
            let now = chrono::Utc::now();
            for e in chunk {
                if report.published.contains(&e.event_id) {
                    observed.end_to_end(now - e.occurred_at);
                }
            }
            let started = Instant::now();
            if !report.failed.is_empty() {
                let ids: Vec<Uuid> = report.failed.iter().map(|(id, _)| *id).collect();
                error!(failed = ids.len(), first_error = %report.failed[0].1, "events not put on the bus; they stay in the outbox");
                if let Err(e) = self.store.release(&ids).await {
                    warn!(cause = %e, "could not release publish leases; they expire on their own");
                }
            }
            if !report.rejected.is_empty() {
                for (id, why) in &report.rejected {
                    error!(event_id = %id, error = %why, "the bus refused this event for good; it stays stored, flagged in publish_error, and the sweep skips it (replay it once the cause is fixed)");
                }
                match self.store.mark_rejected(&report.rejected).await {
                    Ok(_) => {
                        rejected_count += report.rejected.len();
                        done.extend(report.rejected.iter().map(|(id, _)| *id));
                    }
                    Err(e) => {
                        warn!(cause = %e, "could not record the rejections; the events will be tried again")
                    }
                }
            }
            put.extend(report.published);
            if marking.as_ref().is_none_or(|(task, _)| task.is_finished()) {
                if let Some((task, ids)) = marking.take() {
                    if task.await.unwrap_or(false) {
                        done.extend(ids);
                    }
                }
                if !put.is_empty() {
                    marking = Some(start_mark(std::mem::take(&mut put)));
                }
            }
            timings.mark += started.elapsed();
        }
        let started = Instant::now();
        if let Some((task, ids)) = marking.take() {
            if task.await.unwrap_or(false) {
                done.extend(ids);
            }
        }
        if !put.is_empty() && mark_published(self.store.clone(), put.clone(), deadline).await {
            done.extend(put);
        }
        timings.mark += started.elapsed();
        (done, rejected_count)
    }
}

/// Marks `ids` published, trying twice more (200 ms apart) while before `deadline`; whether it
/// worked.
async fn mark_published(store: Store, ids: Vec<Uuid>, deadline: Instant) -> bool {
    let mut attempt = 0;
    loop {
        match store.mark_published(&ids).await {
            Ok(_) => return true,
            Err(e) if attempt < 2 && Instant::now() < deadline => {
                warn!(cause = %e, "could not mark published events; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                error!(cause = %e, events = ids.len(), "events are on the bus but could not be marked published; they may be put again (at-least-once)");
                return false;
            }
        }
    }
}
