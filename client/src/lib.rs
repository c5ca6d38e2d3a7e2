//! # kx-events
//!
//! Track business events from Rust services into the kx-events pipeline
//! (SQS → consumer Lambda → PostgreSQL → EventBridge).
//!
//! This crate holds the event contract ([`TrackedEvent`] and its validation), shared by
//! producers and the consumer.
#![warn(missing_docs)]

mod contract;

pub use contract::{
    format_timestamp, BusEntry, Rule, TrackedEvent, ValidationError, DEFAULT_EVENT_SOURCE,
    FIELD_NAMES, MAX_ID_CHARS, MAX_METADATA_BYTES, MAX_SOURCE_CHARS, MAX_TYPE_CHARS,
    ON_BUS_ATTRIBUTE,
};
