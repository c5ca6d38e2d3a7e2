//! What [`Consumer`] can be tuned with, and the one failure that is not answered per record.

use std::time::Duration;

#[cfg(doc)]
use super::Consumer;
use crate::config::Config;

/// Tunables of [`Consumer`]; [`ConsumerOptions::from_config`] gives the deployed values.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The queue's `maxReceiveCount` (`MAX_RECEIVE_COUNT`).
    pub max_receive_count: u32,
    /// Most stale unpublished rows one invocation sweeps (default 50).
    pub sweep_limit: u32,
    /// A row is stale when it has been unpublished this long (default 60 s): younger rows are
    /// probably being published by the invocation that stored them.
    pub sweep_min_age: Duration,
    /// The time budget when the invocation has no deadline (`Context::default()`, default 30 s).
    pub default_budget: Duration,
    /// Time kept free before the deadline to answer Lambda (default 1 s).
    pub deadline_margin: Duration,
    /// Extra lease time beyond the deadline (default 30 s): a crashed invocation's claims expire
    /// after that.
    pub lease_grace: Duration,
    /// How often (at most) the sweep links children stored without their parent to a parent
    /// stored since by another consumer (default 60 s; zero = every sweep).
    pub orphan_link_interval: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            max_receive_count: 3,
            sweep_limit: 50,
            sweep_min_age: Duration::from_secs(60),
            default_budget: Duration::from_secs(30),
            deadline_margin: Duration::from_secs(1),
            lease_grace: Duration::from_secs(30),
            orphan_link_interval: Duration::from_secs(60),
        }
    }
}

impl ConsumerOptions {
    /// Defaults with the configured `MAX_RECEIVE_COUNT`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_receive_count: config.max_receive_count,
            ..Self::default()
        }
    }
}

/// An invocation that cannot be answered per record: the whole batch will be retried.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// A record has no `messageId`, so it cannot be reported as a batch item failure.
    #[error("record {0} has no messageId; failing the invocation so that nothing is lost")]
    NoMessageId(usize),
}

impl HandlerError {
    /// Always true: a failed invocation makes SQS deliver the whole batch again.
    pub fn is_retryable(&self) -> bool {
        true
    }
}
