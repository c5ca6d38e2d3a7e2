//! The last check after apply: an entry put on the bus reaches the subscriber queue found
//! through SSM discovery.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{json, sdk, Checked, Checks, Target};

/// An entry put on the bus reaches `target_queue` within 10 s.
pub(super) async fn routing(
    t: &Target<'_>,
    c: &mut Checks<'_>,
    target_queue: &str,
    detail_type: &str,
) -> Checked {
    let aws = &t.clients;
    let (entity, event) = detail_type.split_once('.').unwrap_or((detail_type, ""));
    let event_id = "00000000-0000-4000-8000-000000000001";
    let detail = json!({"eventId": event_id, "entityType": entity, "eventType": event,
                        "occurredAt": "2024-01-15T10:30:00.000Z"});
    let res = aws
        .events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("kx-event-tracking")
                .detail_type(detail_type)
                .detail(detail.to_string())
                .event_bus_name(t.outputs.str("event_bus_name")?)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("events PutEvents"))?;
    c.check(res.failed_entry_count() == 0, "PutEvents on the bus");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.is_empty() && Instant::now() < deadline {
        got = aws
            .sqs
            .receive_message()
            .queue_url(target_queue)
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(sdk("sqs ReceiveMessage"))?
            .messages()
            .to_vec();
    }
    let envelope = match got.first() {
        Some(m) => json(m.body().unwrap_or_default(), "the routed message")?,
        None => json!({}),
    };
    c.check(
        envelope.get("detail-type").and_then(Value::as_str) == Some(detail_type)
            && envelope.pointer("/detail/eventId").and_then(Value::as_str) == Some(event_id),
        "the subscription routed the entry to its SQS target",
    );
    Ok(())
}
