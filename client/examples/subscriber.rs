//! A subscriber Lambda of the kx-events bus (the target of an EventBridge rule): each invocation
//! is one [`BusEvent`], the envelope with the tracked event as its `detail`, and the handler
//! matches on `detail-type` (`{entityType}.{eventType}`) as the TypeScript system's consumer
//! Lambda handler does.
//!
//! Subscribe it with the Terraform module's `subscription` (a rule on `source =
//! ["kx-event-tracking"]` and the detail types you want) or any EventBridge rule. A handler that
//! returns `Err` makes EventBridge retry the event (asynchronous invocation).
//!
//! The reply (`{"eventId", "detailType", "action"}`) is there for tests and logs; EventBridge
//! ignores it.

use kx_events::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use kx_events::{BusEvent, TrackedEvent};
use serde_json::{json, Value};

/// What this subscriber does for each kind of event.
fn action_for(detail_type: &str, event: &TrackedEvent) -> Result<&'static str, Error> {
    Ok(match detail_type {
        "user.user_created" => "send_welcome_email",
        "user.user_updated" => "send_profile_update_notification",
        "payment.payment_completed" => {
            // A detail this handler cannot act on is an error: EventBridge retries it, then
            // sends it to the rule target's dead-letter queue if one is configured.
            if event.entity_id.is_none() {
                return Err(format!("payment event {} has no entityId", event.event_id).into());
            }
            "send_payment_confirmation"
        }
        _ => "ignored",
    })
}

async fn handle(event: LambdaEvent<BusEvent>) -> Result<Value, Error> {
    let bus_event = event.payload;
    let tracked = &bus_event.detail;
    let action = action_for(&bus_event.detail_type, tracked)?;
    if action == "ignored" {
        tracing::info!(detail_type = %bus_event.detail_type, "unhandled event type");
    } else {
        // … send the email, call the service …
        tracing::info!(
            event_id = %tracked.event_id,
            client_id = %tracked.client_id,
            action,
            "processed event"
        );
    }
    Ok(json!({
        "eventId": tracked.event_id,
        "detailType": bus_event.detail_type,
        "action": action,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    // A subscriber tracks nothing: the plain runtime is enough (use `kx_events::run` if it does).
    lambda_runtime::run(service_fn(handle)).await
}
