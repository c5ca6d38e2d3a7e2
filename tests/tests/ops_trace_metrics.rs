//! Trace correlation and metrics with the real parts: the producer puts the invocation's X-Ray
//! trace header on its `SendMessageBatch` entries (`AWSTraceHeader`, checked on the request as
//! sent, through the fault proxy: moto's `SendMessageBatch` drops system attributes), and the real
//! `bootstrap`, fed by the local event-source mapping, puts each record's header on that event's
//! `PutEvents` entry (recorded the same way), logs its `traceId`, and writes one CloudWatch
//! Embedded Metric Format record per invocation, validated here against AWS's EMF specification.
//!
//! One test in this binary: it sets `_X_AMZN_TRACE_ID`, which is process-wide.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use kx_events::{Config, Publisher, TrackedEvent};
use kx_events_local::fault_proxy::{FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use kx_events_tests::e2e::{until, Pipeline, PipelineOptions, RunnerOptions};
use kx_events_tests::{event_json, required_env};
use serde_json::{json, Value};

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `doc` against the Embedded Metric Format specification: a root object with `_aws`
/// (`Timestamp`, a number of ms since the epoch; `CloudWatchMetrics`, an array of directives),
/// each directive with `Namespace` (1..1024 characters), `Dimensions` (an array of dimension sets,
/// each an array of at most 30 names of root members whose values are strings) and `Metrics` (at
/// most 100 definitions, `Name` 1..1024 characters, `Unit` one of CloudWatch's units,
/// `StorageResolution` 1 or 60), and every metric's target member at the root, a number or an
/// array of at most 100 numbers. Returns the problems found.
fn emf_problems(doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(root) = doc.as_object() else {
        return vec!["the root is not an object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["_aws: missing or not an object".into()];
    };
    if !aws.get("Timestamp").is_some_and(|t| t.is_u64()) {
        p.push("_aws.Timestamp: must be a number of milliseconds".into());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        p.push("_aws.CloudWatchMetrics: missing or not an array".into());
        return p;
    };
    for (i, d) in directives.iter().enumerate() {
        let ns = d["Namespace"].as_str().unwrap_or("");
        if ns.is_empty() || ns.chars().count() > 1024 {
            p.push(format!(
                "directive {i}: Namespace must be 1..1024 characters"
            ));
        }
        match d["Dimensions"].as_array() {
            None => p.push(format!("directive {i}: Dimensions must be an array")),
            Some(sets) => {
                for set in sets {
                    let Some(names) = set.as_array() else {
                        p.push(format!("directive {i}: a dimension set is not an array"));
                        continue;
                    };
                    if names.len() > 30 {
                        p.push(format!("directive {i}: more than 30 dimensions"));
                    }
                    for n in names {
                        let name = n.as_str().unwrap_or("");
                        if !root.get(name).is_some_and(Value::is_string) {
                            p.push(format!(
                                "directive {i}: dimension {name:?} is not a string member of the root"
                            ));
                        }
                    }
                }
            }
        }
        let Some(metrics) = d["Metrics"].as_array() else {
            p.push(format!("directive {i}: Metrics must be an array"));
            continue;
        };
        if metrics.len() > 100 {
            p.push(format!("directive {i}: more than 100 metrics"));
        }
        for m in metrics {
            let name = m["Name"].as_str().unwrap_or("");
            if name.is_empty() || name.chars().count() > 1024 {
                p.push(format!(
                    "directive {i}: a metric Name must be 1..1024 characters"
                ));
            }
            if let Some(u) = m.get("Unit") {
                if !u.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    p.push(format!("metric {name}: Unit {u} is not a CloudWatch unit"));
                }
            }
            if let Some(r) = m.get("StorageResolution") {
                if r != &json!(1) && r != &json!(60) {
                    p.push(format!("metric {name}: StorageResolution must be 1 or 60"));
                }
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => p.push(format!(
                    "metric {name}: the root member must be a number or at most 100 numbers, got {other:?}"
                )),
            }
        }
    }
    p
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        v => v.as_f64().into_iter().collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_runs_from_producer_to_bus_and_each_invocation_writes_valid_emf() {
    let moto = required_env("AWS_ENDPOINT_URL");
    let p = Pipeline::create("ops-trace", PipelineOptions::default()).await;

    // Producer: the invocation's header rides on the SendMessageBatch entry as AWSTraceHeader.
    let producer_proxy = FaultProxy::start(&moto).await.unwrap();
    producer_proxy.record_requests(SEND_MESSAGE_BATCH).unwrap();
    let header = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1";
    let publisher = Publisher::new(
        Config::from_env()
            .with_queue_url(&p.queues.queue_url)
            .with_event_bus_name(None)
            .with_endpoint_url(producer_proxy.url()),
    );
    // SAFETY of the test: the only test of this binary; the Lambda runtime sets the variable
    // the same way before each invocation.
    std::env::set_var("_X_AMZN_TRACE_ID", header);
    let produced = TrackedEvent::new("client_123", "order", "order_created");
    assert!(publisher.publish(produced.clone()).is_queued());
    std::env::remove_var("_X_AMZN_TRACE_ID");
    let untraced = TrackedEvent::new("client_123", "order", "order_paid");
    assert!(publisher.publish(untraced.clone()).is_queued());
    publisher.flush().await;
    let sent: Vec<Value> = producer_proxy
        .recorded(SEND_MESSAGE_BATCH)
        .iter()
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .collect();
    let entry_of = |id: &str| {
        sent.iter()
            .find(|e| e["MessageBody"].as_str().unwrap_or("").contains(id))
            .cloned()
            .unwrap_or_else(|| panic!("no entry for {id} in {sent:?}"))
    };
    assert_eq!(
        entry_of(&produced.event_id.to_string())["MessageSystemAttributes"]["AWSTraceHeader"],
        json!({"DataType": "String", "StringValue": header})
    );
    assert!(
        entry_of(&untraced.event_id.to_string())
            .get("MessageSystemAttributes")
            .is_none(),
        "an event queued outside an invocation carries no header"
    );
    // moto drops system attributes of SendMessageBatch: start the consumer half from clean.
    p.moto
        .sqs
        .purge_queue()
        .queue_url(&p.queues.queue_url)
        .send()
        .await
        .unwrap();

    // Consumer: three traced records (sent with SendMessage, which moto keeps the header of),
    // one that can never be valid.
    let occurred = chrono::Utc::now() - chrono::Duration::minutes(2);
    let mut traces: HashMap<String, String> = HashMap::new();
    for i in 0..3 {
        let body = event_json(json!({
            "occurredAt": kx_events::format_timestamp(&occurred),
            "pointsAwarded": i,
        }));
        let id = body["eventId"].as_str().unwrap().to_owned();
        let h = format!(
            "Root=1-67891233-abcdef01234567891234567{i};Parent=53995c3f42cd8ad{i};Sampled=1"
        );
        p.moto
            .sqs
            .send_message()
            .queue_url(&p.queues.queue_url)
            .message_body(body.to_string())
            .message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(&h)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        traces.insert(id, h);
    }
    p.send(&event_json(json!({"eventId": "not-a-uuid"})).to_string())
        .await;

    let bus_proxy = FaultProxy::start(&moto).await.unwrap();
    bus_proxy.record_requests(PUT_EVENTS).unwrap();
    let consumer = p
        .start_consumer(Some(&bus_proxy.url()), RunnerOptions::default())
        .await;
    let done = until(Duration::from_secs(60), || async {
        let (rows, published, _) = p.outbox_counts().await;
        rows == 3 && published == 3
    })
    .await;
    // The DLQ send happens in the same invocation as the stores.
    let (_, log) = consumer.stop().await;
    assert!(
        done,
        "not stored and published: {:?}\n{log}",
        p.outbox_counts().await
    );

    // Each PutEvents entry carries its record's header, as sent.
    let entries: Vec<Value> = bus_proxy
        .recorded(PUT_EVENTS)
        .iter()
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    for e in &entries {
        let detail: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
        let id = detail["eventId"].as_str().unwrap();
        assert_eq!(e["TraceHeader"].as_str(), Some(traces[id].as_str()), "{e}");
    }

    // The log lines of each event name its traceId.
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .collect();
    for (id, h) in &traces {
        let root = kx_events_consumer::trace_id(h).unwrap();
        let traced = lines
            .iter()
            .filter(|l| l["span"]["event_id"] == id.as_str())
            .collect::<Vec<_>>();
        assert!(!traced.is_empty(), "no log line of {id}:\n{log}");
        for l in traced {
            assert_eq!(l["span"]["traceId"], root, "{l}");
        }
    }

    // EMF: valid records; summed over the invocations, the counts are what was sent.
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(!emf.is_empty(), "no EMF record in the log:\n{log}");
    let mut sums: HashMap<String, f64> = HashMap::new();
    let mut end_to_end = Vec::new();
    let mut by_rule: HashMap<String, f64> = HashMap::new();
    let mut invocations = 0;
    for r in &emf {
        let problems = emf_problems(r);
        assert!(problems.is_empty(), "{problems:?}\n{r}");
        let directive = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "kx-events");
        if let Some(rule) = r["Rule"].as_str() {
            assert_eq!(directive["Dimensions"], json!([["FunctionName", "Rule"]]));
            *by_rule.entry(rule.to_owned()).or_default() += r["DeadLettered"].as_f64().unwrap();
            continue;
        }
        invocations += 1;
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert!(r["FunctionName"].as_str().is_some_and(|f| !f.is_empty()));
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            let values = numbers(&r[name]);
            if name == "EndToEndLatency" {
                end_to_end.extend(values);
            } else {
                *sums.entry(name.to_owned()).or_default() += values.iter().sum::<f64>();
            }
        }
        assert_eq!(
            r["OutboxBacklog"],
            json!(0),
            "sampled each invocation: nothing is stale"
        );
        assert!(r["StoreLatency"].as_f64().unwrap() >= 0.0);
    }
    assert!(invocations >= 1);
    assert_eq!(sums["EventsReceived"], 4.0, "{sums:?}");
    assert_eq!(sums["EventsStored"], 3.0);
    assert_eq!(sums["Duplicates"], 0.0);
    assert_eq!(sums["DeadLettered"], 1.0);
    assert_eq!(sums["Published"], 3.0);
    assert_eq!(sums["PublishFailed"], 0.0);
    assert_eq!(by_rule, HashMap::from([("uuid".to_owned(), 1.0)]));
    assert_eq!(end_to_end.len(), 3, "one value per event put");
    for ms in end_to_end {
        assert!(
            (120_000.0..600_000.0).contains(&ms),
            "now - occurredAt at publish: {ms} ms"
        );
    }
}
