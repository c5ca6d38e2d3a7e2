//! Runs the kx-events pipeline locally with real parts, for the end-to-end tests, the bench and
//! the demo: real PostgreSQL, the real AWS SDK against a moto server, real `terraform`, the real
//! consumer `bootstrap` behind the real Lambda Runtime API protocol. No mocks.
//!
//! - [`env`]: the local services as `scripts/services.sh up` describes them in `.state/env`
//!   ([`Services`]), unique names, bounded waits ([`until`]).
//! - [`sqs`]: create, drain and count queues with a plain SQS client.
//! - [`db`]: a fresh database per test on the shared server ([`TestDb`]).
//! - [`postgres`]: a private PostgreSQL cluster a test may stop and start ([`PrivatePostgres`]).
//! - [`moto`]: SDK clients for moto ([`Moto`], [`sdk`]) and the resources built there.
//! - [`harness`]: `SqsEvent`s as Lambda builds them and a [`Harness`] around an in-process
//!   consumer.
//! - [`binaries`]: the workspace's `bootstrap`, `query` and `kx` binaries.
//! - [`pipeline`] and [`consumer`]: an isolated copy of the system's AWS resources
//!   ([`Pipeline`]) and the consumer running on it under the local event-source-mapping runner
//!   ([`LocalConsumer`]), as `make demo` runs it.
//! - [`terraform`]: a root configuration applied and destroyed in isolation or in place with
//!   its state kept across runs ([`Terraform`]).
//! - [`tcp_proxy`]: a TCP proxy that can black-hole a connection.
//! - [`apply_moto`] (feature `apply-moto`, on by default): the Terraform examples applied,
//!   checked and destroyed against moto, `scripts/terraform-checks.sh apply-moto`.
//!
//! Run `scripts/services.sh up && source .state/env` first. A missing variable fails with a
//! message saying so; nothing is skipped.
//!
//! Without the default `pipeline` feature only [`env`] and [`sqs`] are built, and nothing names
//! a kx-events type: kx-events' own tests dev-depend on that part (with the feature, those tests
//! would link a second copy of kx-events through this crate). This crate is a dev-dependency
//! (or the dependency of a workspace tool) only: never of a Lambda function or of the published
//! kx-events.
#![warn(missing_docs)]

pub mod env;
pub mod sqs;

#[cfg(feature = "apply-moto")]
pub mod apply_moto;

#[cfg(feature = "pipeline")]
pub mod binaries;
#[cfg(feature = "pipeline")]
pub mod consumer;
#[cfg(feature = "pipeline")]
pub mod db;
#[cfg(feature = "pipeline")]
pub mod harness;
#[cfg(feature = "pipeline")]
pub mod moto;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "pipeline")]
pub mod postgres;
#[cfg(feature = "pipeline")]
pub mod tcp_proxy;
#[cfg(feature = "pipeline")]
pub mod terraform;

pub use env::{
    blocking, endpoint, free_port, required_env, unique, until, workspace_root, Services,
};

#[cfg(feature = "pipeline")]
pub use binaries::{bootstrap, bootstrap_path, query_bootstrap, workspace_binary};
#[cfg(feature = "pipeline")]
pub use consumer::{LocalConsumer, RunnerOptions};
#[cfg(feature = "pipeline")]
pub use db::TestDb;
#[cfg(feature = "pipeline")]
pub use harness::{event_json, failures, sqs_event, sqs_record, Harness, HarnessOptions};
#[cfg(feature = "pipeline")]
pub use moto::{sdk, Moto, Queues, Received};
#[cfg(feature = "pipeline")]
pub use pipeline::{Database, Pipeline, PipelineOptions};
#[cfg(feature = "pipeline")]
pub use postgres::{DbTarget, PrivatePostgres};
#[cfg(feature = "pipeline")]
pub use terraform::{output_values, placeholder_zip, Terraform, TerraformError};
