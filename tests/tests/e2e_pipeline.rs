//! End-to-end tests of the whole pipeline, with real parts only: PostgreSQL, a moto server reached
//! over HTTP by the real AWS SDK, real `terraform`, and the real consumer `bootstrap` fed by the
//! local event-source-mapping runner (`kx-events-local`) through the Lambda Runtime API.
//!
//! - `terraform_local_example_end_to_end`: `terraform apply` of `terraform/examples/local`
//!   against moto, then producer (`kx-events`) → events queue → runner → `bootstrap` → PostgreSQL
//!   → bus → the subscription module's rule → subscriber queue, wired only by the module's outputs
//!   (`consumer_environment`, `producer_environment`, batch size and window); then `terraform
//!   destroy`. Besides the demo's story (a chain, a sign-up with points, a payment, a duplicate
//!   delivery, a poison message), messages exactly as the seeds' TypeScript producer sends them —
//!   written by hand from the seed's documented examples and sent with boto3, not with our
//!   client — go through the same flow. One test does the apply once for all its assertions: an
//!   apply against moto takes minutes (the AWS provider waits about 25 s on each SQS queue and
//!   queue policy).
//! - `fault_matrix`: one fault per scenario, each with its own moto resources (unique names) and
//!   its own database (a private PostgreSQL cluster for the restart scenario), run concurrently,
//!   with a final accounting of every input event id: exactly one row and one bus event per valid
//!   event, exactly one DLQ message with a reason per invalid message, nothing else. The table is
//!   printed at the end.
//!
//! Both tests live in this one file so that they run concurrently (the fault matrix runs while
//! Terraform waits on the provider). See the tables with
//! `cargo test -p kx-events-tests --test e2e_pipeline -- --nocapture`.
//!
//! Waits are bounded by generous limits that only stop a hung run; nothing asserts how fast the
//! pipeline is.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use kx_events::{Config, Publisher, TrackedEvent};
use kx_events_demo::accounting::{Accounting, Input, InvalidInput, Matrix, Output};
use kx_events_demo::observe::{Collector, Progress, Sources};
use kx_events_demo::story::{self, Story};
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use kx_events_tests::e2e::{
    placeholder_zip, until, Database, LocalConsumer, Pipeline, PipelineOptions, RunnerOptions,
    Terraform,
};
use kx_events_tests::{required_env, unique, Moto, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

/// Safety bound for one wait.
const LIMIT: Duration = Duration::from_secs(150);

// ---------------------------------------------------------------------------------------------
// The flow through the Terraform module
// ---------------------------------------------------------------------------------------------

fn now_iso() -> String {
    // `new Date().toISOString()`: milliseconds and a `Z`.
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Messages as the seeds' TypeScript producer emits them (`JSON.stringify` of its
/// `TrackedEvent`: absent optional fields left out, `previousEventId: null` at the start of a
/// chain, `occurredAt` from `toISOString()`). Returns `(label, body, valid)`.
fn typescript_messages() -> Vec<(&'static str, String, bool)> {
    let user_created = Uuid::new_v4();
    let email_sent = Uuid::new_v4();
    vec![
        // `@EventTracking('user', 'user_created')` on an API handler, clientId from X-Client-Id.
        (
            "decorator user.user_created",
            json!({
                "eventId": user_created,
                "clientId": "client_123",
                "previousEventId": null,
                "entityType": "user",
                "eventType": "user_created",
                "occurredAt": now_iso()
            })
            .to_string(),
            true,
        ),
        // createTrackedEvent('user', 'user_updated', …, { source: 'api', pointsAwarded: 25 }),
        // chained with the X-Previous-Event-Id header.
        (
            "createTrackedEvent user.user_updated (chained)",
            json!({
                "eventId": Uuid::new_v4(),
                "clientId": "client_123",
                "previousEventId": user_created,
                "entityType": "user",
                "eventType": "user_updated",
                "source": "api",
                "pointsAwarded": 25,
                "occurredAt": now_iso()
            })
            .to_string(),
            true,
        ),
        // Worker: @EventTracking('notification', 'email_sent', { source: 'worker', pointsAwarded: 10 }).
        (
            "worker notification.email_sent",
            json!({
                "eventId": email_sent,
                "clientId": "client_456",
                "entityType": "notification",
                "eventType": "email_sent",
                "source": "worker",
                "pointsAwarded": 10,
                "occurredAt": now_iso()
            })
            .to_string(),
            true,
        ),
        // Manual publishing: payment.payment_completed with metadata.
        (
            "publishEvent payment.payment_completed",
            json!({
                "eventId": Uuid::new_v4(),
                "clientId": "client_123",
                "previousEventId": null,
                "userId": "user_123",
                "entityId": "payment_456",
                "entityType": "payment",
                "eventType": "payment_completed",
                "pointsAwarded": 50,
                "occurredAt": now_iso(),
                "metadata": { "amount": 99.99, "currency": "USD" }
            })
            .to_string(),
            true,
        ),
        // Every field, as in the seed's EventBridge format section (its previousEventId
        // "event_456" replaced by a real event id).
        (
            "all thirteen fields",
            json!({
                "eventId": Uuid::new_v4(),
                "clientId": "client_123",
                "previousEventId": email_sent,
                "userId": "user_789",
                "entityId": "entity_123",
                "entityType": "user",
                "eventType": "user_created",
                "source": "api",
                "campaignId": "campaign_456",
                "pointsAwarded": 100,
                "sessionId": "session_789",
                "occurredAt": "2024-01-15T10:30:00.000Z",
                "metadata": { "userAgent": "Mozilla/5.0...", "ipAddress": "192.168.1.1" }
            })
            .to_string(),
            true,
        ),
        // The seed's publishEvent example, verbatim: its eventId is not a UUID.
        (
            "seed publishEvent example (eventId 'custom_event_123')",
            json!({
                "eventId": "custom_event_123",
                "clientId": "client_456",
                "previousEventId": null,
                "entityType": "custom",
                "eventType": "custom_action",
                "occurredAt": now_iso(),
                "source": "manual",
                "metadata": { "customField": "customValue" }
            })
            .to_string(),
            false,
        ),
        // The seed's curl example passes previousEventId "event_456", which the TypeScript
        // producer forwards unchecked.
        (
            "seed header example (previousEventId 'event_456')",
            json!({
                "eventId": Uuid::new_v4(),
                "clientId": "client_123",
                "previousEventId": "event_456",
                "entityType": "user",
                "eventType": "user_created",
                "occurredAt": now_iso()
            })
            .to_string(),
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
    // The bus entries have the seed's format: source, detail-type, the camelCase event as
    // detail, time = occurredAt.
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

// ---------------------------------------------------------------------------------------------
// The fault matrix
// ---------------------------------------------------------------------------------------------

fn events(scenario: &str, n: usize) -> Vec<TrackedEvent> {
    (0..n)
        .map(|i| {
            let mut e = TrackedEvent::new(format!("e2e-{scenario}"), "order", "order_updated");
            e.entity_id = Some(format!("order-{i}"));
            e.points_awarded = Some(i as i32);
            e
        })
        .collect()
}

fn valid_input(events: &[TrackedEvent]) -> Input {
    Input {
        valid: events.iter().map(|e| e.event_id).collect(),
        invalid: Vec::new(),
    }
}

/// Waits for the pipeline and accounts for `input`; logs the details of a failed accounting.
async fn account(name: &str, p: &Pipeline, input: &Input) -> Accounting {
    let (progress, output) = observe(p, input, LIMIT).await;
    let acc = Accounting::compute(input, &output);
    if !acc.ok() {
        eprintln!("[{name}] last progress: {progress}");
        for problem in acc.problems() {
            eprintln!("[{name}] {problem}");
        }
    }
    acc
}

async fn send_batch(p: &Pipeline, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = p
            .moto
            .sqs
            .send_message_batch()
            .queue_url(&p.queues.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

fn print_output(name: &str, text: &str) {
    for line in text
        .lines()
        .filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || l.contains("\"level\":\"WARN\"")
                || l.contains("\"level\":\"ERROR\"")
        })
        .take(40)
    {
        eprintln!("[{name}] bootstrap: {line}");
    }
}

/// Every message delivered three times (as a producer retry or SQS's at-least-once delivery
/// would), interleaved so that copies meet in one batch and across batches.
async fn triple_delivery() -> Accounting {
    let p = Pipeline::create("e2e-triple", PipelineOptions::default()).await;
    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let evs = events("triple", 8);
    let bodies: Vec<String> = (0..3)
        .flat_map(|_| evs.iter().map(TrackedEvent::to_json))
        .collect();
    send_batch(&p, &bodies).await;
    let acc = account("triple", &p, &valid_input(&evs)).await;
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("triple", &out);
    }
    acc
}

/// PostgreSQL (a private cluster) stopped after a first batch and started again after the next
/// batch failed against it.
async fn postgres_restart() -> Accounting {
    let p = Pipeline::create(
        "e2e-pgrestart",
        PipelineOptions {
            private_postgres: true,
            ..PipelineOptions::default()
        },
    )
    .await;
    let Database::Private(pg) = &p.db else {
        unreachable!("private cluster requested")
    };
    let consumer = p
        .start_consumer(
            None,
            RunnerOptions {
                retry_delay: Some(Duration::from_secs(3)),
                ..RunnerOptions::default()
            },
        )
        .await;
    let first = events("pgrestart-a", 5);
    send_batch(
        &p,
        &first.iter().map(TrackedEvent::to_json).collect::<Vec<_>>(),
    )
    .await;
    assert!(
        until(LIMIT, || async { p.outbox_counts().await.1 == 5 }).await,
        "first batch never published"
    );
    tokio::task::block_in_place(|| pg.stop());
    let failed_before = consumer.stats().failed;
    let second = events("pgrestart-b", 5);
    send_batch(
        &p,
        &second.iter().map(TrackedEvent::to_json).collect::<Vec<_>>(),
    )
    .await;
    let saw_failure = until(LIMIT, || async {
        consumer.stats().failed >= failed_before + 5
    })
    .await;
    tokio::task::block_in_place(|| pg.restart());
    let all: Vec<TrackedEvent> = first.into_iter().chain(second).collect();
    let mut acc = account("pgrestart", &p, &valid_input(&all)).await;
    if !saw_failure {
        acc.unexpected
            .push("the batch sent while PostgreSQL was down never failed".into());
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("pgrestart", &out);
    }
    acc
}

/// Every `PutEvents` fails (HTTP 500 from the fault proxy) until the first delivery has been
/// reported failed; then the bus comes back.
async fn bus_down() -> Accounting {
    let moto = required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto).await.expect("fault proxy");
    let p = Pipeline::create("e2e-busdown", PipelineOptions::default()).await;
    let fault = proxy.fail_requests(PUT_EVENTS, 500, None);
    let consumer = p
        .start_consumer(Some(&proxy.url()), RunnerOptions::default())
        .await;
    let evs = events("busdown", 6);
    send_batch(
        &p,
        &evs.iter().map(TrackedEvent::to_json).collect::<Vec<_>>(),
    )
    .await;
    let stored_unpublished = until(LIMIT, || async {
        p.outbox_counts().await.0 == 6 && consumer.stats().failed >= 6
    })
    .await;
    proxy.remove(fault);
    let mut acc = account("busdown", &p, &valid_input(&evs)).await;
    if !stored_unpublished || proxy.stats().target(PUT_EVENTS).failed_requests == 0 {
        acc.unexpected
            .push("the bus outage was not observed (rows stored, deliveries failed)".into());
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("busdown", &out);
    }
    acc
}

/// `PutEvents` answers 200 but rejects some entries (`FailedEntryCount`).
async fn bus_rejects_entries() -> Accounting {
    let moto = required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto).await.expect("fault proxy");
    let p = Pipeline::create("e2e-busentries", PipelineOptions::default()).await;
    proxy
        .fail_entries(PUT_EVENTS, EntrySelector::EveryNth(2), Some(4))
        .expect("entry fault");
    let consumer = p
        .start_consumer(Some(&proxy.url()), RunnerOptions::default())
        .await;
    let evs = events("busentries", 8);
    send_batch(
        &p,
        &evs.iter().map(TrackedEvent::to_json).collect::<Vec<_>>(),
    )
    .await;
    let mut acc = account("busentries", &p, &valid_input(&evs)).await;
    if proxy.stats().target(PUT_EVENTS).failed_entries == 0 {
        acc.unexpected
            .push("no PutEvents entry was rejected".into());
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("busentries", &out);
    }
    acc
}

/// The consumer process is killed (SIGKILL) after its insert and before its bus publish
/// succeeded: the rows are stored and claimed for publishing when the process dies. The runner
/// replaces the process, as Lambda replaces a crashed environment. The retry delay is longer than
/// the dead invocation's publish lease (its deadline plus 30 s), as the queue's 300 s visibility
/// timeout is on AWS.
async fn killed_between_insert_and_publish() -> Accounting {
    let moto = required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto).await.expect("fault proxy");
    let p = Pipeline::create("e2e-kill", PipelineOptions::default()).await;
    // The bus hangs up on every put while the process is killed, so that it dies holding rows
    // that are stored and not yet published.
    let fault = proxy.fail_requests(PUT_EVENTS, 500, None);
    let consumer = p
        .start_consumer(
            Some(&proxy.url()),
            RunnerOptions {
                function_timeout: Duration::from_secs(3),
                retry_delay: Some(Duration::from_secs(20)),
                ..RunnerOptions::default()
            },
        )
        .await;
    let evs = events("kill", 4);
    send_batch(
        &p,
        &evs.iter().map(TrackedEvent::to_json).collect::<Vec<_>>(),
    )
    .await;
    let claimed = until(LIMIT, || async { p.outbox_counts().await.2 == 4 }).await;
    let killed = claimed && consumer.kill_function();
    let replaced = until(LIMIT, || async { consumer.stats().restarts >= 1 }).await;
    proxy.remove(fault);
    let mut acc = account("kill", &p, &valid_input(&evs)).await;
    if !(claimed && killed && replaced) {
        acc.unexpected.push(format!(
            "kill not exercised: rows claimed {claimed}, killed {killed}, process replaced {replaced}"
        ));
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("kill", &out);
    }
    acc
}

/// The producer's `SendMessageBatch` fails: whole requests (HTTP 500, more times than the SDK
/// retries) and single entries; the `kx-events` publisher retries and delivers everything.
async fn producer_send_failure() -> Accounting {
    let moto = required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto).await.expect("fault proxy");
    let p = Pipeline::create("e2e-producer", PipelineOptions::default()).await;
    proxy.fail_requests(SEND_MESSAGE_BATCH, 500, Some(4));
    proxy
        .fail_entries(SEND_MESSAGE_BATCH, EntrySelector::EveryNth(3), Some(3))
        .expect("entry fault");
    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let publisher = Publisher::new(
        Config::default()
            .with_queue_url(&p.queues.queue_url)
            .with_endpoint_url(proxy.url())
            .with_max_attempts(8)
            .with_backoff(Duration::from_millis(50), Duration::from_millis(500)),
    );
    let evs = events("producer", 9);
    let mut acc_extra = Vec::new();
    for e in &evs {
        if !publisher.publish(e.clone()).is_queued() {
            acc_extra.push(format!("{} was not queued by the publisher", e.event_id));
        }
    }
    publisher.flush().await;
    let stats = proxy.stats().target(SEND_MESSAGE_BATCH);
    if stats.failed_requests == 0 || stats.failed_entries == 0 {
        acc_extra.push(format!("send faults not exercised: {stats:?}"));
    }
    let mut acc = account("producer", &p, &valid_input(&evs)).await;
    acc.unexpected.extend(acc_extra);
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("producer", &out);
    }
    acc
}

/// A child event arrives in a batch before its parent's batch: it is retried until the parent
/// is stored, then stored linked to it.
async fn child_before_parent() -> Accounting {
    let p = Pipeline::create("e2e-chain", PipelineOptions::default()).await;
    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let parent = TrackedEvent::new("e2e-chain", "order", "order_created");
    let mut child = TrackedEvent::new("e2e-chain", "order", "order_paid");
    child.previous_event_id = Some(parent.event_id);
    p.send(&child.to_json()).await;
    let child_retried = until(LIMIT, || async { consumer.stats().failed >= 1 }).await;
    p.send(&parent.to_json()).await;
    let input = Input {
        valid: vec![parent.event_id, child.event_id],
        invalid: Vec::new(),
    };
    let (_, output) = observe(&p, &input, LIMIT).await;
    let mut acc = Accounting::compute(&input, &output);
    match output.row(child.event_id) {
        Some(row) if row.previous_event_id == Some(parent.event_id) => {}
        other => acc.unexpected.push(format!(
            "child not linked to its parent: {:?}",
            other.map(|r| (r.previous_event_id, r.unresolved_previous_event_id))
        )),
    }
    if !child_retried {
        acc.unexpected
            .push("the child was never retried (it did not wait for its parent)".into());
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("chain", &out);
    }
    acc
}

/// A valid event as JSON, to break one field at a time.
fn base(tag: &str) -> Value {
    let mut e = TrackedEvent::new("e2e-poison", "order", "order_created");
    e.entity_id = Some(tag.to_string());
    serde_json::from_str(&e.to_json()).expect("event JSON")
}

fn with(tag: &str, field: &str, value: Value) -> String {
    let mut v = base(tag);
    v[field] = value;
    v.to_string()
}

fn without(tag: &str, field: &str) -> String {
    let mut v = base(tag);
    v.as_object_mut().expect("object").remove(field);
    v.to_string()
}

/// The poison messages: each can never become a valid event.
fn poison_kinds() -> Vec<(&'static str, String)> {
    vec![
        ("bad JSON", r#"{"eventId": "7c3f"#.to_string()),
        ("empty body", String::new()),
        ("whitespace body", " \n ".to_string()),
        ("JSON array", format!("[{}]", base("array"))),
        ("JSON string", "\"order_created\"".to_string()),
        ("JSON null", "null".to_string()),
        ("empty object", "{}".to_string()),
        ("missing clientId", without("no-client", "clientId")),
        (
            "empty eventType",
            with("empty-type", "eventType", json!("")),
        ),
        (
            // A string of digits is coerced as the old consumer did ("100"); words are not.
            "pointsAwarded a non-numeric string",
            with("points-str", "pointsAwarded", json!("a hundred")),
        ),
        (
            // A number is stored as its text, as the old consumer did; a boolean is not.
            "clientId a boolean",
            with("client-bool", "clientId", json!(true)),
        ),
        (
            "metadata an array",
            with("meta-array", "metadata", json!([1, 2])),
        ),
        (
            "pointsAwarded beyond INTEGER",
            with("points-big", "pointsAwarded", json!(2_147_483_648_i64)),
        ),
        (
            "pointsAwarded fractional",
            with("points-frac", "pointsAwarded", json!(1.5)),
        ),
        (
            "NUL in clientId",
            with("nul-client", "clientId", json!("acme\u{0}shop")),
        ),
        (
            "NUL in metadata",
            with("nul-meta", "metadata", json!({ "note": "a\u{0}b" })),
        ),
        (
            "clientId 129 characters",
            with("long-client", "clientId", json!("c".repeat(129))),
        ),
        (
            "eventType 49 characters",
            with("long-type", "eventType", json!("t".repeat(49))),
        ),
        (
            "source 33 characters",
            with("long-source", "source", json!("s".repeat(33))),
        ),
        (
            "eventId not a UUID",
            with("bad-id", "eventId", json!("custom_event_123")),
        ),
        (
            "previousEventId not a UUID",
            with("bad-prev", "previousEventId", json!("event_456")),
        ),
        (
            "occurredAt not a timestamp",
            with("bad-time", "occurredAt", json!("yesterday")),
        ),
        (
            "occurredAt impossible date",
            with("bad-date", "occurredAt", json!("2024-13-45T10:30:00.000Z")),
        ),
        (
            "metadata over 64 KiB",
            with(
                "meta-big",
                "metadata",
                json!({ "blob": "x".repeat(70_000) }),
            ),
        ),
        (
            "300 KB body",
            with(
                "body-300k",
                "metadata",
                json!({ "blob": "x".repeat(300_000) }),
            ),
        ),
    ]
}

/// 25 kinds of poison among valid siblings: the poison goes to the DLQ with its reason, the
/// siblings are stored and published.
async fn poison() -> Accounting {
    let p = Pipeline::create("e2e-poison", PipelineOptions::default()).await;
    let consumer = p.start_consumer(None, RunnerOptions::default()).await;
    let siblings = events("poison-siblings", 3);
    let mut input = valid_input(&siblings);
    for (i, (label, body)) in poison_kinds().into_iter().enumerate() {
        if i % 8 == 0 {
            if let Some(e) = siblings.get(i / 8) {
                p.send(&e.to_json()).await;
            }
        }
        let message_id = p.send(&body).await;
        input.invalid.push(InvalidInput {
            label: label.to_string(),
            body,
            message_id: Some(message_id),
        });
    }
    let (_, output) = observe(&p, &input, LIMIT).await;
    let mut acc = Accounting::compute(&input, &output);
    // Every reason names a field and a rule.
    for m in &output.dlq {
        if m.field().is_none() || !m.attributes.contains_key("kx-rule") {
            acc.unexpected.push(format!(
                "DLQ message {} without field/rule attributes",
                m.message_id
            ));
        }
    }
    let (_, out) = consumer.stop().await;
    if !acc.ok() {
        print_output("poison", &out);
    }
    acc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_matrix() {
    let scenarios: Vec<(&str, tokio::task::JoinHandle<Accounting>)> = vec![
        (
            "each message delivered 3 times",
            tokio::spawn(triple_delivery()),
        ),
        (
            "PostgreSQL restarted mid-run",
            tokio::spawn(postgres_restart()),
        ),
        (
            "bus down for a while (PutEvents 500)",
            tokio::spawn(bus_down()),
        ),
        (
            "bus rejects some entries",
            tokio::spawn(bus_rejects_entries()),
        ),
        (
            "consumer killed between insert and publish",
            tokio::spawn(killed_between_insert_and_publish()),
        ),
        (
            "producer send failures (requests, entries)",
            tokio::spawn(producer_send_failure()),
        ),
        (
            "child before parent, different batches",
            tokio::spawn(child_before_parent()),
        ),
        (
            "25 kinds of poison among valid events",
            tokio::spawn(poison()),
        ),
    ];
    let mut matrix = Matrix::default();
    let mut panics = Vec::new();
    for (name, handle) in scenarios {
        match handle.await {
            Ok(acc) => matrix.push(name, acc),
            Err(e) => {
                panics.push(format!("{name}: {e}"));
                matrix.push(
                    name,
                    Accounting {
                        unexpected: vec![format!("scenario panicked: {e}")],
                        ..Accounting::default()
                    },
                );
            }
        }
    }
    println!("\nkx-events end-to-end fault matrix\n{}", matrix.render());
    assert!(panics.is_empty(), "scenarios panicked: {panics:#?}");
    assert!(
        matrix.ok(),
        "not every event is accounted for:\n{}",
        matrix.render()
    );
}

#[test]
fn poison_kinds_are_invalid_and_distinct() {
    let kinds = poison_kinds();
    assert!(kinds.len() >= 15);
    for (label, body) in &kinds {
        assert!(
            TrackedEvent::from_json(body.as_bytes()).is_err(),
            "{label} is accepted by the contract"
        );
    }
    let mut bodies: Vec<&String> = kinds.iter().map(|(_, b)| b).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), kinds.len());
}

/// Where the output of `p` is read.
fn sources(p: &Pipeline) -> Sources {
    Sources {
        database_url: p.database_url(),
        subscriber_queue_url: p.subscriber_url.clone(),
        dead_letter_queue_url: p.queues.dlq_url.clone(),
        events_queue_url: Some(p.queues.queue_url.clone()),
    }
}

/// Waits (at most `limit`, a safety bound) until every valid input reached the subscriber, the
/// DLQ holds a message per invalid input and the events queue is empty; then reads everything
/// that came out.
async fn observe(p: &Pipeline, input: &Input, limit: Duration) -> (Progress, Output) {
    let mut collector = Collector::new(p.moto.sqs.clone(), sources(p));
    let progress = collector
        .wait(input, limit, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{}: watching the pipeline: {e}", p.name));
    let output = collector
        .finish(Duration::from_secs(1), false)
        .await
        .unwrap_or_else(|e| panic!("{}: reading the output: {e}", p.name));
    (progress, output)
}
