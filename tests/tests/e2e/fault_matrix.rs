//! One fault per scenario, each on its own isolated [`Pipeline`] (unique moto resources, its own
//! database), all run concurrently by [`fault_matrix`], which accounts for every input event id
//! and prints the table (see the binary's header in `main.rs`).

mod poison;

use std::time::Duration;

use kx_events::{Config, Publisher, TrackedEvent};
use kx_events_demo::accounting::{Accounting, Input, Matrix, Output};
use kx_events_demo::observe::{Collector, Progress, Sources};
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use kx_events_tests::e2e::{until, Database, Pipeline, PipelineOptions, RunnerOptions};
use kx_events_tests::required_env;

use crate::LIMIT;

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
            tokio::spawn(poison::poison()),
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
