//! # kx-events-query
//!
//! Reads the kx-events `events` table back: filtered pages of events, one event, event chains
//! (descendants and ancestors) and analytics. It is the one place that reads `events`: the query
//! API, the `kx` CLI and reports use it, so they give the same answers.
//!
//! ## Quick start
//!
//! ```no_run
//! use kx_events_query::{events, EventsRequest};
//!
//! let mut db = postgres::Client::connect("postgres://reader@localhost/kx", postgres::NoTls)?;
//! // The same parser reads `GET /events?…` and `kx events --…`.
//! let mut req = EventsRequest::from_query_pairs(&[("clientId", "client_123"), ("limit", "100")])?;
//! loop {
//!     let page = events(&mut db, &req)?;
//!     for e in &page.events {
//!         println!("{} {} {}", e.occurred_at, e.event_id, e.event_type);
//!     }
//!     match page.next_cursor {
//!         Some(c) => req.page.start = kx_events_query::Start::After(c),
//!         None => break,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What it promises
//!
//! - **Parameterized SQL only**: statements are fixed fragments chosen by code; every value the
//!   caller gives is a bind parameter.
//! - **Every filter on an index** (`clientId`, `userId`, `entityId`, `entityType`, `eventType`,
//!   `source`, `campaignId`, `sessionId`, the time range, `metadata` containment), checked with
//!   `EXPLAIN` in the tests; see [`explain_events`].
//! - **Keyset pagination**: newest first (`occurred_at DESC, event_id DESC`); a page ends with
//!   an opaque [`Cursor`] and the next page starts strictly after it, so concurrent inserts
//!   never cause a gap or a repeat. `offset` is accepted as the TypeScript system's query API
//!   had it, but the database reads every skipped row: deep offset pages get slow.
//! - **Chains are safe on any data**: [`chain`] and [`ancestors`] stop at a cycle
//!   ([`Chain::cycle_detected`]) and at a depth cap ([`Chain::truncated`]).
//! - **Read-only**: a role with `SELECT` on `events` is all it needs.
//! - **Errors name the parameter and the rule** ([`ParamError`], `limit: must be 1..1000`) and
//!   tell an outage from the rest ([`Error::is_unavailable`]).
//!
//! Every function takes any [`postgres::GenericClient`]: a `Client`, a `Transaction` or a
//! pooled connection.
#![warn(missing_docs)]

mod analytics;
mod chain;
mod cursor;
mod error;
mod event;
mod events;
mod json;
mod params;
mod sql;

pub use analytics::{
    analytics, analytics_at, explain_analytics, Analytics, DayCount, SourceCount, TypeCount,
    EVENTS_PER_DAY_WINDOW_DAYS,
};
pub use chain::{
    ancestors, chain, explain_chain, parse_max_depth, Chain, ChainEvent, DEFAULT_MAX_DEPTH,
    MAX_DEPTH_LIMIT,
};
pub use cursor::Cursor;
pub use error::{is_unavailable, Error, ParamError};
pub use event::{format_timestamp, Event};
pub use events::{event, events, explain_events, EventPage};
pub use params::{
    EventsRequest, Field, Fields, Filter, PageRequest, Start, DEFAULT_LIMIT, MAX_LIMIT,
};
