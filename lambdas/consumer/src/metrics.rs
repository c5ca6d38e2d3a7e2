//! The consumer's metrics as CloudWatch Embedded Metric Format (EMF) records on stdout: in Lambda,
//! CloudWatch Logs extracts them from the function's log, so publishing a metric costs no API
//! call on the hot path.
//!
//! One record per invocation, dimension `FunctionName`: `EventsReceived`, `EventsStored`,
//! `Duplicates`, `DeadLettered`, `Published` (the batch's and the sweep's), `PublishFailed`
//! (not put after every retry, or refused for good), `StoreLatency` and `PublishLatency`
//! (milliseconds), and when there are values `EndToEndLatency` (now − `occurredAt` at publish,
//! one value per event, at most 100) and `OutboxBacklog` (unpublished rows older than the sweep
//! age, counted up to [`BACKLOG_CAP`]). An invocation that dead-lettered records adds one record
//! per broken rule with dimensions `FunctionName`, `Rule` and the metric `DeadLettered`: EMF
//! gives a dimension one value per record, and rules are few (the contract's list). Entity types
//! are not a dimension: producers choose them, so they are not bounded.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::{json, Map, Value};

use crate::handler::Summary;

/// The default namespace of the metrics.
pub const DEFAULT_NAMESPACE: &str = "kx-events";
/// `OutboxBacklog` counts at most this many rows (a larger backlog shows as this value).
pub const BACKLOG_CAP: u64 = 10_000;
/// Most values of one metric in one EMF record (the specification's limit).
pub const MAX_VALUES: usize = 100;

/// Where the consumer's EMF records go, and under which names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// The CloudWatch namespace (default [`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// The `FunctionName` dimension's value (Lambda's `AWS_LAMBDA_FUNCTION_NAME`).
    pub function_name: String,
}

/// What one invocation observed beyond its [`Summary`].
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Records dead-lettered, by rule.
    pub dead_lettered_by_rule: BTreeMap<String, usize>,
    /// Events not put after every retry.
    pub publish_failed: usize,
    /// now − occurredAt of each event put, in milliseconds (at most [`MAX_VALUES`]).
    pub end_to_end_ms: Vec<f64>,
    /// The outbox backlog sample, when taken.
    pub outbox_backlog: Option<u64>,
}

impl Observed {
    pub(crate) fn dead_lettered(&mut self, rule: &str) {
        *self
            .dead_lettered_by_rule
            .entry(rule.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn end_to_end(&mut self, age: chrono::TimeDelta) {
        if self.end_to_end_ms.len() < MAX_VALUES {
            self.end_to_end_ms
                .push(age.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Metrics {
    /// From the environment: `KX_METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]; `off` turns
    /// the records off) and `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn from_env() -> Option<Self> {
        let namespace = std::env::var("KX_METRICS_NAMESPACE")
            .ok()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if namespace.eq_ignore_ascii_case("off") {
            return None;
        }
        Some(Self {
            namespace,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "kx-events-consumer".to_owned()),
        })
    }

    /// The EMF records of one invocation (the first is the invocation's; one more per
    /// dead-letter rule).
    pub fn records(&self, summary: &Summary, observed: &Observed, timestamp_ms: i64) -> Vec<Value> {
        let mut metrics: Vec<(&str, &str, Value)> = vec![
            ("EventsReceived", "Count", json!(summary.received)),
            ("EventsStored", "Count", json!(summary.stored)),
            ("Duplicates", "Count", json!(summary.duplicates)),
            ("DeadLettered", "Count", json!(summary.dlq)),
            (
                "Published",
                "Count",
                json!(summary.published + summary.swept),
            ),
            ("PublishFailed", "Count", json!(summary.publish_failed)),
            (
                "StoreLatency",
                "Milliseconds",
                json!(ms(summary.timings.store)),
            ),
            (
                "PublishLatency",
                "Milliseconds",
                json!(ms(summary.timings.put_events)),
            ),
        ];
        if !observed.end_to_end_ms.is_empty() {
            metrics.push((
                "EndToEndLatency",
                "Milliseconds",
                json!(observed.end_to_end_ms),
            ));
        }
        if let Some(n) = observed.outbox_backlog {
            metrics.push(("OutboxBacklog", "Count", json!(n)));
        }
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics.iter().map(|(n, u, _)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
                }],
            }),
        );
        root.insert("FunctionName".into(), json!(self.function_name));
        for (name, _, value) in metrics {
            root.insert(name.into(), value);
        }
        let mut out = vec![Value::Object(root)];
        for (rule, n) in &observed.dead_lettered_by_rule {
            out.push(json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.namespace,
                        "Dimensions": [["FunctionName", "Rule"]],
                        "Metrics": [{"Name": "DeadLettered", "Unit": "Count"}],
                    }],
                },
                "FunctionName": self.function_name,
                "Rule": rule,
                "DeadLettered": n,
            }));
        }
        out
    }

    /// Writes the records of one invocation to stdout, one line each.
    pub(crate) fn write(&self, summary: &Summary, observed: &Observed) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut text = String::new();
        for r in self.records(summary, observed, now) {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        // A log that cannot be written has nowhere to report to.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}
