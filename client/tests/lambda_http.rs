//! `track!` in a `lambda_http` (and axum) handler: the ids of a real `lambda_http::Request`, built
//! by `lambda_http::request::from_str` from AWS's sample events (tests/fixtures) exactly as
//! `lambda_http::run` builds it from the Runtime API's payload, for every request context it can
//! hold. Each source is set in the event's JSON, then read through the `Request`, its `Parts` (what
//! an axum handler extracts) and its `HeaderMap`.

use base64::Engine as _;
use kx_events::lambda_http::request::{from_str, RequestContext};
use kx_events::lambda_http::{Body, Request, RequestExt};
use kx_events::{extract_client_id, extract_previous_event_id, EventBuilder, TrackingContext};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    RestV1,
    HttpV2LambdaAuthorizer,
    HttpV2JwtAuthorizer,
    Alb,
    AlbMultiValue,
    FunctionUrl,
    WebSocket,
}

const SHAPES: [Shape; 7] = [
    Shape::RestV1,
    Shape::HttpV2LambdaAuthorizer,
    Shape::HttpV2JwtAuthorizer,
    Shape::Alb,
    Shape::AlbMultiValue,
    Shape::FunctionUrl,
    Shape::WebSocket,
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
            Shape::WebSocket => include_str!("fixtures/apigw_websocket_request.json"),
        };
        let mut v: Value = serde_json::from_str(text).unwrap();
        // Start from no client id at all: AWS's REST sample carries `"clientId": 1` in its
        // authorizer context (tested on its own below).
        if let Some(a) = v["requestContext"]["authorizer"].as_object_mut() {
            a.remove("clientId");
        }
        if self == Shape::WebSocket {
            // The `$connect` sample has no authorizer; a Lambda authorizer's context goes here.
            v["requestContext"]["authorizer"] = json!({ "principalId": "user" });
        }
        v
    }

    /// Where the authorizer puts a client id, for the shapes that have an authorizer context.
    fn authorizer_slot(self, v: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
        let authorizer = &mut v["requestContext"]["authorizer"];
        match self {
            Shape::RestV1 | Shape::WebSocket => authorizer.as_object_mut(),
            Shape::HttpV2LambdaAuthorizer => authorizer["lambda"].as_object_mut(),
            Shape::HttpV2JwtAuthorizer => authorizer["jwt"]["claims"].as_object_mut(),
            Shape::Alb | Shape::AlbMultiValue | Shape::FunctionUrl => None,
        }
    }

    /// The request as `lambda_http::run` hands it to the handler; panics if lambda_http did not
    /// see the event as this shape's request context (then the test would prove nothing).
    fn request(self, v: &Value) -> Request {
        let request = from_str(&v.to_string()).unwrap_or_else(|e| panic!("{self:?}: {e}"));
        let context = request.request_context_ref();
        let as_expected = match self {
            Shape::RestV1 => matches!(context, Some(RequestContext::ApiGatewayV1(_))),
            Shape::HttpV2LambdaAuthorizer | Shape::HttpV2JwtAuthorizer | Shape::FunctionUrl => {
                matches!(context, Some(RequestContext::ApiGatewayV2(_)))
            }
            Shape::Alb | Shape::AlbMultiValue => matches!(context, Some(RequestContext::Alb(_))),
            Shape::WebSocket => matches!(context, Some(RequestContext::WebSocket(_))),
        };
        assert!(as_expected, "{self:?}: lambda_http built {context:?}");
        request
    }

    /// `(clientId, previousEventId)` of the request; its `Parts` must agree on everything but
    /// the body, which they do not have.
    fn ids(self, v: &Value) -> (Option<String>, Option<Uuid>) {
        let request = self.request(v);
        let ids = (
            extract_client_id(&request),
            extract_previous_event_id(&request),
        );
        assert_eq!(
            request.tracking_ids(),
            (
                request.client_id(),
                request.previous_event_id().map(|s| s.to_string())
            ),
            "{self:?}: tracking_ids and the single look-ups disagree"
        );
        let mut without_body = v.clone();
        without_body["body"] = Value::Null;
        without_body["isBase64Encoded"] = json!(false);
        let (parts, _) = self.request(&without_body).into_parts();
        let body_less = self.request(&without_body);
        assert_eq!(
            (extract_client_id(&parts), extract_previous_event_id(&parts)),
            (
                extract_client_id(&body_less),
                extract_previous_event_id(&body_less)
            ),
            "{self:?}: Parts and Request disagree"
        );
        ids
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

/// Sets (or removes) a query parameter in every query map the event has, and in an HTTP API
/// event's `rawQueryString` (which lambda_http reads instead of the map).
fn set_query(v: &mut Value, name: &str, value: Option<&str>) {
    if v.get("rawQueryString").is_some() {
        let mut pairs: Vec<String> = v["rawQueryString"]
            .as_str()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
            .map(str::to_owned)
            .collect();
        if let Some(x) = value {
            // The values these tests use need no percent-encoding.
            pairs.push(format!("{name}={x}"));
        }
        v["rawQueryString"] = json!(pairs.join("&"));
    }
    for (field, multi) in [
        ("queryStringParameters", false),
        ("multiValueQueryStringParameters", true),
    ] {
        if v.get(field).is_none_or(Value::is_null) {
            v[field] = json!({});
        }
        let map = v[field].as_object_mut().unwrap();
        match value {
            Some(x) if multi => map.insert(name.into(), json!([x])),
            Some(x) => map.insert(name.into(), json!(x)),
            None => map.remove(name),
        };
    }
}

fn set_body(v: &mut Value, body: Option<Value>) {
    v["isBase64Encoded"] = json!(false);
    v["body"] = match body {
        Some(b) => json!(b.to_string()),
        None => Value::Null,
    };
}

#[test]
fn client_id_precedence_through_a_lambda_http_request_for_every_context() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        set_header(&mut v, "X-CLIENT-ID", Some("from-x-client-id"));
        set_header(&mut v, "client-id", Some("from-client-id"));
        set_query(&mut v, "clientId", Some("from-query"));
        set_body(
            &mut v,
            Some(json!({ "name": "n", "clientId": "from-body" })),
        );
        let has_authorizer = match shape.authorizer_slot(&mut v) {
            Some(slot) => {
                slot.insert("clientId".into(), json!("from-authorizer"));
                true
            }
            None => false,
        };

        let client = |v: &Value| shape.ids(v).0;
        assert_eq!(client(&v).as_deref(), Some("from-x-client-id"), "{shape:?}");
        set_header(&mut v, "X-CLIENT-ID", None);
        assert_eq!(client(&v).as_deref(), Some("from-client-id"), "{shape:?}");
        set_header(&mut v, "client-id", None);
        assert_eq!(client(&v).as_deref(), Some("from-query"), "{shape:?}");
        set_query(&mut v, "clientId", None);
        assert_eq!(client(&v).as_deref(), Some("from-body"), "{shape:?}");
        set_body(&mut v, Some(json!({ "name": "n" })));
        if has_authorizer {
            assert_eq!(client(&v).as_deref(), Some("from-authorizer"), "{shape:?}");
            shape.authorizer_slot(&mut v).unwrap().remove("clientId");
        }
        assert_eq!(client(&v), None, "{shape:?}");
    }
}

#[test]
fn previous_event_id_precedence_through_a_lambda_http_request_for_every_context() {
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
fn base64_encoded_bodies_arrive_as_binary_and_are_read() {
    for shape in SHAPES {
        let mut v = shape.fixture();
        let prev = Uuid::new_v4();
        let body = json!({ "clientId": "from-b64-body", "previousEventId": prev }).to_string();
        v["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        v["isBase64Encoded"] = json!(true);
        let request = shape.request(&v);
        // lambda_http decodes it; the text form is not JSON any more.
        assert!(matches!(request.body(), Body::Binary(_)), "{shape:?}");
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
        for body in ["Hello from client!", "clientId=form", "[1,2]", "{not json"] {
            v["body"] = json!(body);
            v["isBase64Encoded"] = json!(false);
            assert_eq!(shape.ids(&v), (None, None), "{shape:?} {body}");
        }
    }
}

#[test]
fn the_rest_samples_numeric_authorizer_client_id_is_read() {
    // AWS's own REST sample: `"clientId": 1` in the Lambda authorizer context.
    let v: Value = serde_json::from_str(include_str!("fixtures/apigw_v1_request.json")).unwrap();
    assert_eq!(Shape::RestV1.ids(&v).0.as_deref(), Some("1"));
}

#[test]
fn a_header_map_alone_carries_the_header_ids() {
    let prev = Uuid::new_v4();
    let mut v = Shape::HttpV2LambdaAuthorizer.fixture();
    set_header(&mut v, "Client-Id", Some("from-header"));
    set_header(&mut v, "X-Previous-Event-Id", Some(&prev.to_string()));
    set_body(&mut v, Some(json!({ "clientId": "from-body" })));
    let request = Shape::HttpV2LambdaAuthorizer.request(&v);
    let headers = request.headers();
    assert_eq!(
        (
            extract_client_id(headers),
            extract_previous_event_id(headers)
        ),
        (Some("from-header".into()), Some(prev))
    );
    // Only headers: nothing from the body or the query.
    set_header(&mut v, "Client-Id", None);
    let request = Shape::HttpV2LambdaAuthorizer.request(&v);
    assert_eq!(extract_client_id(request.headers()), None);
    assert_eq!(extract_client_id(&request).as_deref(), Some("from-body"));
}

#[test]
fn track_builds_the_event_from_a_lambda_http_request() {
    let prev = Uuid::new_v4();
    let mut v = Shape::RestV1.fixture();
    set_header(&mut v, "X-Client-Id", Some("client_123"));
    set_body(&mut v, Some(json!({ "previousEventId": prev })));
    let request = Shape::RestV1.request(&v);
    let event = EventBuilder::new("order", "order_created")
        .source("api")
        .build(&request)
        .unwrap();
    assert_eq!(
        (
            event.client_id.as_str(),
            event.previous_event_id,
            event.detail_type()
        ),
        ("client_123", Some(prev), "order.order_created".to_string())
    );
    event.validate().unwrap();
}
