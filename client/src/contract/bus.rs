//! The EventBridge `PutEvents` entry of a tracked event: what the consumer (or a producer on the
//! real-time path) puts on the bus, and its size as EventBridge counts it.

use chrono::{DateTime, Utc};

use super::TrackedEvent;

/// An EventBridge `PutEvents` entry built from a [`TrackedEvent`] (see
/// [`TrackedEvent::bus_entry`]); the bus name is added by whoever puts it.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEntry {
    /// `Source`: the configured event source (default
    /// [`DEFAULT_EVENT_SOURCE`](super::DEFAULT_EVENT_SOURCE)).
    pub source: String,
    /// `DetailType`: `{entityType}.{eventType}`.
    pub detail_type: String,
    /// `Detail`: the event's camelCase JSON.
    pub detail: String,
    /// `Time`: the event's `occurredAt`.
    pub time: DateTime<Utc>,
}

impl BusEntry {
    /// Size of the entry as EventBridge counts it against its 256 KB request limit
    /// (`Source`, `DetailType`, `Detail`, `EventBusName`, plus 14 bytes for `Time`).
    pub fn size(&self, event_bus_name: &str) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len() + event_bus_name.len() + 14
    }

    /// The AWS SDK entry for `event_bus_name`.
    pub fn to_sdk(
        &self,
        event_bus_name: &str,
    ) -> aws_sdk_eventbridge::types::PutEventsRequestEntry {
        let secs = self.time.timestamp();
        // A leap second is normalised on decoding; never let one panic here either.
        let nanos = self.time.timestamp_subsec_nanos().min(999_999_999);
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(event_bus_name)
            .source(&self.source)
            .detail_type(&self.detail_type)
            .detail(&self.detail)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs_and_nanos(secs, nanos))
            .build()
    }
}

impl TrackedEvent {
    /// The EventBridge entry for this event: `Source` = `source`, `DetailType` =
    /// `{entityType}.{eventType}`, `Detail` = the camelCase event, `Time` = `occurredAt`.
    ///
    /// ```
    /// use kx_events::{TrackedEvent, DEFAULT_EVENT_SOURCE};
    ///
    /// let event = TrackedEvent::new("c1", "order", "order_created");
    /// let entry = event.bus_entry(DEFAULT_EVENT_SOURCE);
    /// assert_eq!(entry.detail_type, "order.order_created");
    /// assert_eq!(entry.source, "kx-event-tracking");
    /// assert_eq!(entry.time, event.occurred_at);
    /// ```
    pub fn bus_entry(&self, source: &str) -> BusEntry {
        BusEntry {
            source: source.to_owned(),
            detail_type: self.detail_type(),
            detail: self.to_json(),
            time: self.occurred_at,
        }
    }

    /// `{entityType}.{eventType}`, the bus entry's `DetailType`.
    pub fn detail_type(&self) -> String {
        format!("{}.{}", self.entity_type, self.event_type)
    }
}
