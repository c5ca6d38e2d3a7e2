//! Building a [`TrackedEvent`] from what the handler has (the TypeScript producer's
//! `createTrackedEvent`).

use serde_json::Value;
use uuid::Uuid;

use crate::context::{Ids, TrackingContext};
use crate::contract::{parse_uuid, Rule, TrackedEvent, ValidationError};
use crate::publisher::{global, Tracked};
use crate::report;

/// Why an event was not tracked. `track!` and [`publish_event`](crate::publish_event) never
/// fail the handler: they return this inside [`Tracked::NotTracked`] and log it once.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// No `clientId` was found in the request or event: nothing was sent (logged as a warning).
    #[error("no clientId found for {entity_type}.{event_type}: event not tracked")]
    NoClientId {
        /// The entity type of the event that was not tracked.
        entity_type: String,
        /// The event type of the event that was not tracked.
        event_type: String,
    },
    /// The event breaks the contract (a field too long, metadata not an object, …).
    #[error("event {event_id} is invalid: {error}")]
    Invalid {
        /// The id the event had.
        event_id: Uuid,
        /// The first rule it broke.
        error: ValidationError,
    },
    /// The in-memory queue is full: [`Config::queue_capacity`](crate::Config::queue_capacity)
    /// events or [`Config::queue_max_bytes`](crate::Config::queue_max_bytes) bytes are already
    /// held, waiting, backing off or in flight (the sender cannot keep up, or SQS is down).
    #[error("event {event_id} not queued: the in-memory queue is full")]
    QueueFull {
        /// The id of the event that was not queued.
        event_id: Uuid,
    },
    /// `EVENTS_QUEUE_URL` is not set (nor configured with [`Config::with_queue_url`](crate::Config::with_queue_url)).
    #[error("event {event_id} not queued: EVENTS_QUEUE_URL is not set")]
    NotConfigured {
        /// The id of the event that was not queued.
        event_id: Uuid,
    },
    /// The background sender has stopped (its thread could not start, or the publisher was
    /// shut down).
    #[error("event {event_id} not queued: the background sender has stopped")]
    Stopped {
        /// The id of the event that was not queued.
        event_id: Uuid,
    },
}

impl TrackError {
    /// The id of the event concerned, when one was built.
    pub fn event_id(&self) -> Option<Uuid> {
        match self {
            TrackError::NoClientId { .. } => None,
            TrackError::Invalid { event_id, .. }
            | TrackError::QueueFull { event_id }
            | TrackError::NotConfigured { event_id }
            | TrackError::Stopped { event_id } => Some(*event_id),
        }
    }
}

/// An event to build from a request: entity and event type plus the optional fields (the
/// TypeScript producer's `createTrackedEvent` and its tracking decorator's `extra`).
///
/// `clientId` and `previousEventId` come from the context (see
/// [`extract_client_id`](crate::extract_client_id) and
/// [`extract_previous_event_id`](crate::extract_previous_event_id)) unless
/// [`EventBuilder::previous_event_id`] sets the latter explicitly.
///
/// ```
/// use kx_events::{EventBuilder, ExplicitContext};
/// use serde_json::json;
///
/// let event = EventBuilder::new("payment", "payment_completed")
///     .user_id("user_123")
///     .entity_id("payment_456")
///     .points_awarded(50)
///     .metadata(json!({ "amount": 99.99, "currency": "USD" }))
///     .build(&ExplicitContext::new("client_123"))
///     .unwrap();
/// assert_eq!(event.client_id, "client_123");
/// assert_eq!(event.detail_type(), "payment.payment_completed");
/// // Queue it with `kx_events::publish_event(event)`.
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "an EventBuilder does nothing until it is built or tracked"]
pub struct EventBuilder {
    entity_type: String,
    event_type: String,
    user_id: Option<String>,
    entity_id: Option<String>,
    source: Option<String>,
    campaign_id: Option<String>,
    points_awarded: Option<i32>,
    session_id: Option<String>,
    metadata: Option<Value>,
    previous_event_id: Option<Option<Uuid>>,
}

impl EventBuilder {
    /// An event of `entity_type` (e.g. `order`) and `event_type` (e.g. `order_created`).
    pub fn new(entity_type: impl Into<String>, event_type: impl Into<String>) -> Self {
        Self {
            entity_type: entity_type.into(),
            event_type: event_type.into(),
            user_id: None,
            entity_id: None,
            source: None,
            campaign_id: None,
            points_awarded: None,
            session_id: None,
            metadata: None,
            previous_event_id: None,
        }
    }

    /// The acting user.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// The entity the event is about.
    pub fn entity_id(mut self, entity_id: impl Into<String>) -> Self {
        self.entity_id = Some(entity_id.into());
        self
    }

    /// Where the event was recorded, e.g. `api` or `worker`.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The marketing campaign.
    pub fn campaign_id(mut self, campaign_id: impl Into<String>) -> Self {
        self.campaign_id = Some(campaign_id.into());
        self
    }

    /// Loyalty points awarded.
    pub fn points_awarded(mut self, points: i32) -> Self {
        self.points_awarded = Some(points);
        self
    }

    /// The session the event happened in.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Free-form metadata: a JSON object (`serde_json::json!({ … })`). Anything else makes the
    /// event invalid ([`TrackError::Invalid`]); `null` means none.
    pub fn metadata(mut self, metadata: impl Into<Value>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// Chains the event to `previous` (a `Uuid`, or an `Option<Uuid>`; `None` means no previous
    /// event), instead of the `previousEventId` found in the request.
    pub fn previous_event_id(mut self, previous: impl Into<Option<Uuid>>) -> Self {
        self.previous_event_id = Some(previous.into());
        self
    }

    /// Builds the event for `ctx`: a fresh `eventId`, `occurredAt` now, the ids from the
    /// context, and the fields set on this builder, validated with the contract's rules.
    ///
    /// A `previousEventId` found in the request that is not a UUID is dropped with a warning.
    pub fn build<C: TrackingContext + ?Sized>(self, ctx: &C) -> Result<TrackedEvent, TrackError> {
        let ids = if self.previous_event_id.is_some() {
            (ctx.client_id(), None)
        } else {
            ctx.tracking_ids()
        };
        self.build_with_ids(ids)
    }

    pub(crate) fn build_with_ids(
        self,
        (client_id, previous): Ids,
    ) -> Result<TrackedEvent, TrackError> {
        let Some(client_id) = client_id else {
            report::no_client_id(&self.entity_type, &self.event_type);
            return Err(TrackError::NoClientId {
                entity_type: self.entity_type,
                event_type: self.event_type,
            });
        };
        let mut event = TrackedEvent::new(client_id, self.entity_type, self.event_type);
        event.user_id = self.user_id;
        event.entity_id = self.entity_id;
        event.source = self.source;
        event.campaign_id = self.campaign_id;
        event.points_awarded = self.points_awarded;
        event.session_id = self.session_id;
        match self.previous_event_id {
            Some(explicit) => event.previous_event_id = explicit,
            None => {
                if let Some(raw) = previous {
                    match parse_uuid("previousEventId", &raw) {
                        Ok(id) => event.previous_event_id = Some(id),
                        Err(e) => report::bad_previous_event_id(Some(&event), &e),
                    }
                }
            }
        }
        match self.metadata {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => event.metadata = Some(map),
            Some(other) => {
                let found = match other {
                    Value::Bool(_) => "boolean",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    _ => "array",
                };
                let error = ValidationError::new(
                    "metadata",
                    Rule::Type,
                    format!("must be a JSON object, got {found}"),
                );
                report::lost(&event, &error, None);
                return Err(TrackError::Invalid {
                    event_id: event.event_id,
                    error,
                });
            }
        }
        if let Err(error) = event.validate() {
            report::lost(&event, &error, None);
            return Err(TrackError::Invalid {
                event_id: event.event_id,
                error,
            });
        }
        Ok(event)
    }

    /// Builds the event for `ctx` and queues it on the global publisher: what `track!` does.
    pub fn track<C: TrackingContext + ?Sized>(self, ctx: &C) -> Tracked {
        match self.build(ctx) {
            Ok(event) => global().enqueue(event),
            Err(e) => Tracked::NotTracked(e),
        }
    }
}
