//! `track_on_ok`: the decorator's contract. An event is recorded only when the wrapped handler
//! succeeds (`Ok`, and for an HTTP response a 2xx or 3xx status), with the wrapper's extras and
//! the ids of the incoming event.

mod common;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use kx_events::{track_on_ok, Config, EventBuilder, TrackedEvent};
use lambda_runtime::{Error, LambdaEvent, Service};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_tracked_only_when_the_handler_succeeds() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "wrapper").await;
    kx_events::init(Config::from_env().with_queue_url(&url)).unwrap();

    let mut handler = track_on_ok(
        EventBuilder::new("notification", "email_sent")
            .source("worker")
            .points_awarded(10),
        |event: LambdaEvent<Value>| async move {
            if event.payload["fail"] == true {
                Err::<Value, Error>("the job failed".into())
            } else {
                Ok(json!({ "jobId": event.payload["jobId"], "status": "completed" }))
            }
        },
    );
    let worker: Value = serde_json::from_str(include_str!("fixtures/worker_event.json")).unwrap();
    let ok = handler
        .call(LambdaEvent::new(worker.clone(), Default::default()))
        .await
        .unwrap();
    assert_eq!(ok["status"], "completed");

    let mut failing = worker.clone();
    failing["fail"] = json!(true);
    failing["clientId"] = json!("client_that_failed");
    let err = handler
        .call(LambdaEvent::new(failing, Default::default()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the job failed");

    // `Ok` with an HTTP error status is a failed request: not tracked either. A 3xx is a
    // success.
    let mut http_handler = track_on_ok(
        EventBuilder::new("order", "order_created"),
        |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = event
                .payload
                .path
                .as_deref()
                .map_or(200, |p| p.trim_start_matches('/').parse().unwrap_or(200));
            Ok::<_, Error>(response)
        },
    );
    for status in [500, 404, 302, 201] {
        let mut request: ApiGatewayProxyRequest =
            serde_json::from_str(include_str!("fixtures/apigw_v1_request.json")).unwrap();
        request.path = Some(format!("/{status}"));
        request.headers.insert(
            "x-client-id",
            format!("client_http_{status}").parse().unwrap(),
        );
        let response = http_handler
            .call(LambdaEvent::new(request, Default::default()))
            .await
            .unwrap();
        assert_eq!(response.status_code, status);
    }
    // The same rule for a JSON response with a `statusCode`.
    let mut json_handler = track_on_ok(
        EventBuilder::new("order", "order_created"),
        |event: LambdaEvent<Value>| async move {
            Ok::<_, Error>(json!({ "statusCode": event.payload["status"] }))
        },
    );
    for status in [503, 204] {
        json_handler
            .call(LambdaEvent::new(
                json!({ "clientId": format!("client_json_{status}"), "status": status }),
                Default::default(),
            ))
            .await
            .unwrap();
    }

    kx_events::flush().await;
    // flush() returned: everything tracked has been sent.
    let messages = common::receive(&sqs, &url, 4).await;
    assert_eq!(
        common::queue_depth(&sqs, &url).await,
        0,
        "only the successful calls are tracked"
    );
    let mut clients: Vec<String> = messages
        .iter()
        .map(|m| {
            TrackedEvent::from_json(m.body().unwrap().as_bytes())
                .unwrap()
                .client_id
        })
        .collect();
    clients.sort();
    assert_eq!(
        clients,
        [
            "client_123",
            "client_http_201",
            "client_http_302",
            "client_json_204"
        ],
        "2xx and 3xx only"
    );
    let event = messages
        .iter()
        .map(|m| TrackedEvent::from_json(m.body().unwrap().as_bytes()).unwrap())
        .find(|e| e.client_id == "client_123")
        .unwrap();
    assert_eq!(event.client_id, "client_123");
    assert_eq!(event.detail_type(), "notification.email_sent");
    assert_eq!(event.source.as_deref(), Some("worker"));
    assert_eq!(event.points_awarded, Some(10));
}
