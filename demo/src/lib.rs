//! # kx-events-demo
//!
//! The story that `make demo` tells, and the accounting that ends it.
//!
//! - [`story`]: a producer built on the `kx-events` crate (`track!`, `publish_event`,
//!   `flush().await`) tracks a small realistic story — a sign-up with points, a chain of order
//!   events linked by `previousEventId`, a payment — and then, with the raw SDK, delivers one of
//!   those messages a second time (SQS is at-least-once) and sends one poison message.
//! - [`observe`]: reads what came out of the pipeline: the rows in PostgreSQL, the events the
//!   subscriber rule delivered to its SQS queue, and the messages in the dead-letter queue with
//!   their reasons.
//! - [`accounting`]: compares what went in with what came out, for every event id: exactly one
//!   row and one bus event per valid event, exactly one DLQ message with a reason per invalid
//!   message, nothing else. The end-to-end tests use the same accounting for their fault matrix.
//! - [`driver`]: `kx-events-demo up` and `down`, what `make demo` and `make demo-down` run after
//!   `scripts/demo.sh` has started the services and built the binaries: Terraform against moto,
//!   the local runner, the story, the report, the read-back, the verdict (on the testkit).
//! - [`aws`]: an AWS SDK configuration with one TLS stack (rustls + ring), as the rest of the
//!   workspace builds it.
#![warn(missing_docs)]

pub mod accounting;
pub mod aws;
pub mod driver;
pub mod observe;
pub mod story;
