//! The background sender: batches queued events into `SendMessageBatch` (and, with a bus,
//! `PutEvents`) calls, retries failures with backoff, and logs every event it gives up on.
//!
//! It runs on a thread of its own with a single-threaded tokio runtime, so it works the same
//! under any caller (a multi-threaded or current-thread runtime, or none) and never competes
//! with the handler's tasks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client as Sqs;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Config, MAX_BATCH};
use crate::contract::{TrackedEvent, ON_BUS_ATTRIBUTE};
use crate::report;

/// The request size limit of `SendMessageBatch` and of `PutEvents` (256 KiB).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The environment variable in which the Lambda runtime puts the invocation's X-Ray trace header
/// (`Context::xray_trace_id`).
pub(crate) const TRACE_HEADER_ENV: &str = "_X_AMZN_TRACE_ID";

/// An event on the publisher's queue, with the X-Ray trace header of the invocation that queued
/// it: the SQS message carries it as the `AWSTraceHeader` system attribute, so the trace goes on
/// through the queue, the consumer and the bus.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) event: TrackedEvent,
    pub(crate) trace_header: Option<String>,
}

impl Queued {
    /// `event` with the trace header of the current invocation (`_X_AMZN_TRACE_ID`), read now:
    /// the sender runs after the response, when the variable may name the next invocation.
    pub(crate) fn new(event: TrackedEvent) -> Self {
        let trace_header = std::env::var(TRACE_HEADER_ENV)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Self {
            event,
            trace_header,
        }
    }
}

impl std::ops::Deref for Queued {
    type Target = TrackedEvent;
    fn deref(&self) -> &TrackedEvent {
        &self.event
    }
}

/// The publisher's side of the sender: a bounded queue of events, an unbounded control line
/// (flush requests), and the switch to hold events until a flush (under Lambda).
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) events: mpsc::Sender<Box<Queued>>,
    control: mpsc::UnboundedSender<Control>,
    hold_until_flush: Arc<AtomicBool>,
}

enum Control {
    /// Answer once every event queued before the request is sent or given up on.
    Flush(oneshot::Sender<()>),
    /// Give up on every event not yet sent, logging each with `reason`, then answer.
    Abandon(String, oneshot::Sender<()>),
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Control::Flush(_) => "Flush",
            Control::Abandon(..) => "Abandon",
        })
    }
}

impl Handle {
    /// Waits until every event queued before the call is sent or given up on.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Flush(done)).is_ok() {
            // An error means the sender is gone, so nothing is pending any more.
            let _ = wait.await;
        }
    }

    /// Like [`Handle::flush`], but at `deadline` gives up on (and logs) whatever is not sent
    /// yet. `true` when everything was sent or given up on in time.
    pub(crate) async fn flush_before(&self, deadline: std::time::Instant) -> bool {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Flush(done)).is_err() {
            return true;
        }
        let deadline = Instant::from_std(deadline);
        if tokio::time::timeout_at(deadline, wait).await.is_ok() {
            return true;
        }
        let (done, wait) = oneshot::channel();
        let reason = "not sent before the flush deadline (e.g. the Lambda invocation's): given up"
            .to_string();
        if self.control.send(Control::Abandon(reason, done)).is_ok() {
            let _ = wait.await;
        }
        false
    }

    /// From now on, send only when flushed (see [`crate::run`]).
    pub(crate) fn hold_until_flush(&self) {
        self.hold_until_flush.store(true, Ordering::Release);
    }
}

/// Starts the sender thread; `None` (after logging) when the thread cannot be started.
pub(crate) fn spawn(config: Config, queue_url: String) -> Option<Handle> {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let hold = Arc::new(AtomicBool::new(false));
    let hold_in_sender = hold.clone();
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
                    drain_unsent(rx, &e);
                    return;
                }
            };
            rt.block_on(async move {
                let clients = Clients::load(&config).await;
                Sender::new(config, queue_url, clients, hold_in_sender)
                    .run(rx, control_rx)
                    .await;
            });
        });
    match started {
        Ok(_) => Some(Handle {
            events: tx,
            control: control_tx,
            hold_until_flush: hold,
        }),
        Err(e) => {
            tracing::error!(target: "kx_events", error = %e, "cannot start the sender thread: events will be logged, not sent");
            None
        }
    }
}

fn drain_unsent(mut rx: mpsc::Receiver<Box<Queued>>, why: &dyn fmt::Display) {
    rx.close();
    while let Ok(e) = rx.try_recv() {
        report::lost(&e, why, None);
    }
}

struct Clients {
    sqs: Sqs,
    bus: Option<EventBridge>,
}

impl Clients {
    async fn load(config: &Config) -> Self {
        let sdk = match &config.sdk_config {
            Some(sdk) => sdk.clone(),
            None => {
                use aws_smithy_http_client::tls;
                // rustls with ring only (no aws-lc, no legacy hyper).
                let https = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .http_client(https)
                    // Retries are ours (per entry, with a bound): one attempt per SDK call.
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_attempt_timeout(Duration::from_secs(10))
                            .build(),
                    );
                if let Some(url) = &config.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            }
        };
        Self {
            sqs: Sqs::new(&sdk),
            bus: config
                .event_bus_name
                .as_ref()
                .map(|_| EventBridge::new(&sdk)),
        }
    }
}

/// One event on its way.
struct Item {
    /// Arrival order, for [`Sender::answer_flushes`].
    seq: u64,
    event: Arc<TrackedEvent>,
    /// The wire JSON, built once.
    body: Arc<str>,
    /// Failed sends so far.
    failures: u32,
    /// The direct bus put was tried (whatever its outcome).
    bus_tried: bool,
    /// The event is on the bus: the SQS message carries [`ON_BUS_ATTRIBUTE`].
    on_bus: bool,
    /// The `AWSTraceHeader` system attribute of the message.
    trace_header: Option<Arc<str>>,
    /// When it may be sent again.
    ready_at: Instant,
}

impl Item {
    /// The size SQS counts for the entry: body plus attribute name, type and value.
    fn sqs_size(&self) -> usize {
        let attr = if self.on_bus {
            ON_BUS_ATTRIBUTE.len() + "String".len() + "true".len()
        } else {
            0
        };
        let trace = self
            .trace_header
            .as_ref()
            .map_or(0, |t| "AWSTraceHeader".len() + "String".len() + t.len());
        self.body.len() + attr + trace
    }
}

struct Sender {
    config: Config,
    queue_url: String,
    clients: Clients,
    /// Ready to send, oldest first.
    ready: VecDeque<Item>,
    /// Waiting out a backoff.
    backing_off: Vec<Item>,
    /// Flush requests: answered once no event with `seq < .0` is left.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    next_seq: u64,
    /// Under Lambda: send only while a flush is pending, after the response.
    hold_until_flush: Arc<AtomicBool>,
    /// The events of the round in flight: (seq, event, body).
    in_flight: Vec<(u64, Arc<TrackedEvent>, Arc<str>)>,
    /// In-flight events already reported lost by an abandon: their outcome is not theirs any more.
    abandoned: std::collections::HashSet<u64>,
}

enum Outcome {
    Sent,
    Failed(String),
}

impl Sender {
    fn new(
        config: Config,
        queue_url: String,
        clients: Clients,
        hold_until_flush: Arc<AtomicBool>,
    ) -> Self {
        Self {
            hold_until_flush,
            config,
            queue_url,
            clients,
            ready: VecDeque::new(),
            backing_off: Vec::new(),
            flushes: Vec::new(),
            next_seq: 0,
            in_flight: Vec::new(),
            abandoned: Default::default(),
        }
    }

    fn accept(&mut self, queued: Box<Queued>) {
        let Queued {
            event,
            trace_header,
        } = *queued;
        let body: Arc<str> = event.to_json().into();
        self.ready.push_back(Item {
            seq: self.next_seq,
            event: Arc::new(event),
            body,
            failures: 0,
            bus_tried: false,
            on_bus: false,
            trace_header: trace_header.map(Arc::from),
            ready_at: Instant::now(),
        });
        self.next_seq += 1;
    }

    /// Takes every event already queued (all that were queued before a flush request).
    fn drain(&mut self, rx: &mut mpsc::Receiver<Box<Queued>>, closed: &mut bool) {
        loop {
            match rx.try_recv() {
                Ok(event) => self.accept(event),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    *closed = true;
                    break;
                }
            }
        }
    }

    /// Answers the flushes whose events have all been sent or given up on.
    fn answer_flushes(&mut self) {
        let oldest = self
            .ready
            .iter()
            .chain(&self.backing_off)
            .map(|i| i.seq)
            .chain(self.in_flight.iter().map(|(seq, ..)| *seq))
            .min()
            .unwrap_or(u64::MAX);
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| *upto <= oldest);
        self.flushes = waiting;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Box<Queued>>,
        mut control_rx: mpsc::UnboundedReceiver<Control>,
    ) {
        let round_max = self.config.batch_size * self.config.max_in_flight;
        // The publisher is gone: send what is left, then stop.
        let mut closed = false;
        // One round in flight at a time (its requests run concurrently); the loop stays free to
        // take flush and abandon requests meanwhile.
        let mut round: Option<tokio::task::JoinHandle<Vec<(Item, Outcome)>>> = None;
        loop {
            let now = Instant::now();
            if !self.backing_off.is_empty() {
                let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.backing_off)
                    .into_iter()
                    .partition(|i| i.ready_at <= now);
                self.backing_off = later;
                self.ready.extend(due);
            }
            self.answer_flushes();
            let hold = self.hold_until_flush.load(Ordering::Acquire);
            let may_send = !hold || !self.flushes.is_empty() || closed;
            if round.is_none() && may_send && !self.ready.is_empty() {
                if !hold {
                    // Take what is already waiting, up to one round, without waiting for more.
                    while !closed && self.ready.len() < round_max {
                        match rx.try_recv() {
                            Ok(event) => self.accept(event),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
                        }
                    }
                }
                let n = self.ready.len().min(round_max);
                let items: Vec<Item> = self.ready.drain(..n).collect();
                self.in_flight = items
                    .iter()
                    .map(|i| (i.seq, i.event.clone(), i.body.clone()))
                    .collect();
                round = Some(tokio::spawn(send_round(self.round_context(), items)));
                continue;
            }
            if closed && round.is_none() && self.ready.is_empty() && self.backing_off.is_empty() {
                break;
            }
            let next_retry = self
                .backing_off
                .iter()
                .map(|i| i.ready_at)
                .min()
                .filter(|_| may_send && round.is_none());
            tokio::select! {
                event = rx.recv(), if !hold && !closed => match event {
                    Some(event) => self.accept(event),
                    None => closed = true,
                },
                request = control_rx.recv(), if !closed => match request {
                    Some(Control::Flush(done)) => {
                        self.drain(&mut rx, &mut closed);
                        self.flushes.push((self.next_seq, done));
                    }
                    Some(Control::Abandon(reason, done)) => {
                        self.drain(&mut rx, &mut closed);
                        self.abandon(&reason);
                        let _ = done.send(());
                    }
                    None => {
                        closed = true;
                        self.drain(&mut rx, &mut closed);
                    }
                },
                results = async {
                    match round.as_mut() {
                        Some(task) => task.await,
                        None => std::future::pending().await,
                    }
                } => {
                    round = None;
                    self.in_flight.clear();
                    match results {
                        Ok(results) => self.settle(results),
                        // A send task panicked (the SDK does not): its events' fate is unknown.
                        Err(e) => tracing::error!(target: "kx_events", error = %e, "a send task failed"),
                    }
                },
                _ = tokio::time::sleep_until(next_retry.unwrap_or(now)), if next_retry.is_some() => {}
            }
            if closed {
                self.drain(&mut rx, &mut closed);
            }
        }
        self.answer_flushes();
    }

    fn round_context(&self) -> Arc<RoundContext> {
        Arc::new(RoundContext {
            sqs: self.clients.sqs.clone(),
            bus: self
                .clients
                .bus
                .clone()
                .zip(self.config.event_bus_name.clone()),
            source: self.config.event_source.clone(),
            queue_url: self.queue_url.clone(),
            batch_size: self.config.batch_size,
        })
    }

    /// Gives up on every event not sent yet, logging each once with its JSON, and answers every
    /// flush. Events of the round in flight may still arrive; that is logged too.
    fn abandon(&mut self, reason: &str) {
        for item in self.ready.drain(..).chain(self.backing_off.drain(..)) {
            report::lost(&item.event, &reason, Some(&item.body));
        }
        for (seq, event, body) in &self.in_flight {
            if self.abandoned.insert(*seq) {
                report::lost(event, &reason, Some(body));
            }
        }
        for (_, done) in self.flushes.drain(..) {
            let _ = done.send(());
        }
    }

    /// Takes a round's outcomes: failed events are scheduled again or given up on.
    fn settle(&mut self, results: Vec<(Item, Outcome)>) {
        let mut retried: Option<(usize, String)> = None;
        for (item, outcome) in results {
            if self.abandoned.remove(&item.seq) {
                if let Outcome::Sent = outcome {
                    report::delivered_after_all(&item.event.event_id);
                }
                continue;
            }
            if let Outcome::Failed(why) = outcome {
                let entry = retried.get_or_insert((0, why.clone()));
                if self.failed(item, why) {
                    entry.0 += 1;
                }
            }
        }
        if let Some((count, why)) = retried.filter(|(count, _)| *count > 0) {
            report::retrying("SendMessageBatch", count, &why);
        }
    }

    /// Schedules another attempt (`true`), or gives up and logs the event with its JSON.
    fn failed(&mut self, mut item: Item, why: String) -> bool {
        item.failures += 1;
        if item.failures >= self.config.max_attempts {
            let reason = format!(
                "gave up after {} attempts; last error: {why}",
                item.failures
            );
            report::lost(&item.event, &reason, Some(&item.body));
            return false;
        }
        item.ready_at = Instant::now() + self.config.backoff(item.failures);
        self.backing_off.push(item);
        true
    }
}

/// What a round needs, shared with its task.
struct RoundContext {
    sqs: Sqs,
    /// The client and the bus name, when events are also put on the bus.
    bus: Option<(EventBridge, String)>,
    source: String,
    queue_url: String,
    batch_size: usize,
}

/// Puts the round's new events on the bus (when configured), then sends all of it to SQS, the
/// batches concurrently. Returns every item with its outcome.
async fn send_round(ctx: Arc<RoundContext>, mut round: Vec<Item>) -> Vec<(Item, Outcome)> {
    if let Some((bus, bus_name)) = &ctx.bus {
        put_on_bus(bus, bus_name, &ctx.source, &mut round).await;
    }
    let mut tasks = JoinSet::new();
    for batch in batches(round, ctx.batch_size) {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let outcomes = send_batch(&ctx.sqs, &ctx.queue_url, &batch).await;
            batch.into_iter().zip(outcomes).collect::<Vec<_>>()
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(results) = joined {
            out.extend(results);
        }
    }
    out
}

/// Splits a round into `SendMessageBatch` calls of at most `size` entries and 256 KiB.
fn batches(round: Vec<Item>, size: usize) -> Vec<Vec<Item>> {
    let mut out: Vec<Vec<Item>> = Vec::new();
    let mut bytes = 0;
    for item in round {
        let s = item.sqs_size();
        match out.last_mut() {
            Some(b) if b.len() < size && bytes + s <= MAX_REQUEST_BYTES => {
                bytes += s;
                b.push(item);
            }
            _ => {
                bytes = s;
                out.push(vec![item]);
            }
        }
    }
    out
}

async fn send_batch(sqs: &Sqs, queue_url: &str, batch: &[Item]) -> Vec<Outcome> {
    let entries: Vec<SendMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&*item.body);
            if item.on_bus {
                entry = entry.message_attributes(
                    ON_BUS_ATTRIBUTE,
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value("true")
                        .build()
                        .expect("data type is set"),
                );
            }
            if let Some(t) = &item.trace_header {
                entry = entry.message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    MessageSystemAttributeValue::builder()
                        .data_type("String")
                        .string_value(&**t)
                        .build()
                        .expect("data type is set"),
                );
            }
            entry.build().expect("id and body are set")
        })
        .collect();
    tracing::debug!(target: "kx_events", operation = "SendMessageBatch", entries = batch.len(), "sending");
    let result = sqs
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await;
    match result {
        Err(e) => {
            let why = format!(
                "SendMessageBatch failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            );
            batch.iter().map(|_| Outcome::Failed(why.clone())).collect()
        }
        Ok(out) => {
            // An entry missing from both lists counts as failed.
            let mut outcomes: Vec<Outcome> = batch
                .iter()
                .map(|_| Outcome::Failed("SendMessageBatch: no result for the entry".into()))
                .collect();
            for ok in out.successful() {
                if let Some(o) = ok
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| outcomes.get_mut(i))
                {
                    *o = Outcome::Sent;
                }
            }
            for f in out.failed() {
                if let Some(o) = f
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| outcomes.get_mut(i))
                {
                    *o = Outcome::Failed(format!(
                        "SendMessageBatch entry failed: {} {}{}",
                        f.code(),
                        f.message().unwrap_or_default(),
                        if f.sender_fault() {
                            " (sender fault)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            outcomes
        }
    }
}

/// Puts the round's events that have not been tried yet on the bus, 10 entries and at most
/// 256 KiB per call, and marks those that made it. A failure is not retried here: the message
/// goes unmarked and the consumer publishes the event.
async fn put_on_bus(bus: &EventBridge, bus_name: &str, source: &str, round: &mut [Item]) {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    let mut entries = Vec::with_capacity(round.len());
    for (i, item) in round.iter_mut().enumerate() {
        if item.bus_tried {
            entries.push(None);
            continue;
        }
        item.bus_tried = true;
        let entry = item.event.bus_entry(source);
        let s = entry.size(bus_name);
        match chunks.last_mut() {
            Some(c) if c.len() < MAX_BATCH && bytes + s <= MAX_REQUEST_BYTES => {
                bytes += s;
                c.push(i);
            }
            _ => {
                bytes = s;
                chunks.push(vec![i]);
            }
        }
        let mut sdk_entry = entry.to_sdk(bus_name);
        // The real-time entry continues the invocation's trace too.
        sdk_entry.trace_header = item.trace_header.as_deref().map(str::to_owned);
        entries.push(Some(sdk_entry));
    }
    let mut tasks = JoinSet::new();
    for chunk in chunks {
        let request: Vec<_> = chunk.iter().filter_map(|&i| entries[i].take()).collect();
        let bus = bus.clone();
        tracing::debug!(target: "kx_events", operation = "PutEvents", entries = request.len(), "sending");
        tasks.spawn(async move {
            let result = bus.put_events().set_entries(Some(request)).send().await;
            (chunk, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((chunk, result)) = joined else {
            continue;
        };
        match result {
            Err(e) => {
                let why = aws_sdk_eventbridge::error::DisplayErrorContext(&e);
                for &i in &chunk {
                    report::bus_put_failed(&round[i].event.event_id, &why);
                }
            }
            Ok(out) => {
                let results = out.entries();
                for (pos, &i) in chunk.iter().enumerate() {
                    match results.get(pos) {
                        Some(r) if r.error_code().is_none() && r.event_id().is_some() => {
                            round[i].on_bus = true;
                        }
                        Some(r) => report::bus_put_failed(
                            &round[i].event.event_id,
                            &format!(
                                "{} {}",
                                r.error_code().unwrap_or_default(),
                                r.error_message().unwrap_or_default()
                            ),
                        ),
                        None => report::bus_put_failed(
                            &round[i].event.event_id,
                            &"PutEvents returned no result for the entry",
                        ),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, body_len: usize) -> Item {
        let event = Arc::new(TrackedEvent::new("c", "order", "order_created"));
        Item {
            seq,
            event,
            body: "x".repeat(body_len).into(),
            failures: 0,
            bus_tried: false,
            on_bus: seq.is_multiple_of(2),
            trace_header: None,
            ready_at: Instant::now(),
        }
    }

    #[test]
    fn batches_respect_the_entry_count_and_the_request_size() {
        let small: Vec<Item> = (0..25).map(|i| item(i, 500)).collect();
        let sizes: Vec<usize> = batches(small, 10).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);

        // 70 KB bodies: three fit in 256 KiB, a fourth does not.
        let big: Vec<Item> = (0..7).map(|i| item(i, 70_000)).collect();
        let out = batches(big, 10);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        for b in &out {
            assert!(b.iter().map(Item::sqs_size).sum::<usize>() <= MAX_REQUEST_BYTES);
        }
        // The order of events is kept.
        let seqs: Vec<u64> = out.iter().flatten().map(|i| i.seq).collect();
        assert_eq!(seqs, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn backoff_doubles_with_jitter_within_the_bound() {
        let c = Config::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..=10u32 {
            let full =
                Duration::from_millis(100 * (1u64 << (attempt - 1))).min(Duration::from_secs(1));
            let d = c.backoff(attempt);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}
