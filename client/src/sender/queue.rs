//! What the sender holds of an event, and how much of it: the memory budget.
//!
//! The publisher turns a [`TrackedEvent`] into a [`Head`] at once: its wire JSON, built once on
//! the caller's side, plus the few fields a log line or a bus entry needs, and the X-Ray trace
//! header of the invocation that queued it. The typed event is dropped there, so the sender's
//! thread never serialises and never holds more than the bytes it will send.
//!
//! The [`Budget`] is shared by both sides: the publisher takes room for an event before it
//! queues it (and refuses the event, logging it, when a limit is reached); the sender gives the
//! room back only when the event is settled (sent or given up on). An event therefore counts
//! wherever it is in between (the channel, ready, backing off, in flight), and the limits hold
//! during an outage, when nothing leaves.
//!
//! On the sender's side an event is an [`Item`]: the shared head, its cost, its arrival order
//! and its attempts so far. Items waiting out a backoff are [`Waiting`], ordered soonest first
//! for the sender's heap.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::contract::{BusEntry, TrackedEvent, ON_BUS_ATTRIBUTE};
use crate::report;

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
    pub(super) body: Box<str>,
    /// The X-Ray trace header of the invocation that queued the event: the SQS message carries
    /// it as the `AWSTraceHeader` system attribute (and the real-time bus entry as its
    /// `TraceHeader`), so one trace runs through the queue, the consumer and the bus.
    pub(super) trace_header: Option<Box<str>>,
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

    pub(super) fn lost(&self, reason: &dyn fmt::Display) {
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

    pub(super) fn bus_entry(&self, source: &str) -> BusEntry {
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
    pub(super) fn new(max_events: usize, max_bytes: usize) -> Self {
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

/// One event on its way.
pub(super) struct Item {
    /// Arrival order, for [`Sender::answer_flushes`](super::worker::Sender::answer_flushes).
    pub(super) seq: u64,
    pub(super) head: Arc<Head>,
    /// What it holds of the budget.
    pub(super) cost: usize,
    /// Failed sends so far.
    pub(super) failures: u32,
    /// The direct bus put was tried (whatever its outcome).
    pub(super) bus_tried: bool,
    /// The event is on the bus: the SQS message carries [`ON_BUS_ATTRIBUTE`].
    pub(super) on_bus: bool,
}

impl Item {
    /// The size SQS counts for the entry: body plus attribute name, type and value.
    pub(super) fn sqs_size(&self) -> usize {
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
pub(super) struct Waiting {
    pub(super) ready_at: Instant,
    pub(super) item: Item,
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

#[cfg(test)]
mod tests {
    use super::*;

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
