//! Configuration of a [`Publisher`](crate::Publisher): where events go, and how hard to try.

use std::time::Duration;

use crate::contract::DEFAULT_EVENT_SOURCE;

/// SQS's limit on entries in one `SendMessageBatch` (and EventBridge's for `PutEvents`).
pub(crate) const MAX_BATCH: usize = 10;

/// Where events go and how they are sent.
///
/// [`Config::from_env`] reads the environment; the `with_*` methods override any setting.
///
/// | variable | meaning | default |
/// | --- | --- | --- |
/// | `EVENTS_QUEUE_URL` | URL of the events queue (required) | none: nothing is sent, each event is logged |
/// | `EVENT_BUS_NAME` | also put each event on this bus at once (real-time path) | unset: the consumer publishes |
/// | `EVENT_SOURCE` | `Source` of the bus entries | `kx-event-tracking` |
/// | `AWS_ENDPOINT_URL` | endpoint of the AWS APIs (read by the AWS SDK) | AWS |
///
/// ```
/// use std::time::Duration;
/// use kx_events::Config;
///
/// let config = Config::from_env()
///     .with_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/events")
///     .with_queue_capacity(50_000)
///     .with_max_attempts(8)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(5));
/// assert_eq!(config.queue_capacity(), 50_000);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) queue_url: Option<String>,
    pub(crate) event_bus_name: Option<String>,
    pub(crate) event_source: String,
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) max_attempts: u32,
    pub(crate) base_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) sdk_config: Option<aws_config::SdkConfig>,
}

impl Default for Config {
    /// No queue, no bus, source `kx-event-tracking`, 10,000 queued events at most, batches of
    /// 10, 6 attempts per event with backoff from 100 ms to 2 s.
    fn default() -> Self {
        Self {
            queue_url: None,
            event_bus_name: None,
            event_source: DEFAULT_EVENT_SOURCE.to_owned(),
            queue_capacity: 10_000,
            batch_size: MAX_BATCH,
            max_attempts: 6,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_in_flight: 4,
            endpoint_url: None,
            sdk_config: None,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// The defaults, with `EVENTS_QUEUE_URL`, `EVENT_BUS_NAME` and `EVENT_SOURCE` from the
    /// environment (an empty variable counts as unset).
    pub fn from_env() -> Self {
        let defaults = Self::default();
        Self {
            queue_url: env("EVENTS_QUEUE_URL"),
            event_bus_name: env("EVENT_BUS_NAME"),
            event_source: env("EVENT_SOURCE").unwrap_or(defaults.event_source.clone()),
            ..defaults
        }
    }

    /// Sends events to this queue.
    pub fn with_queue_url(mut self, url: impl Into<String>) -> Self {
        self.queue_url = Some(url.into());
        self
    }

    /// Also puts every event on this EventBridge bus at once (`None`: leave it to the consumer).
    pub fn with_event_bus_name(mut self, name: Option<String>) -> Self {
        self.event_bus_name = name;
        self
    }

    /// `Source` of the bus entries.
    pub fn with_event_source(mut self, source: impl Into<String>) -> Self {
        self.event_source = source.into();
        self
    }

    /// How many events may wait in memory for the background sender (at least 1). Past that,
    /// `track!` reports [`TrackError::QueueFull`](crate::TrackError::QueueFull).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Entries per `SendMessageBatch`/`PutEvents` call, 1 to 10.
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.clamp(1, MAX_BATCH);
        self
    }

    /// How many times an event is sent before it is given up on and logged (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Backoff between attempts: `base` doubled after each failure, at most `max`, with jitter
    /// (each wait is drawn between half and all of the computed delay).
    pub fn with_backoff(mut self, base: std::time::Duration, max: std::time::Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max.max(base);
        self
    }

    /// Sends to this endpoint instead of the one the AWS SDK picks (which already honours
    /// `AWS_ENDPOINT_URL`). Ignored with [`Config::with_sdk_config`], whose endpoint is used.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses this AWS SDK configuration instead of loading one from the environment (by default
    /// the client loads one with a rustls/ring HTTPS client, no SDK-level retries — the
    /// client's own per-entry retries apply — a 3 s connect timeout and a 10 s attempt timeout).
    pub fn with_sdk_config(mut self, sdk_config: aws_config::SdkConfig) -> Self {
        self.sdk_config = Some(sdk_config);
        self
    }

    /// The queue URL, if any.
    pub fn queue_url(&self) -> Option<&str> {
        self.queue_url.as_deref()
    }

    /// The bus name, if any.
    pub fn event_bus_name(&self) -> Option<&str> {
        self.event_bus_name.as_deref()
    }

    /// The bus entries' `Source`.
    pub fn event_source(&self) -> &str {
        &self.event_source
    }

    /// The in-memory queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// Entries per batch call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Attempts per event.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before retry number `attempt` (1 for the first retry), jittered.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        let full = self
            .base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}
