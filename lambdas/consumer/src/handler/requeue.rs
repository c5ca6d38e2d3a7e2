//! Sending a valid record back to the events queue on its last receive while the database is
//! unavailable, so that an outage longer than the retries never dead-letters valid events.

use std::time::Duration;

use kx_events::ON_BUS_ATTRIBUTE;
use tracing::warn;

use super::decode::Valid;
use super::Consumer;

/// Where a valid record goes on its last receive when the database is unavailable: back to the
/// events queue as a new message (a fresh receive count), instead of to the DLQ by redrive.
#[derive(Debug, Clone)]
pub(super) struct Requeue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    delay: Duration,
}

/// Message attribute counting how often the consumer sent a record back to the queue.
pub const REQUEUED_ATTRIBUTE: &str = "kx-requeued";

impl Consumer {
    /// Sends a valid record that could not be stored on its last receive, because the database
    /// was unavailable (down, `too_many_connections`, a timeout), back to `queue_url` after
    /// `delay` (at most 15 minutes) instead of letting SQS move it to the DLQ: an outage longer
    /// than the retries never dead-letters valid events. The copy carries the record's
    /// `kx-on-bus` attribute and `kx-requeued` (a count). `EVENTS_QUEUE_URL` turns it on.
    pub fn with_requeue(
        mut self,
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        delay: Duration,
    ) -> Self {
        self.requeue = Some(Requeue {
            client,
            queue_url: queue_url.into(),
            delay: delay.min(Duration::from_secs(900)),
        });
        self
    }

    /// Sends `v` back to the events queue; whether that worked.
    pub(super) async fn requeue(&self, v: &Valid) -> bool {
        let Some(r) = &self.requeue else {
            return false;
        };
        let attribute = |value: String| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(value)
                .build()
        };
        let mut send = r
            .client
            .send_message()
            .queue_url(&r.queue_url)
            .message_body(&v.body)
            .delay_seconds(r.delay.as_secs() as i32);
        match attribute((v.requeued + 1).to_string()) {
            Ok(a) => send = send.message_attributes(REQUEUED_ATTRIBUTE, a),
            Err(_) => return false,
        }
        if v.on_bus {
            if let Ok(a) = aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("true")
                .build()
            {
                send = send.message_attributes(ON_BUS_ATTRIBUTE, a);
            }
        }
        match send.send().await {
            Ok(_) => true,
            Err(e) => {
                warn!(cause = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not send the record back to the queue");
                false
            }
        }
    }
}
