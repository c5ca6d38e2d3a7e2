//! `terraform/examples/local` applied against moto in place, its state kept in `.state/demo`:
//! one progress line per resource, the outputs read into the consumer's and the producer's
//! environment files, the queues emptied for the run.

use std::collections::BTreeMap;
use std::path::Path;

use kx_events_testkit::{output_values, placeholder_zip, Services, Terraform, TerraformError};
use serde_json::Value;

use super::{io_error, Demo, Error, DB_NAME};

/// What the demo reads from the example's outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `queue_url`: the events queue.
    pub queue_url: String,
    /// `dead_letter_queue_url`.
    pub dead_letter_queue_url: String,
    /// `subscriber_queue_url`: where the subscriber rule delivers.
    pub subscriber_queue_url: String,
    /// `event_bus_name`.
    pub event_bus_name: String,
    /// `subscriber_rule_name`.
    pub subscriber_rule_name: String,
    /// `consumer_batch_size`, empty when absent.
    pub consumer_batch_size: String,
    /// `consumer_maximum_batching_window_in_seconds`, empty when absent.
    pub consumer_maximum_batching_window_in_seconds: String,
    /// `consumer_environment`, sorted by name.
    pub consumer_environment: BTreeMap<String, String>,
    /// `producer_environment`, sorted by name.
    pub producer_environment: BTreeMap<String, String>,
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads what `terraform output -json` printed.
pub fn parse_outputs(json: &str) -> Result<Outputs, String> {
    let raw: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let out = output_values(&raw);
    let get = |key: &str| out.get(key).map(text).unwrap_or_default();
    let env = |key: &str| -> Result<BTreeMap<String, String>, String> {
        let map = out
            .get(key)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("no {key} output"))?;
        Ok(map.iter().map(|(k, v)| (k.clone(), text(v))).collect())
    };
    Ok(Outputs {
        queue_url: get("queue_url"),
        dead_letter_queue_url: get("dead_letter_queue_url"),
        subscriber_queue_url: get("subscriber_queue_url"),
        event_bus_name: get("event_bus_name"),
        subscriber_rule_name: get("subscriber_rule_name"),
        consumer_batch_size: get("consumer_batch_size"),
        consumer_maximum_batching_window_in_seconds: get(
            "consumer_maximum_batching_window_in_seconds",
        ),
        consumer_environment: env("consumer_environment")?,
        producer_environment: env("producer_environment")?,
    })
}

/// `K=V` lines.
pub(super) fn env_file_text(vars: &BTreeMap<String, String>) -> String {
    vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// The progress line for one line of `terraform apply`'s output, if it is one: a resource
/// Terraform finished (`    NAME  created after 25s`, dimmed with `dim`/`off`) or the final
/// `Apply complete!` line.
pub fn progress_line(line: &str, dim: &str, off: &str) -> Option<String> {
    if line.starts_with("Apply complete!") {
        return Some(format!("    {line}"));
    }
    let (what, how) = line.split_once(": ")?;
    let how = how.split(" [id=").next().unwrap_or(how);
    let verb = if how.starts_with("Creation complete after ") {
        "created"
    } else if how.starts_with("Modifications complete after ") {
        "updated"
    } else if how.starts_with("Destruction complete after ") {
        "destroyed"
    } else {
        return None;
    };
    let after = how.rsplit(" after ").next().unwrap_or_default();
    Some(format!("    {dim}{what:<72} {verb} after {after}{off}"))
}

/// The example in place, its state in `.state/demo`.
pub(super) fn in_place(demo: &Demo) -> Result<Terraform, Error> {
    Ok(Terraform::in_place("examples/local", &demo.state)?)
}

fn vars(demo: &Demo, services: &Services) -> Result<Vec<(&'static str, String)>, Error> {
    let (host, port, user, password) = super::database_parts(services)?;
    let region = std::env::var("AWS_REGION").unwrap_or_default();
    Ok(vec![
        ("aws_endpoint_url", services.aws_endpoint_url.clone()),
        ("region", region),
        ("name_prefix", demo.name_prefix.clone()),
        ("service_name", demo.name_prefix.clone()),
        ("db_host", host),
        ("db_port", port.to_string()),
        ("db_name", DB_NAME.to_string()),
        ("db_username", user),
        ("db_password", password),
        (
            "consumer_package_path",
            demo.file("placeholder.zip").display().to_string(),
        ),
    ])
}

/// Prints the last `n` lines of a failed command's log.
fn print_tail(error: &TerraformError, n: usize) {
    if let TerraformError::Failed { .. } = error {
        println!("{}", error.output_tail(n));
    }
}

/// The step "Applying terraform/examples/local against moto": init, apply, outputs, the
/// environment files, the queues emptied.
pub(super) fn apply(demo: &Demo, services: &Services, tf: &Terraform) -> Result<Outputs, Error> {
    demo.step("Applying terraform/examples/local against moto");
    // moto stores the function's zip but never runs it (the runner runs bootstrap itself): any
    // zip does. Byte-for-byte the same zip every run, so that a re-run does not update the
    // function.
    placeholder_zip(&demo.file("placeholder.zip"));
    tf.try_init(&demo.file("terraform-init.log"))
        .inspect_err(|e| print_tail(e, 20))?;
    demo.note("(the AWS provider waits ~25 s on each SQS queue and queue policy: about 2.5 min from scratch)");
    let style = demo.style;
    tf.try_apply(
        &vars(demo, services)?,
        &demo.file("terraform-apply.log"),
        &mut |line| {
            if let Some(p) = progress_line(line, style.dim, style.off) {
                println!("{p}");
            }
        },
    )
    .inspect_err(|e| print_tail(e, 30))?;
    let json = tf.try_output_json()?;
    let path = demo.file("outputs.json");
    std::fs::write(&path, &json).map_err(io_error(format!("writing {}", path.display())))?;
    let outputs = parse_outputs(&json).map_err(|what| Error::Outputs {
        path: path.clone(),
        what,
    })?;
    write(
        &demo.file("consumer.env"),
        &env_file_text(&outputs.consumer_environment),
    )?;
    write(
        &demo.file("producer.env"),
        &env_file_text(&outputs.producer_environment),
    )?;

    demo.note(&format!("events queue      {}", outputs.queue_url));
    demo.note(&format!(
        "dead-letter queue {}",
        outputs.dead_letter_queue_url
    ));
    demo.note(&format!(
        "event bus         {}  →  rule {}  →  {}",
        outputs.event_bus_name, outputs.subscriber_rule_name, outputs.subscriber_queue_url
    ));
    demo.note("consumer environment (the module's consumer_environment output):");
    for (k, v) in &outputs.consumer_environment {
        println!("      {k}={v}");
    }

    // A re-run against the same moto reuses the resources: start from empty queues.
    purge(&[
        &outputs.queue_url,
        &outputs.dead_letter_queue_url,
        &outputs.subscriber_queue_url,
    ])?;
    Ok(outputs)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(io_error(format!("writing {}", path.display())))
}

fn purge(urls: &[&str]) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_error("starting the async runtime"))?;
    runtime.block_on(async {
        let sqs = crate::aws::sqs(&crate::aws::sdk_config().await);
        for url in urls {
            sqs.purge_queue()
                .queue_url(*url)
                .send()
                .await
                .map_err(|source| Error::Purge {
                    url: url.to_string(),
                    source: Box::new(source),
                })?;
        }
        Ok(())
    })
}

/// `terraform destroy` of the demo's resources; a failure is reported, not fatal (moto forgets
/// everything when it stops).
pub(super) fn destroy(demo: &Demo, services: &Services, tf: &Terraform) {
    let log = demo.root.join(".state").join("demo-destroy.log");
    let result =
        vars(demo, services).and_then(|vars| Ok(tf.try_destroy(&vars, &log, &mut |_| {})?));
    if result.is_err() {
        println!("demo: destroy failed (log: .state/demo-destroy.log); moto forgets everything when it stops");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_progress_line_per_finished_resource() {
        let line = "module.kx.module.queue.aws_sqs_queue.this: Creation complete after 25s [id=http://127.0.0.1:1/123/kx-events]";
        assert_eq!(
            progress_line(line, "", "").unwrap(),
            format!(
                "    {:<72} created after 25s",
                "module.kx.module.queue.aws_sqs_queue.this"
            )
        );
        assert_eq!(
            progress_line(
                "aws_lambda_function.this: Modifications complete after 1s [id=f]",
                "<",
                ">"
            )
            .unwrap(),
            format!("    <{:<72} updated after 1s>", "aws_lambda_function.this")
        );
        assert!(progress_line("x.y: Destruction complete after 0s", "", "")
            .unwrap()
            .ends_with("destroyed after 0s"));
        assert_eq!(
            progress_line(
                "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.",
                "",
                ""
            )
            .unwrap(),
            "    Apply complete! Resources: 3 added, 0 changed, 0 destroyed."
        );
        assert_eq!(progress_line("x.y: Creating...", "", ""), None);
        assert_eq!(
            progress_line("x.y: Still creating... [10s elapsed]", "", ""),
            None
        );
    }

    #[test]
    fn outputs_become_settings_and_env_files() {
        let json = r#"{
          "queue_url": {"value": "http://q", "type": "string", "sensitive": false},
          "consumer_batch_size": {"value": 10, "type": "number"},
          "consumer_environment": {"value": {"Z": "1", "A": "x=y"}},
          "producer_environment": {"value": {"EVENTS_QUEUE_URL": "http://q"}}
        }"#;
        let out = parse_outputs(json).unwrap();
        assert_eq!(out.queue_url, "http://q");
        assert_eq!(out.consumer_batch_size, "10");
        assert_eq!(out.consumer_maximum_batching_window_in_seconds, "");
        assert_eq!(env_file_text(&out.consumer_environment), "A=x=y\nZ=1\n");
        assert_eq!(
            env_file_text(&out.producer_environment),
            "EVENTS_QUEUE_URL=http://q\n"
        );
        assert!(parse_outputs(r#"{"queue_url": {"value": "q"}}"#)
            .unwrap_err()
            .contains("consumer_environment"));
    }
}
