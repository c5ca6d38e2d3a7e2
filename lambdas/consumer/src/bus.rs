//! Putting events on the EventBridge bus: chunks of at most 10 entries and under the 256 KB
//! request limit, every result entry checked, failed entries retried with backoff.

use std::time::Duration;

use aws_sdk_eventbridge::error::DisplayErrorContext;
use kx_events::{BusEntry, TrackedEvent};
use tokio::time::Instant;
use uuid::Uuid;

/// Most entries in one `PutEvents` call (EventBridge's limit).
pub const MAX_ENTRIES_PER_PUT: usize = 10;
/// Most bytes of entries in one `PutEvents` call (EventBridge's limit, 256 KB).
pub const MAX_PUT_BYTES: usize = 256 * 1024;

/// What [`Bus::publish`] achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Events EventBridge accepted.
    pub published: Vec<Uuid>,
    /// Events still not accepted after the last attempt, with the last error (throttling,
    /// internal errors, failed calls: a later attempt may succeed).
    pub failed: Vec<(Uuid, String)>,
    /// Events the bus refused for good (a per-entry error no retry fixes, such as
    /// `ValidationException` or `NotAuthorizedForDetailTypeException`, or an event the bus cannot
    /// carry), with `code: message`. Not retried.
    pub rejected: Vec<(Uuid, String)>,
    /// Entries sent again after a failure (summed over attempts).
    pub retried_entries: usize,
}

/// Per-entry `PutEvents` error codes that a later attempt may not get: throttling and the
/// service's own failures. Every other entry error code is permanent for that entry.
pub const TRANSIENT_ENTRY_ERRORS: &[&str] = &[
    "ThrottlingException",
    "InternalFailure",
    "InternalException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// The error code recorded for an event the bus cannot carry (checked before any call).
pub const UNPUBLISHABLE: &str = "kx.Unpublishable";

/// Why EventBridge could not take `event` as an entry's `Detail`, if it could not: an integer
/// outside the signed 64-bit range that `PutEvents` accepts for JSON integers.
pub fn unpublishable(event: &TrackedEvent) -> Option<String> {
    fn walk(path: &mut String, v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Number(n) if n.is_u64() && n.as_i64().is_none() => Some(format!(
                "{path}: the integer {n} is outside the range EventBridge accepts ({} to {})",
                i64::MIN,
                i64::MAX
            )),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(path, item);
                path.truncate(len);
                found
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                let found = walk(path, item);
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    let mut path = String::from("metadata");
    if let Some(m) = &event.metadata {
        if let Some(why) = walk(&mut path, &serde_json::Value::Object(m.clone())) {
            return Some(why);
        }
    }
    event.extra.iter().find_map(|(k, v)| {
        let mut path = k.clone();
        walk(&mut path, v)
    })
}

/// What an entry carries besides the event: `Resources` and the X-Ray `TraceHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryExtras {
    /// The entry's `Resources` (delivered to subscribers in the envelope's `resources`).
    pub resources: Vec<String>,
    /// The entry's `TraceHeader` (`Root=1-…;Parent=…;Sampled=…`), continuing the producer's trace.
    pub trace_header: Option<String>,
}

/// One entry on its way to the bus.
#[derive(Debug, Clone)]
struct Pending {
    id: Uuid,
    entry: BusEntry,
    extras: EntryExtras,
}

impl Pending {
    /// EventBridge's entry size: [`BusEntry::size`] plus the `Resources`.
    fn size(&self, bus_name: &str) -> usize {
        self.entry.size(bus_name) + self.extras.resources.iter().map(String::len).sum::<usize>()
    }

    fn to_sdk(&self, bus_name: &str) -> aws_sdk_eventbridge::types::PutEventsRequestEntry {
        let mut e = self.entry.to_sdk(bus_name);
        if !self.extras.resources.is_empty() {
            e.resources = Some(self.extras.resources.clone());
        }
        e.trace_header = self.extras.trace_header.clone();
        e
    }
}

/// Splits items of `sizes` into runs of at most 10 items and [`MAX_PUT_BYTES`]; returns the
/// runs' `(start, end)` index ranges.
fn chunk_ranges(sizes: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    let mut len = 0;
    for (i, size) in sizes.enumerate() {
        if i > start && (i - start == MAX_ENTRIES_PER_PUT || bytes + size > MAX_PUT_BYTES) {
            out.push((start, i));
            start = i;
            bytes = 0;
        }
        bytes += size;
        len = i + 1;
    }
    if start < len {
        out.push((start, len));
    }
    out
}

/// The EventBridge bus the consumer puts events on.
#[derive(Debug, Clone)]
pub struct Bus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    source: String,
    max_attempts: u32,
    first_backoff: Duration,
}

impl Bus {
    /// A bus `bus_name`; entries get `Source` = `source`.
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus_name: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
            source: source.into(),
            max_attempts: 4,
            first_backoff: Duration::from_millis(100),
        }
    }

    /// Sets how many times an entry is tried at most (default 4) and the first backoff (default
    /// 100 ms, doubling).
    pub fn with_retries(mut self, max_attempts: u32, first_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }

    /// The bus name.
    pub fn name(&self) -> &str {
        &self.bus_name
    }

    /// The entries' `Source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Splits entries into `PutEvents` requests: at most 10 entries and [`MAX_PUT_BYTES`] each.
    pub fn chunks<'a>(&self, entries: &'a [(Uuid, BusEntry)]) -> Vec<&'a [(Uuid, BusEntry)]> {
        chunk_ranges(entries.iter().map(|(_, e)| e.size(&self.bus_name)))
            .into_iter()
            .map(|(a, b)| &entries[a..b])
            .collect()
    }

    /// Puts `events` on the bus. Entries that fail (a failed result entry, or a failed call) are
    /// retried with exponential backoff while attempts remain and the next try can finish before
    /// `deadline`.
    pub async fn publish(&self, events: &[TrackedEvent], deadline: Instant) -> PublishReport {
        self.publish_with(events, |_| EntryExtras::default(), deadline)
            .await
    }

    /// [`Bus::publish`], each entry with the `Resources` and `TraceHeader` that `extras` gives
    /// for its event.
    pub async fn publish_with(
        &self,
        events: &[TrackedEvent],
        extras: impl Fn(&TrackedEvent) -> EntryExtras,
        deadline: Instant,
    ) -> PublishReport {
        let mut report = PublishReport::default();
        let mut pending: Vec<Pending> = Vec::with_capacity(events.len());
        for e in events {
            match unpublishable(e) {
                Some(why) => report
                    .rejected
                    .push((e.event_id, format!("{UNPUBLISHABLE}: {why}"))),
                None => pending.push(Pending {
                    id: e.event_id,
                    entry: e.bus_entry(&self.source),
                    extras: extras(e),
                }),
            }
        }
        if pending.is_empty() {
            return report;
        }
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            let mut failed: Vec<(Pending, String)> = Vec::new();
            let ranges = chunk_ranges(pending.iter().map(|p| p.size(&self.bus_name)));
            for (a, b) in ranges {
                let (ok, bad) = self.put_chunk(&pending[a..b]).await;
                report.published.extend(ok);
                for (entry, why, transient) in bad {
                    if transient {
                        failed.push((entry, why));
                    } else {
                        report.rejected.push((entry.id, why));
                    }
                }
            }
            if failed.is_empty() {
                break;
            }
            let out_of_time = Instant::now() + backoff >= deadline;
            if attempt >= self.max_attempts || out_of_time {
                for (p, why) in failed {
                    report.failed.push((p.id, why));
                }
                break;
            }
            tracing::warn!(
                failed = failed.len(),
                attempt,
                backoff_ms = backoff.as_millis() as u64,
                first_error = %failed[0].1,
                "PutEvents entries failed; retrying"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            attempt += 1;
            report.retried_entries += failed.len();
            pending = failed.into_iter().map(|(e, _)| e).collect();
        }
        report
    }

    /// One `PutEvents` call: the ids accepted, and the entries that failed with their error and
    /// whether the failure is transient (a failed call always is).
    async fn put_chunk(&self, chunk: &[Pending]) -> (Vec<Uuid>, Vec<(Pending, String, bool)>) {
        let entries = chunk
            .iter()
            .map(|p| p.to_sdk(&self.bus_name))
            .collect::<Vec<_>>();
        let result = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        let all_failed = |why: String| {
            (
                Vec::new(),
                chunk
                    .iter()
                    .map(|e| (e.clone(), why.clone(), true))
                    .collect(),
            )
        };
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                return all_failed(format!(
                    "PutEvents failed: {}",
                    DisplayErrorContext(&e).to_string().replace('\n', " ")
                ))
            }
        };
        let results = out.entries();
        if results.len() != chunk.len() {
            return all_failed(format!(
                "PutEvents returned {} result entries for {} entries",
                results.len(),
                chunk.len()
            ));
        }
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (entry, result) in chunk.iter().zip(results) {
            match (result.event_id(), result.error_code()) {
                (Some(_), None) => ok.push(entry.id),
                (_, code) => bad.push((
                    entry.clone(),
                    format!(
                        "{}: {}",
                        code.unwrap_or("NoEventId"),
                        result.error_message().unwrap_or("no message")
                    ),
                    // An entry without an error code (no id either) is the service's fault.
                    code.is_none_or(|c| TRANSIENT_ENTRY_ERRORS.contains(&c)),
                )),
            }
        }
        (ok, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn bus() -> Bus {
        let conf = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        Bus::new(
            aws_sdk_eventbridge::Client::from_conf(conf),
            "kx-events",
            kx_events::DEFAULT_EVENT_SOURCE,
        )
    }

    fn entries(n: usize, metadata_bytes: usize) -> Vec<(Uuid, BusEntry)> {
        (0..n)
            .map(|_| {
                let mut e = TrackedEvent::new("c", "order", "order_created");
                let mut m = Map::new();
                m.insert("blob".into(), json!("x".repeat(metadata_bytes)));
                e.metadata = Some(m);
                (e.event_id, e.bus_entry(kx_events::DEFAULT_EVENT_SOURCE))
            })
            .collect()
    }

    #[test]
    fn integers_outside_the_signed_64_bit_range_cannot_go_on_the_bus() {
        let mut e = TrackedEvent::new("c", "order", "order_created");
        let mut m = Map::new();
        m.insert("ok".into(), json!(i64::MAX));
        m.insert("neg".into(), json!(i64::MIN));
        m.insert("float".into(), json!(1e300));
        e.metadata = Some(m.clone());
        assert_eq!(unpublishable(&e), None);
        m.insert("deep".into(), json!({"list": [1, u64::MAX]}));
        e.metadata = Some(m);
        let why = unpublishable(&e).unwrap();
        assert!(
            why.starts_with("metadata.deep.list[1]: the integer 18446744073709551615"),
            "{why}"
        );
    }

    #[test]
    fn chunks_hold_at_most_ten_entries() {
        let b = bus();
        let all = entries(25, 10);
        let sizes: Vec<usize> = b.chunks(&all).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
    }

    #[test]
    fn chunks_stay_under_the_request_limit() {
        let b = bus();
        // Events at the contract's metadata cap: three fit in 256 KB, four do not.
        let all = entries(7, kx_events::MAX_METADATA_BYTES - 20);
        let chunks = b.chunks(&all);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        for c in chunks {
            let bytes: usize = c.iter().map(|(_, e)| e.size(b.name())).sum();
            assert!(bytes <= MAX_PUT_BYTES, "{bytes}");
        }
    }
}
