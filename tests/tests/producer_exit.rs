//! Events still held when a program's `main` returns without a flush: the exit hook sends them
//! (bounded by the flush budget), and what it cannot send is logged with each id and JSON on
//! standard error; a flush guard does the same when it is dropped. Runs `kx-producer-exit` (a
//! binary of this crate) as a real process against moto, and against an endpoint that never
//! answers.

#[path = "producer_common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use kx_events::TrackedEvent;
use uuid::Uuid;

fn run(endpoint: &str, queue_url: &str, args: &[&str]) -> (Vec<Uuid>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kx-producer-exit"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("EVENTS_QUEUE_URL", queue_url)
        .env_remove("EVENT_BUS_NAME")
        .output()
        .expect("running kx-producer-exit");
    let took = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    let ids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().expect("an event id"))
        .collect();
    (ids, String::from_utf8_lossy(&out.stderr).into_owned(), took)
}

async fn blackhole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_at_exit_are_sent_by_the_exit_hook() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for mode in [&["12"][..], &["12", "guard"][..]] {
        let url = common::create_queue(&sqs, "exit").await;
        let (ids, stderr, _) = run(&common::endpoint(), &url, mode);
        assert_eq!(ids.len(), 12);
        let mut got: Vec<Uuid> = common::take_all(&sqs, &url)
            .await
            .iter()
            .map(|m| {
                TrackedEvent::from_json(m.body().unwrap().as_bytes())
                    .unwrap()
                    .event_id
            })
            .collect();
        let mut want = ids.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{mode:?}: every event delivered\n{stderr}");
        assert!(!stderr.contains("event not delivered"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_cannot_be_sent_at_exit_are_logged_with_their_ids() {
    let endpoint = blackhole().await;
    let url = format!("{endpoint}/000000000000/held");
    for mode in [&["5"][..], &["5", "guard"][..]] {
        let (ids, stderr, took) = run(&endpoint, &url, mode);
        assert_eq!(ids.len(), 5);
        assert!(
            took < Duration::from_secs(8),
            "{mode:?}: the exit flush is bounded, took {took:?}"
        );
        for id in &ids {
            let line = stderr
                .lines()
                .find(|l| {
                    l.contains("event not delivered") && l.contains(&format!("event_id={id}"))
                })
                .unwrap_or_else(|| panic!("{mode:?}: no line for {id}:\n{stderr}"));
            assert!(line.starts_with("ERROR"), "{line}");
            assert!(line.contains(r#""eventType":"job_finished""#), "{line}");
        }
    }
}
