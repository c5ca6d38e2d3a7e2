//! Every form of `track!`, with and without a trailing comma, with every kind of context; each
//! tracked event is then read back from a real SQS queue (moto) and checked field by field.

mod common;

use std::collections::HashMap;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use kx_events::{track, Config, ExplicitContext, TrackError, Tracked, TrackedEvent};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use uuid::Uuid;

fn with_header<T: serde::de::DeserializeOwned>(fixture: &str, client: &str) -> T {
    let mut v: Value = serde_json::from_str(fixture).unwrap();
    for field in ["headers", "multiValueHeaders"] {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            let value = if field == "headers" {
                json!(client)
            } else {
                json!([client])
            };
            m.insert("X-Client-Id".into(), value);
        }
    }
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_is_tracked_and_arrives_with_its_fields() {
    let sdk = common::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = common::create_queue(&sqs, "macros").await;
    kx_events::init(Config::from_env().with_queue_url(&url)).unwrap();

    let ctx = ExplicitContext::new("client_123");
    let prev = Uuid::new_v4();
    let meta = || json!({ "amount": 99.99, "currency": "USD" });
    // (what track! returned, fields the event must have on the wire)
    let mut expected: Vec<(Tracked, Value)> = Vec::new();
    let base =
        json!({ "clientId": "client_123", "entityType": "order", "eventType": "order_created" });
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };

    expected.push((track!(ctx, "order", "order_created"), base.clone()));
    expected.push((track!(ctx, "order", "order_created",), base.clone()));

    expected.push((
        track!(ctx, "order", "order_created", user_id = "u1"),
        with(json!({ "userId": "u1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", user_id = "u1",),
        with(json!({ "userId": "u1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", entity_id = "o1"),
        with(json!({ "entityId": "o1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", entity_id = "o1",),
        with(json!({ "entityId": "o1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", source = "api"),
        with(json!({ "source": "api" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", source = "api",),
        with(json!({ "source": "api" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", campaign_id = "c1"),
        with(json!({ "campaignId": "c1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", campaign_id = "c1",),
        with(json!({ "campaignId": "c1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", points_awarded = 100),
        with(json!({ "pointsAwarded": 100 })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", points_awarded = 100,),
        with(json!({ "pointsAwarded": 100 })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", session_id = "s1"),
        with(json!({ "sessionId": "s1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", session_id = "s1",),
        with(json!({ "sessionId": "s1" })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", metadata = meta()),
        with(json!({ "metadata": meta() })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", metadata = meta(),),
        with(json!({ "metadata": meta() })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", previous_event_id = prev),
        with(json!({ "previousEventId": prev })),
    ));
    expected.push((
        track!(ctx, "order", "order_created", previous_event_id = prev,),
        with(json!({ "previousEventId": prev })),
    ));
    expected.push((
        track!(
            ctx,
            "order",
            "order_created",
            previous_event_id = Some(prev)
        ),
        with(json!({ "previousEventId": prev })),
    ));

    let all = with(json!({
        "userId": "u1", "entityId": "o1", "source": "api", "campaignId": "c1",
        "pointsAwarded": 100, "sessionId": "s1", "metadata": meta(), "previousEventId": prev
    }));
    expected.push((
        track!(
            ctx,
            "order",
            "order_created",
            user_id = "u1",
            entity_id = "o1",
            source = "api",
            campaign_id = "c1",
            points_awarded = 100,
            session_id = "s1",
            metadata = meta(),
            previous_event_id = prev
        ),
        all.clone(),
    ));
    expected.push((
        track!(
            ctx,
            "order",
            "order_created",
            previous_event_id = prev,
            metadata = meta(),
            session_id = "s1",
            points_awarded = 100,
            campaign_id = "c1",
            source = "api",
            entity_id = "o1",
            user_id = "u1",
        ),
        all,
    ));

    // Owned strings and expressions work as well as literals; a reference to the context too.
    let (entity, kind, user) = (
        String::from("order"),
        String::from("order_created"),
        String::from("u1"),
    );
    expected.push((
        track!(&ctx, entity.clone(), kind.as_str(), user_id = user.clone()),
        with(json!({ "userId": "u1" })),
    ));

    // Every kind of context.
    let v1: ApiGatewayProxyRequest =
        with_header(include_str!("fixtures/apigw_v1_request.json"), "c-v1");
    let v2: ApiGatewayV2httpRequest = with_header(
        include_str!("fixtures/apigw_v2_jwt_authorizer_request.json"),
        "c-v2",
    );
    let alb: AlbTargetGroupRequest =
        with_header(include_str!("fixtures/alb_request.json"), "c-alb");
    let url_req: LambdaFunctionUrlRequest =
        with_header(include_str!("fixtures/function_url_request.json"), "c-url");
    let worker: Value = serde_json::from_str(include_str!("fixtures/worker_event.json")).unwrap();
    let ev = |c: &str| json!({ "clientId": c, "entityType": "user", "eventType": "user_created" });
    expected.push((track!(v1, "user", "user_created"), ev("c-v1")));
    expected.push((track!(v2, "user", "user_created"), ev("c-v2")));
    expected.push((track!(alb, "user", "user_created"), ev("c-alb")));
    expected.push((track!(url_req, "user", "user_created"), ev("c-url")));
    expected.push((track!(worker, "user", "user_created"), ev("client_123")));
    let lambda_event = LambdaEvent::new(v1.clone(), Context::default());
    expected.push((track!(lambda_event, "user", "user_created"), ev("c-v1")));
    let lambda_event = LambdaEvent::new(worker.clone(), Context::default());
    expected.push((
        track!(lambda_event, "user", "user_created",),
        ev("client_123"),
    ));

    // The returned id chains events.
    let first = track!(ctx, "order", "order_created").event_id().unwrap();
    expected.push((Tracked::Queued(first), base.clone()));
    let chained = ExplicitContext::new("client_123").with_previous_event_id(first);
    expected.push((
        track!(chained, "order", "order_paid"),
        json!({ "clientId": "client_123", "eventType": "order_paid", "previousEventId": first }),
    ));

    // Nothing to track: no client id.
    let none = track!(
        json!({ "jobId": "j" }),
        "order",
        "order_created",
        source = "api"
    );
    assert!(
        matches!(none, Tracked::NotTracked(TrackError::NoClientId { .. })),
        "{none:?}"
    );

    kx_events::flush().await;

    let messages = common::receive(&sqs, &url, expected.len()).await;
    let by_id: HashMap<Uuid, TrackedEvent> = messages
        .iter()
        .map(|m| {
            let e = TrackedEvent::from_json(m.body().unwrap().as_bytes()).unwrap();
            (e.event_id, e)
        })
        .collect();
    assert_eq!(
        by_id.len(),
        expected.len(),
        "every tracked event arrives once"
    );
    for (tracked, fields) in expected {
        let id = tracked
            .event_id()
            .unwrap_or_else(|| panic!("not queued: {tracked:?}"));
        let event = &by_id[&id];
        let wire: Value = serde_json::from_str(&event.to_json()).unwrap();
        for (k, v) in fields.as_object().unwrap() {
            assert_eq!(&wire[k], v, "{k} of {wire}");
        }
        for k in [
            "userId",
            "entityId",
            "source",
            "campaignId",
            "pointsAwarded",
            "sessionId",
            "metadata",
        ] {
            if !fields.as_object().unwrap().contains_key(k) {
                assert!(wire.get(k).is_none(), "{k} should be absent in {wire}");
            }
        }
    }
}
