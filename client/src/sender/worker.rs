//! The sender's loop: one task on the sender's thread that owns every event on its way.
//!
//! Events arrive on the event line and wait, oldest first, in `ready`. The loop sends in
//! *rounds*: at most `batch_size × max_in_flight` events at a time, sent by one spawned task
//! (whose `SendMessageBatch` calls run concurrently, after the optional direct bus put). One
//! round is in flight at a time, and the loop stays free meanwhile to take new events and to
//! answer flush and abandon requests.
//!
//! When a round returns, each event is settled: sent, given up on (a permanent error, or its
//! last attempt), or scheduled again after a backoff. Events that failed together wait
//! together (one jittered delay per attempt number and class), so that a retry is one full
//! batch again, not one request per event. Events waiting out their backoff sit in a heap,
//! soonest first, and move back to `ready` when due.
//!
//! Every event has a sequence number; `pending` holds those not settled yet, wherever they are.
//! A flush request records the next sequence number and is answered once no pending event is
//! older, which is exactly "everything queued before the flush". Under Lambda the loop holds
//! events until a flush (after the response), so sending never competes with the handler.
//!
//! An abandon gives up on everything not sent, at once: ready and backing-off events are
//! logged and released, events in flight are logged and marked, and their late outcome is only
//! noted (a success as "delivered after all"), never reported twice.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::queue::{Budget, Head, Item, Waiting};
use super::retry::{Breaker, Class, Outcome};
use super::shutdown::{Control, Reply};
use super::sqs::{send_round, RoundContext};
use super::Clients;
use crate::config::Config;
use crate::report;

/// The state of the sender's loop.
pub(super) struct Sender {
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
    pub(super) fn new(
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
    pub(super) fn answer_flushes(&mut self) {
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

    pub(super) async fn run(
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
        let Some(reason) = self.breaker.refusal(now) else {
            return false;
        };
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
        let mut delays: HashMap<(u32, bool), Instant> = Default::default();
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
        self.breaker.round_done(
            sent,
            permanent,
            self.config.breaker_threshold,
            self.config.breaker_cooldown,
        );
    }

    /// Schedules another attempt (`true`), or gives up and logs the event with its JSON.
    fn failed(
        &mut self,
        mut item: Item,
        why: String,
        throttled: bool,
        delays: &mut HashMap<(u32, bool), Instant>,
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
