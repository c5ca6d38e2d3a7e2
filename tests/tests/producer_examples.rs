//! The producer's Lambda examples (`client/examples/api_gateway.rs`, `worker.rs`) run as real
//! function processes under kx-events-local's Runtime API, sending to moto: what a user gets by
//! copying them.

#[path = "producer_common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use kx_events::TrackedEvent;
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Path of a kx-events example, built once by this test binary.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(|p| p.parent()).expect("profile dir");
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = std::process::Command::new(cargo);
        command.args(["build", "--quiet", "-p", "kx-events", "--examples"]);
        if profile_dir.ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("running cargo build --examples");
        assert!(status.success(), "building the kx-events examples failed");
    });
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "example {name} not found at {}",
        path.display()
    );
    path
}

async fn start(name: &str, queue_url: &str) -> (RuntimeApi, Function) {
    let api = RuntimeApi::start().await.expect("Runtime API");
    let mut function = Function::spawn(
        &api,
        FunctionConfig::new(example(name))
            .env("EVENTS_QUEUE_URL", queue_url)
            .echo(format!("[{name}] ")),
    )
    .await
    .expect("spawn");
    function.wait_first_next(TIMEOUT).await.expect("first next");
    (api, function)
}

fn api_request(headers: Value, body: Value) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../client/tests/fixtures/apigw_v1_request.json"
    ))
    .unwrap();
    // The sample's authorizer context carries `"clientId": 1`; these requests bring their own.
    v["requestContext"]["authorizer"] = json!({ "principalId": "admin" });
    for (k, val) in headers.as_object().unwrap() {
        v["headers"][k] = val.clone();
        v["multiValueHeaders"][k] = json!([val]);
    }
    v["body"] = json!(body.to_string());
    v
}

fn events_in(messages: &[aws_sdk_sqs::types::Message]) -> Vec<TrackedEvent> {
    messages
        .iter()
        .map(|m| TrackedEvent::from_json(m.body().unwrap().as_bytes()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_example_tracks_chains_and_flushes_before_freezing() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "example-api").await;
    let (api, mut function) = start("api_gateway", &url).await;

    let request = api_request(
        json!({ "X-Client-Id": "client_123" }),
        json!({ "items": [1, 2] }),
    );
    let outcome = api.invoke(request, TIMEOUT).await.unwrap();
    let InvocationOutcome::Response(response) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(response["statusCode"], 201);
    let first_id = response["headers"]["x-event-id"]
        .as_str()
        .expect("x-event-id")
        .to_string();
    let order: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();

    // The invocation completed only after the flush: the event is already in the queue.
    let events = events_in(&common::take_all(&sqs, &url).await);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.event_id.to_string(), first_id);
    assert_eq!(
        (e.client_id.as_str(), e.detail_type().as_str()),
        ("client_123", "order.order_created")
    );
    assert_eq!(e.source.as_deref(), Some("api"));
    assert_eq!(e.entity_id.as_deref(), order["orderId"].as_str());
    assert_eq!(e.metadata.as_ref().unwrap()["items"], 2);

    // The returned id chains the next request.
    let request = api_request(
        json!({ "client-id": "client_123", "X-Previous-Event-Id": first_id }),
        json!({ "items": [] }),
    );
    let outcome = api.invoke(request, TIMEOUT).await.unwrap();
    assert!(outcome.response().is_some(), "{outcome:?}");
    let events = events_in(&common::take_all(&sqs, &url).await);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].previous_event_id.map(|u| u.to_string()),
        Some(first_id)
    );

    // No client id: the request still succeeds, nothing is sent, a warning says why.
    let outcome = api
        .invoke(api_request(json!({}), json!({})), TIMEOUT)
        .await
        .unwrap();
    let response = outcome.response().expect("a response");
    assert_eq!(response["statusCode"], 201);
    assert!(response["headers"].get("x-event-id").is_none());
    assert!(common::take_all(&sqs, &url).await.is_empty());
    let warning = function
        .wait_for_line("no clientId in the request", TIMEOUT)
        .await
        .expect("a warning line");
    assert!(
        warning.contains("order") && warning.contains("order_created"),
        "{warning}"
    );

    // Lambda ends the environment with SIGTERM: the function flushes and exits cleanly.
    let status = function.shutdown().await.unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_example_tracks_only_successful_jobs() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "example-worker").await;
    let (api, mut function) = start("worker", &url).await;

    let job: Value = serde_json::from_str(include_str!(
        "../../client/tests/fixtures/worker_event.json"
    ))
    .unwrap();
    let outcome = api.invoke(job.clone(), TIMEOUT).await.unwrap();
    assert_eq!(outcome.response().unwrap()["status"], "completed");
    let events = events_in(&common::take_all(&sqs, &url).await);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.client_id.as_str(), e.detail_type().as_str()),
        ("client_123", "notification.email_sent")
    );
    assert_eq!(
        (e.source.as_deref(), e.points_awarded),
        (Some("worker"), Some(10))
    );

    let mut bad = job;
    bad["recipient"] = json!("nobody");
    let outcome = api.invoke(bad, TIMEOUT).await.unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::FunctionError(_)),
        "{outcome:?}"
    );
    assert!(
        common::take_all(&sqs, &url).await.is_empty(),
        "a failed job records nothing"
    );

    let status = function.shutdown().await.unwrap();
    assert!(status.success(), "{status:?}");
}
