//! Answers: JSON bodies and the API's errors.

use std::fmt::Display;

use http::Method;
use kx_events_query as kxq;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// An error answer: status and JSON body `{"success": false, "error": "…", …}`. Internal causes
/// are logged, never put in the body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(Box<Parts>);

#[derive(Debug, Clone, PartialEq)]
struct Parts {
    status: u16,
    body: Value,
    allow: Option<String>,
    log: Option<String>,
}

impl ApiError {
    fn new(status: u16, body: Value) -> Self {
        Self(Box::new(Parts {
            status,
            body,
            allow: None,
            log: None,
        }))
    }

    /// 400: `param` broke `rule`.
    pub fn param(param: &str, rule: impl Display) -> Self {
        Self::new(
            400,
            json!({"success": false, "error": format!("{param}: {rule}"), "param": param, "rule": rule.to_string()}),
        )
    }

    /// 400: an event broke a rule of the contract.
    pub fn invalid_event(e: &kx_events::ValidationError) -> Self {
        Self::new(
            400,
            json!({"success": false, "error": e.to_string(), "field": e.field(), "rule": e.rule().as_str()}),
        )
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, json!({"success": false, "error": what.into()}))
    }

    /// 403.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(403, json!({"success": false, "error": why.into()}))
    }

    /// 413.
    pub fn too_large(why: impl Into<String>) -> Self {
        Self::new(413, json!({"success": false, "error": why.into()}))
    }

    /// 405 with an `Allow` header.
    pub fn method_not_allowed(method: &Method, path: &str, allowed: &[Method]) -> Self {
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut e = Self::new(
            405,
            json!({"success": false, "error": format!("{method} is not allowed on {path}; allowed: {allow}")}),
        );
        e.0.allow = Some(allow);
        e
    }

    /// 503 with `Retry-After`: the database (or the queue) is unavailable; `cause` is logged.
    pub fn unavailable(cause: impl Display) -> Self {
        let mut e = Self::new(
            503,
            json!({"success": false, "error": "the service is temporarily unavailable; retry later"}),
        );
        e.0.log = Some(cause.to_string());
        e
    }

    /// 500: `cause` is logged, the body says only "internal error" and the request id.
    pub fn internal(cause: impl Display) -> Self {
        let mut e = Self::new(500, json!({"success": false, "error": "internal error"}));
        e.0.log = Some(cause.to_string());
        e
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The JSON body.
    pub fn body(&self) -> &Value {
        &self.0.body
    }

    /// The answer; a 5xx is logged with its cause and `request_id`, which the body carries.
    pub fn into_response(self, request_id: Option<&str>) -> Response<Body> {
        let mut e = *self.0;
        if e.status >= 500 {
            if let Some(id) = request_id {
                e.body["requestId"] = json!(id);
            }
            tracing::error!(
                status = e.status,
                cause = e.log.as_deref().unwrap_or(""),
                "request failed"
            );
        }
        let mut builder = Response::builder()
            .status(e.status)
            .header("content-type", "application/json");
        if e.status == 503 {
            builder = builder.header("retry-after", RETRY_AFTER_SECONDS.to_string());
        }
        if let Some(allow) = &e.allow {
            builder = builder.header("allow", allow.as_str());
        }
        builder
            .body(Body::from(e.body.to_string()))
            .expect("valid response")
    }
}

impl From<kxq::ParamError> for ApiError {
    fn from(e: kxq::ParamError) -> Self {
        ApiError::param(e.param(), e.rule())
    }
}

impl From<kxq::Error> for ApiError {
    fn from(e: kxq::Error) -> Self {
        match e {
            kxq::Error::Param(p) => p.into(),
            e if e.is_unavailable() => ApiError::unavailable(e),
            e => ApiError::internal(e),
        }
    }
}

/// A JSON answer.
pub(crate) fn json(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

/// A 200 whose body is `{"success": true, …}` followed by the fields of `value` (a JSON object),
/// serialised once, straight to text.
pub(crate) fn success_with(value: &impl serde::Serialize) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    let fields = text
        .strip_prefix('{')
        .filter(|rest| rest.len() > 1)
        .ok_or_else(|| ApiError::internal("the answer is not a non-empty JSON object"))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(format!("{{\"success\":true,{fields}")))
        .expect("valid response"))
}
