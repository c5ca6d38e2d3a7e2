//! Configuration of a [`Publisher`](crate::Publisher): where events go, and how hard to try.

use std::time::Duration;

use crate::contract::DEFAULT_EVENT_SOURCE;

/// How much longer the backoff is after a throttling error.
pub(crate) const THROTTLE_FACTOR: u32 = 4;

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
/// | `EVENTS_AUTHORIZER_FIRST` | `true`: the authorizer's `clientId` wins over headers, query and body (see [`Config::with_authorizer_first`]) | `false` |
/// | `AWS_ENDPOINT_URL` | endpoint of the AWS APIs (read by the AWS SDK) | AWS |
///
/// Memory is bounded: at most [`queue_capacity`](Config::queue_capacity) events and
/// [`queue_max_bytes`](Config::queue_max_bytes) bytes of wire JSON are held at once, counting
/// every event not yet settled (waiting, backing off or in flight); past either,
/// `track!` reports [`TrackError::QueueFull`](crate::TrackError::QueueFull).
///
/// ```
/// use std::time::Duration;
/// use kx_events::Config;
///
/// let config = Config::from_env()
///     .with_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/events")
///     .with_queue_capacity(50_000)
///     .with_max_attempts(8)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(5))
///     .with_flush_timeout(Duration::from_millis(300));
/// assert_eq!(config.queue_capacity(), 50_000);
/// assert_eq!(config.flush_timeout(), Duration::from_millis(300));
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
    pub(crate) queue_max_bytes: usize,
    pub(crate) flush_timeout: Duration,
    pub(crate) bus_put_timeout: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) authorizer_first: bool,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) sdk_config: Option<aws_config::SdkConfig>,
}

impl Default for Config {
    /// No queue, no bus, source `kx-event-tracking`, at most 10,000 events and 16 MiB held in
    /// memory, batches of 10, 6 attempts per event with backoff from 100 ms to 2 s (four times
    /// longer after throttling), a flush budget of 500 ms, 300 ms for the direct `PutEvents`, the
    /// circuit breaker opening for 30 s after 3 permanent failures in a row, request values
    /// before the authorizer's.
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
            queue_max_bytes: 16 * 1024 * 1024,
            flush_timeout: Duration::from_millis(500),
            bus_put_timeout: Duration::from_millis(300),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            authorizer_first: false,
            endpoint_url: None,
            sdk_config: None,
        }
    }
}

/// The smallest byte budget: one event of the largest size fits.
const MIN_QUEUE_BYTES: usize = 64 * 1024 + 4 * 1024;

/// `EVENTS_AUTHORIZER_FIRST`: `true`, `1` or `yes` (any case) turns it on.
pub(crate) fn authorizer_first_from_env() -> bool {
    env("EVENTS_AUTHORIZER_FIRST")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// The defaults, with `EVENTS_QUEUE_URL`, `EVENT_BUS_NAME`, `EVENT_SOURCE` and
    /// `EVENTS_AUTHORIZER_FIRST` (`true`/`1`) from the environment (an empty variable counts as
    /// unset).
    pub fn from_env() -> Self {
        let defaults = Self::default();
        Self {
            queue_url: env("EVENTS_QUEUE_URL"),
            event_bus_name: env("EVENT_BUS_NAME"),
            event_source: env("EVENT_SOURCE").unwrap_or(defaults.event_source.clone()),
            authorizer_first: authorizer_first_from_env(),
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

    /// How many events may be held in memory at once (at least 1): waiting, backing off after
    /// a failure, or in flight. Past that, `track!` reports
    /// [`TrackError::QueueFull`](crate::TrackError::QueueFull). Default 10,000.
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many bytes of events may be held in memory at once, counted as each event's wire
    /// JSON plus its entity and event type (at least 64 KiB, so that one event of the largest
    /// size always fits). Past that, `track!` reports
    /// [`TrackError::QueueFull`](crate::TrackError::QueueFull). Default 16 MiB.
    pub fn with_queue_max_bytes(mut self, bytes: usize) -> Self {
        self.queue_max_bytes = bytes.max(MIN_QUEUE_BYTES);
        self
    }

    /// The flush budget under [`run`](crate::run): how long the flush after a response may
    /// last before whatever is not sent is given up on and logged (at error level, with each
    /// event's id and JSON). The flush also always stops 250 ms before the invocation's
    /// deadline. A flush guard ([`flush_guard`](crate::flush_guard)) and the flush at process
    /// exit use the same budget. Default 500 ms.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// How long the SQS send of a round waits for the direct `PutEvents` (with a bus). An event
    /// whose put has not answered by then goes to the queue unmarked and the consumer publishes
    /// it (so it may be on the bus twice, with the same `eventId`, if the put landed late).
    /// Default 300 ms.
    pub fn with_bus_put_timeout(mut self, timeout: Duration) -> Self {
        self.bus_put_timeout = timeout;
        self
    }

    /// The circuit breaker: after `failures` rounds in a row that failed with a permanent error
    /// (AccessDenied, a queue that does not exist, …) and sent nothing, events are given up on
    /// (and logged) at once, without a request, for `cooldown`; then one round is tried again.
    /// `failures` of 0 turns the breaker off. Default 3 and 30 s.
    pub fn with_circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_cooldown = cooldown;
        self
    }

    /// Where `track!` takes the `clientId` first. `false` (the default, the old decorator's
    /// order): headers, query string, body, then the authorizer context. `true`: the
    /// authorizer context (`requestContext.authorizer…clientId`, set by API Gateway from a
    /// verified token) first, then the rest, so that a caller of a multi-tenant API cannot
    /// assign events or points to another tenant with a header. Applies to every extraction in
    /// the process once the global publisher is configured with it ([`init`](crate::init), or
    /// `EVENTS_AUTHORIZER_FIRST=true`).
    pub fn with_authorizer_first(mut self, authorizer_first: bool) -> Self {
        self.authorizer_first = authorizer_first;
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
    /// the client loads one with a rustls/ring HTTPS client, a 3 s connect timeout and a 10 s
    /// attempt timeout). Either way the SDK's own retries are turned off for the client's calls
    /// (its per-entry retries apply, so attempts never multiply); a configuration without a
    /// timeout configuration gets those timeouts.
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

    /// The byte budget of the events held in memory.
    pub fn queue_max_bytes(&self) -> usize {
        self.queue_max_bytes
    }

    /// The flush budget.
    pub fn flush_timeout(&self) -> Duration {
        self.flush_timeout
    }

    /// How long a round waits for the direct `PutEvents`.
    pub fn bus_put_timeout(&self) -> Duration {
        self.bus_put_timeout
    }

    /// Whether the authorizer's `clientId` wins over the request's.
    pub fn authorizer_first(&self) -> bool {
        self.authorizer_first
    }

    /// The delay before retry number `attempt` (1 for the first retry), jittered; four times
    /// longer (base and bound) after throttling.
    pub(crate) fn backoff(&self, attempt: u32, throttled: bool) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        let scale = if throttled { THROTTLE_FACTOR } else { 1 };
        let full = self
            .base_backoff
            .saturating_mul(factor.saturating_mul(scale))
            .min(self.max_backoff.saturating_mul(scale));
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}
