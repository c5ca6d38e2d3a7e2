//! The local SQS event-source mapping: how kx-events' consumer runs without AWS.
//!
//! [`Runner`] does what Lambda's event-source mapping does for an SQS queue with
//! `ReportBatchItemFailures`:
//!
//! 1. **Poll.** Long-polls the queue (`ReceiveMessage`, `WaitTimeSeconds` up to 20,
//!    `MaxNumberOfMessages` 10, every system attribute including `ApproximateReceiveCount`, every
//!    message attribute). The endpoint comes from the SDK's own configuration
//!    (`AWS_ENDPOINT_URL` against moto).
//! 2. **Batch.** Gathers up to [`RunnerConfig::batch_size`] messages: it invokes when the batch is
//!    full, when [`RunnerConfig::batching_window`] has passed since the first message, or when
//!    the next message would push the event over Lambda's 6 MB payload limit. With no window it
//!    invokes with whatever one poll returned.
//! 3. **Invoke.** Builds the `SqsEvent` exactly as Lambda does (see [`sqs_event`]) and invokes the
//!    function through the [`RuntimeApi`] with the function timeout.
//! 4. **Settle.** On a normal response, reads `batchItemFailures[].itemIdentifier` and deletes
//!    every other message (`DeleteMessageBatch`). As on AWS, a `null`/empty response or an empty
//!    list means every message succeeded, and a response that cannot be read, or names an empty,
//!    missing or unknown message id, fails the whole batch. A function error, a timeout, an init
//!    error or a crashed process fails the whole batch. Failed messages are left on the queue:
//!    SQS redelivers them after the visibility timeout and the queue's redrive policy moves them
//!    to the DLQ after `maxReceiveCount` receives (moto does this too).
//!
//! After a timeout, an init error or a crash the function process is replaced (a new execution
//! environment), as Lambda does.
//!
//! **Local convenience, not AWS behaviour:** [`RunnerConfig::retry_delay`] makes failed messages
//! visible again after a short delay (`ChangeMessageVisibilityBatch`) instead of the queue's
//! visibility timeout (kx-events' queue uses 300 s), so retries and redrive happen in seconds.
//!
//! One execution environment processes one batch at a time (AWS would scale pollers and
//! environments with the backlog).
//!
//! This module holds the configuration, the counters and the poll-batch-invoke-settle loop;
//! `event` holds the wire format on the Lambda side: the `SqsEvent` and the batch response.

mod event;

pub use event::{batch_item_failures, sqs_event};

use crate::function::Function;
use crate::runtime_api::{InvocationOutcome, RuntimeApi, MAX_PAYLOAD_BYTES};
use crate::{Error, Result};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use event::record_size;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// When [`Runner::run`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Until [`StopHandle::stop`] is called.
    Forever,
    /// Once no message has been received for this long (or when stopped).
    WhenIdle(Duration),
}

/// Settings of a [`Runner`].
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The queue to consume.
    pub queue_url: String,
    /// Maximum records per invocation (the mapping's `BatchSize`, 1–10000; default 10).
    pub batch_size: usize,
    /// The mapping's `MaximumBatchingWindowInSeconds` (default 0: invoke with what one poll
    /// returned).
    pub batching_window: Duration,
    /// The function timeout, i.e. each invocation's deadline (default 30 s).
    pub function_timeout: Duration,
    /// Local convenience: make failed messages visible again after this delay instead of the
    /// queue's visibility timeout. `None` (default) keeps AWS behaviour.
    pub retry_delay: Option<Duration>,
    /// When to stop (default [`StopMode::Forever`]).
    pub stop: StopMode,
    /// The queue ARN for `eventSourceARN`; looked up with `GetQueueAttributes` when `None`.
    pub queue_arn: Option<String>,
}

impl RunnerConfig {
    /// Defaults of a new event-source mapping for `queue_url`.
    pub fn new(queue_url: impl Into<String>) -> Self {
        RunnerConfig {
            queue_url: queue_url.into(),
            batch_size: 10,
            batching_window: Duration::ZERO,
            function_timeout: Duration::from_secs(30),
            retry_delay: None,
            stop: StopMode::Forever,
            queue_arn: None,
        }
    }
}

/// Counters of a runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// `ReceiveMessage` calls.
    pub polls: u64,
    /// Batches handed to the function.
    pub batches: u64,
    /// Messages handed to the function (a redelivered message counts again).
    pub messages: u64,
    /// Messages deleted after success.
    pub deleted: u64,
    /// Messages left for redelivery (reported, or in a failed batch).
    pub failed: u64,
    /// Invocations.
    pub invocations: u64,
    /// Invocations that failed as a whole (function error, bad response, timeout, init error,
    /// crash).
    pub errors: u64,
    /// Invocations that timed out.
    pub timeouts: u64,
    /// Times the function process was replaced.
    pub restarts: u64,
    /// Messages whose deletion failed (they will be redelivered).
    pub delete_failures: u64,
}

impl std::fmt::Display for RunnerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batches={} messages={} deleted={} failed={} invocations={} errors={} timeouts={} restarts={} polls={} delete_failures={}",
            self.batches,
            self.messages,
            self.deleted,
            self.failed,
            self.invocations,
            self.errors,
            self.timeouts,
            self.restarts,
            self.polls,
            self.delete_failures
        )
    }
}

/// Stops a running [`Runner`] after its current batch.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Asks the runner to stop. A poll in progress is abandoned: a message it was receiving
    /// becomes visible again after the visibility timeout (delayed, not lost).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// The local event-source mapping; see the module documentation.
#[derive(Debug)]
pub struct Runner {
    sqs: aws_sdk_sqs::Client,
    region: String,
    queue_arn: String,
    config: RunnerConfig,
    stats: Arc<Mutex<RunnerStats>>,
    stop: Arc<watch::Sender<bool>>,
}

/// How one batch ended, for logs.
enum BatchResult {
    Settled(HashSet<String>),
    Failed(String),
}

impl Runner {
    /// A runner with an SQS client from [`crate::aws_sdk_config`].
    pub async fn new(config: RunnerConfig) -> Result<Runner> {
        let sdk = crate::aws_sdk_config().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        Self::with_client(aws_sdk_sqs::Client::new(&sdk), region, config).await
    }

    /// A runner with the given SQS client; `region` is the records' `awsRegion`.
    pub async fn with_client(
        sqs: aws_sdk_sqs::Client,
        region: impl Into<String>,
        config: RunnerConfig,
    ) -> Result<Runner> {
        if !(1..=10_000).contains(&config.batch_size) {
            return Err(Error::Config(format!(
                "batch size {} is outside 1..=10000",
                config.batch_size
            )));
        }
        let queue_arn = match &config.queue_arn {
            Some(arn) => arn.clone(),
            None => sqs
                .get_queue_attributes()
                .queue_url(&config.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| aws_error("GetQueueAttributes", e))?
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .cloned()
                .ok_or_else(|| Error::Aws {
                    operation: "GetQueueAttributes",
                    message: format!("no QueueArn for {}", config.queue_url),
                })?,
        };
        let (stop, _) = watch::channel(false);
        Ok(Runner {
            sqs,
            region: region.into(),
            queue_arn,
            config,
            stats: Arc::default(),
            stop: Arc::new(stop),
        })
    }

    /// The queue ARN used as `eventSourceARN`.
    pub fn queue_arn(&self) -> &str {
        &self.queue_arn
    }

    /// A handle that stops [`Runner::run`] after its current batch.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> RunnerStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Consumes the queue with `function` (its process is replaced after a timeout, an init error
    /// or a crash) until the [`StopMode`] says so; returns the counters.
    pub async fn run(&self, function: &mut Function) -> Result<RunnerStats> {
        let api = function.api().clone();
        self.run_inner(&api, Some(function)).await
    }

    /// Consumes the queue through `api` when the function process is managed elsewhere (e.g.
    /// started by hand with `AWS_LAMBDA_RUNTIME_API` pointing at `api`). Nothing is restarted.
    pub async fn run_with_api(&self, api: &RuntimeApi) -> Result<RunnerStats> {
        self.run_inner(api, None).await
    }

    async fn run_inner(
        &self,
        api: &RuntimeApi,
        mut function: Option<&mut Function>,
    ) -> Result<RunnerStats> {
        let mut stop = self.stop.subscribe();
        let mut carry: Vec<Message> = Vec::new();
        let mut last_message = Instant::now();
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            if let StopMode::WhenIdle(idle) = self.config.stop {
                if carry.is_empty() && last_message.elapsed() >= idle {
                    tracing::info!(idle_s = idle.as_secs_f64(), "queue idle: stopping");
                    break;
                }
            }
            let batch = tokio::select! {
                batch = self.collect_batch(&mut carry, last_message) => batch?,
                _ = stop.changed() => break,
            };
            if batch.is_empty() {
                continue;
            }
            self.process(api, function.as_deref_mut(), batch).await?;
            last_message = Instant::now();
        }
        Ok(self.stats())
    }

    fn bump(&self, f: impl FnOnce(&mut RunnerStats)) {
        if let Ok(mut stats) = self.stats.lock() {
            f(&mut stats);
        }
    }

    /// Gathers one batch (possibly empty after an idle long poll).
    async fn collect_batch(
        &self,
        carry: &mut Vec<Message>,
        last_message: Instant,
    ) -> Result<Vec<Message>> {
        let mut batch: Vec<Message> = Vec::new();
        let mut size = 2 + 64; // `{"Records":[…]}` and slack
        let mut window_end: Option<Instant> = None;
        loop {
            // Messages held back from the previous batch (payload limit) come first.
            while let Some(message) = carry.first() {
                let message_size = record_size(message);
                if !batch.is_empty()
                    && (batch.len() >= self.config.batch_size
                        || size + message_size > MAX_PAYLOAD_BYTES)
                {
                    return Ok(batch);
                }
                size += message_size;
                batch.push(carry.remove(0));
                window_end.get_or_insert_with(|| Instant::now() + self.config.batching_window);
            }
            if batch.len() >= self.config.batch_size {
                return Ok(batch);
            }
            let now = Instant::now();
            let wait = match window_end {
                None => {
                    // Nothing yet: an ordinary long poll, shortened to notice idleness.
                    let mut wait = Duration::from_secs(20);
                    if let StopMode::WhenIdle(idle) = self.config.stop {
                        let left = idle.saturating_sub(last_message.elapsed());
                        wait = wait.min(left.max(Duration::from_secs(1)));
                    }
                    wait
                }
                Some(end) if end <= now => return Ok(batch),
                Some(_) if self.config.batching_window.is_zero() => return Ok(batch),
                Some(end) => end - now,
            };
            let wait_seconds = wait.as_secs().min(20) as i32;
            let wanted = (self.config.batch_size - batch.len()).min(10) as i32;
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.config.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            self.bump(|s| s.polls += 1);
            let messages = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(error) => {
                    let error = aws_error("ReceiveMessage", error);
                    tracing::warn!(%error, "poll failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if batch.is_empty() {
                        return Ok(batch);
                    }
                    continue;
                }
            };
            if messages.is_empty() {
                if window_end.is_none() {
                    return Ok(batch);
                }
                if wait_seconds == 0 {
                    // Sub-second remainder of the window: poll again shortly.
                    tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
                }
                continue;
            }
            carry.extend(messages);
        }
    }

    async fn process(
        &self,
        api: &RuntimeApi,
        function: Option<&mut Function>,
        batch: Vec<Message>,
    ) -> Result<()> {
        let count = batch.len();
        let event = sqs_event(&batch, &self.queue_arn, &self.region);
        self.bump(|s| {
            s.batches += 1;
            s.messages += count as u64;
            s.invocations += 1;
        });
        let started = Instant::now();
        let mut replace_environment = false;
        let outcome = match function {
            Some(function) => {
                if let Some(status) = function.try_exit_status() {
                    // It died between batches: start a new environment before invoking.
                    tracing::warn!(%status, "function process had exited; starting a new one");
                    function.restart().await?;
                    self.bump(|s| s.restarts += 1);
                }
                let outcome = tokio::select! {
                    outcome = api.invoke(event, self.config.function_timeout) => Some(outcome?),
                    status = function.exited() => {
                        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                        tracing::warn!(%status, "function process exited during the invocation");
                        None
                    }
                };
                let result = match &outcome {
                    None => {
                        replace_environment = true;
                        BatchResult::Failed("Runtime.ExitError: the process exited".into())
                    }
                    Some(outcome) => settle(outcome, &batch, &mut replace_environment),
                };
                if replace_environment {
                    if matches!(outcome, None | Some(InvocationOutcome::InitError(_))) {
                        // Do not spin on a function that cannot start.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    function.restart().await?;
                    self.bump(|s| s.restarts += 1);
                }
                result
            }
            None => {
                let outcome = api.invoke(event, self.config.function_timeout).await?;
                settle(&outcome, &batch, &mut replace_environment)
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let failed: HashSet<String> = match &outcome {
            BatchResult::Settled(failed) => failed.clone(),
            BatchResult::Failed(reason) => {
                tracing::warn!(records = count, elapsed_ms, %reason, "batch failed as a whole");
                self.bump(|s| {
                    s.errors += 1;
                    if reason.starts_with("timeout") {
                        s.timeouts += 1;
                    }
                });
                batch.iter().filter_map(|m| m.message_id.clone()).collect()
            }
        };
        let (to_delete, to_retry): (Vec<&Message>, Vec<&Message>) = batch
            .iter()
            .partition(|m| !failed.contains(m.message_id().unwrap_or_default()));
        let deleted = self.delete(&to_delete).await;
        self.bump(|s| {
            s.deleted += deleted as u64;
            s.delete_failures += (to_delete.len() - deleted) as u64;
            s.failed += to_retry.len() as u64;
        });
        if let Some(delay) = self.config.retry_delay {
            self.make_visible(&to_retry, delay).await;
        }
        if matches!(outcome, BatchResult::Settled(_)) {
            tracing::info!(
                records = count,
                deleted,
                failed = to_retry.len(),
                elapsed_ms,
                "batch done"
            );
        }
        Ok(())
    }

    /// Deletes messages in chunks of 10; returns how many were deleted.
    async fn delete(&self, messages: &[&Message]) -> usize {
        let mut deleted = 0;
        for chunk in messages.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => {
                    for failure in output.failed() {
                        tracing::warn!(id = failure.id(), code = failure.code(), "delete failed");
                    }
                    deleted += output.successful().len();
                }
                Err(error) => {
                    let error = aws_error("DeleteMessageBatch", error);
                    tracing::warn!(%error, "delete failed; the messages will be redelivered");
                }
            }
        }
        deleted
    }

    async fn make_visible(&self, messages: &[&Message], delay: Duration) {
        for chunk in messages.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .visibility_timeout(delay.as_secs().min(43_200) as i32)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(error) = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                let error = aws_error("ChangeMessageVisibilityBatch", error);
                tracing::warn!(%error, "could not shorten the retry delay");
            }
        }
    }
}

/// Applies `ReportBatchItemFailures` to an outcome.
fn settle(
    outcome: &InvocationOutcome,
    batch: &[Message],
    replace_environment: &mut bool,
) -> BatchResult {
    match outcome {
        InvocationOutcome::Response(response) => {
            let ids: HashSet<&str> = batch.iter().filter_map(|m| m.message_id()).collect();
            match batch_item_failures(response, &ids) {
                Ok(failed) => BatchResult::Settled(failed),
                Err(reason) => BatchResult::Failed(reason),
            }
        }
        InvocationOutcome::FunctionError(error) => {
            BatchResult::Failed(format!("function error: {error}"))
        }
        InvocationOutcome::InitError(error) => {
            *replace_environment = true;
            BatchResult::Failed(format!("init error: {}", error.body))
        }
        InvocationOutcome::Timeout => {
            *replace_environment = true;
            BatchResult::Failed(
                "timeout: the invocation did not complete before its deadline".into(),
            )
        }
    }
}

fn aws_error(operation: &'static str, error: impl std::error::Error) -> Error {
    Error::Aws {
        operation,
        message: kx_events::error_chain(&error),
    }
}
