//! One invocation: decode, dead-letter the poison, store the rest in one statement, publish what
//! is stored and not yet on the bus, sweep the outbox, report the failures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use kx_events::TrackedEvent;
use tokio::time::Instant;
use tracing::{error, info, info_span, warn};
use uuid::Uuid;

use super::decode::{decode, Valid};
use super::trace::record_span;
#[cfg(doc)]
use super::ConsumerOptions;
use super::{Consumer, HandlerError, Summary};
use crate::metrics::Observed;
use crate::store::{NewEvent, StoreStatus};

impl Consumer {
    /// The Lambda handler: `deadline` is the context's (`ctx.deadline`, ms since the epoch; 0
    /// means none, then [`ConsumerOptions::default_budget`] applies).
    pub async fn handle(
        &self,
        event: SqsEvent,
        ctx: &lambda_runtime::Context,
    ) -> Result<SqsBatchResponse, HandlerError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let budget = if ctx.deadline == 0 {
            self.options.default_budget
        } else {
            Duration::from_millis(ctx.deadline.saturating_sub(now_ms))
        };
        let deadline = Instant::now() + budget.saturating_sub(self.options.deadline_margin);
        let (response, _) = self.handle_batch(event, deadline).await?;
        Ok(response)
    }

    /// The handler with an explicit deadline; also returns the summary. No database call outlives
    /// `deadline` (see [`crate::store::with_deadline`]).
    pub async fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Instant,
    ) -> Result<(SqsBatchResponse, Summary), HandlerError> {
        // Database calls may use half of the margin kept before the invocation's end: marking a
        // chunk put just before `deadline` must still happen, or it would be put again.
        let hard = deadline + self.options.deadline_margin / 2;
        crate::store::with_deadline(hard, self.handle_batch_inner(event, deadline)).await
    }

    async fn handle_batch_inner(
        &self,
        event: SqsEvent,
        deadline: Instant,
    ) -> Result<(SqsBatchResponse, Summary), HandlerError> {
        let mut summary = Summary {
            received: event.records.len(),
            ..Summary::default()
        };
        let mut failures: Vec<String> = Vec::new();
        let mut observed = Observed::default();
        let started = Instant::now();
        let (valid, poison) = decode(&event.records)?;

        summary.timings.decode_validate = started.elapsed();

        if !poison.is_empty() {
            let started = Instant::now();
            let failed: HashMap<String, String> =
                self.dlq.send(&poison).await.into_iter().collect();
            for p in &poison {
                match failed.get(&p.message_id) {
                    Some(why) => {
                        let _span = info_span!("sqs_message", message_id = %p.message_id).entered();
                        error!(cause = %why, "could not send the record to the dead-letter queue; it will be retried");
                        failures.push(p.message_id.clone());
                    }
                    None => {
                        summary.dlq += 1;
                        observed.dead_lettered(p.error.rule().as_str());
                    }
                }
            }
            summary.timings.dlq = started.elapsed();
        }

        let mut database_ok = true;
        let mut stale = None;
        if !valid.is_empty() {
            database_ok = self
                .store_and_publish(
                    &valid,
                    deadline,
                    &mut summary,
                    &mut failures,
                    &mut observed,
                    &mut stale,
                )
                .await;
        }
        if database_ok {
            let batch_ids: Vec<Uuid> = valid.iter().map(|v| v.event.event_id).collect();
            let started = Instant::now();
            summary.swept = self.sweep(deadline, &batch_ids, stale, &mut observed).await;
            summary.timings.sweep = started.elapsed();
            if self.metrics.is_some() {
                observed.outbox_backlog = self.outbox_backlog().await;
            }
        }
        summary.retried = failures.len();
        summary.publish_failed = observed.publish_failed + summary.rejected;
        summary.log();
        if let Some(m) = &self.metrics {
            m.write(&summary, &observed);
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        Ok((response, summary))
    }

    async fn store_and_publish(
        &self,
        valid: &[Valid],
        deadline: Instant,
        summary: &mut Summary,
        failures: &mut Vec<String>,
        observed: &mut Observed,
        stale: &mut Option<bool>,
    ) -> bool {
        let max = self.options.max_receive_count;
        let items: Vec<NewEvent> = valid
            .iter()
            .map(|v| NewEvent {
                event: v.event.clone(),
                on_bus: v.on_bus,
                last_receive: v.receive_count >= max,
            })
            .collect();
        let started = Instant::now();
        // New rows take their publish lease in the insert itself, and the same statement tells
        // whether the outbox has stale rows for the sweep.
        let stale_after = (self.options.sweep_limit > 0).then_some(self.options.sweep_min_age);
        let stored = self
            .store
            .insert_and_claim(&items, self.lease(deadline), stale_after)
            .await;
        summary.timings.store = started.elapsed();
        let outcome = match stored {
            Ok(o) => o,
            Err(e) => {
                error!(cause = %e, retryable = e.is_retryable(), records = valid.len(), "could not store the batch; every valid record will be retried");
                for v in valid {
                    if e.is_retryable() && v.receive_count >= max && self.requeue(v).await {
                        let _span = record_span(
                            &v.message_id,
                            Some(v.event.event_id),
                            v.trace_header.as_deref(),
                        )
                        .entered();
                        warn!(receive_count = v.receive_count, requeued = v.requeued + 1, "last receive while the database is unavailable: sent back to the events queue instead of the DLQ");
                        summary.requeued += 1;
                    } else {
                        failures.push(v.message_id.clone());
                    }
                }
                return false;
            }
        };
        *stale = outcome.stale;
        if outcome.linked_children > 0 {
            info!(
                linked = outcome.linked_children,
                "linked earlier events to their late parent"
            );
        }

        // The same eventId with another body, in this batch or stored before: the first copy is
        // kept, never silently.
        let mut first_copy: HashMap<Uuid, &Valid> = HashMap::new();
        for v in valid {
            let id = v.event.event_id;
            match first_copy.get(&id) {
                Some(first) if first.event != v.event => {
                    warn!(event_id = %id, message_id = %v.message_id, first_message_id = %first.message_id, "the same eventId arrived with a different body in one batch; the first copy is kept");
                }
                Some(_) => {}
                None => {
                    if outcome.differs(&id) {
                        warn!(event_id = %id, message_id = %v.message_id, "the same eventId is stored with a different body; the stored (first) copy is kept");
                    }
                    first_copy.insert(id, v);
                }
            }
        }

        // Which records are done once their event is on the bus, and which events to publish.
        let mut counted: HashSet<Uuid> = HashSet::new();
        let mut to_publish: Vec<Uuid> = Vec::new();
        let mut waiting_on_bus: Vec<&Valid> = Vec::new();
        for v in valid {
            let id = v.event.event_id;
            let _span = record_span(&v.message_id, Some(id), v.trace_header.as_deref()).entered();
            let status = outcome.status(&id).unwrap_or(StoreStatus::AlreadyStored);
            let first = counted.insert(id);
            match status {
                StoreStatus::WaitingForParent { missing_parent } => {
                    info!(previous_event_id = %missing_parent, receive_count = v.receive_count, max_receive_count = max, "parent event not stored yet; the record will be retried");
                    failures.push(v.message_id.clone());
                    continue;
                }
                StoreStatus::InsertedUnlinked { missing_parent } if first => {
                    warn!(previous_event_id = %missing_parent, receive_count = v.receive_count, "last receive and the parent event is still missing: stored with previous_event_id NULL, the id kept in unresolved_previous_event_id");
                    summary.stored += 1;
                }
                StoreStatus::Inserted | StoreStatus::InsertedUnlinked { .. } if first => {
                    summary.stored += 1;
                }
                _ => summary.duplicates += 1,
            }
            if outcome.is_published(&id) {
                continue;
            }
            if first {
                to_publish.push(id);
            }
            waiting_on_bus.push(v);
        }

        let traces: HashMap<Uuid, String> = valid
            .iter()
            .filter_map(|v| Some((v.event.event_id, v.trace_header.clone()?)))
            .collect();
        // Rows inserted now are leased already and go on the bus as they came; the others (stored
        // before, not yet published) are claimed first.
        let (leased, to_claim): (Vec<Uuid>, Vec<Uuid>) =
            to_publish.iter().partition(|id| outcome.is_claimed(id));
        let leased: Vec<TrackedEvent> = leased
            .iter()
            .filter_map(|id| first_copy.get(id).map(|v| v.event.clone()))
            .collect();
        let done = self
            .publish(&to_claim, leased, &traces, deadline, summary, observed)
            .await;
        for v in waiting_on_bus {
            if done.contains(&v.event.event_id) {
                // One line per event, so that its traceId finds it in the log.
                let _span = record_span(
                    &v.message_id,
                    Some(v.event.event_id),
                    v.trace_header.as_deref(),
                )
                .entered();
                info!("record done: stored, and put on the bus or its refusal recorded");
                continue;
            }
            let _span = record_span(
                &v.message_id,
                Some(v.event.event_id),
                v.trace_header.as_deref(),
            )
            .entered();
            if v.receive_count >= max {
                // Failing it now would send a stored event to the DLQ unpublished: the row is
                // in the outbox and the sweep of a later invocation publishes it.
                warn!(receive_count = v.receive_count, "stored but not yet on the bus on the last receive; leaving it to the outbox sweep");
            } else {
                warn!(
                    receive_count = v.receive_count,
                    "stored but not yet on the bus; the record will be retried"
                );
                failures.push(v.message_id.clone());
            }
        }
        true
    }
}
