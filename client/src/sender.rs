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

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client as Sqs;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use crate::config::{Config, MAX_BATCH};
use crate::contract::{BusEntry, TrackedEvent, ON_BUS_ATTRIBUTE};
use crate::report;

/// The request size limit of `SendMessageBatch` and of `PutEvents` (256 KiB).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// What an event costs the byte budget beyond its JSON and type names: the sender's bookkeeping.
const ITEM_OVERHEAD: usize = 160;

/// The part of an event the sender keeps: its wire JSON (built once, on the publisher's side)
/// and what a log line or a bus entry needs. The typed event itself is dropped at once.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) id: Uuid,
    entity_type: String,
    event_type: String,
    occurred_at: DateTime<Utc>,
    body: Box<str>,
    /// The X-Ray trace header of the invocation that queued the event: the SQS message carries
    /// it as the `AWSTraceHeader` system attribute (and the real-time bus entry as its
    /// `TraceHeader`), so one trace runs through the queue, the consumer and the bus.
    trace_header: Option<Box<str>>,
}

/// The environment variable in which the Lambda runtime puts the invocation's X-Ray trace header
/// (`Context::xray_trace_id`).
pub(crate) const TRACE_HEADER_ENV: &str = "_X_AMZN_TRACE_ID";

impl Head {
    /// `event`, with the trace header of the current invocation (`_X_AMZN_TRACE_ID`) read now:
    /// the sender runs after the response, when the variable may name the next invocation.
    pub(crate) fn new(event: TrackedEvent) -> Self {
        let body = event.to_json().into_boxed_str();
        let trace_header = std::env::var(TRACE_HEADER_ENV)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(String::into_boxed_str);
        Self {
            id: event.event_id,
            entity_type: event.entity_type,
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            body,
            trace_header,
        }
    }

    /// What the event counts against the byte budget.
    pub(crate) fn cost(&self) -> usize {
        self.body.len()
            + self.entity_type.len()
            + self.event_type.len()
            + self.trace_header.as_ref().map_or(0, |t| t.len())
            + ITEM_OVERHEAD
    }

    fn lost(&self, reason: &dyn fmt::Display) {
        report::lost_parts(
            &self.id,
            &self.entity_type,
            &self.event_type,
            reason,
            &self.body,
        );
    }

    /// Not queued: the memory budget is spent.
    pub(crate) fn lost_full(&self, error: &dyn fmt::Display, full: &Full) {
        self.lost(&format!("{error} ({full})"));
    }

    /// Not queued: the sender has stopped.
    pub(crate) fn lost_stopped(&self, error: &dyn fmt::Display) {
        self.lost(error);
    }

    fn bus_entry(&self, source: &str) -> BusEntry {
        BusEntry {
            source: source.to_owned(),
            detail_type: format!("{}.{}", self.entity_type, self.event_type),
            detail: self.body.to_string(),
            time: self.occurred_at,
        }
    }
}

/// How many events and bytes are held, against their limits. Taken by the publisher when it
/// queues an event, given back by the sender when the event is settled.
#[derive(Debug)]
pub(crate) struct Budget {
    events: AtomicUsize,
    bytes: AtomicUsize,
    max_events: usize,
    max_bytes: usize,
}

/// Which limit a refused event hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Events(usize),
    Bytes(usize),
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::Events(n) => write!(f, "{n} events are already held (queue_capacity)"),
            Full::Bytes(n) => write!(f, "{n} bytes of events are already held (queue_max_bytes)"),
        }
    }
}

impl Budget {
    fn new(max_events: usize, max_bytes: usize) -> Self {
        Self {
            events: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_events,
            max_bytes,
        }
    }

    /// Takes room for one event of `bytes`, or says which limit is reached.
    pub(crate) fn take(&self, bytes: usize) -> Result<(), Full> {
        let events = self.events.fetch_add(1, Ordering::AcqRel);
        if events >= self.max_events {
            self.events.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Events(events));
        }
        let held = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        if held + bytes > self.max_bytes {
            self.bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.events.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Bytes(held));
        }
        Ok(())
    }

    /// Gives back the room of one event of `bytes`.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.events.fetch_sub(1, Ordering::AcqRel);
    }

    /// Events held now.
    pub(crate) fn events(&self) -> usize {
        self.events.load(Ordering::Acquire)
    }
}

/// The publisher's side of the sender: the event line, an unbounded control line (flush
/// requests), the shared budget, and the switch to hold events until a flush (under Lambda).
#[derive(Debug)]
pub(crate) struct Handle {
    events: mpsc::UnboundedSender<(Head, usize)>,
    control: mpsc::UnboundedSender<Control>,
    pub(crate) budget: Arc<Budget>,
    hold_until_flush: Arc<AtomicBool>,
}

/// Where the answer to a control request goes: an async waiter or a blocking one (a guard's
/// drop, the exit hook).
enum Reply {
    Async(oneshot::Sender<()>),
    Blocking(std::sync::mpsc::Sender<()>),
}

impl Reply {
    fn send(self) {
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

enum Control {
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

fn flush_blocking(
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

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the process-exit hook once: when `main` returns (or `std::process::exit` runs),
/// every sender still holding events gets one bounded flush, and what it cannot send is logged
/// with each event's id and JSON instead of vanishing with the process.
fn install_exit_hook() {
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

/// One event on its way.
struct Item {
    /// Arrival order, for [`Sender::answer_flushes`].
    seq: u64,
    head: Arc<Head>,
    /// What it holds of the budget.
    cost: usize,
    /// Failed sends so far.
    failures: u32,
    /// The direct bus put was tried (whatever its outcome).
    bus_tried: bool,
    /// The event is on the bus: the SQS message carries [`ON_BUS_ATTRIBUTE`].
    on_bus: bool,
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
            .head
            .trace_header
            .as_ref()
            .map_or(0, |t| "AWSTraceHeader".len() + "String".len() + t.len());
        self.head.body.len() + attr + trace
    }
}

/// An item waiting out its backoff, ordered by when it may go again (soonest first).
struct Waiting {
    ready_at: Instant,
    item: Item,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.ready_at, self.item.seq) == (other.ready_at, other.item.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ready_at, self.item.seq).cmp(&(other.ready_at, other.item.seq))
    }
}

/// What kind of failure a send met, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// May succeed if tried again: retried with backoff.
    Transient,
    /// The service asks for less traffic: retried with a longer backoff.
    Throttled,
    /// Will fail the same way every time (permissions, a missing queue, a bad request): given
    /// up on at once.
    Permanent,
}

/// Error codes that never succeed on a retry: permissions, a queue that does not exist or is
/// in another region, credentials, KMS keys the role may not use, requests SQS refuses.
const PERMANENT_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NonExistentQueue",
    "InvalidAddress",
    "InvalidSecurity",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsInvalidKeyUsage",
    "KmsInvalidState",
    "KmsNotFound",
    "KmsOptInRequired",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidMessageContents",
    "UnsupportedOperation",
    "ValidationError",
    "ValidationException",
    "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong",
    "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest",
    "InvalidBatchEntryId",
    "RequestEntityTooLarge",
];

/// Error codes that ask the caller to slow down.
const THROTTLING_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "KmsThrottled",
    "OverLimit",
    "RequestLimitExceeded",
    "SlowDown",
];

/// The class of a service error from its code and HTTP status.
pub(crate) fn classify(code: Option<&str>, status: Option<u16>) -> Class {
    if let Some(code) = code {
        // Codes may come qualified (`com.amazonaws.sqs#QueueDoesNotExist`).
        let code = code.rsplit('#').next().unwrap_or(code);
        if THROTTLING_CODES.contains(&code) {
            return Class::Throttled;
        }
        if PERMANENT_CODES.contains(&code) {
            return Class::Permanent;
        }
    }
    match status {
        Some(429) => Class::Throttled,
        Some(400..=499) if code.is_some() && status != Some(408) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// The class of a failed SDK call: a service error by its code, anything else (a timeout, a
/// connection that failed or broke) is transient.
fn classify_sdk<E: ProvideErrorMetadata>(
    e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> Class {
    use aws_sdk_sqs::error::SdkError;
    match e {
        SdkError::ServiceError(service) => {
            classify(service.err().code(), Some(service.raw().status().as_u16()))
        }
        SdkError::ConstructionFailure(_) => Class::Permanent,
        _ => Class::Transient,
    }
}

#[derive(Debug)]
enum Outcome {
    Sent,
    Failed(String, Class),
}

/// The circuit breaker over permanent failures.
#[derive(Debug, Default)]
struct Breaker {
    /// Rounds in a row that sent nothing and failed permanently.
    streak: u32,
    /// Open until then.
    open_until: Option<Instant>,
    /// The last permanent error, for the log lines of events given up on while open.
    last_error: String,
}

struct Sender {
    config: Config,
    queue_url: String,
    clients: Clients,
    budget: Arc<Budget>,
    /// Ready to send, oldest first.
    ready: VecDeque<Item>,
    /// Waiting out a backoff, soonest first.
    backing_off: BinaryHeap<Reverse<Waiting>>,
    /// The sequence numbers of every event not settled yet (ready, backing off, in flight).
    pending: BTreeSet<u64>,
    /// Flush requests: answered once no event with `seq < .0` is left.
    flushes: Vec<(u64, Reply)>,
    next_seq: u64,
    /// Under Lambda: send only while a flush is pending, after the response.
    hold_until_flush: Arc<AtomicBool>,
    /// The events of the round in flight.
    in_flight: Vec<(u64, Arc<Head>, usize)>,
    /// In-flight events already reported lost by an abandon: their outcome is not theirs any more.
    abandoned: HashSet<u64>,
    breaker: Breaker,
}

impl Sender {
    fn new(
        config: Config,
        queue_url: String,
        clients: Clients,
        hold_until_flush: Arc<AtomicBool>,
        budget: Arc<Budget>,
    ) -> Self {
        Self {
            hold_until_flush,
            config,
            queue_url,
            clients,
            budget,
            ready: VecDeque::new(),
            backing_off: BinaryHeap::new(),
            pending: BTreeSet::new(),
            flushes: Vec::new(),
            next_seq: 0,
            in_flight: Vec::new(),
            abandoned: HashSet::new(),
            breaker: Breaker::default(),
        }
    }

    fn accept(&mut self, (head, cost): (Head, usize)) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(seq);
        self.ready.push_back(Item {
            seq,
            head: Arc::new(head),
            cost,
            failures: 0,
            bus_tried: false,
            on_bus: false,
        });
    }

    /// An event leaves the sender (sent or given up on): its room goes back to the budget.
    fn settled(&mut self, seq: u64, cost: usize) {
        self.pending.remove(&seq);
        self.budget.give_back(cost);
    }

    fn give_up(&mut self, item: Item, reason: &dyn fmt::Display) {
        item.head.lost(reason);
        self.settled(item.seq, item.cost);
    }

    /// Takes every event already queued (all that were queued before a flush request).
    fn drain(&mut self, rx: &mut mpsc::UnboundedReceiver<(Head, usize)>, closed: &mut bool) {
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
        let oldest = self.pending.first().copied().unwrap_or(u64::MAX);
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| *upto <= oldest);
        self.flushes = waiting;
        for (_, reply) in done {
            reply.send();
        }
    }

    /// Moves the items whose backoff is over to the ready queue.
    fn wake_due(&mut self, now: Instant) {
        while let Some(Reverse(top)) = self.backing_off.peek() {
            if top.ready_at > now {
                break;
            }
            let Some(Reverse(w)) = self.backing_off.pop() else {
                break;
            };
            self.ready.push_back(w.item);
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<(Head, usize)>,
        mut control_rx: mpsc::UnboundedReceiver<Control>,
    ) {
        let round_max = self.config.batch_size * self.config.max_in_flight;
        // The publisher is gone: send what is left, then stop.
        let mut closed = false;
        let mut control_open = true;
        // One round in flight at a time (its requests run concurrently); the loop stays free to
        // take events, flush and abandon requests meanwhile.
        let mut round: Option<tokio::task::JoinHandle<Vec<(Item, Outcome)>>> = None;
        loop {
            let now = Instant::now();
            self.wake_due(now);
            self.answer_flushes();
            let hold = self.hold_until_flush.load(Ordering::Acquire);
            let may_send = !hold || !self.flushes.is_empty() || closed;
            if round.is_none() && may_send && !self.ready.is_empty() {
                if self.breaker_open(now) {
                    continue;
                }
                // Take what is already waiting, up to one round, without waiting for more.
                while !closed && self.ready.len() < round_max {
                    match rx.try_recv() {
                        Ok(event) => self.accept(event),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
                    }
                }
                let n = self.ready.len().min(round_max);
                let items: Vec<Item> = self.ready.drain(..n).collect();
                self.in_flight = items
                    .iter()
                    .map(|i| (i.seq, i.head.clone(), i.cost))
                    .collect();
                round = Some(tokio::spawn(send_round(self.round_context(), items)));
                continue;
            }
            if closed && round.is_none() && self.pending.is_empty() {
                break;
            }
            let next_retry = self
                .backing_off
                .peek()
                .map(|Reverse(w)| w.ready_at)
                .filter(|_| may_send && round.is_none());
            tokio::select! {
                event = rx.recv(), if !closed => match event {
                    Some(event) => self.accept(event),
                    None => closed = true,
                },
                request = control_rx.recv(), if control_open => match request {
                    Some(Control::Flush(reply)) => {
                        self.drain(&mut rx, &mut closed);
                        self.flushes.push((self.next_seq, reply));
                    }
                    Some(Control::Abandon(reason, reply)) => {
                        self.drain(&mut rx, &mut closed);
                        self.abandon(&reason);
                        reply.send();
                    }
                    None => control_open = false,
                },
                results = async {
                    match round.as_mut() {
                        Some(task) => task.await,
                        None => std::future::pending().await,
                    }
                } => {
                    round = None;
                    let in_flight = std::mem::take(&mut self.in_flight);
                    match results {
                        Ok(results) => self.settle(results),
                        // A send task panicked: what it held may or may not have been sent.
                        Err(e) => {
                            let reason = format!("the send task failed ({e}): delivery unknown, not retried");
                            for (seq, head, cost) in in_flight {
                                if !self.abandoned.remove(&seq) {
                                    head.lost(&reason);
                                }
                                self.settled(seq, cost);
                            }
                        }
                    }
                },
                _ = tokio::time::sleep_until(next_retry.unwrap_or(now)), if next_retry.is_some() => {}
            }
        }
        self.answer_flushes();
    }

    /// With the breaker open, gives up on every ready event without a request (`true`); once
    /// the cooldown is over, lets one round through (`false`).
    fn breaker_open(&mut self, now: Instant) -> bool {
        let Some(until) = self.breaker.open_until else {
            return false;
        };
        if now >= until {
            // Half-open: one round decides. A permanent failure reopens it at once.
            self.breaker.open_until = None;
            return false;
        }
        let reason = format!(
            "not sent: the circuit breaker is open after {} permanent failures in a row (last: {})",
            self.breaker.streak, self.breaker.last_error
        );
        let items: Vec<Item> = self.ready.drain(..).collect();
        for item in items {
            self.give_up(item, &reason);
        }
        true
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
            bus_put_timeout: self.config.bus_put_timeout,
        })
    }

    /// Gives up on every event not sent yet, logging each once with its JSON, and answers every
    /// flush. Events of the round in flight may still arrive; that is logged too.
    fn abandon(&mut self, reason: &str) {
        let mut items: Vec<Item> = self.ready.drain(..).collect();
        items.extend(self.backing_off.drain().map(|Reverse(w)| w.item));
        for item in items {
            self.give_up(item, &reason);
        }
        for (seq, head, _) in &self.in_flight {
            if self.abandoned.insert(*seq) {
                head.lost(&reason);
                // Reported: no flush waits for it any more. Its memory is given back when the
                // round returns.
                self.pending.remove(seq);
            }
        }
        for (_, reply) in self.flushes.drain(..) {
            reply.send();
        }
    }

    /// Takes a round's outcomes: sent events leave, failed ones are scheduled again or given up
    /// on, and the breaker counts rounds that only failed permanently.
    fn settle(&mut self, results: Vec<(Item, Outcome)>) {
        let mut retried: Option<(usize, String)> = None;
        // Events that failed together wait together (one jittered delay per attempt number
        // and class), so that their retry is one full batch, not one request per event.
        let mut delays: std::collections::HashMap<(u32, bool), Instant> = Default::default();
        let mut sent = 0;
        let mut permanent: Option<String> = None;
        for (item, outcome) in results {
            if self.abandoned.remove(&item.seq) {
                if let Outcome::Sent = outcome {
                    report::delivered_after_all(&item.head.id);
                }
                self.settled(item.seq, item.cost);
                continue;
            }
            match outcome {
                Outcome::Sent => {
                    sent += 1;
                    self.settled(item.seq, item.cost);
                }
                Outcome::Failed(why, Class::Permanent) => {
                    let reason = format!("permanent error, not retried: {why}");
                    self.give_up(item, &reason);
                    permanent.get_or_insert(why);
                }
                Outcome::Failed(why, class) => {
                    let entry = retried.get_or_insert((0, why.clone()));
                    if self.failed(item, why, class == Class::Throttled, &mut delays) {
                        entry.0 += 1;
                    }
                }
            }
        }
        if let Some((count, why)) = retried.filter(|(count, _)| *count > 0) {
            report::retrying("SendMessageBatch", count, &why);
        }
        if sent > 0 {
            self.breaker.streak = 0;
        } else if let Some(why) = permanent {
            self.breaker.streak += 1;
            let threshold = self.config.breaker_threshold;
            if threshold > 0 && self.breaker.streak >= threshold {
                let cooldown = self.config.breaker_cooldown;
                self.breaker.open_until = Some(Instant::now() + cooldown);
                report::circuit_opened(self.breaker.streak, cooldown, &why);
            }
            self.breaker.last_error = why;
        }
    }

    /// Schedules another attempt (`true`), or gives up and logs the event with its JSON.
    fn failed(
        &mut self,
        mut item: Item,
        why: String,
        throttled: bool,
        delays: &mut std::collections::HashMap<(u32, bool), Instant>,
    ) -> bool {
        item.failures += 1;
        if item.failures >= self.config.max_attempts {
            let reason = format!(
                "gave up after {} attempts; last error: {why}",
                item.failures
            );
            self.give_up(item, &reason);
            return false;
        }
        let ready_at = *delays
            .entry((item.failures, throttled))
            .or_insert_with(|| Instant::now() + self.config.backoff(item.failures, throttled));
        self.backing_off.push(Reverse(Waiting { ready_at, item }));
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
    bus_put_timeout: Duration,
}

/// Puts the round's new events on the bus (when configured, waiting at most the bus put
/// timeout), then sends all of it to SQS, the batches concurrently. Returns every item with its
/// outcome.
async fn send_round(ctx: Arc<RoundContext>, mut round: Vec<Item>) -> Vec<(Item, Outcome)> {
    if let Some((bus, bus_name)) = &ctx.bus {
        put_on_bus(bus, bus_name, &ctx.source, ctx.bus_put_timeout, &mut round).await;
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
        match joined {
            Ok(results) => out.extend(results),
            // A batch task cannot panic short of a bug; its items are lost from this list, so
            // fail the whole round loudly rather than forget them.
            Err(e) => panic!("a SendMessageBatch task failed: {e}"),
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
                .message_body(&*item.head.body);
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
            if let Some(t) = &item.head.trace_header {
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
            let class = classify_sdk(&e);
            let why = format!(
                "SendMessageBatch failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            );
            batch
                .iter()
                .map(|_| Outcome::Failed(why.clone(), class))
                .collect()
        }
        Ok(out) => {
            // An entry missing from both lists counts as failed.
            let mut outcomes: Vec<Outcome> = batch
                .iter()
                .map(|_| {
                    Outcome::Failed(
                        "SendMessageBatch: no result for the entry".into(),
                        Class::Transient,
                    )
                })
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
                    // An entry the service blames on the sender fails the same way every time,
                    // unless it is throttling.
                    let class = match classify(Some(f.code()), None) {
                        Class::Transient if f.sender_fault() => Class::Permanent,
                        class => class,
                    };
                    *o = Outcome::Failed(
                        format!(
                            "SendMessageBatch entry failed: {} {}{}",
                            f.code(),
                            f.message().unwrap_or_default(),
                            if f.sender_fault() {
                                " (sender fault)"
                            } else {
                                ""
                            }
                        ),
                        class,
                    );
                }
            }
            outcomes
        }
    }
}

/// Puts the round's events that have not been tried yet on the bus, 10 entries and at most
/// 256 KiB per call, and marks those that made it. It waits at most `timeout`: a put that has
/// not answered by then is dropped and its events go to the queue unmarked. A failure is not
/// retried here: the message goes unmarked and the consumer publishes the event.
async fn put_on_bus(
    bus: &EventBridge,
    bus_name: &str,
    source: &str,
    timeout: Duration,
    round: &mut [Item],
) {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    let mut entries = Vec::with_capacity(round.len());
    for (i, item) in round.iter_mut().enumerate() {
        if item.bus_tried {
            entries.push(None);
            continue;
        }
        item.bus_tried = true;
        let entry = item.head.bus_entry(source);
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
        sdk_entry.trace_header = item.head.trace_header.as_deref().map(str::to_owned);
        entries.push(Some(sdk_entry));
    }
    if chunks.is_empty() {
        return;
    }
    let deadline = Instant::now() + timeout;
    let mut waiting: HashSet<usize> = HashSet::new();
    let mut tasks = JoinSet::new();
    for chunk in chunks {
        waiting.extend(chunk.iter().copied());
        let request: Vec<_> = chunk.iter().filter_map(|&i| entries[i].take()).collect();
        let bus = bus.clone();
        tracing::debug!(target: "kx_events", operation = "PutEvents", entries = request.len(), "sending");
        tasks.spawn(async move {
            let result = bus.put_events().set_entries(Some(request)).send().await;
            (chunk, result)
        });
    }
    loop {
        let joined = match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) => {
                // Dropping the set cancels the puts still running.
                tasks.abort_all();
                let why = format!("PutEvents did not answer within {timeout:?} (bus_put_timeout)");
                let mut late: Vec<usize> = waiting.iter().copied().collect();
                late.sort_unstable();
                for i in late {
                    report::bus_put_failed(&round[i].head.id, &why);
                }
                break;
            }
        };
        let Ok((chunk, result)) = joined else {
            continue;
        };
        for i in &chunk {
            waiting.remove(i);
        }
        match result {
            Err(e) => {
                let why = aws_sdk_eventbridge::error::DisplayErrorContext(&e);
                for &i in &chunk {
                    report::bus_put_failed(&round[i].head.id, &why);
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
                            &round[i].head.id,
                            &format!(
                                "{} {}",
                                r.error_code().unwrap_or_default(),
                                r.error_message().unwrap_or_default()
                            ),
                        ),
                        None => report::bus_put_failed(
                            &round[i].head.id,
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
        let mut head = Head::new(TrackedEvent::new("c", "order", "order_created"));
        head.body = "x".repeat(body_len).into();
        Item {
            seq,
            cost: head.cost(),
            head: Arc::new(head),
            failures: 0,
            bus_tried: false,
            on_bus: seq.is_multiple_of(2),
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
            let d = c.backoff(attempt, false);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
            let throttled = c.backoff(attempt, true);
            let full = full * crate::config::THROTTLE_FACTOR;
            assert!(
                throttled >= full / 2 && throttled <= full,
                "throttled attempt {attempt}: {throttled:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        for code in [
            "AccessDenied",
            "AWS.SimpleQueueService.NonExistentQueue",
            "com.amazonaws.sqs#QueueDoesNotExist",
            "InvalidClientTokenId",
            "KmsAccessDenied",
        ] {
            assert_eq!(classify(Some(code), Some(400)), Class::Permanent, "{code}");
        }
        for code in ["RequestThrottled", "ThrottlingException", "KmsThrottled"] {
            assert_eq!(classify(Some(code), Some(400)), Class::Throttled, "{code}");
        }
        assert_eq!(classify(Some("InternalError"), Some(500)), Class::Transient);
        assert_eq!(
            classify(Some("ServiceUnavailable"), Some(503)),
            Class::Transient
        );
        assert_eq!(classify(None, Some(429)), Class::Throttled);
        assert_eq!(classify(Some("SomethingNew"), Some(403)), Class::Permanent);
        assert_eq!(classify(None, Some(408)), Class::Transient);
        assert_eq!(classify(Some("InternalError"), None), Class::Transient);
    }

    #[test]
    fn the_budget_counts_events_and_bytes() {
        let budget = Budget::new(3, 1_000);
        assert!(budget.take(400).is_ok());
        assert!(budget.take(400).is_ok());
        assert_eq!(budget.take(400), Err(Full::Bytes(800)));
        assert!(budget.take(100).is_ok());
        assert_eq!(budget.take(1), Err(Full::Events(3)));
        budget.give_back(400);
        assert_eq!(budget.events(), 2);
        assert!(budget.take(500).is_ok());
    }
}
