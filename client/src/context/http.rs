//! The ids of a request in the `http` crate's types: what a `lambda_http` handler (`Request`) or
//! an axum handler (`Parts`, `HeaderMap`) has. Same sources, same order as the `aws_lambda_events`
//! request structs (see [`extract_client_id`](crate::extract_client_id)).

use aws_lambda_events::http::HeaderMap;

use super::lambda_events::from_headers;
use super::{TrackingContext, CLIENT_ID_HEADERS, PREVIOUS_EVENT_ID_HEADERS};

/// Headers only: `X-Client-Id` / `Client-Id` and `X-Previous-Event-Id` / `Previous-Event-Id`
/// (case-insensitive). What an axum handler has with the `HeaderMap` extractor, on Lambda or not.
impl TrackingContext for HeaderMap {
    fn client_id(&self) -> Option<String> {
        from_headers(self, None, &CLIENT_ID_HEADERS)
    }
    fn previous_event_id(&self) -> Option<String> {
        from_headers(self, None, &PREVIOUS_EVENT_ID_HEADERS)
    }
}

#[cfg(feature = "lambda-http")]
mod lambda {
    use aws_lambda_events::apigw::ApiGatewayRequestAuthorizer;
    use lambda_http::http::request::Parts;
    use lambda_http::http::HeaderMap;
    use lambda_http::request::RequestContext;
    use lambda_http::{Body, Request, RequestExt};

    use super::super::lambda_events::{BodySource, HttpParts, Query};
    use super::super::{Ids, TrackingContext};

    /// The authorizer context that `lambda_http` kept from the event, for every request context
    /// that has one: REST API (v1), HTTP API (v2: Lambda or JWT authorizer), WebSocket API. An
    /// ALB request has none.
    fn authorizer(context: Option<&RequestContext>) -> Option<&ApiGatewayRequestAuthorizer> {
        // lambda_http's variants depend on its features, which any crate in the build may turn
        // on: the catch-all arm keeps this compiling with VPC Lattice or pass-through enabled.
        #[allow(unreachable_patterns)]
        match context? {
            RequestContext::ApiGatewayV1(c) => Some(&c.authorizer),
            RequestContext::ApiGatewayV2(c) => c.authorizer.as_ref(),
            RequestContext::WebSocket(c) => Some(&c.authorizer),
            RequestContext::Alb(_) => None,
            _ => None,
        }
    }

    fn parts<'a>(
        ext: &'a impl RequestExt,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> HttpParts<'a> {
        HttpParts {
            headers,
            // lambda_http folds multi-value headers into the request's `HeaderMap`.
            multi_value_headers: None,
            // The query string as lambda_http parsed it from the event (multi-value when the
            // event had it), which is what `RequestExt::query_string_parameters` returns.
            query: match ext.query_string_parameters_ref() {
                Some(q) => Query::Map(q, None),
                None => Query::None,
            },
            body: BodySource::Decoded(body),
            authorizer: authorizer(ext.request_context_ref()),
        }
    }

    /// Text or binary alike: lambda_http has already decoded a base64-encoded event body.
    fn body_bytes(body: &Body) -> &[u8] {
        body.as_ref()
    }

    /// A `lambda_http` request: headers, the query string, the JSON body (text or binary) and
    /// the authorizer context (REST v1, HTTP API v2 with a Lambda or JWT authorizer, WebSocket).
    impl TrackingContext for Request {
        fn client_id(&self) -> Option<String> {
            parts(self, self.headers(), body_bytes(self.body()))
                .ids(true, false)
                .0
        }
        fn previous_event_id(&self) -> Option<String> {
            parts(self, self.headers(), body_bytes(self.body()))
                .ids(false, true)
                .1
        }
        fn tracking_ids(&self) -> Ids {
            parts(self, self.headers(), body_bytes(self.body())).ids(true, true)
        }
    }

    /// The head of a request (axum's `Parts` extractor, or `Request::into_parts`): everything but
    /// the body. Under `lambda_http::run` its extensions carry the query string and the
    /// authorizer context.
    impl TrackingContext for Parts {
        fn client_id(&self) -> Option<String> {
            parts(self, &self.headers, &[]).ids(true, false).0
        }
        fn previous_event_id(&self) -> Option<String> {
            parts(self, &self.headers, &[]).ids(false, true).1
        }
        fn tracking_ids(&self) -> Ids {
            parts(self, &self.headers, &[]).ids(true, true)
        }
    }
}
