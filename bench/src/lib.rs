//! # kx-events-bench: `make bench`
//!
//! Every figure of the README's Performance section, measured on this machine and printed with how it was measured, then
//! one table. Ratios are taken within one run on the same machine, since absolute times drift.
//! Targets are informational (PASS/MISS): the benchmarks fail only when they cannot run.
//!
//! 1. [`store`]: the consumer's store path vs a per-message baseline vs `COPY`; [`growth`]: its
//!    rate as the table grows to `BENCH_ROWS`, with v4 and v7 event ids.
//! 2. [`handler`]: the whole handler at batches of 10, 100 and 1,000 (moto, and a no-op bus:
//!    [`null_bus`]), events/s, statements per batch and the share of each phase.
//! 3. [`cold_start`]: the real `bootstrap` from process start to its first `next`.
//! 4. [`package`]: the arm64 zip from `make package`.
//! 5. [`track`]: the producer's criterion bench (`client/benches/track.rs`), parsed.
//! 6. [`memory`]: peak resident memory of the real `bootstrap` storing 100,000 events.
//! 7. [`producer`]: the producer's peak resident memory with 100,000 events tracked while SQS
//!    is down (bounded by its limits).
//! 8. [`producer`]: flush time with SQS healthy, throttled and refusing (AccessDenied).
//! 9. [`cost`]: cost per million events, kx-events vs the TypeScript system's design, from the counters.
//! 10. [`query`]: the read side at scale (plans, keyset pages, chains, the query API's handler
//!     and cold start).
#![warn(missing_docs)]

pub mod aws;
pub mod cold_start;
pub mod cost;
pub mod db;
pub mod growth;
pub mod handler;
pub mod memory;
pub mod null_bus;
pub mod package;
pub mod producer;
pub mod query;
pub mod report;
pub mod stats;
pub mod store;
pub mod track;
pub mod workload;
