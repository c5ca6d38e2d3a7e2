//! Lambda integration: the handler wrapper that tracks on success, and [`run`], which starts the
//! runtime with an internal extension that flushes after each response.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lambda_extension::NextEvent;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tower::Layer;
use lambda_runtime::{
    Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation, Runtime, Service,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::builder::EventBuilder;
use crate::context::{Ids, TrackingContext};
use crate::publisher::global;

type BoxError = lambda_runtime::Error;

/// Wraps a Lambda handler so that `event` is tracked each time the handler succeeds (the old
/// decorator's contract): nothing is tracked when it returns `Err` or panics, nor when it
/// returns `Ok` with an HTTP response whose status is not 2xx or 3xx (a 4xx or 5xx answer is a
/// failed request, whatever the `Result`). The ids come from the incoming event, read before
/// the handler runs. The response type says what success is through [`SuccessStatus`].
///
/// ```no_run
/// use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
/// use kx_events::{track_on_ok, EventBuilder};
/// use lambda_runtime::{Error, LambdaEvent};
///
/// async fn create_user(
///     event: LambdaEvent<ApiGatewayProxyRequest>,
/// ) -> Result<ApiGatewayProxyResponse, Error> {
///     let mut response = ApiGatewayProxyResponse::default();
///     response.status_code = 201;
///     Ok(response)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     kx_events::run(track_on_ok(
///         EventBuilder::new("user", "user_created").source("api").points_awarded(100),
///         create_user,
///     ))
///     .await
/// }
/// ```
pub fn track_on_ok<F>(event: EventBuilder, handler: F) -> TrackOnOk<F> {
    TrackOnOk { event, handler }
}

/// What [`track_on_ok`] counts as a successful response.
///
/// HTTP responses (the API Gateway REST and HTTP API, ALB and Function URL response structs,
/// `http::Response`, and a JSON value with a numeric `statusCode`) succeed with a 2xx or 3xx
/// status; `()`, strings and other JSON values always succeed. For a response type of your
/// own, implement it (the default method says "success"):
///
/// ```
/// struct Report { rows: usize }
/// impl kx_events::SuccessStatus for Report {}
///
/// struct Answer { status: u16 }
/// impl kx_events::SuccessStatus for Answer {
///     fn is_success(&self) -> bool { self.status < 400 }
/// }
/// # let _ = (Report { rows: 1 }.rows, Answer { status: 200 }.status);
/// ```
pub trait SuccessStatus {
    /// `true` when the call succeeded and its event should be tracked.
    fn is_success(&self) -> bool {
        true
    }
}

/// A 2xx or 3xx status.
fn http_success(status: i64) -> bool {
    (200..400).contains(&status)
}

macro_rules! status_code_success {
    ($($ty:ty),+) => {$(
        impl SuccessStatus for $ty {
            fn is_success(&self) -> bool {
                http_success(self.status_code)
            }
        }
    )+};
}

status_code_success!(
    aws_lambda_events::apigw::ApiGatewayProxyResponse,
    aws_lambda_events::apigw::ApiGatewayV2httpResponse,
    aws_lambda_events::alb::AlbTargetGroupResponse,
    aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse
);

impl<B> SuccessStatus for aws_lambda_events::http::Response<B> {
    fn is_success(&self) -> bool {
        http_success(i64::from(self.status().as_u16()))
    }
}

/// A JSON response with a numeric `statusCode` (what a Lambda proxy integration reads) succeeds
/// with a 2xx or 3xx status; any other JSON value succeeds.
impl SuccessStatus for serde_json::Value {
    fn is_success(&self) -> bool {
        match self.get("statusCode").and_then(serde_json::Value::as_i64) {
            Some(status) => http_success(status),
            None => true,
        }
    }
}

impl SuccessStatus for () {}
impl SuccessStatus for String {}
impl SuccessStatus for &str {}
impl SuccessStatus for aws_lambda_events::sqs::SqsBatchResponse {}

/// A handler that tracks an event when it succeeds; see [`track_on_ok`].
#[derive(Debug, Clone)]
pub struct TrackOnOk<F> {
    event: EventBuilder,
    handler: F,
}

impl<F, T, Fut, R, E> Service<LambdaEvent<T>> for TrackOnOk<F>
where
    F: FnMut(LambdaEvent<T>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    T: TrackingContext,
    R: SuccessStatus,
{
    type Response = R;
    type Error = E;
    type Future = TrackOnOkFuture<Fut>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LambdaEvent<T>) -> Self::Future {
        let ids = request.payload.tracking_ids();
        TrackOnOkFuture {
            handler: Box::pin((self.handler)(request)),
            pending: Some((self.event.clone(), ids)),
        }
    }
}

/// The future of a [`TrackOnOk`] handler call.
pub struct TrackOnOkFuture<Fut> {
    handler: Pin<Box<Fut>>,
    pending: Option<(EventBuilder, Ids)>,
}

impl<Fut, R, E> Future for TrackOnOkFuture<Fut>
where
    Fut: Future<Output = Result<R, E>>,
    R: SuccessStatus,
{
    type Output = Result<R, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match self.handler.as_mut().poll(cx) {
            Poll::Ready(out) => out,
            Poll::Pending => return Poll::Pending,
        };
        if out.as_ref().is_ok_and(SuccessStatus::is_success) {
            if let Some((event, ids)) = self.pending.take() {
                // Not tracked (no client id, invalid): already logged, and never the handler's
                // failure.
                if let Ok(event) = event.build_with_ids(ids) {
                    global().enqueue(event);
                }
            }
        }
        Poll::Ready(out)
    }
}

/// Starts the Lambda runtime with `handler`, like `lambda_runtime::run`, plus an internal
/// extension that delivers tracked events before the sandbox freezes.
///
/// The extension (the pattern of aws-lambda-rust-runtime's `extension-internal-flush` example)
/// receives each `INVOKE`, waits until the runtime has **posted the response**, then flushes;
/// only then does it ask Lambda for the next event, so the function's latency never includes the
/// send and no event waits in a frozen sandbox. Events are held until that flush (see
/// [`Publisher::hold_until_flush`](crate::Publisher::hold_until_flush)), so no send competes with
/// the handler. The flush stops shortly before the invocation's deadline: whatever is not sent
/// by then is logged at error level with its JSON, and the invocation does not time out because
/// of a send. The flush lasts at most the flush budget ([`Config::with_flush_timeout`](crate::Config::with_flush_timeout),
/// 500 ms by default) and always stops 250 ms before the invocation's deadline, so that a slow
/// SQS cannot stretch every invocation.
///
/// Lambda gives internal extensions no `SHUTDOWN` event: on `SIGTERM` (sent at shutdown when an
/// extension is registered) whatever is still queued — events tracked outside an invocation — is
/// flushed, bounded, and then `run` **returns** `Ok(())` instead of exiting the process: the
/// code after `run(..).await` (an OpenTelemetry shutdown, say) runs, and guards such as
/// tracing-appender's are dropped as `main` returns. Put such shutdown work there.
///
/// ```no_run
/// use kx_events::track;
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     track!(event, "notification", "email_sent", source = "worker", points_awarded = 10);
///     Ok(serde_json::json!({ "status": "completed" }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     kx_events::run(service_fn(handler)).await
/// }
/// ```
pub async fn run<A, F, R, B, S, D, E>(handler: F) -> Result<(), BoxError>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<BoxError> + Send + Debug,
{
    // Start the sender (and load the SDK configuration) during init, not in the first invoke,
    // and keep events until the response is posted: the extension flushes them then.
    global().hold_until_flush();

    let (done_tx, done_rx) = unbounded_channel::<()>();
    let done_rx = Arc::new(tokio::sync::Mutex::new(done_rx));
    let extension = lambda_extension::Extension::new()
        .with_extension_name("kx-events-flush")
        // Internal extensions can only register for INVOKE.
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(
            move |event: lambda_extension::LambdaEvent| {
                let done_rx = done_rx.clone();
                async move {
                    let deadline = match &event.next {
                        NextEvent::Invoke(invoke) => {
                            flush_deadline(invoke.deadline_ms, global().config().flush_timeout())
                        }
                        // Internal extensions get no SHUTDOWN; if one comes, deliver what is left.
                        NextEvent::Shutdown(_) => {
                            shutdown_flush().await;
                            return Ok(());
                        }
                    };
                    // Wait for the runtime to post this invocation's response, then deliver.
                    done_rx
                        .lock()
                        .await
                        .recv()
                        .await
                        .ok_or("kx-events: the runtime stopped")?;
                    global()
                        .flush_before_with(deadline, INVOKE_FLUSH_REASON)
                        .await;
                    Ok::<(), BoxError>(())
                }
            },
        ))
        // Extensions register before the runtime's first `next`, which ends the init phase.
        .register()
        .await?;

    let runtime = Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(NotifyAfterResponseLayer { done: done_tx });
    tokio::select! {
        result = async { tokio::try_join!(runtime.run(), extension.run()) } => {
            result?;
        }
        // SIGTERM: what is still queued has been flushed; return, so that the program's own
        // shutdown (the code after `run(..).await`, guards dropped as `main` returns) runs.
        () = sigterm_then_flush() => {}
    }
    Ok(())
}

/// Starts the Lambda runtime with a `lambda_http` handler (an axum `Router`, any `tower`
/// service of [`lambda_http::Request`], or `lambda_http::service_fn`), like `lambda_http::run`,
/// plus the flush extension of [`run`]: tracked events are sent after each response is posted
/// and before the sandbox freezes.
///
/// ```no_run
/// use axum::{http::request::Parts, routing::post, Router};
/// use kx_events::track;
///
/// async fn create_order(parts: Parts) -> &'static str {
///     track!(parts, "order", "order_created", source = "api");
///     "created"
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_http::Error> {
///     kx_events::run_http(Router::new().route("/orders", post(create_order))).await
/// }
/// ```
#[cfg(feature = "lambda-http")]
pub async fn run_http<'a, R, S, E>(handler: S) -> Result<(), BoxError>
where
    S: Service<lambda_http::Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: lambda_http::IntoResponse,
    E: Debug + Into<Diagnostic>,
{
    // The adapter that `lambda_http::run` itself wraps the handler in (event → `Request`,
    // `IntoResponse` → the event source's response shape); the bounds are the same as there.
    run(lambda_http::Adapter::from(handler)).await
}

/// How long before the invocation's deadline the flush gives up (and logs what is left), so
/// that the invocation itself never times out because of a send.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// How long a flush may take at shutdown (Lambda allows 500 ms to 2 s after SIGTERM).
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(400);

/// The reason logged for each event the flush after a response could not send.
const INVOKE_FLUSH_REASON: &str = "not sent before the flush deadline (flush_timeout after the response, or 250 ms before the invocation's deadline): given up";

/// The instant to stop flushing for an invocation whose deadline is `deadline_ms` (Unix ms):
/// the flush budget from now, and never later than the margin before the deadline.
fn flush_deadline(deadline_ms: u64, flush_timeout: Duration) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN).min(flush_timeout)
}

/// Delivers what is still queued at shutdown, bounded.
async fn shutdown_flush() {
    global()
        .flush_before_with(
            Instant::now() + SHUTDOWN_FLUSH,
            "not sent before the sandbox shut down (SIGTERM): given up",
        )
        .await;
}

/// Waits for SIGTERM (never, where there are no Unix signals), then delivers what is still
/// queued, bounded.
async fn sigterm_then_flush() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            if term.recv().await.is_some() {
                shutdown_flush().await;
                return;
            }
        }
    }
    std::future::pending::<()>().await;
}

/// The outermost runtime layer: its future ends after the inner service has posted the
/// response to the Runtime API; then it tells the flush extension.
struct NotifyAfterResponseLayer {
    done: UnboundedSender<()>,
}

impl<S> Layer<S> for NotifyAfterResponseLayer {
    type Service = NotifyAfterResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NotifyAfterResponse {
            inner,
            done: self.done.clone(),
        }
    }
}

struct NotifyAfterResponse<S> {
    inner: S,
    done: UnboundedSender<()>,
}

impl<S> Service<LambdaInvocation> for NotifyAfterResponse<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
{
    type Response = ();
    type Error = BoxError;
    type Future = NotifyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        NotifyFuture {
            inner: Box::pin(self.inner.call(invocation)),
            done: Some(self.done.clone()),
        }
    }
}

struct NotifyFuture<F> {
    inner: Pin<Box<F>>,
    done: Option<UnboundedSender<()>>,
}

impl<F: Future<Output = Result<(), BoxError>>> Future for NotifyFuture<F> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match self.inner.as_mut().poll(cx) {
            Poll::Ready(out) => out,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(done) = self.done.take() {
            // The extension is gone only when the process is ending.
            let _ = done.send(());
        }
        Poll::Ready(out)
    }
}
