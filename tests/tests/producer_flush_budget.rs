//! `kx_events::run` under the local Runtime API with SQS reached through a TCP proxy that can
//! black-hole it: the flush after a response lasts at most the flush budget (`flush_timeout`,
//! 500 ms by default), not until the invocation's deadline, and logs every event it could not
//! send; on SIGTERM, what is still queued is flushed and `run` returns (no `exit`: the program's
//! own shutdown code after `run(..).await` runs).

#[path = "producer_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use kx_events::{track, ExplicitContext, TrackedEvent};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use kx_events_tests::tcp_proxy::TcpProxy;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use uuid::Uuid;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let ids: Vec<Uuid> = (0..5)
        .filter_map(|_| track!(event, "order", "order_created").event_id())
        .collect();
    Ok(json!({ "ids": ids }))
}

fn ids_of(messages: &[aws_sdk_sqs::types::Message]) -> Vec<Uuid> {
    messages
        .iter()
        .map(|m| {
            TrackedEvent::from_json(m.body().unwrap().as_bytes())
                .unwrap()
                .event_id
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_is_bounded_by_its_budget_and_sigterm_flushes_then_run_returns() {
    common::record_logs();
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "flush-budget").await;
    let moto: std::net::SocketAddr = common::endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("AWS_ENDPOINT_URL is http://host:port");
    let proxy = TcpProxy::start(moto).await;

    let api = RuntimeApi::start().await.expect("Runtime API");
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", api.host_port());
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "producer");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    std::env::set_var(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", proxy.port()),
    );
    std::env::set_var("EVENTS_QUEUE_URL", &url);
    let running = tokio::spawn(kx_events::run(service_fn(handler)));

    // 1. The network is fine: the invocation's events are in the queue when it completes.
    let timeout = Duration::from_secs(10);
    let outcome = api
        .invoke(json!({ "clientId": "client_123" }), timeout)
        .await
        .expect("invoke");
    let InvocationOutcome::Response(body) = &outcome else {
        panic!("{outcome:?}")
    };
    let mut tracked: Vec<Uuid> = serde_json::from_value(body["ids"].clone()).unwrap();
    let mut delivered = ids_of(&common::take_all(&sqs, &url).await);
    tracked.sort();
    delivered.sort();
    assert_eq!(delivered, tracked);

    // 2. SQS is black-holed (connections open, nothing answers): a 10 s invocation completes
    //    after about the flush budget, not 250 ms before its deadline, and every event it
    //    tracked is logged with its id, its JSON and the reason.
    proxy.blackhole(true);
    let started = Instant::now();
    let outcome = api
        .invoke(json!({ "clientId": "client_123" }), timeout)
        .await
        .expect("invoke");
    let took = started.elapsed();
    let InvocationOutcome::Response(body) = &outcome else {
        panic!("the invocation must complete, got {outcome:?}")
    };
    assert!(
        took < Duration::from_secs(5),
        "the flush ran past its budget: the invocation took {took:?}"
    );
    let ids: Vec<Uuid> = serde_json::from_value(body["ids"].clone()).unwrap();
    assert_eq!(ids.len(), 5);
    let lines = common::lines();
    for id in &ids {
        let id = id.to_string();
        let lost: Vec<_> = lines
            .iter()
            .filter(|l| {
                l.level == tracing::Level::ERROR && l.field("event_id") == Some(id.as_str())
            })
            .collect();
        assert_eq!(lost.len(), 1, "one error line for {id}");
        assert!(lost[0].field("reason").unwrap().contains("flush_timeout"));
        let event = TrackedEvent::from_json(lost[0].field("event").unwrap().as_bytes()).unwrap();
        assert_eq!(event.event_id.to_string(), id);
    }

    // 3. SIGTERM: an event tracked outside any invocation (held for a flush) is flushed — sent,
    //    or, while the black-holed round still holds the line, logged with its id — and `run`
    //    returns instead of exiting the process (this test still runs).
    proxy.blackhole(false);
    let outside = track!(ExplicitContext::new("client_123"), "job", "job_finished")
        .event_id()
        .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let returned = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("run returns after SIGTERM")
        .expect("the run task");
    assert!(returned.is_ok(), "{returned:?}");
    let delivered = ids_of(&common::take_all(&sqs, &url).await).contains(&outside);
    let outside_id = outside.to_string();
    let logged = common::lines().iter().any(|l| {
        l.level == tracing::Level::ERROR
            && l.field("event_id") == Some(outside_id.as_str())
            && l.field("reason").is_some_and(|r| r.contains("SIGTERM"))
    });
    assert!(delivered != logged, "sent or logged, exactly one of them");
}
