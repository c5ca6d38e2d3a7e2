//! The direct bus put: a round's new events go to EventBridge before they go to the queue.
//!
//! With `event_bus_name` set, subscribers get an event within the producer's own request rather
//! than after the consumer has stored it. The put is an optimisation, never the path of record:
//! each event is tried once (in its first round), 10 entries and at most 256 KiB per
//! `PutEvents`, all concurrently, and the whole put waits at most `bus_put_timeout`. An event
//! that made it is marked, and its SQS message carries the `kx-on-bus` attribute so that the
//! consumer stores it without publishing it again; an event whose put failed or did not answer
//! in time is logged (a warning, not a loss) and goes to the queue unmarked, and the consumer
//! publishes it. Either way the event reaches the bus once it is stored, and the queue send
//! never waits on a slow bus for longer than the timeout.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::queue::Item;
use super::sqs::MAX_REQUEST_BYTES;
use crate::config::MAX_BATCH;
use crate::report;

/// Puts the round's events that have not been tried yet on the bus, 10 entries and at most
/// 256 KiB per call, and marks those that made it. It waits at most `timeout`: a put that has
/// not answered by then is dropped and its events go to the queue unmarked. A failure is not
/// retried here: the message goes unmarked and the consumer publishes the event.
pub(super) async fn put_on_bus(
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
