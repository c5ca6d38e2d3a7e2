//! `terraform apply` of `terraform/examples/local` against moto, the demo's story and the
//! TypeScript system's producer messages through the module's queues, bus and rule, then
//! `terraform destroy` (see the binary's header in `main.rs`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use kx_events::{Config, Publisher};
use kx_events_demo::accounting::{Accounting, Input, InvalidInput, Matrix};
use kx_events_demo::observe::{Collector, Sources};
use kx_events_demo::story::{self, Story};
use kx_events_tests::e2e::{placeholder_zip, LocalConsumer, RunnerOptions, Terraform};
use kx_events_tests::{required_env, unique, Moto, TestDb};
use serde_json::Value;
use uuid::Uuid;

use crate::{message, LIMIT};

fn now_iso() -> String {
    // `new Date().toISOString()`: milliseconds and a `Z`.
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Messages as the TypeScript system's producer emits them (`JSON.stringify` of its
/// `TrackedEvent`: absent optional fields left out, `previousEventId: null` at the start of a
/// chain, `occurredAt` from `toISOString()`), from `tests/fixtures/typescript/`. Returns
/// `(label, body, valid)`.
fn typescript_messages() -> Vec<(&'static str, String, bool)> {
    let user_created = Uuid::new_v4().to_string();
    let email_sent = Uuid::new_v4().to_string();
    let fresh = || Uuid::new_v4().to_string();
    vec![
        // `@EventTracking('user', 'user_created')` on an API handler, clientId from X-Client-Id.
        (
            "decorator user.user_created",
            message(
                include_str!("../../fixtures/typescript/decorator_user_created.json"),
                &[("eventId", &user_created), ("occurredAt", &now_iso())],
            ),
            true,
        ),
        // createTrackedEvent('user', 'user_updated', …, { source: 'api', pointsAwarded: 25 }),
        // chained with the X-Previous-Event-Id header.
        (
            "createTrackedEvent user.user_updated (chained)",
            message(
                include_str!("../../fixtures/typescript/tracked_user_updated.json"),
                &[
                    ("eventId", &fresh()),
                    ("previousEventId", &user_created),
                    ("occurredAt", &now_iso()),
                ],
            ),
            true,
        ),
        // Worker: @EventTracking('notification', 'email_sent', { source: 'worker', pointsAwarded: 10 }).
        (
            "worker notification.email_sent",
            message(
                include_str!("../../fixtures/typescript/worker_email_sent.json"),
                &[("eventId", &email_sent), ("occurredAt", &now_iso())],
            ),
            true,
        ),
        // Manual publishing: payment.payment_completed with metadata.
        (
            "publishEvent payment.payment_completed",
            message(
                include_str!("../../fixtures/typescript/manual_payment_completed.json"),
                &[("eventId", &fresh()), ("occurredAt", &now_iso())],
            ),
            true,
        ),
        // Every field, as in the TypeScript system's documented EventBridge format (its
        // previousEventId "event_456" replaced by a real event id).
        (
            "all thirteen fields",
            message(
                include_str!("../../fixtures/typescript/all_fields.json"),
                &[("eventId", &fresh()), ("previousEventId", &email_sent)],
            ),
            true,
        ),
        // The TypeScript system's documented publishEvent example, verbatim: its eventId is not
        // a UUID.
        (
            "documented publishEvent example (eventId 'custom_event_123')",
            message(
                include_str!("../../fixtures/typescript/examples/publish_event.json"),
                &[],
            ),
            false,
        ),
        // The TypeScript system's documented curl example passes previousEventId "event_456",
        // which its producer forwards unchecked.
        (
            "documented header example (previousEventId 'event_456')",
            message(
                include_str!("../../fixtures/typescript/header_example.json"),
                &[("eventId", &fresh()), ("occurredAt", &now_iso())],
            ),
            false,
        ),
    ]
}
/// Sends bodies with boto3 (`sqs.send_message`, as the TypeScript producer's `SendMessageCommand`
/// does, one message per event); returns the message ids.
fn send_with_boto3(queue_url: &str, bodies: &[String]) -> Vec<String> {
    let script = r#"
import json, sys, boto3
queue_url, bodies = sys.argv[1], json.load(sys.stdin)
sqs = boto3.client("sqs")
print(json.dumps([sqs.send_message(QueueUrl=queue_url, MessageBody=b)["MessageId"] for b in bodies]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, queue_url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (boto3 comes with moto)");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(serde_json::to_string(bodies).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "boto3 send failed");
    serde_json::from_slice(&out.stdout).expect("message ids")
}

fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .expect("a map output")
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terraform_local_example_end_to_end() {
    let moto_url = required_env("AWS_ENDPOINT_URL");
    let db = TestDb::create().await;
    let prefix = unique("e2e").replace('_', "-");
    let prefix = prefix[..prefix.len().min(24)].to_string();

    // terraform apply of examples/local against moto.
    let started = Instant::now();
    let tf = tokio::task::spawn_blocking(|| Terraform::init("examples/local"))
        .await
        .unwrap();
    let zip = std::env::temp_dir().join(format!("{prefix}-placeholder.zip"));
    placeholder_zip(&zip);
    let vars: Vec<(&str, String)> = vec![
        ("aws_endpoint_url", moto_url.clone()),
        ("name_prefix", prefix.clone()),
        ("service_name", prefix.clone()),
        ("db_host", db.settings.host.clone()),
        ("db_port", db.settings.port.to_string()),
        ("db_name", db.name.clone()),
        ("db_username", db.settings.user.clone()),
        ("db_password", db.settings.password.clone()),
        ("consumer_package_path", zip.display().to_string()),
    ];
    let (tf, outputs) = {
        let vars = vars.clone();
        tokio::task::spawn_blocking(move || {
            let outputs = tf.apply(&vars);
            (tf, outputs)
        })
        .await
        .unwrap()
    };
    let applied = started.elapsed();
    let out = |k: &str| -> String {
        outputs[k]
            .as_str()
            .unwrap_or_else(|| panic!("output {k} missing: {outputs}"))
            .to_string()
    };
    let queue_url = out("queue_url");
    let dlq_url = out("dead_letter_queue_url");
    let subscriber_url = out("subscriber_queue_url");

    // The module's environments are the contract's names, nothing else.
    let consumer_env = string_map(&outputs["consumer_environment"]);
    let mut names: Vec<&str> = consumer_env.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "DB_HOST",
            "DB_NAME",
            "DB_PORT",
            "DB_SECRET_ARN",
            "DB_SSLMODE",
            "DEAD_LETTER_QUEUE_URL",
            "EVENTS_QUEUE_URL",
            "EVENT_BUS_NAME",
            "EVENT_SOURCE",
            "KX_METRICS_NAMESPACE",
            "MAX_RECEIVE_COUNT"
        ]
    );
    let producer_env = string_map(&outputs["producer_environment"]);
    let producer_queue = producer_env
        .iter()
        .find(|(k, _)| k == "EVENTS_QUEUE_URL")
        .map(|(_, v)| v.clone())
        .expect("producer_environment.EVENTS_QUEUE_URL");
    assert_eq!(producer_queue, queue_url);

    // The consumer as Lambda would run it: the module's environment, batch size and window.
    let moto = Moto::new().await;
    let mut env = consumer_env.clone();
    env.push(("AWS_ENDPOINT_URL".into(), moto_url.clone()));
    let batch_size = outputs["consumer_batch_size"].as_u64().unwrap_or(10) as usize;
    let window_s = outputs["consumer_maximum_batching_window_in_seconds"]
        .as_u64()
        .unwrap_or(0);
    let consumer = LocalConsumer::start(
        &moto,
        &queue_url,
        env,
        RunnerOptions {
            batch_size,
            window: Duration::from_secs(window_s),
            ..RunnerOptions::default()
        },
    )
    .await;

    // The demo's story through the kx-events publisher (the real-time bus put left off: the
    // consumer is the outbox here).
    let story = Story::new().expect("story");
    let publisher = Publisher::new(Config::default().with_queue_url(&producer_queue));
    for (label, event) in &story.events {
        assert!(
            publisher.publish(event.clone()).is_queued(),
            "{label} not queued"
        );
    }
    publisher.flush().await;
    let paid = story.event("order_paid").unwrap();
    story::send_raw(&moto.sqs, &queue_url, &paid.to_json())
        .await
        .unwrap();
    let poison = story::poison_body();
    let poison_id = story::send_raw(&moto.sqs, &queue_url, &poison)
        .await
        .unwrap();

    // The module's queue keeps SQS's classic 256 KiB limit (MaximumMessageSize 262144), so a
    // 300 KB body is refused at the send and never reaches the consumer (the fault matrix sends
    // one through a queue with moto's and AWS's 1 MiB default).
    let oversize = moto
        .sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body("x".repeat(300_000))
        .send()
        .await;
    assert!(
        oversize.is_err(),
        "a 300 KB message was accepted by the module's queue"
    );

    // The TypeScript producer's messages, sent with boto3.
    let ts = typescript_messages();
    let bodies: Vec<String> = ts.iter().map(|(_, b, _)| b.clone()).collect();
    let q = queue_url.clone();
    let ts_ids = tokio::task::spawn_blocking(move || send_with_boto3(&q, &bodies))
        .await
        .unwrap();

    let mut input = Input {
        valid: story.events.iter().map(|(_, e)| e.event_id).collect(),
        invalid: vec![InvalidInput {
            label: "demo poison".into(),
            body: poison,
            message_id: poison_id,
        }],
    };
    let mut ts_valid = Vec::new();
    for ((label, body, valid), message_id) in ts.iter().zip(ts_ids) {
        if *valid {
            let v: Value = serde_json::from_str(body).unwrap();
            let id = Uuid::parse_str(v["eventId"].as_str().unwrap()).unwrap();
            input.valid.push(id);
            ts_valid.push((id, v));
        } else {
            input.invalid.push(InvalidInput {
                label: label.to_string(),
                body: body.clone(),
                message_id: Some(message_id),
            });
        }
    }

    let mut collector = Collector::new(
        moto.sqs.clone(),
        Sources {
            database_url: format!(
                "postgres://{}:{}@{}:{}/{}",
                db.settings.user, db.settings.password, db.settings.host, db.settings.port, db.name
            ),
            subscriber_queue_url: subscriber_url.clone(),
            dead_letter_queue_url: dlq_url.clone(),
            events_queue_url: Some(queue_url.clone()),
        },
    );
    collector.wait(&input, LIMIT, |_| {}).await.expect("watch");
    let output = collector
        .finish(Duration::from_secs(2), false)
        .await
        .expect("output");
    let (stats, function_output) = consumer.stop().await;
    let mut acc: Accounting = Accounting::compute(&input, &output);

    // Chains: every stored link is the one that was sent.
    for (_, event) in &story.events {
        let row = output.row(event.event_id);
        if row.map(|r| r.previous_event_id) != Some(event.previous_event_id) {
            acc.unexpected.push(format!(
                "{}: previous_event_id {:?}, sent {:?}",
                event.event_id,
                row.map(|r| r.previous_event_id),
                event.previous_event_id
            ));
        }
    }
    // The bus entries have the TypeScript system's format: source, detail-type, the camelCase
    // event as detail, time = occurredAt.
    for event in &output.bus {
        let Some(id) = event.event_id else { continue };
        let sent: Option<Value> = story
            .events
            .iter()
            .find(|(_, e)| e.event_id == id)
            .map(|(_, e)| serde_json::from_str(&e.to_json()).unwrap())
            .or_else(|| {
                ts_valid
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, v)| v.clone())
            });
        let Some(sent) = sent else { continue };
        let mut problems = Vec::new();
        if event.source != kx_events::DEFAULT_EVENT_SOURCE {
            problems.push(format!("source {}", event.source));
        }
        let detail_type = format!(
            "{}.{}",
            sent["entityType"].as_str().unwrap(),
            sent["eventType"].as_str().unwrap()
        );
        if event.detail_type != detail_type {
            problems.push(format!("detail-type {}", event.detail_type));
        }
        for (k, v) in sent.as_object().unwrap() {
            let got = &event.detail[k];
            let same = if k == "occurredAt" {
                got.as_str()
                    .and_then(|g| DateTime::parse_from_rfc3339(g).ok())
                    == v.as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            } else {
                got == v || (v.is_null() && got.is_null())
            };
            if !same {
                problems.push(format!("detail.{k}: sent {v}, got {got}"));
            }
        }
        let time = DateTime::parse_from_rfc3339(&event.time).ok();
        let occurred = sent["occurredAt"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        // EventBridge's `time` has second precision.
        if time.map(|t| t.timestamp()) != occurred.map(|t| t.timestamp()) {
            problems.push(format!(
                "time {} for occurredAt {}",
                event.time, sent["occurredAt"]
            ));
        }
        if !problems.is_empty() {
            acc.unexpected
                .push(format!("bus entry of {id}: {}", problems.join("; ")));
        }
    }
    // Every dead letter says why, naming the field.
    for m in &output.dlq {
        if m.reason().is_none() || m.field().is_none() {
            acc.unexpected
                .push(format!("DLQ message {} has no reason/field", m.message_id));
        }
    }

    let mut matrix = Matrix::default();
    matrix.push(
        "terraform examples/local: story + TypeScript-producer messages",
        acc.clone(),
    );
    println!(
        "\nkx-events end-to-end flow (terraform apply against moto)\n{}runner: {stats}",
        matrix.render()
    );
    if !acc.ok() {
        eprintln!("bootstrap output:\n{function_output}");
    }

    // terraform destroy leaves nothing behind, in the state or in moto.
    let flowed = started.elapsed();
    let left = tokio::task::spawn_blocking(move || {
        let left = tf.destroy(&vars);
        drop(tf);
        left
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&zip);
    println!(
        "terraform flow: init + apply {} s, pipeline {} s, destroy {} s (for information, not asserted)",
        applied.as_secs(),
        (flowed - applied).as_secs(),
        (started.elapsed() - flowed).as_secs()
    );
    assert!(left.is_empty(), "left in the state after destroy: {left:?}");
    for url in [&queue_url, &dlq_url, &subscriber_url] {
        let name = url.rsplit('/').next().unwrap();
        assert!(
            moto.sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .is_err(),
            "{name} still exists after destroy"
        );
    }
    assert!(
        acc.ok(),
        "not every event is accounted for:\n{}",
        matrix.render()
    );
}
