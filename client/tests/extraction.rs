//! Where `clientId` and `previousEventId` come from, and in which order, for every request shape
//! `track!` accepts. Each case starts from a real sample event (tests/fixtures), adds the ids as
//! JSON, and reads them through the typed `aws_lambda_events` request, a `LambdaEvent` of it, and
//! the raw `serde_json::Value`: the three must agree.

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use kx_events::{
    extract_client_id, extract_previous_event_id, EventBuilder, ExplicitContext, TrackError,
    TrackingContext,
};
use lambda_runtime::{Context, LambdaEvent};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Shape {
    RestV1,
    HttpV2LambdaAuthorizer,
    HttpV2JwtAuthorizer,
    Alb,
    AlbMultiValue,
    FunctionUrl,
}

const SHAPES: [Shape; 6] = [
    Shape::RestV1,
    Shape::HttpV2LambdaAuthorizer,
    Shape::HttpV2JwtAuthorizer,
    Shape::Alb,
    Shape::AlbMultiValue,
    Shape::FunctionUrl,
];

impl Shape {
    fn fixture(self) -> Value {
        let text = match self {
            Shape::RestV1 => include_str!("fixtures/apigw_v1_request.json"),
            Shape::HttpV2LambdaAuthorizer => {
                include_str!("fixtures/apigw_v2_lambda_authorizer_request.json")
            }
            Shape::HttpV2JwtAuthorizer => {
                include_str!("fixtures/apigw_v2_jwt_authorizer_request.json")
            }
            Shape::Alb => include_str!("fixtures/alb_request.json"),
            Shape::AlbMultiValue => include_str!("fixtures/alb_multivalue_request.json"),
            Shape::FunctionUrl => include_str!("fixtures/function_url_request.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    /// Whether the shape has an authorizer context that can carry a client id.
    fn has_authorizer(self) -> bool {
        matches!(
            self,
            Shape::RestV1 | Shape::HttpV2LambdaAuthorizer | Shape::HttpV2JwtAuthorizer
        )
    }

    fn set_authorizer_client_id(self, v: &mut Value, id: Option<&str>) {
        let authorizer = &mut v["requestContext"]["authorizer"];
        let slot = match self {
            Shape::RestV1 => authorizer.as_object_mut().unwrap(),
            Shape::HttpV2LambdaAuthorizer => authorizer["lambda"].as_object_mut().unwrap(),
            Shape::HttpV2JwtAuthorizer => authorizer["jwt"]["claims"].as_object_mut().unwrap(),
            _ => unreachable!("{self:?} has no authorizer context"),
        };
        match id {
            Some(id) => slot.insert("clientId".into(), json!(id)),
            None => slot.remove("clientId"),
        };
    }

    /// The ids through the typed request, `LambdaEvent<typed>` and the raw JSON; all must agree.
    fn ids(self, v: &Value) -> (Option<String>, Option<Uuid>) {
        fn through<T: DeserializeOwned + TrackingContext>(
            v: &Value,
        ) -> (Option<String>, Option<Uuid>) {
            let typed: T = serde_json::from_value(v.clone()).unwrap();
            let ids = (extract_client_id(&typed), extract_previous_event_id(&typed));
            let wrapped = LambdaEvent::new(typed, Context::default());
            assert_eq!(
                ids,
                (
                    extract_client_id(&wrapped),
                    extract_previous_event_id(&wrapped)
                ),
                "LambdaEvent<T> and T disagree"
            );
            assert_eq!(
                ids,
                (extract_client_id(v), extract_previous_event_id(v)),
                "the typed request and its JSON disagree"
            );
            ids
        }
        match self {
            Shape::RestV1 => through::<ApiGatewayProxyRequest>(v),
            Shape::HttpV2LambdaAuthorizer | Shape::HttpV2JwtAuthorizer => {
                through::<ApiGatewayV2httpRequest>(v)
            }
            Shape::Alb | Shape::AlbMultiValue => through::<AlbTargetGroupRequest>(v),
            Shape::FunctionUrl => through::<LambdaFunctionUrlRequest>(v),
        }
    }
}

/// Sets (or removes) a header in every header map the event has, as API Gateway and ALB do.
fn set_header(v: &mut Value, name: &str, value: Option<&str>) {
    let mut any = false;
    for (field, multi) in [("headers", false), ("multiValueHeaders", true)] {
        if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
            any = true;
            match value {
                Some(x) if multi => map.insert(name.into(), json!([x])),
                Some(x) => map.insert(name.into(), json!(x)),
                None => map.remove(name),
            };
        }
    }
    assert!(any, "the fixture has no headers");
}

/// Sets (or removes) a query parameter in every query map the event has.
fn set_query(v: &mut Value, name: &str, value: Option<&str>) {
    let mut any = false;
    for (field, multi) in [
        ("queryStringParameters", false),
        ("multiValueQueryStringParameters", true),
    ] {
        if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
            any = true;
            match value {
                Some(x) if multi => map.insert(name.into(), json!([x])),
                Some(x) => map.insert(name.into(), json!(x)),
                None => map.remove(name),
            };
        }
    }
    assert!(any, "the fixture has no query parameters");
}

fn set_body(v: &mut Value, body: Option<Value>) {
    v["isBase64Encoded"] = json!(false);
    v["body"] = match body {
        Some(b) => json!(b.to_string()),
        None => Value::Null,
    };
}

fn client(v: &Value, shape: Shape) -> Option<String> {
    shape.ids(v).0
}

#[test]
fn client_id_precedence_for_every_request_shape() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        // Header names in other cases than the documented ones: matching ignores case.
        set_header(&mut v, "X-CLIENT-ID", Some("from-x-client-id"));
        set_header(&mut v, "client-id", Some("from-client-id"));
        set_query(&mut v, "clientId", Some("from-query"));
        set_body(
            &mut v,
            Some(json!({ "name": "John", "clientId": "from-body" })),
        );
        if shape.has_authorizer() {
            shape.set_authorizer_client_id(&mut v, Some("from-authorizer"));
        }

        assert_eq!(
            client(&v, shape).as_deref(),
            Some("from-x-client-id"),
            "{shape:?}"
        );
        set_header(&mut v, "X-CLIENT-ID", None);
        assert_eq!(
            client(&v, shape).as_deref(),
            Some("from-client-id"),
            "{shape:?}"
        );
        set_header(&mut v, "client-id", None);
        assert_eq!(
            client(&v, shape).as_deref(),
            Some("from-query"),
            "{shape:?}"
        );
        set_query(&mut v, "clientId", None);
        assert_eq!(client(&v, shape).as_deref(), Some("from-body"), "{shape:?}");
        set_body(&mut v, Some(json!({ "name": "John" })));
        if shape.has_authorizer() {
            assert_eq!(
                client(&v, shape).as_deref(),
                Some("from-authorizer"),
                "{shape:?}"
            );
            shape.set_authorizer_client_id(&mut v, None);
        }
        assert_eq!(client(&v, shape), None, "{shape:?}");
    }
}

#[test]
fn rest_api_sample_authorizer_number_is_a_client_id() {
    // AWS's own sample REST API event has `"clientId": 1` in its Lambda authorizer context.
    let v = Shape::RestV1.fixture();
    assert_eq!(client(&v, Shape::RestV1).as_deref(), Some("1"));
}

#[test]
fn empty_values_fall_through_to_the_next_source() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        set_header(&mut v, "X-Client-Id", Some("  "));
        set_query(&mut v, "clientId", Some(""));
        set_body(&mut v, Some(json!({ "clientId": "from-body" })));
        assert_eq!(client(&v, shape).as_deref(), Some("from-body"), "{shape:?}");
    }
}

#[test]
fn base64_encoded_bodies_are_decoded() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        if shape.has_authorizer() {
            shape.set_authorizer_client_id(&mut v, None);
        }
        let prev = Uuid::new_v4();
        let body = json!({ "clientId": "from-b64-body", "previousEventId": prev }).to_string();
        v["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        v["isBase64Encoded"] = json!(true);
        assert_eq!(
            shape.ids(&v),
            (Some("from-b64-body".to_string()), Some(prev)),
            "{shape:?}"
        );
    }
}

#[test]
fn bodies_that_are_not_json_objects_are_skipped() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        if shape.has_authorizer() {
            shape.set_authorizer_client_id(&mut v, None);
        }
        for body in ["Hello from client!", "clientId=form", "[1,2]", "{not json"] {
            v["body"] = json!(body);
            assert_eq!(shape.ids(&v), (None, None), "{shape:?} {body}");
        }
    }
}

#[test]
fn previous_event_id_precedence_for_every_request_shape() {
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let s: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    for shape in SHAPES {
        let mut v = shape.fixture();
        set_header(&mut v, "x-previous-event-id", Some(&s[0]));
        set_header(&mut v, "PREVIOUS-EVENT-ID", Some(&s[1]));
        set_body(&mut v, Some(json!({ "previousEventId": s[2] })));
        set_query(&mut v, "previousEventId", Some(&s[3]));

        assert_eq!(shape.ids(&v).1, Some(ids[0]), "{shape:?}");
        set_header(&mut v, "x-previous-event-id", None);
        assert_eq!(shape.ids(&v).1, Some(ids[1]), "{shape:?}");
        set_header(&mut v, "PREVIOUS-EVENT-ID", None);
        // The body comes before the query for previousEventId (the reverse of clientId).
        assert_eq!(shape.ids(&v).1, Some(ids[2]), "{shape:?}");
        set_body(&mut v, None);
        assert_eq!(shape.ids(&v).1, Some(ids[3]), "{shape:?}");
        set_query(&mut v, "previousEventId", None);
        assert_eq!(shape.ids(&v).1, None, "{shape:?}");
    }
}

#[test]
fn a_previous_event_id_that_is_not_a_uuid_is_dropped_not_sent() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        set_header(&mut v, "X-Client-Id", Some("client_123"));
        // The placeholder id of the TypeScript system's sample events.
        set_header(&mut v, "X-Previous-Event-Id", Some("event_456"));
        assert_eq!(
            shape.ids(&v),
            (Some("client_123".into()), None),
            "{shape:?}"
        );
        // The event is still built, without it.
        let event = EventBuilder::new("user", "user_created").build(&v).unwrap();
        assert_eq!(event.client_id, "client_123");
        assert_eq!(event.previous_event_id, None);
        event.validate().unwrap();
    }
}

#[test]
fn worker_events_use_their_own_properties_last() {
    let mut v: Value = serde_json::from_str(include_str!("fixtures/worker_event.json")).unwrap();
    assert_eq!(extract_client_id(&v).as_deref(), Some("client_123"));
    assert_eq!(extract_previous_event_id(&v), None);
    let prev = Uuid::new_v4();
    v["previousEventId"] = json!(prev);
    assert_eq!(extract_previous_event_id(&v), Some(prev));

    // Every HTTP source comes before the event's own property.
    v["headers"] = json!({ "Client-Id": "from-header" });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-header"));
    v["headers"] = json!({});
    v["queryStringParameters"] = json!({ "clientId": "from-query" });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-query"));
    v["queryStringParameters"] = Value::Null;
    // A directly invoked function may get the body as an object.
    v["body"] = json!({ "clientId": "from-body" });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-body"));
    v["body"] = Value::Null;
    v["requestContext"] =
        json!({ "authorizer": { "jwt": { "claims": { "clientId": "from-jwt" } } } });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-jwt"));
    v["requestContext"] = json!({ "authorizer": { "lambda": { "clientId": "from-lambda" } } });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-lambda"));
    v["requestContext"] =
        json!({ "authorizer": { "clientId": "from-v1", "lambda": { "clientId": "from-lambda" } } });
    assert_eq!(extract_client_id(&v).as_deref(), Some("from-v1"));
    v["requestContext"] = Value::Null;
    assert_eq!(extract_client_id(&v).as_deref(), Some("client_123"));
}

#[test]
fn no_client_id_means_no_event() {
    let v = json!({ "jobId": "job_1" });
    let err = EventBuilder::new("notification", "email_sent")
        .build(&v)
        .unwrap_err();
    assert_eq!(
        err,
        TrackError::NoClientId {
            entity_type: "notification".into(),
            event_type: "email_sent".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "no clientId found for notification.email_sent: event not tracked"
    );
}

#[test]
fn explicit_context_and_explicit_previous_event_id() {
    let prev = Uuid::new_v4();
    let ctx = ExplicitContext::new("client_9").with_previous_event_id(prev);
    let event = EventBuilder::new("order", "order_created")
        .build(&ctx)
        .unwrap();
    assert_eq!(
        (event.client_id.as_str(), event.previous_event_id),
        ("client_9", Some(prev))
    );

    // An explicit previous_event_id overrides the request's, and `None` suppresses it.
    let other = Uuid::new_v4();
    let event = EventBuilder::new("order", "order_created")
        .previous_event_id(other)
        .build(&ctx)
        .unwrap();
    assert_eq!(event.previous_event_id, Some(other));
    let event = EventBuilder::new("order", "order_created")
        .previous_event_id(None)
        .build(&ctx)
        .unwrap();
    assert_eq!(event.previous_event_id, None);
}

#[test]
fn builder_sets_every_field_and_validates() {
    let ctx = ExplicitContext::new("client_123");
    let event = EventBuilder::new("payment", "payment_completed")
        .user_id("user_123")
        .entity_id("payment_456")
        .source("api")
        .campaign_id("campaign_1")
        .points_awarded(50)
        .session_id("session_1")
        .metadata(json!({ "amount": 99.99, "currency": "USD" }))
        .build(&ctx)
        .unwrap();
    let wire: Value = serde_json::from_str(&event.to_json()).unwrap();
    assert_eq!(wire["userId"], "user_123");
    assert_eq!(wire["entityId"], "payment_456");
    assert_eq!(wire["source"], "api");
    assert_eq!(wire["campaignId"], "campaign_1");
    assert_eq!(wire["pointsAwarded"], 50);
    assert_eq!(wire["sessionId"], "session_1");
    assert_eq!(
        wire["metadata"],
        json!({ "amount": 99.99, "currency": "USD" })
    );
    assert_eq!(wire["previousEventId"], Value::Null);

    let err = EventBuilder::new("payment", "payment_completed")
        .metadata(json!([1, 2]))
        .build(&ctx)
        .unwrap_err();
    let TrackError::Invalid { error, .. } = err else {
        panic!("expected Invalid, got {err:?}")
    };
    assert_eq!(
        error.to_string(),
        "metadata: must be a JSON object, got array"
    );
}
