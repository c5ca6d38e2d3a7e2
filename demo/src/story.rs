//! The demo's story, told by a producer built on `kx-events`.
//!
//! A shop (`clientId` `acme-shop`) tracks what one customer does:
//!
//! 1. `user.user_signed_up` — a sign-up that awards 100 points (with `track!`, from the worker
//!    event the shop's sign-up job receives);
//! 2. `order.order_created` → `order.order_paid` → `order.order_shipped` → `order.order_delivered`
//!    — a chain, each event naming the one before it in `previousEventId`;
//! 3. `payment.payment_completed` — the payment of that order, 50 points, following
//!    `order_created`.
//!
//! These go through the `kx-events` publisher (`track!`, `publish_event`, `flush().await`).
//! Then, with the raw SDK, two messages that a real queue sees sooner or later:
//!
//! - one **duplicate delivery**: the exact message of `order_paid` a second time (SQS is
//!   at-least-once; a producer retry after a timeout does the same);
//! - one **poison message**: an event from a buggy producer whose `eventId` is not a UUID and
//!   that can never become valid.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use kx_events::{EventBuilder, ExplicitContext, TrackedEvent};

use crate::accounting::{Input, InvalidInput};
use crate::aws::error_chain;
use crate::observe::Error;

/// The tenant of the story.
pub const CLIENT_ID: &str = "acme-shop";

/// One event of the story as the producer tracked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEvent {
    /// A short name, e.g. `order_paid`.
    pub label: String,
    /// The event's id.
    pub event_id: Uuid,
    /// The event it follows, if any.
    pub previous_event_id: Option<Uuid>,
    /// `{entityType}.{eventType}`.
    pub detail_type: String,
    /// How it was produced: `track!`, `publish_event`, or `raw SendMessage`.
    pub via: String,
}

/// A message that can never become valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentPoison {
    /// What is wrong with it.
    pub label: String,
    /// Its body.
    pub body: String,
    /// The SQS message id the send returned.
    pub message_id: Option<String>,
}

/// Everything the producer sent: written by `kx-events-demo produce`, read by
/// `kx-events-demo report`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The valid events, once each.
    pub events: Vec<SentEvent>,
    /// Extra deliveries of valid events (by label and id).
    pub duplicates: Vec<SentEvent>,
    /// The poison messages.
    pub poison: Vec<SentPoison>,
}

impl Manifest {
    /// Messages put on the queue: events, duplicates and poison.
    pub fn messages_sent(&self) -> usize {
        self.events.len() + self.duplicates.len() + self.poison.len()
    }

    /// The accounting input: valid event ids and invalid messages.
    pub fn input(&self) -> Input {
        Input {
            valid: self.events.iter().map(|e| e.event_id).collect(),
            invalid: self
                .poison
                .iter()
                .map(|p| InvalidInput {
                    label: p.label.clone(),
                    body: p.body.clone(),
                    message_id: p.message_id.clone(),
                })
                .collect(),
        }
    }

    /// The label of the event `id`, if it is one of the story's.
    pub fn label_of(&self, id: Uuid) -> Option<&str> {
        self.events
            .iter()
            .find(|e| e.event_id == id)
            .map(|e| e.label.as_str())
    }
}

/// The story's valid events, built with the `kx-events` event builder and linked by
/// `previousEventId`, in the order they happen. The first one (the sign-up) is meant for
/// `track!`; [`Story::events`] holds all of them so that tests can send them any way they like.
#[derive(Debug, Clone)]
pub struct Story {
    /// `(label, event)` in the order they happen.
    pub events: Vec<(String, TrackedEvent)>,
}

impl Story {
    /// Builds the story for a fresh customer (new ids every time).
    pub fn new() -> Result<Story, Error> {
        let ctx = ExplicitContext::new(CLIENT_ID);
        let user = format!("user-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let order = format!("order-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let session = format!("sess-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let build = |b: EventBuilder| -> Result<TrackedEvent, Error> {
            b.build(&ctx)
                .map_err(|e| format!("building a story event: {e}").into())
        };
        let signed_up = build(
            EventBuilder::new("user", "user_signed_up")
                .user_id(&user)
                .entity_id(&user)
                .source("web")
                .campaign_id("spring-launch")
                .points_awarded(100)
                .session_id(&session)
                .metadata(json!({ "plan": "free", "referrer": "newsletter" })),
        )?;
        let created = build(
            EventBuilder::new("order", "order_created")
                .user_id(&user)
                .entity_id(&order)
                .source("api")
                .session_id(&session)
                .metadata(json!({ "items": [{ "sku": "MUG-01", "qty": 2 }], "total": 24.0 })),
        )?;
        let payment = build(
            EventBuilder::new("payment", "payment_completed")
                .user_id(&user)
                .entity_id(format!("pay-{}", &order[6..]))
                .source("payments")
                .points_awarded(50)
                .previous_event_id(created.event_id)
                .metadata(json!({ "amount": 24.0, "currency": "USD", "order": order })),
        )?;
        let paid = build(
            EventBuilder::new("order", "order_paid")
                .user_id(&user)
                .entity_id(&order)
                .source("api")
                .previous_event_id(created.event_id),
        )?;
        let shipped = build(
            EventBuilder::new("order", "order_shipped")
                .user_id(&user)
                .entity_id(&order)
                .source("warehouse")
                .previous_event_id(paid.event_id)
                .metadata(json!({ "carrier": "UPS", "tracking": "1Z999AA10123456784" })),
        )?;
        let delivered = build(
            EventBuilder::new("order", "order_delivered")
                .user_id(&user)
                .entity_id(&order)
                .source("carrier")
                .previous_event_id(shipped.event_id),
        )?;
        Ok(Story {
            events: vec![
                ("user_signed_up".into(), signed_up),
                ("order_created".into(), created),
                ("payment_completed".into(), payment),
                ("order_paid".into(), paid),
                ("order_shipped".into(), shipped),
                ("order_delivered".into(), delivered),
            ],
        })
    }

    /// The event labelled `label`.
    pub fn event(&self, label: &str) -> Option<&TrackedEvent> {
        self.events.iter().find(|(l, _)| l == label).map(|(_, e)| e)
    }
}

/// The poison message of the demo: a buggy producer's event whose `eventId` is an order number.
pub fn poison_body() -> String {
    json!({
        "eventId": "ORD-2024-0042",
        "clientId": CLIENT_ID,
        "previousEventId": null,
        "entityType": "order",
        "eventType": "order_cancelled",
        "occurredAt": "2024-01-15T10:30:00.000Z"
    })
    .to_string()
}

/// Sends one raw message body (no validation, no client): how the duplicate and the poison
/// message reach the queue. Returns the SQS message id.
pub async fn send_raw(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    body: &str,
) -> Result<Option<String>, Error> {
    let out = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| format!("SendMessage to {queue_url}: {}", error_chain(&e)))?;
    Ok(out.message_id().map(str::to_string))
}
