//! The AWS Lambda Runtime API and Extensions API, served on 127.0.0.1.
//!
//! [`RuntimeApi`] is what a Lambda execution environment offers a `bootstrap` through
//! `AWS_LAMBDA_RUNTIME_API`: the runtime long-polls `GET /2018-06-01/runtime/invocation/next`,
//! posts `…/invocation/{id}/response` or `…/error` (or `…/init/error`), and internal or external
//! extensions register with `POST /2020-01-01/extension/register` and long-poll
//! `GET /2020-01-01/extension/event/next`. It is compatible with the `lambda_runtime` (1.5) and
//! `lambda-extension` (1.1) crates, including internal extensions as in aws-lambda-rust-runtime's
//! `extension-internal-flush` example.
//!
//! # Lifecycle, as Lambda runs it
//!
//! - **Init.** Extensions may register only until the runtime first asks for its next
//!   invocation; a later `register` is refused with `403`. The init phase is complete when the
//!   runtime *and* every registered extension are parked in their `next` call
//!   ([`ProtocolEvent::InitCompleted`]).
//! - **Invoke.** [`RuntimeApi::invoke`] waits for that state, then hands the event to the runtime
//!   and an `INVOKE` event to every extension registered for it.
//! - **Freeze.** An invocation is complete — the sandbox may freeze, the next invocation may
//!   start — only when the runtime has posted its response (or error) **and** asked for its next
//!   invocation **and** every extension has called `event/next` again
//!   ([`ProtocolEvent::InvocationCompleted`]). [`RuntimeApi::invoke`] returns only then, so work
//!   an extension does after the response (e.g. flushing events) is finished when it returns.
//! - **Timeout.** If that does not happen before the deadline (`Lambda-Runtime-Deadline-Ms`), the
//!   outcome is [`InvocationOutcome::Timeout`], even if the response was already posted: on AWS an
//!   extension that overruns the deadline times the invocation out and the environment is reset.
//!   Callers should then restart the process and call [`RuntimeApi::reset`] (the
//!   [`runner`](crate::runner) does).
//! - **Shutdown.** [`RuntimeApi::shutdown`] sends `SHUTDOWN` to the extensions registered for it.
//!
//! # Where this differs from AWS (on purpose, and documented)
//!
//! - A process is not frozen between invocations: background tasks keep running.
//! - Every extension is accepted for `SHUTDOWN`. On AWS an *internal* extension (one living in the
//!   runtime process) may register for `INVOKE` only; there is no way to tell internal from
//!   external here.
//! - An extension that reports an error (`/extension/init/error` or `/exit/error`) while an
//!   invocation runs fails that invocation at once with an `Extension.Crash` function error, so
//!   the batch is retried rather than acknowledged (on AWS the environment is reset).
//! - Response streaming (`Lambda-Runtime-Function-Response-Mode: streaming`) is collected and
//!   returned as a buffered body.
//! - Error bodies' `errorType` strings for protocol misuse (e.g. `InvalidRequestID`) follow the
//!   documented Runtime API where it documents them, and are descriptive elsewhere.
//!
//! # Layout
//!
//! - this module: the public types (configuration, invocation, outcome, timeline);
//! - `state`: the lifecycle state of the execution environment, under one mutex, and the
//!   wait-for-a-condition primitive the driver is built on;
//! - `driver`: [`RuntimeApi`], which starts the server and runs init, invoke, freeze,
//!   timeout and shutdown on that state;
//! - `routes`: the HTTP handler for both APIs and the helpers the routes share;
//! - `runtime` and `extension`: the Runtime API and the Extensions API routes, which record
//!   what the runtime and the extensions did and hand them their events.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> kx_events_local::Result<()> {
//! use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
//! use std::time::Duration;
//!
//! let api = RuntimeApi::start().await?;
//! // spawn the bootstrap with AWS_LAMBDA_RUNTIME_API = api.host_port() (see `function`) …
//! match api.invoke(serde_json::json!({"Records": []}), Duration::from_secs(30)).await? {
//!     InvocationOutcome::Response(body) => println!("response: {body}"),
//!     other => println!("failed: {other:?}"),
//! }
//! # Ok(()) }
//! ```

mod driver;
mod extension;
mod routes;
mod runtime;
mod state;

pub use driver::RuntimeApi;

use serde_json::Value;
use std::time::{Duration, Instant};

/// The largest response payload Lambda accepts from a runtime (6 MB), and the largest
/// synchronous invocation payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// How long [`RuntimeApi::shutdown`] gives extensions to acknowledge `SHUTDOWN` (Lambda gives
/// 2000 ms when extensions are registered).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);

/// The timeline keeps at most this many entries; beyond it the oldest half is dropped (a
/// long-running `kx-events-local run` must not grow without bound).
pub const TIMELINE_CAP: usize = 100_000;

/// Identity of the simulated function, returned to extensions on `register` and used for the
/// invoked function ARN.
#[derive(Debug, Clone)]
pub struct FunctionIdentity {
    /// `functionName` (default `kx-events-consumer`).
    pub function_name: String,
    /// `functionVersion` (default `$LATEST`).
    pub function_version: String,
    /// `handler` (default `bootstrap`).
    pub handler: String,
    /// The account id, returned as `accountId` to extensions that accept the feature
    /// (default `123456789012`, moto's account).
    pub account_id: String,
    /// The region used in the invoked function ARN (default `AWS_REGION`, else `us-east-1`).
    pub region: String,
}

impl Default for FunctionIdentity {
    fn default() -> Self {
        FunctionIdentity {
            function_name: "kx-events-consumer".into(),
            function_version: "$LATEST".into(),
            handler: "bootstrap".into(),
            account_id: "123456789012".into(),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        }
    }
}

impl FunctionIdentity {
    /// `arn:aws:lambda:{region}:{account}:function:{name}`.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }
}

/// Settings of a [`RuntimeApi`].
#[derive(Debug, Clone)]
pub struct RuntimeApiConfig {
    /// The function the API pretends to serve.
    pub identity: FunctionIdentity,
    /// How long [`RuntimeApi::invoke`] waits for the init phase to complete (the runtime and
    /// every extension parked in `next`) before giving up with
    /// [`InvocationOutcome::Timeout`]. Lambda allows 10 s of init.
    pub init_timeout: Duration,
}

impl Default for RuntimeApiConfig {
    fn default() -> Self {
        RuntimeApiConfig {
            identity: FunctionIdentity::default(),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// One invocation request with every optional field of the `next` response.
#[derive(Debug, Clone)]
pub struct Invoke {
    /// The event, sent as the body of the runtime's `next` response.
    pub payload: Value,
    /// The function timeout: the deadline (`Lambda-Runtime-Deadline-Ms`) is now + timeout.
    pub timeout: Duration,
    /// `Lambda-Runtime-Client-Context` (JSON text), if any.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` (JSON text), if any.
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Trace-Id`; a fresh X-Ray id (`Root=1-…;Sampled=0`) when `None`.
    pub trace_id: Option<String>,
}

impl Invoke {
    /// An invocation of `payload` with the given function timeout.
    pub fn new(payload: Value, timeout: Duration) -> Self {
        Invoke {
            payload,
            timeout,
            client_context: None,
            cognito_identity: None,
            trace_id: None,
        }
    }
}

/// An error a runtime reported on `POST /2018-06-01/runtime/init/error`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
    pub error_type: Option<String>,
    /// The body: normally `{"errorType": …, "errorMessage": …}`; a non-JSON body is kept as a
    /// JSON string.
    pub body: Value,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationOutcome {
    /// The runtime posted `…/response`; the body parsed as JSON (a non-JSON body is returned as a
    /// JSON string).
    Response(Value),
    /// The runtime posted `…/error` (body normally `{"errorType", "errorMessage"}`), the response
    /// was too large (`Function.ResponseSizeTooLarge`), or an extension crashed during the
    /// invocation (`Extension.Crash`).
    FunctionError(Value),
    /// The runtime reported an init error before it could take the invocation.
    InitError(InitError),
    /// The invocation did not complete before its deadline (or init did not complete within
    /// [`RuntimeApiConfig::init_timeout`]).
    Timeout,
}

impl InvocationOutcome {
    /// The response body, if the runtime posted one.
    pub fn response(&self) -> Option<&Value> {
        match self {
            InvocationOutcome::Response(value) => Some(value),
            _ => None,
        }
    }
}

/// Something that happened on the protocol, in order; see [`RuntimeApi::timeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolEvent {
    /// The runtime called `GET …/runtime/invocation/next`.
    NextRequested,
    /// The init phase completed: the runtime and every extension were parked in `next`.
    InitCompleted,
    /// An invocation was handed to the runtime (and `INVOKE` to extensions).
    InvocationDispatched {
        /// The Lambda request id.
        request_id: String,
    },
    /// The runtime posted `…/invocation/{id}/response`.
    ResponsePosted {
        /// The Lambda request id.
        request_id: String,
    },
    /// The runtime posted `…/invocation/{id}/error`.
    ErrorPosted {
        /// The Lambda request id.
        request_id: String,
        /// `errorType` from the body (or the header).
        error_type: Option<String>,
    },
    /// The runtime posted `…/runtime/init/error`.
    InitErrorPosted {
        /// `errorType` from the body (or the header).
        error_type: Option<String>,
    },
    /// A post referred to a request id that is not the running invocation (`400`).
    InvalidRequestId {
        /// The id in the path.
        request_id: String,
    },
    /// The invocation completed (the sandbox may freeze).
    InvocationCompleted {
        /// The Lambda request id.
        request_id: String,
    },
    /// The invocation missed its deadline.
    InvocationTimedOut {
        /// The Lambda request id.
        request_id: String,
    },
    /// An extension registered.
    ExtensionRegistered {
        /// `Lambda-Extension-Identifier` given to it.
        extension_id: String,
        /// `Lambda-Extension-Name`.
        name: String,
        /// The events it registered for (`INVOKE`, `SHUTDOWN`).
        events: Vec<String>,
    },
    /// A registration was refused (after init, or malformed).
    ExtensionRegistrationRefused {
        /// `Lambda-Extension-Name`.
        name: String,
        /// Why.
        reason: String,
    },
    /// An extension called `GET /2020-01-01/extension/event/next`.
    ExtensionNextRequested {
        /// Its identifier.
        extension_id: String,
    },
    /// An event was handed to an extension.
    ExtensionEventDelivered {
        /// Its identifier.
        extension_id: String,
        /// `INVOKE` or `SHUTDOWN`.
        event_type: String,
        /// The request id of an `INVOKE`.
        request_id: Option<String>,
    },
    /// An extension posted `/extension/init/error` or `/extension/exit/error`.
    ExtensionErrorPosted {
        /// Its identifier.
        extension_id: String,
        /// `init` or `exit`.
        phase: String,
        /// `Lambda-Extension-Function-Error-Type`.
        error_type: Option<String>,
    },
    /// [`RuntimeApi::shutdown`] sent `SHUTDOWN`.
    ShutdownSent,
    /// [`RuntimeApi::reset`] forgot the environment (a new process is expected).
    Reset,
}

/// A [`ProtocolEvent`] with the time it happened.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub event: ProtocolEvent,
}
