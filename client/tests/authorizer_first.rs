//! `Config::with_authorizer_first(true)`: in a multi-tenant API, the `clientId` of a verified
//! authorizer context wins over the headers, query string and body the caller controls, for the
//! typed request structs, a `LambdaEvent` of them and the raw JSON alike; a request without one
//! falls back to the usual order. A test binary of its own: the order is process-wide.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use kx_events::{extract_client_id, Config, EventBuilder};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

fn with_caller_ids(fixture: &str) -> Value {
    let mut v: Value = serde_json::from_str(fixture).unwrap();
    v["headers"]["x-client-id"] = json!("caller-header");
    v["queryStringParameters"] = json!({ "clientId": "caller-query" });
    v["body"] = json!(r#"{"clientId":"caller-body"}"#);
    v["isBase64Encoded"] = json!(false);
    v
}

#[test]
fn the_authorizer_wins_over_what_the_caller_sends() {
    kx_events::init(Config::default().with_authorizer_first(true)).unwrap();

    // REST API, Lambda authorizer context.
    let mut rest = with_caller_ids(include_str!("fixtures/apigw_v1_request.json"));
    rest["requestContext"]["authorizer"]["clientId"] = json!("tenant_a");
    let typed: ApiGatewayProxyRequest = serde_json::from_value(rest.clone()).unwrap();
    assert_eq!(extract_client_id(&typed).as_deref(), Some("tenant_a"));
    assert_eq!(extract_client_id(&rest).as_deref(), Some("tenant_a"));
    let event = LambdaEvent::new(typed, Context::default());
    let built = EventBuilder::new("order", "order_created")
        .points_awarded(100)
        .build(&event)
        .unwrap();
    assert_eq!(
        built.client_id, "tenant_a",
        "points go to the verified tenant"
    );

    // HTTP API, Lambda authorizer (`lambda`) and JWT authorizer (`jwt.claims`).
    let mut lambda = with_caller_ids(include_str!(
        "fixtures/apigw_v2_lambda_authorizer_request.json"
    ));
    lambda["requestContext"]["authorizer"]["lambda"]["clientId"] = json!("tenant_b");
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(lambda.clone()).unwrap();
    assert_eq!(extract_client_id(&typed).as_deref(), Some("tenant_b"));
    assert_eq!(extract_client_id(&lambda).as_deref(), Some("tenant_b"));

    let mut jwt = with_caller_ids(include_str!(
        "fixtures/apigw_v2_jwt_authorizer_request.json"
    ));
    jwt["requestContext"]["authorizer"]["jwt"]["claims"]["clientId"] = json!("tenant_c");
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(jwt.clone()).unwrap();
    assert_eq!(extract_client_id(&typed).as_deref(), Some("tenant_c"));
    assert_eq!(extract_client_id(&jwt).as_deref(), Some("tenant_c"));

    // No clientId in the authorizer context: the request's own, in the usual order.
    rest["requestContext"]["authorizer"]
        .as_object_mut()
        .unwrap()
        .remove("clientId");
    let typed: ApiGatewayProxyRequest = serde_json::from_value(rest.clone()).unwrap();
    assert_eq!(extract_client_id(&typed).as_deref(), Some("caller-header"));
    assert_eq!(extract_client_id(&rest).as_deref(), Some("caller-header"));

    // A worker event has no authorizer: its own clientId.
    assert_eq!(
        extract_client_id(&json!({ "clientId": "worker" })).as_deref(),
        Some("worker")
    );
}
