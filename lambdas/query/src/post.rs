//! `POST /events`: one event from any language or a browser, validated with the contract's own
//! rules and sent to the events queue, where the consumer stores and publishes it like any other.
//!
//! The body is the contract's JSON (`clientId`, `entityType`, `eventType`, …). When `eventId` is
//! absent the API assigns one (send your own to make retries idempotent: the consumer stores an
//! `eventId` once), and when `occurredAt` is absent it is the time of the request.

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use kx_events::TrackedEvent;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use crate::respond::{self, ApiError};
use crate::EventsQueue;

/// The largest body accepted: SQS's message size limit (the contract keeps valid events well
/// below it).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// SQS error codes that are this deployment's configuration, not an outage.
const PERMANENT_SQS_ERRORS: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "InvalidAddress",
];

/// Validates `body` and sends it to `queue`: 202 with the event id.
pub(crate) async fn accept(queue: &EventsQueue, body: &[u8]) -> Result<Response<Body>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "the body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
            body.len()
        )));
    }
    let event = decode(body)?;
    let message = event.to_json();
    match queue
        .client
        .send_message()
        .queue_url(&queue.url)
        .message_body(message)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(event_id = %event.event_id, client_id = %event.client_id, "event accepted");
            Ok(respond::json(
                202,
                &json!({"success": true, "eventId": event.event_id.to_string()}),
            ))
        }
        Err(e) => {
            let cause = DisplayErrorContext(&e).to_string().replace('\n', " ");
            if e.code().is_some_and(|c| PERMANENT_SQS_ERRORS.contains(&c)) {
                Err(ApiError::internal(format!(
                    "cannot send to the events queue: {cause}"
                )))
            } else {
                Err(ApiError::unavailable(format!(
                    "cannot send to the events queue: {cause}"
                )))
            }
        }
    }
}

/// The event in `body`, with `eventId` and `occurredAt` filled in when absent.
pub(crate) fn decode(body: &[u8]) -> Result<TrackedEvent, ApiError> {
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        // Not JSON as serde reads it: the contract's decoder names the problem (or repairs a
        // lone surrogate escape, as the consumer would).
        Err(_) => {
            return TrackedEvent::decode(body)
                .map(|(event, _)| event)
                .map_err(|e| ApiError::invalid_event(&e))
        }
    };
    let value = match value {
        Value::Object(mut map) => {
            if map.get("eventId").is_none_or(Value::is_null) {
                map.insert("eventId".into(), json!(uuid::Uuid::new_v4().to_string()));
            }
            if map.get("occurredAt").is_none_or(Value::is_null) {
                map.insert(
                    "occurredAt".into(),
                    json!(kx_events::format_timestamp(&chrono::Utc::now())),
                );
            }
            Value::Object(map)
        }
        other => other,
    };
    TrackedEvent::from_value(value).map_err(|e| ApiError::invalid_event(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ids_and_times_are_filled_and_bad_fields_named() {
        let e = decode(br#"{"clientId":"c","entityType":"order","eventType":"order_created"}"#)
            .unwrap();
        assert_eq!(e.client_id, "c");
        let err = decode(br#"{"clientId":"","entityType":"order","eventType":"x"}"#).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.body()["field"], "clientId");
        let err = decode(b"[1]").unwrap_err();
        assert_eq!(err.body()["field"], "$");
        let err = decode(b"{nope").unwrap_err();
        assert_eq!(err.body()["rule"], "json");
    }
}
