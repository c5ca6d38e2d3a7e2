//! The ids of the `aws_lambda_events` request structs: API Gateway REST (v1) and HTTP API (v2)
//! requests, ALB requests and Lambda Function URL requests. Each is viewed as [`HttpParts`] (its
//! headers, query string, body and authorizer context), which `lambda_http` requests share (see
//! the `http` module), so that every request shape reads its sources in the same order.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayRequestAuthorizer, ApiGatewayV2httpRequest,
};
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::query_map::QueryMap;

use super::order::authorizer_first;
use super::value::{json_id, non_empty, BodyIds};
use super::{
    Ids, TrackingContext, CLIENT_ID, CLIENT_ID_HEADERS, PREVIOUS_EVENT_ID,
    PREVIOUS_EVENT_ID_HEADERS,
};

pub(super) fn from_headers(
    headers: &HeaderMap,
    multi: Option<&HeaderMap>,
    names: &[&str],
) -> Option<String> {
    names.iter().find_map(|name| {
        [Some(headers), multi]
            .into_iter()
            .flatten()
            .flat_map(|h| h.get_all(*name))
            .find_map(|v| v.to_str().ok().and_then(|s| non_empty(Cow::Borrowed(s))))
    })
}

fn from_query_map(query: &QueryMap, multi: Option<&QueryMap>, name: &str) -> Option<String> {
    [Some(query), multi]
        .into_iter()
        .flatten()
        .find_map(|q| q.first(name).and_then(|s| non_empty(Cow::Borrowed(s))))
}

fn from_authorizer(authorizer: Option<&ApiGatewayRequestAuthorizer>) -> Option<String> {
    let authorizer = authorizer?;
    // v1 Lambda authorizer context and v2 `lambda` context both land in `fields`.
    authorizer
        .fields
        .get(CLIENT_ID)
        .and_then(json_id)
        .or_else(|| {
            let claims = &authorizer.jwt.as_ref()?.claims;
            claims
                .get(CLIENT_ID)
                .and_then(|s| non_empty(Cow::Borrowed(s)))
        })
}

/// The parts of an HTTP-style Lambda event that carry ids.
pub(super) struct HttpParts<'a> {
    pub(super) headers: &'a HeaderMap,
    pub(super) multi_value_headers: Option<&'a HeaderMap>,
    pub(super) query: Query<'a>,
    pub(super) body: BodySource<'a>,
    pub(super) authorizer: Option<&'a ApiGatewayRequestAuthorizer>,
}

pub(super) enum Query<'a> {
    Map(&'a QueryMap, Option<&'a QueryMap>),
    Plain(&'a HashMap<String, String>),
    /// A `lambda_http` request without the query extension.
    #[cfg(feature = "lambda-http")]
    None,
}

impl Query<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Query::Map(q, multi) => from_query_map(q, *multi, name),
            Query::Plain(q) => q.get(name).and_then(|s| non_empty(Cow::Borrowed(s))),
            #[cfg(feature = "lambda-http")]
            Query::None => None,
        }
    }
}

/// A request body as the event carries it.
pub(super) enum BodySource<'a> {
    /// The raw event's `body`, base64-encoded when `is_base64` is true.
    Encoded {
        body: Option<&'a str>,
        is_base64: bool,
    },
    /// Already decoded (a `lambda_http::Body`), or none at all.
    #[cfg(feature = "lambda-http")]
    Decoded(&'a [u8]),
}

impl BodySource<'_> {
    fn ids(&self) -> BodyIds {
        match self {
            BodySource::Encoded { body, is_base64 } => BodyIds::parse(*body, *is_base64),
            #[cfg(feature = "lambda-http")]
            BodySource::Decoded(bytes) => BodyIds::parse_bytes(bytes),
        }
    }
}

impl HttpParts<'_> {
    pub(super) fn ids(&self, want_client: bool, want_previous: bool) -> Ids {
        let mut client = None;
        if want_client && authorizer_first() {
            client = from_authorizer(self.authorizer);
        }
        if want_client && client.is_none() {
            client = from_headers(self.headers, self.multi_value_headers, &CLIENT_ID_HEADERS)
                .or_else(|| self.query.get(CLIENT_ID));
        }
        let mut previous = None;
        if want_previous {
            previous = from_headers(
                self.headers,
                self.multi_value_headers,
                &PREVIOUS_EVENT_ID_HEADERS,
            );
        }
        let need_body = (want_client && client.is_none()) || (want_previous && previous.is_none());
        if need_body {
            let body = self.body.ids();
            if want_client && client.is_none() {
                client = body
                    .client_id
                    .as_ref()
                    .and_then(json_id)
                    .or_else(|| from_authorizer(self.authorizer));
            }
            if want_previous && previous.is_none() {
                previous = body
                    .previous_event_id
                    .as_ref()
                    .and_then(json_id)
                    .or_else(|| self.query.get(PREVIOUS_EVENT_ID));
            }
        }
        (client, previous)
    }
}

macro_rules! http_tracking_context {
    ($ty:ty, |$r:ident| $parts:expr) => {
        impl TrackingContext for $ty {
            fn client_id(&self) -> Option<String> {
                let $r = self;
                $parts.ids(true, false).0
            }
            fn previous_event_id(&self) -> Option<String> {
                let $r = self;
                $parts.ids(false, true).1
            }
            fn tracking_ids(&self) -> Ids {
                let $r = self;
                $parts.ids(true, true)
            }
        }
    };
}

http_tracking_context!(ApiGatewayProxyRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: Some(&r.multi_value_headers),
    query: Query::Map(
        &r.query_string_parameters,
        Some(&r.multi_value_query_string_parameters)
    ),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: Some(&r.request_context.authorizer),
});

http_tracking_context!(ApiGatewayV2httpRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: None,
    query: Query::Map(&r.query_string_parameters, None),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: r.request_context.authorizer.as_ref(),
});

http_tracking_context!(AlbTargetGroupRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: Some(&r.multi_value_headers),
    query: Query::Map(
        &r.query_string_parameters,
        Some(&r.multi_value_query_string_parameters)
    ),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: None,
});

http_tracking_context!(LambdaFunctionUrlRequest, |r| HttpParts {
    headers: &r.headers,
    multi_value_headers: None,
    query: Query::Plain(&r.query_string_parameters),
    body: BodySource::Encoded {
        body: r.body.as_deref(),
        is_base64: r.is_base64_encoded,
    },
    authorizer: None,
});
