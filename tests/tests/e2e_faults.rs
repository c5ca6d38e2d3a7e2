//! End-to-end fault matrix: producer → SQS → local runner → real `bootstrap` → PostgreSQL → bus →
//! subscriber queue, under one fault per scenario, with a final accounting of every input event
//! id: exactly one row and one bus event per valid event, exactly one DLQ message with a reason
//! per invalid message, nothing else.
//!
//! Each scenario has its own moto resources (unique names) and its own database (a private
//! PostgreSQL cluster for the restart scenario), so the scenarios run concurrently. The table is
//! printed at the end (`cargo test -p kx-events-tests --test e2e_faults -- --nocapture`).
//!
//! Waits are bounded by generous limits that only stop a hung run; nothing asserts how fast the
//! pipeline is.

use std::time::Duration;

use kx_events::{Config, Publisher, TrackedEvent};
use kx_events_demo::accounting::{Accounting, Input, InvalidInput, Matrix};
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use kx_events_tests::e2e::{until, Database, Pipeline, PipelineOptions, RunnerOptions};
use kx_events_tests::required_env;
use serde_json::{json, Value};

/// Safety bound for one wait.
const LIMIT: Duration = Duration::from_secs(150);

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
    let (progress, output) = p.observe(input, LIMIT).await;
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
    let (_, output) = p.observe(&input, LIMIT).await;
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
            "pointsAwarded a string",
            with("points-str", "pointsAwarded", json!("100")),
        ),
        (
            "clientId a number",
            with("client-num", "clientId", json!(123)),
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
    let (_, output) = p.observe(&input, LIMIT).await;
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
