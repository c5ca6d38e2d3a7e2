//! The crate's Lambda examples (`client/examples/api_gateway.rs`, `worker.rs`, `axum.rs`,
//! `subscriber.rs`) run as real function processes under kx-events-local's Runtime API, against
//! moto: what a user gets by copying them.

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
        // `axum` needs the `lambda-http` feature (off by default).
        command.args([
            "build",
            "--quiet",
            "-p",
            "kx-events",
            "--examples",
            "--features",
            "lambda-http",
        ]);
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

/// AWS's HTTP API (v2) sample with a Lambda authorizer, as API Gateway sends `POST /orders` to
/// the function: `authorizer_client_id` in the authorizer's context, `headers` added.
fn http_api_request(
    path: &str,
    authorizer_client_id: Option<&str>,
    headers: Value,
    body: Value,
) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../client/tests/fixtures/apigw_v2_lambda_authorizer_request.json"
    ))
    .unwrap();
    v["rawPath"] = json!(path);
    v["rawQueryString"] = json!("");
    v["queryStringParameters"] = json!({});
    v["requestContext"]["http"]["method"] = json!("POST");
    v["requestContext"]["http"]["path"] = json!(path);
    v["requestContext"]["stage"] = json!("$default");
    v["routeKey"] = json!("$default");
    let lambda = v["requestContext"]["authorizer"]["lambda"]
        .as_object_mut()
        .unwrap();
    match authorizer_client_id {
        Some(id) => lambda.insert("clientId".into(), json!(id)),
        None => lambda.remove("clientId"),
    };
    for (k, val) in headers.as_object().unwrap() {
        v["headers"][k] = val.clone();
    }
    v["body"] = json!(body.to_string());
    v["isBase64Encoded"] = json!(false);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_example_tracks_from_parts_under_run_http_and_flushes_before_freezing() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "example-axum").await;
    let (api, mut function) = start("axum", &url).await;
    // run_http registered the flush extension next to lambda_http's runtime.
    assert_eq!(api.extension_count(), 1);

    // No header: the client id comes from the Lambda authorizer's context, which lambda_http
    // keeps in the request's extensions and axum hands the handler in `Parts`.
    let request = http_api_request(
        "/orders",
        Some("tenant_from_authorizer"),
        json!({}),
        json!({ "items": [1, 2, 3] }),
    );
    let outcome = api.invoke(request, TIMEOUT).await.unwrap();
    let InvocationOutcome::Response(response) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(response["statusCode"], 201, "{response}");
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
        ("tenant_from_authorizer", "order.order_created")
    );
    assert_eq!(e.source.as_deref(), Some("api"));
    assert_eq!(e.entity_id.as_deref(), order["orderId"].as_str());
    assert_eq!(e.metadata.as_ref().unwrap()["items"], 3);

    // A header comes before the authorizer; the returned id chains the next request.
    let request = http_api_request(
        "/orders",
        Some("tenant_from_authorizer"),
        json!({ "x-client-id": "client_123", "x-previous-event-id": first_id }),
        json!({ "items": [] }),
    );
    let outcome = api.invoke(request, TIMEOUT).await.unwrap();
    assert_eq!(outcome.response().expect("a response")["statusCode"], 201);
    let events = events_in(&common::take_all(&sqs, &url).await);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id, "client_123");
    assert_eq!(
        events[0].previous_event_id.map(|u| u.to_string()),
        Some(first_id)
    );

    // A route the router does not have: 404, nothing tracked.
    let outcome = api
        .invoke(
            http_api_request("/nope", Some("t1"), json!({}), json!({})),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(outcome.response().expect("a response")["statusCode"], 404);
    assert!(common::take_all(&sqs, &url).await.is_empty());

    // No client id anywhere: the request still succeeds, nothing is sent, a warning says why.
    let outcome = api
        .invoke(
            http_api_request("/orders", None, json!({}), json!({})),
            TIMEOUT,
        )
        .await
        .unwrap();
    let response = outcome.response().expect("a response");
    assert_eq!(response["statusCode"], 201);
    assert!(response["headers"].get("x-event-id").is_none());
    assert!(common::take_all(&sqs, &url).await.is_empty());
    function
        .wait_for_line("no clientId in the request", TIMEOUT)
        .await
        .expect("a warning line");

    let status = function.shutdown().await.unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_example_handles_the_envelopes_the_bus_delivers() {
    // Real envelopes: entries built as the consumer builds them, put on a moto bus, routed by a
    // rule to a queue, read back.
    let moto = kx_events_tests::Moto::new().await;
    let bus = kx_events_tests::unique("subscriber-bus");
    moto.create_bus(&bus).await;
    let target = moto
        .create_rule_target(&bus, kx_events::DEFAULT_EVENT_SOURCE)
        .await;
    let mut user = TrackedEvent::new("client_123", "user", "user_created");
    user.user_id = Some("user_789".into());
    let payment = TrackedEvent::new("client_123", "payment", "payment_completed");
    let mut paid = payment.clone();
    paid.event_id = uuid::Uuid::new_v4();
    paid.entity_id = Some("payment_456".into());
    let other = TrackedEvent::new("client_123", "order", "order_created");
    let entries: Vec<_> = [&user, &paid, &payment, &other]
        .iter()
        .map(|e| e.bus_entry(kx_events::DEFAULT_EVENT_SOURCE).to_sdk(&bus))
        .collect();
    let put = moto
        .events
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(put.failed_entry_count(), 0);
    let mut envelopes = Vec::new();
    for _ in 0..20 {
        envelopes.extend(moto.bus_events(&target).await);
        if envelopes.len() >= 4 {
            break;
        }
    }
    assert_eq!(envelopes.len(), 4, "{envelopes:?}");
    let envelope_of = |e: &TrackedEvent| {
        envelopes
            .iter()
            .find(|v| v["detail"]["eventId"] == e.event_id.to_string())
            .unwrap_or_else(|| panic!("no envelope for {}", e.event_id))
            .clone()
    };

    let (api, mut function) = start("subscriber", "unused").await;
    for (event, action) in [
        (&user, "send_welcome_email"),
        (&paid, "send_payment_confirmation"),
        (&other, "ignored"),
    ] {
        let outcome = api.invoke(envelope_of(event), TIMEOUT).await.unwrap();
        let response = outcome.response().unwrap_or_else(|| panic!("{outcome:?}"));
        assert_eq!(
            response,
            &json!({
                "eventId": event.event_id,
                "detailType": event.detail_type(),
                "action": action,
            })
        );
    }
    // A payment without an entity: the handler fails, so EventBridge would retry it.
    let outcome = api.invoke(envelope_of(&payment), TIMEOUT).await.unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::FunctionError(_)),
        "{outcome:?}"
    );
    // The plain runtime has no SIGTERM handler: Lambda's SIGTERM ends it, as it would there.
    function.shutdown().await.unwrap();
}
