//! The SQS batch handler: decode and validate, dead-letter the poison, store the rest in one
//! statement, publish what is stored and not yet on the bus, sweep the outbox, report failures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use kx_events::{TrackedEvent, ON_BUS_ATTRIBUTE};
use tokio::time::Instant;
use tracing::{debug, error, info, info_span, warn};
use uuid::Uuid;

use crate::bus::{Bus, EntryExtras, PublishReport, MAX_ENTRIES_PER_PUT};
use crate::config::Config;
use crate::dlq::{DeadLetterQueue, Poison};
use crate::metrics::{Metrics, Observed};
use crate::store::{NewEvent, Store, StoreStatus};

/// Tunables of [`Consumer`]; [`ConsumerOptions::from_config`] gives the deployed values.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The queue's `maxReceiveCount` (`MAX_RECEIVE_COUNT`).
    pub max_receive_count: u32,
    /// Most stale unpublished rows one invocation sweeps (default 50).
    pub sweep_limit: u32,
    /// A row is stale when it has been unpublished this long (default 60 s): younger rows are
    /// probably being published by the invocation that stored them.
    pub sweep_min_age: Duration,
    /// The time budget when the invocation has no deadline (`Context::default()`, default 30 s).
    pub default_budget: Duration,
    /// Time kept free before the deadline to answer Lambda (default 1 s).
    pub deadline_margin: Duration,
    /// Extra lease time beyond the deadline (default 30 s): a crashed invocation's claims expire
    /// after that.
    pub lease_grace: Duration,
    /// How often (at most) the sweep links children stored without their parent to a parent
    /// stored since by another consumer (default 60 s; zero = every sweep).
    pub orphan_link_interval: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            max_receive_count: 3,
            sweep_limit: 50,
            sweep_min_age: Duration::from_secs(60),
            default_budget: Duration::from_secs(30),
            deadline_margin: Duration::from_secs(1),
            lease_grace: Duration::from_secs(30),
            orphan_link_interval: Duration::from_secs(60),
        }
    }
}

impl ConsumerOptions {
    /// Defaults with the configured `MAX_RECEIVE_COUNT`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_receive_count: config.max_receive_count,
            ..Self::default()
        }
    }
}

/// An invocation that cannot be answered per record: the whole batch will be retried.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// A record has no `messageId`, so it cannot be reported as a batch item failure.
    #[error("record {0} has no messageId; failing the invocation so that nothing is lost")]
    NoMessageId(usize),
}

impl HandlerError {
    /// Always true: a failed invocation makes SQS deliver the whole batch again.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The consumer: store, bus, dead-letter queue. Built once per cold start.
#[derive(Debug, Clone)]
pub struct Consumer {
    store: Store,
    bus: Bus,
    dlq: DeadLetterQueue,
    options: ConsumerOptions,
    last_orphan_link: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
    requeue: Option<Requeue>,
    metrics: Option<Metrics>,
}

/// The system attribute of an SQS message that carries the producer's X-Ray trace header.
pub const TRACE_HEADER_ATTRIBUTE: &str = "AWSTraceHeader";

/// The producer's trace header of a record, if it has one.
fn trace_header(m: &SqsMessage) -> Option<String> {
    m.attributes
        .get(TRACE_HEADER_ATTRIBUTE)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The trace id (`Root=…`) of an X-Ray trace header, e.g. `1-5759e988-bd862e3fe1be46a994272793`.
pub fn trace_id(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .filter(|id| !id.is_empty())
}

/// The span of one record's log lines: its message id, and its event id and `traceId` when
/// known.
fn record_span(message_id: &str, event_id: Option<Uuid>, trace: Option<&str>) -> tracing::Span {
    let span = info_span!(
        "sqs_message",
        message_id = %message_id,
        event_id = tracing::field::Empty,
        traceId = tracing::field::Empty
    );
    if let Some(id) = event_id {
        span.record("event_id", tracing::field::display(id));
    }
    if let Some(t) = trace.and_then(trace_id) {
        span.record("traceId", t);
    }
    span
}

/// Where a valid record goes on its last receive when the database is unavailable: back to the
/// events queue as a new message (a fresh receive count), instead of to the DLQ by redrive.
#[derive(Debug, Clone)]
struct Requeue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    delay: Duration,
}

/// Message attribute counting how often the consumer sent a record back to the queue.
pub const REQUEUED_ATTRIBUTE: &str = "kx-requeued";

struct Valid {
    message_id: String,
    receive_count: u32,
    on_bus: bool,
    requeued: u64,
    body: String,
    event: TrackedEvent,
    trace_header: Option<String>,
}

fn receive_count(m: &SqsMessage) -> u32 {
    m.attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn on_bus(m: &SqsMessage) -> bool {
    m.message_attributes
        .get(ON_BUS_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
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

    /// Sends a valid record that could not be stored on its last receive, because the database
    /// was unavailable (down, `too_many_connections`, a timeout), back to `queue_url` after
    /// `delay` (at most 15 minutes) instead of letting SQS move it to the DLQ: an outage longer
    /// than the retries never dead-letters valid events. The copy carries the record's
    /// `kx-on-bus` attribute and `kx-requeued` (a count). `EVENTS_QUEUE_URL` turns it on.
    pub fn with_requeue(
        mut self,
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        delay: Duration,
    ) -> Self {
        self.requeue = Some(Requeue {
            client,
            queue_url: queue_url.into(),
            delay: delay.min(Duration::from_secs(900)),
        });
        self
    }

    /// Sends `v` back to the events queue; whether that worked.
    async fn requeue(&self, v: &Valid) -> bool {
        let Some(r) = &self.requeue else {
            return false;
        };
        let attribute = |value: String| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(value)
                .build()
        };
        let mut send = r
            .client
            .send_message()
            .queue_url(&r.queue_url)
            .message_body(&v.body)
            .delay_seconds(r.delay.as_secs() as i32);
        match attribute((v.requeued + 1).to_string()) {
            Ok(a) => send = send.message_attributes(REQUEUED_ATTRIBUTE, a),
            Err(_) => return false,
        }
        if v.on_bus {
            if let Ok(a) = aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("true")
                .build()
            {
                send = send.message_attributes(ON_BUS_ATTRIBUTE, a);
            }
        }
        match send.send().await {
            Ok(_) => true,
            Err(e) => {
                warn!(cause = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not send the record back to the queue");
                false
            }
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

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
        let mut poison: Vec<Poison> = Vec::new();
        let mut valid: Vec<Valid> = Vec::new();

        let mut observed = Observed::default();
        let started = Instant::now();
        for (i, record) in event.records.iter().enumerate() {
            let message_id = record
                .message_id
                .clone()
                .ok_or(HandlerError::NoMessageId(i))?;
            let body = record.body.clone().unwrap_or_default();
            match TrackedEvent::decode(body.as_bytes()) {
                Ok((event, coercions)) => {
                    let trace = trace_header(record);
                    let _span =
                        record_span(&message_id, Some(event.event_id), trace.as_deref()).entered();
                    if !coercions.is_empty() {
                        debug!(event_id = %event.event_id, coercions = ?coercions, "accepted as the old system's consumer did");
                    }
                    debug!(event_id = %event.event_id, receive_count = receive_count(record), on_bus = on_bus(record), "record decoded");
                    valid.push(Valid {
                        receive_count: receive_count(record),
                        on_bus: on_bus(record),
                        requeued: record
                            .message_attributes
                            .get(REQUEUED_ATTRIBUTE)
                            .and_then(|a| a.string_value.as_deref())
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                        body: body.clone(),
                        message_id,
                        event,
                        trace_header: trace,
                    })
                }
                Err(error) => {
                    let trace = trace_header(record);
                    let _span = record_span(&message_id, None, trace.as_deref()).entered();
                    warn!(field = error.field(), rule = error.rule().as_str(), reason = %error, "record can never be valid; sending it to the dead-letter queue");
                    poison.push(Poison {
                        message_id,
                        body,
                        error,
                    });
                }
            }
        }

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
        info!(
            received = summary.received,
            stored = summary.stored,
            duplicates = summary.duplicates,
            published = summary.published,
            swept = summary.swept,
            dlq = summary.dlq,
            rejected = summary.rejected,
            requeued = summary.requeued,
            retried = summary.retried,
            publish_failed = summary.publish_failed,
            decode_validate_ms = ms(summary.timings.decode_validate),
            dlq_ms = ms(summary.timings.dlq),
            store_ms = ms(summary.timings.store),
            claim_ms = ms(summary.timings.claim),
            put_events_ms = ms(summary.timings.put_events),
            mark_ms = ms(summary.timings.mark),
            sweep_ms = ms(summary.timings.sweep),
            "batch done"
        );
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

    fn lease(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(Instant::now())
            + self.options.deadline_margin
            + self.options.lease_grace
    }

    /// Claims `ids`, then puts and marks them with `leased` (events whose lease this invocation
    /// holds already); returns the ids that are now on the bus and marked.
    async fn publish(
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
    async fn put_and_mark(
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

    /// The `OutboxBacklog` sample: unpublished rows older than the sweep age, counted up to
    /// [`crate::metrics::BACKLOG_CAP`] on the outbox's partial index; `None` when the count failed.
    async fn outbox_backlog(&self) -> Option<u64> {
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
    async fn sweep(
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
