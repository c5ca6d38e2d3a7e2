//! The X-Ray trace header a record carries, and the span its log lines share.

use aws_lambda_events::event::sqs::SqsMessage;
use tracing::info_span;
use uuid::Uuid;

/// The system attribute of an SQS message that carries the producer's X-Ray trace header.
pub const TRACE_HEADER_ATTRIBUTE: &str = "AWSTraceHeader";

/// The producer's trace header of a record, if it has one.
pub(super) fn trace_header(m: &SqsMessage) -> Option<String> {
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
pub(super) fn record_span(
    message_id: &str,
    event_id: Option<Uuid>,
    trace: Option<&str>,
) -> tracing::Span {
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
