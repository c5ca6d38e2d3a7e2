//! Deciding what a failure means: error classification and the circuit breaker.
//!
//! Retries are the sender's own, per entry, never the SDK's (its clients make one attempt per
//! call). Every failure is put in a [`Class`]: *transient* (a timeout, a broken connection, a
//! 5xx, an entry SQS could not take this time) is retried with a jittered exponential backoff;
//! *throttled* (a throttling code or a 429) is retried with a backoff `THROTTLE_FACTOR` times
//! longer; *permanent* (permissions, a missing queue, credentials, KMS keys the role may not
//! use, a request SQS refuses, any other 4xx with a code) is given up on at once, since it would
//! fail the same way every time. The code decides first (it may come qualified, as
//! `com.amazonaws.sqs#QueueDoesNotExist`), then the HTTP status.
//!
//! A queue that refuses everything (a deleted queue, a revoked policy) would otherwise cost a
//! request per round for every event, forever. The [`Breaker`] counts rounds in a row that sent
//! nothing and failed permanently; at `breaker_threshold` it opens for `breaker_cooldown`,
//! during which events are given up on (and logged) without a request. After the cooldown one
//! round goes through (half-open): a success closes it, another permanent failure reopens it.

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::report;

/// What kind of failure a send met, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// May succeed if tried again: retried with backoff.
    Transient,
    /// The service asks for less traffic: retried with a longer backoff.
    Throttled,
    /// Will fail the same way every time (permissions, a missing queue, a bad request): given
    /// up on at once.
    Permanent,
}

/// Error codes that never succeed on a retry: permissions, a queue that does not exist or is
/// in another region, credentials, KMS keys the role may not use, requests SQS refuses.
const PERMANENT_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NonExistentQueue",
    "InvalidAddress",
    "InvalidSecurity",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsInvalidKeyUsage",
    "KmsInvalidState",
    "KmsNotFound",
    "KmsOptInRequired",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidMessageContents",
    "UnsupportedOperation",
    "ValidationError",
    "ValidationException",
    "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong",
    "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest",
    "InvalidBatchEntryId",
    "RequestEntityTooLarge",
];

/// Error codes that ask the caller to slow down.
const THROTTLING_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "KmsThrottled",
    "OverLimit",
    "RequestLimitExceeded",
    "SlowDown",
];

/// The class of a service error from its code and HTTP status.
pub(crate) fn classify(code: Option<&str>, status: Option<u16>) -> Class {
    if let Some(code) = code {
        // Codes may come qualified (`com.amazonaws.sqs#QueueDoesNotExist`).
        let code = code.rsplit('#').next().unwrap_or(code);
        if THROTTLING_CODES.contains(&code) {
            return Class::Throttled;
        }
        if PERMANENT_CODES.contains(&code) {
            return Class::Permanent;
        }
    }
    match status {
        Some(429) => Class::Throttled,
        Some(400..=499) if code.is_some() && status != Some(408) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// The class of a failed SDK call: a service error by its code, anything else (a timeout, a
/// connection that failed or broke) is transient.
pub(super) fn classify_sdk<E: ProvideErrorMetadata>(
    e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> Class {
    use aws_sdk_sqs::error::SdkError;
    match e {
        SdkError::ServiceError(service) => {
            classify(service.err().code(), Some(service.raw().status().as_u16()))
        }
        SdkError::ConstructionFailure(_) => Class::Permanent,
        _ => Class::Transient,
    }
}

/// What became of one entry of a round.
#[derive(Debug)]
pub(super) enum Outcome {
    Sent,
    Failed(String, Class),
}

/// The circuit breaker over permanent failures.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    /// Rounds in a row that sent nothing and failed permanently.
    streak: u32,
    /// Open until then.
    open_until: Option<Instant>,
    /// The last permanent error, for the log lines of events given up on while open.
    last_error: String,
}

impl Breaker {
    /// While open, why an event is given up on without a request; `None` when closed, or when
    /// the cooldown is over (half-open: one round decides, and a permanent failure reopens it at
    /// once).
    pub(super) fn refusal(&mut self, now: Instant) -> Option<String> {
        let until = self.open_until?;
        if now >= until {
            self.open_until = None;
            return None;
        }
        Some(format!(
            "not sent: the circuit breaker is open after {} permanent failures in a row (last: {})",
            self.streak, self.last_error
        ))
    }

    /// Counts a round that `sent` events and, if it sent none, failed permanently with
    /// `permanent`: opens for `cooldown` at `threshold` such rounds in a row (0: never).
    pub(super) fn round_done(
        &mut self,
        sent: usize,
        permanent: Option<String>,
        threshold: u32,
        cooldown: Duration,
    ) {
        if sent > 0 {
            self.streak = 0;
        } else if let Some(why) = permanent {
            self.streak += 1;
            if threshold > 0 && self.streak >= threshold {
                self.open_until = Some(Instant::now() + cooldown);
                report::circuit_opened(self.streak, cooldown, &why);
            }
            self.last_error = why;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn backoff_doubles_with_jitter_within_the_bound() {
        let c = Config::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..=10u32 {
            let full =
                Duration::from_millis(100 * (1u64 << (attempt - 1))).min(Duration::from_secs(1));
            let d = c.backoff(attempt, false);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
            let throttled = c.backoff(attempt, true);
            let full = full * crate::config::THROTTLE_FACTOR;
            assert!(
                throttled >= full / 2 && throttled <= full,
                "throttled attempt {attempt}: {throttled:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        for code in [
            "AccessDenied",
            "AWS.SimpleQueueService.NonExistentQueue",
            "com.amazonaws.sqs#QueueDoesNotExist",
            "InvalidClientTokenId",
            "KmsAccessDenied",
        ] {
            assert_eq!(classify(Some(code), Some(400)), Class::Permanent, "{code}");
        }
        for code in ["RequestThrottled", "ThrottlingException", "KmsThrottled"] {
            assert_eq!(classify(Some(code), Some(400)), Class::Throttled, "{code}");
        }
        assert_eq!(classify(Some("InternalError"), Some(500)), Class::Transient);
        assert_eq!(
            classify(Some("ServiceUnavailable"), Some(503)),
            Class::Transient
        );
        assert_eq!(classify(None, Some(429)), Class::Throttled);
        assert_eq!(classify(Some("SomethingNew"), Some(403)), Class::Permanent);
        assert_eq!(classify(None, Some(408)), Class::Transient);
        assert_eq!(classify(Some("InternalError"), None), Class::Transient);
    }
}
