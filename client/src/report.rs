//! Every log line the client writes about an event it could not deliver.
//!
//! Each line carries the event id (`event_id`), the entity and event type, and — at error level —
//! the event's wire JSON (`event`), so that an event that never reached the queue can be recovered
//! from the logs. Lines go through `tracing`; when the program has installed no `tracing`
//! subscriber, they go to standard error instead, so that a lost event is never silent.

use std::fmt::Display;

use uuid::Uuid;

use crate::contract::{TrackedEvent, ValidationError};

const TARGET: &str = "kx_events";

/// Writes to standard error when no `tracing` subscriber would see the line.
fn fallback(level: &str, message: &str, fields: &[(&str, &dyn Display)]) {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let mut line = format!("{level} {TARGET}: {message}");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    eprintln!("{line}");
}

/// No client id was found: nothing is sent.
pub(crate) fn no_client_id(entity_type: &str, event_type: &str) {
    const MSG: &str = "event not tracked: no clientId in the request (looked in headers X-Client-Id/Client-Id, query clientId, body clientId, authorizer context, event clientId)";
    tracing::warn!(target: TARGET, entity_type, event_type, "{MSG}");
    fallback(
        "WARN",
        MSG,
        &[("entity_type", &entity_type), ("event_type", &event_type)],
    );
}

/// A `previousEventId` that is not a UUID was dropped; the event goes on without it.
pub(crate) fn bad_previous_event_id(event: Option<&TrackedEvent>, error: &ValidationError) {
    const MSG: &str = "previousEventId is not a UUID: tracking the event without it";
    let (id, entity, kind) = match event {
        Some(e) => (
            e.event_id.to_string(),
            e.entity_type.as_str(),
            e.event_type.as_str(),
        ),
        None => (String::new(), "", ""),
    };
    tracing::warn!(target: TARGET, event_id = %id, entity_type = entity, event_type = kind, error = %error, "{MSG}");
    fallback(
        "WARN",
        MSG,
        &[
            ("event_id", &id),
            ("entity_type", &entity),
            ("event_type", &kind),
            ("error", error),
        ],
    );
}

/// An event was not queued (invalid, queue full, not configured, delivery stopped), or was given
/// up on after its last attempt: logged once, at error level, with its JSON.
pub(crate) fn lost(event: &TrackedEvent, reason: &dyn Display, json: Option<&str>) {
    let owned;
    let json = match json {
        Some(j) => j,
        None => {
            owned = event.to_json();
            &owned
        }
    };
    lost_parts(
        &event.event_id,
        &event.entity_type,
        &event.event_type,
        reason,
        json,
    );
}

/// [`lost`] from the parts the sender keeps of a queued event.
pub(crate) fn lost_parts(
    id: &Uuid,
    entity_type: &str,
    event_type: &str,
    reason: &dyn Display,
    json: &str,
) {
    const MSG: &str = "event not delivered";
    tracing::error!(
        target: TARGET,
        event_id = %id,
        entity_type = %entity_type,
        event_type = %event_type,
        reason = %reason,
        event = json,
        "{MSG}"
    );
    fallback(
        "ERROR",
        MSG,
        &[
            ("event_id", id),
            ("entity_type", &entity_type),
            ("event_type", &event_type),
            ("reason", reason),
            ("event", &json),
        ],
    );
}

/// The circuit breaker opened: events are given up on without a request until it closes.
pub(crate) fn circuit_opened(failures: u32, cooldown: std::time::Duration, error: &dyn Display) {
    const MSG: &str = "circuit breaker open: events are logged, not sent, until the cooldown ends";
    tracing::error!(target: TARGET, failures, cooldown_ms = cooldown.as_millis() as u64, error = %error, "{MSG}");
    fallback("ERROR", MSG, &[("failures", &failures), ("error", error)]);
}

/// A request failed and its events will be tried again (no event is lost yet).
pub(crate) fn retrying(what: &str, events: usize, error: &dyn Display) {
    tracing::warn!(target: TARGET, operation = what, events, error = %error, "send failed; retrying with backoff");
}

/// The direct EventBridge put failed for some events; the consumer will publish them.
pub(crate) fn bus_put_failed(event_id: &Uuid, error: &dyn Display) {
    tracing::warn!(target: TARGET, event_id = %event_id, error = %error, "direct PutEvents failed: the event goes to the queue unmarked and the consumer publishes it");
}

/// An event reported lost (at a flush deadline) reached the queue after all.
pub(crate) fn delivered_after_all(event_id: &Uuid) {
    tracing::warn!(target: TARGET, event_id = %event_id, "an event reported as not delivered reached the queue after all (the consumer deduplicates on eventId)");
}
