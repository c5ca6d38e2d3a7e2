//! Decoding and validating a batch's records: the valid ones with what SQS says about them, and
//! the poison (records that can never be valid) for the dead-letter queue.

use aws_lambda_events::event::sqs::SqsMessage;
use kx_events::{TrackedEvent, ON_BUS_ATTRIBUTE};
use tracing::{debug, warn};

use super::trace::{record_span, trace_header};
use super::{HandlerError, REQUEUED_ATTRIBUTE};
use crate::dlq::Poison;

/// A record whose body is a valid event, with what its SQS attributes say about it.
pub(super) struct Valid {
    pub(super) message_id: String,
    /// `ApproximateReceiveCount` (1 when absent).
    pub(super) receive_count: u32,
    /// The producer put the event on the bus itself (`kx-on-bus`).
    pub(super) on_bus: bool,
    /// How often the consumer sent the record back to the queue (`kx-requeued`).
    pub(super) requeued: u64,
    pub(super) body: String,
    pub(super) event: TrackedEvent,
    pub(super) trace_header: Option<String>,
}

/// Splits `records` into valid events and poison, logging each in its record's span. A record
/// without a `messageId` fails the whole invocation (it could not be reported on its own).
pub(super) fn decode(records: &[SqsMessage]) -> Result<(Vec<Valid>, Vec<Poison>), HandlerError> {
    let mut valid = Vec::new();
    let mut poison = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let message_id = record
            .message_id
            .clone()
            .ok_or(HandlerError::NoMessageId(i))?;
        let body = record.body.clone().unwrap_or_default();
        let trace = trace_header(record);
        match TrackedEvent::decode(body.as_bytes()) {
            Ok((event, coercions)) => {
                let _span =
                    record_span(&message_id, Some(event.event_id), trace.as_deref()).entered();
                if !coercions.is_empty() {
                    debug!(event_id = %event.event_id, coercions = ?coercions, "accepted as the old system's consumer did");
                }
                debug!(event_id = %event.event_id, receive_count = receive_count(record), on_bus = on_bus(record), "record decoded");
                valid.push(Valid {
                    receive_count: receive_count(record),
                    on_bus: on_bus(record),
                    requeued: requeued(record),
                    body,
                    message_id,
                    event,
                    trace_header: trace,
                })
            }
            Err(error) => {
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
    Ok((valid, poison))
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

fn requeued(m: &SqsMessage) -> u64 {
    m.message_attributes
        .get(REQUEUED_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
