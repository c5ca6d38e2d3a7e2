//! The checks of an applied ([`applied`]) or destroyed ([`destroyed`]) example, read through the
//! AWS SDK from moto. Each check prints one line, `  ok   <what>` or `  FAIL <what>`, to the
//! example's log; an SDK error or a missing output ends the phase with one
//! `  FAIL unexpected: …` line.

mod applied;
mod database;
mod destroyed;
mod routing;

use std::path::Path;

use serde_json::{Map, Value};

use super::example::Example;
use super::run::RunLog;

pub use applied::applied;
pub use destroyed::destroyed;

/// SDK configuration for moto at `endpoint`: kx-events' own loader (the rustls/ring HTTPS
/// client), the endpoint and region given, credentials from the environment.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    kx_events::aws::config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await
}

/// One SDK client per service the checks read.
#[derive(Debug, Clone)]
pub struct Clients {
    /// API Gateway v2 (the query API).
    pub apigw: aws_sdk_apigatewayv2::Client,
    /// CloudWatch (alarms, dashboards).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// EC2 (VPC, security groups, addresses).
    pub ec2: aws_sdk_ec2::Client,
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// SSM Parameter Store.
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    /// Clients for moto at `endpoint`.
    pub async fn new(endpoint: &str, region: &str) -> Clients {
        let sdk = sdk_config(endpoint, region).await;
        Clients {
            apigw: aws_sdk_apigatewayv2::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            ec2: aws_sdk_ec2::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            rds: aws_sdk_rds::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sns: aws_sdk_sns::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
        }
    }
}

/// What ended a phase of checks early.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// An SDK call failed.
    #[error("{operation}")]
    Sdk {
        /// The operation, e.g. `lambda GetFunction`.
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An output, a field of a response or a key of a document is missing (or not of the
    /// expected type).
    #[error("missing {0}")]
    Missing(String),
    /// A document that should be JSON is not.
    #[error("{what} is not JSON")]
    Json {
        /// Which document.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// `Result` of a phase of checks.
pub type Checked<T = ()> = Result<T, Unexpected>;

/// Maps an SDK error to [`Unexpected::Sdk`] for `operation`.
pub(crate) fn sdk<E>(operation: &'static str) -> impl FnOnce(E) -> Unexpected
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| Unexpected::Sdk {
        operation,
        source: Box::new(e),
    }
}

/// A required value, or [`Unexpected::Missing`] naming it.
pub(crate) fn need<T>(value: Option<T>, what: &str) -> Checked<T> {
    value.ok_or_else(|| Unexpected::Missing(what.to_string()))
}

/// Parses a JSON document named `what`.
pub(crate) fn json(text: &str, what: &str) -> Checked<Value> {
    serde_json::from_str(text).map_err(|source| Unexpected::Json {
        what: what.to_string(),
        source,
    })
}

/// `value[key]` of a JSON object, or [`Unexpected::Missing`].
pub(crate) fn key<'a>(value: &'a Value, key: &str) -> Checked<&'a Value> {
    need(value.get(key), &format!("key {key:?}"))
}

/// The string `value[key]` of a JSON object, or [`Unexpected::Missing`].
pub(crate) fn key_str<'a>(value: &'a Value, name: &str) -> Checked<&'a str> {
    need(key(value, name)?.as_str(), &format!("string {name:?}"))
}

/// The outputs of `terraform output -json`, as `{ name: value }`.
#[derive(Debug, Clone, Default)]
pub struct Outputs(Map<String, Value>);

impl Outputs {
    /// From the text of `terraform output -json` (`{ name: { value, type, sensitive } }`).
    pub fn parse(text: &str) -> Checked<Outputs> {
        let doc = json(text, "terraform output -json")?;
        let map = need(doc.as_object(), "outputs object")?
            .iter()
            .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or(Value::Null)))
            .collect();
        Ok(Outputs(map))
    }

    /// Reads `outputs.json` of an example.
    pub fn read(path: &Path) -> Checked<Outputs> {
        let text = std::fs::read_to_string(path)
            .map_err(|_| Unexpected::Missing(path.display().to_string()))?;
        Self::parse(&text)
    }

    /// An output, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A required output.
    pub fn req(&self, name: &str) -> Checked<&Value> {
        need(self.get(name), &format!("output {name:?}"))
    }

    /// A required string output.
    pub fn str(&self, name: &str) -> Checked<&str> {
        need(self.req(name)?.as_str(), &format!("string output {name:?}"))
    }

    /// A string output, if present and a string.
    pub fn opt_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Whether an output is set: present, not null, not `""`, not `[]`.
    pub fn is_set(&self, name: &str) -> bool {
        !matches!(self.get(name), None | Some(Value::Null))
            && self.get(name) != Some(&Value::String(String::new()))
            && self.get(name) != Some(&Value::Array(Vec::new()))
    }
}

/// The checks of one phase: every result is a line of the example's log; the failures are kept.
#[derive(Debug)]
pub struct Checks<'a> {
    log: &'a RunLog,
    failures: Vec<String>,
}

impl<'a> Checks<'a> {
    /// Checks that print to `log`.
    pub fn new(log: &'a RunLog) -> Checks<'a> {
        Checks {
            log,
            failures: Vec::new(),
        }
    }

    /// Records one check.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        self.log
            .line(&format!("  {} {what}", if ok { "ok  " } else { "FAIL" }));
        if !ok {
            self.failures.push(what);
        }
    }

    /// The failed checks, in order.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }
}

/// Which phase to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After `terraform apply`.
    Applied,
    /// After `terraform destroy`.
    Destroyed,
}

/// Runs the checks of `phase` for `example` (name prefix `prefix`) against `outputs`; returns
/// whether every check passed.
pub async fn verify(
    phase: Phase,
    example: Example,
    prefix: &str,
    outputs: &Outputs,
    clients: &Clients,
    region: &str,
    log: &RunLog,
) -> bool {
    log.line(&format!(
        "[terraform-checks] {example}: checks after {}",
        match phase {
            Phase::Applied => "apply",
            Phase::Destroyed => "destroy",
        }
    ));
    let mut checks = Checks::new(log);
    let target = Target {
        example,
        prefix,
        outputs,
        clients,
        region,
    };
    let result = match phase {
        Phase::Applied => applied(&target, &mut checks).await,
        Phase::Destroyed => destroyed(&target, &mut checks).await,
    };
    if let Err(e) = result {
        checks.check(false, format!("unexpected: {}", kx_events::error_chain(&e)));
    }
    checks.failures().is_empty()
}

/// What the checks of one example look at.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The example.
    pub example: Example,
    /// Its name prefix.
    pub prefix: &'a str,
    /// Its outputs after apply.
    pub outputs: &'a Outputs,
    /// SDK clients for moto.
    pub clients: &'a Clients,
    /// The region (`AWS_REGION`).
    pub region: &'a str,
}

impl Target<'_> {
    /// The service name given to the example (`<prefix>-svc`).
    pub fn service(&self) -> String {
        format!("{}-svc", self.prefix)
    }

    /// Whether this is `examples/complete`.
    pub fn complete(&self) -> bool {
        self.example == Example::Complete
    }
}

/// A Python-style list of strings, `['a', 'b']`, as the check messages show lists.
pub(crate) fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{}'", s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_values_and_set_means_non_empty() {
        let o = Outputs::parse(
            r#"{"a": {"value": "x", "type": "string"}, "b": {"value": ""},
                "c": {"value": []}, "d": {"value": null}, "e": {"value": ["s"]}}"#,
        )
        .unwrap();
        assert_eq!(o.str("a").unwrap(), "x");
        assert!(o.is_set("a") && o.is_set("e"));
        for name in ["b", "c", "d", "missing"] {
            assert!(!o.is_set(name), "{name}");
        }
        assert!(matches!(o.req("missing"), Err(Unexpected::Missing(_))));
        assert!(o.str("e").is_err());
    }

    #[test]
    fn lists_print_as_python_does() {
        assert_eq!(py_list(&["b", "a"]), "['b', 'a']");
        assert_eq!(py_list::<&str>(&[]), "[]");
    }
}
