//! A round, sent to SQS: cut into `SendMessageBatch` calls, and the outcome of every entry.
//!
//! A round (all that the loop takes at once) first goes to the bus when one is configured (see
//! [`super::bus`]), then is cut into batches of at most `batch_size` entries and 256 KiB, in
//! arrival order, which all run concurrently. Each entry is the event's wire JSON as the
//! message body, with the `kx-on-bus` attribute when its direct bus put succeeded (the
//! consumer then does not publish it again) and the invocation's X-Ray trace header as the
//! `AWSTraceHeader` system attribute.
//!
//! Outcomes are per entry: a call that fails as a whole fails every entry with the call's class;
//! a call that answers lists each entry as successful or failed. A failed entry is classified by
//! its code, and an entry the service blames on the sender (`SenderFault`) is permanent unless
//! it is throttling. An entry in neither list counts as a transient failure, so nothing is ever
//! taken as sent without SQS saying so.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::Client as EventBridge;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client as Sqs;
use tokio::task::JoinSet;

use super::bus::put_on_bus;
use super::queue::Item;
use super::retry::{classify, classify_sdk, Class, Outcome};
use crate::contract::ON_BUS_ATTRIBUTE;

/// The request size limit of `SendMessageBatch` and of `PutEvents` (256 KiB).
pub(super) const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// What a round needs, shared with its task.
pub(super) struct RoundContext {
    pub(super) sqs: Sqs,
    /// The client and the bus name, when events are also put on the bus.
    pub(super) bus: Option<(EventBridge, String)>,
    pub(super) source: String,
    pub(super) queue_url: String,
    pub(super) batch_size: usize,
    pub(super) bus_put_timeout: Duration,
}

/// Puts the round's new events on the bus (when configured, waiting at most the bus put
/// timeout), then sends all of it to SQS, the batches concurrently. Returns every item with its
/// outcome.
pub(super) async fn send_round(
    ctx: Arc<RoundContext>,
    mut round: Vec<Item>,
) -> Vec<(Item, Outcome)> {
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

/// One `SendMessageBatch` call: the outcome of each entry of `batch`, in its order.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::TrackedEvent;
    use crate::sender::queue::Head;

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
}
