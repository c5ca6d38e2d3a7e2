//! # kx-events-local: run kx-events on one machine
//!
//! This crate plays AWS Lambda's part locally. It is how kx-events runs without an AWS account
//! (`make demo`, the end-to-end tests), and it is a documented part of the project, not a test
//! double: every piece speaks the real protocol of the real service it stands in for.
//!
//! - [`runtime_api`]: an HTTP server that implements the
//!   [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) and the
//!   [Extensions API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html)
//!   with Lambda's lifecycle rules (init phase, "freeze" only after the runtime *and* every
//!   extension asked for their next event), driven by [`runtime_api::RuntimeApi::invoke`].
//! - [`function`]: the function's `bootstrap` as a child process with Lambda's environment
//!   (optionally under a wrapper such as `qemu-aarch64 -L /usr/aarch64-linux-gnu` for the arm64
//!   artifact), its output captured line by line.
//! - [`runner`]: the local SQS event-source mapping: long-polls a queue, batches by size and
//!   window, builds the `SqsEvent` exactly as Lambda does, invokes the function and deletes what
//!   succeeded (`ReportBatchItemFailures` semantics), leaving failures to SQS redelivery and the
//!   queue's redrive policy.
//! - [`fault_proxy`]: a reverse proxy in front of an AWS emulator (moto) that injects whole-request
//!   and per-entry failures into `PutEvents` and `SendMessageBatch`.
//!
//! The binary `kx-events-local run …` wires the runner, the Runtime API and the child together;
//! see `local/README.md`.
#![warn(missing_docs)]

pub mod fault_proxy;
pub mod function;
mod http_util;
pub mod runner;
pub mod runtime_api;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error (binding a socket, spawning a process, reading a file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is missing or malformed.
    #[error("configuration: {0}")]
    Config(String),
    /// An AWS API call failed.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The API operation, e.g. `ReceiveMessage`.
        operation: &'static str,
        /// The error, with its cause chain.
        message: String,
    },
    /// The Runtime API could not carry out a request (e.g. it was used after being closed).
    #[error("runtime API: {0}")]
    RuntimeApi(String),
    /// The function process is not running.
    #[error("function process: {0}")]
    Function(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The AWS SDK configuration the runner (and the tests) use: the SDK's own resolution
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials chain) with one HTTPS stack, rustls + ring.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    kx_events::aws::sdk_config().await
}
