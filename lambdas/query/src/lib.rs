//! # kx-events-query-api
//!
//! The query API Lambda of kx-events (binary `query`): the `events` table read back over HTTP,
//! through the same library as the `kx` CLI ([`kx_events_query`]), on API Gateway HTTP API
//! (payload v2) or a Lambda Function URL.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /events` | `{"success": true, "data": [...], "count": n, "nextCursor": "..." \| null}` |
//! | `GET /events/{eventId}` | `{"success": true, "data": {...}}`, 404 when absent |
//! | `GET /events/{eventId}/chain`, `GET /events/chain/{eventId}` | `{"success": true, "data": [...], "count": n, ...}` |
//! | `GET /events/{eventId}/ancestors` | the same shape |
//! | `GET /analytics` | `{"success": true, "data": {...}, "clientId": ...}` |
//! | `GET /openapi.json` | the OpenAPI 3.1 document ([`OPENAPI`]) |
//! | `POST /events` | validates one event with the contract's rules, sends it to the events queue: 202 `{"success": true, "eventId": ...}` |
//! | `DELETE /events?userId=…` / `?clientId=…` | erasure (its own role and permission): `{"success": true, "deleted": n, "childrenUnlinked": m}` |
//!
//! Every error is JSON `{"success": false, "error": "…"}`: a bad parameter is a 400 naming it and
//! the rule (`"param": "limit", "rule": "must be 1..1000, got \"5000\""`), a bad event a 400
//! naming the field and the rule, an unavailable database a 503 with `Retry-After`. No SQL or
//! internal error text ever reaches a body (it is logged with the request id).
#![warn(missing_docs)]

mod config;
mod erase;
mod post;
mod respond;
mod routes;

use std::time::Duration;

use kx_events_consumer::{with_deadline, Store, StoreError};
use kx_events_query as kxq;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

pub use config::{ApiConfig, DEFAULT_ERASURE_SCOPE};
pub use erase::{Erasure, ErasureKey};
pub use respond::ApiError;
pub use routes::{Route, ROUTES};

/// The OpenAPI 3.1 document of this API (`lambdas/query/openapi.json`), served at
/// `GET /openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Time kept back from the invocation's deadline for answering.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The events queue `POST /events` sends to.
#[derive(Debug, Clone)]
pub struct EventsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EventsQueue {
    /// The queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

/// The query API: a read-only store, optionally an erasure store and the events queue.
#[derive(Debug, Clone)]
pub struct QueryApi {
    reader: Store,
    eraser: Option<Store>,
    queue: Option<EventsQueue>,
    erasure_scope: String,
}

impl QueryApi {
    /// An API that reads through `reader` (a read-only role is enough). `POST /events` and
    /// `DELETE /events` answer 403 until [`QueryApi::with_queue`] / [`QueryApi::with_eraser`].
    pub fn new(reader: Store) -> Self {
        Self {
            reader,
            eraser: None,
            queue: None,
            erasure_scope: DEFAULT_ERASURE_SCOPE.to_owned(),
        }
    }

    /// Enables `POST /events`, sending to `queue`.
    pub fn with_queue(mut self, queue: EventsQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Enables `DELETE /events` through `eraser` (a role with `DELETE` on `events`), for callers
    /// with an authorizer identity (and, behind a JWT authorizer, the scope `scope`).
    pub fn with_eraser(mut self, eraser: Store, scope: impl Into<String>) -> Self {
        self.eraser = Some(eraser);
        self.erasure_scope = scope.into();
        self
    }

    /// Answers one request. Never fails: every error is an HTTP answer.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
        let deadline = req
            .lambda_context_ref()
            .and_then(|c| invocation_deadline(c.deadline));
        let answer = match deadline {
            Some(d) => with_deadline(d, self.route(&req)).await,
            None => self.route(&req).await,
        };
        match answer {
            Ok(response) => response,
            Err(e) => e.into_response(request_id.as_deref()),
        }
    }

    async fn route(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let path = req.raw_http_path();
        let path = if path.is_empty() {
            req.uri().path()
        } else {
            path
        };
        let route = Route::find(req.method(), path)?;
        let params = query_pairs(req);
        match route {
            Route::ListEvents => {
                let request = kxq::EventsRequest::from_query_pairs(&params)?;
                let page = self.read(move |c| kxq::events(c, &request)).await?;
                respond::success_with(&page)
            }
            Route::Event(id) => {
                let fields = only_fields(&params)?;
                let id = parse_event_id(&id)?;
                match self.read(move |c| kxq::event(c, id)).await? {
                    Some(e) => Ok(respond::json(
                        200,
                        &json!({"success": true, "data": e.to_json(&fields)}),
                    )),
                    None => Err(ApiError::not_found(format!("no event {id}"))),
                }
            }
            Route::Chain(ref id) | Route::Ancestors(ref id) => {
                let max_depth = only_max_depth(&params)?;
                let up = matches!(route, Route::Ancestors(_));
                let id = parse_event_id(id)?;
                let found = self
                    .read(move |c| {
                        if up {
                            kxq::ancestors(c, id, max_depth)
                        } else {
                            kxq::chain(c, id, max_depth)
                        }
                    })
                    .await?;
                match found {
                    Some(chain) => respond::success_with(&chain),
                    None => Err(ApiError::not_found(format!("no event {id}"))),
                }
            }
            Route::Analytics => {
                let filter = kxq::Filter::from_query_pairs(&params)?;
                let client_id = filter.client_id.clone();
                let data = self.read(move |c| kxq::analytics(c, &filter)).await?;
                Ok(respond::json(
                    200,
                    &json!({"success": true, "data": data, "clientId": client_id}),
                ))
            }
            Route::OpenApi => Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(OPENAPI))
                .expect("static response")),
            Route::PostEvents => {
                if let Some((name, _)) = params.first() {
                    return Err(ApiError::param(
                        name,
                        "unknown parameter; POST /events takes none",
                    ));
                }
                let queue = self.queue.as_ref().ok_or_else(|| {
                    ApiError::forbidden(
                        "POST /events is not enabled on this deployment (no EVENTS_QUEUE_URL)",
                    )
                })?;
                post::accept(queue, req.body().as_ref()).await
            }
            Route::DeleteEvents => {
                let eraser = self.eraser.as_ref().ok_or_else(|| {
                    ApiError::forbidden(
                        "DELETE /events is not enabled on this deployment (no KX_ERASER_SECRET_ARN)",
                    )
                })?;
                let who = erase::caller(req.request_context_ref(), &self.erasure_scope)?;
                let key = ErasureKey::from_query_pairs(&params)?;
                let outcome = erase::erase(eraser, &key).await?;
                tracing::info!(
                    erased_by = %who,
                    key = %key.describe(),
                    deleted = outcome.deleted,
                    children_unlinked = outcome.children_unlinked,
                    "erasure done"
                );
                Ok(respond::json(
                    200,
                    &json!({
                        "success": true,
                        "deleted": outcome.deleted,
                        "childrenUnlinked": outcome.children_unlinked,
                    }),
                ))
            }
        }
    }

    /// Runs a read of the query library on the read-only store.
    async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn(&mut postgres::Client) -> Result<T, kxq::Error> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let result = self
            .reader
            .with_client(move |c| match f(c) {
                Ok(v) => Ok(Ok(v)),
                Err(kxq::Error::Database(e)) => Err(e),
                Err(other) => Ok(Err(other)),
            })
            .await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::from(e)),
            Err(e) => Err(ApiError::from(e)),
        }
    }
}

/// The instant `margin` before the invocation's deadline (milliseconds since the epoch), if the
/// request came with one.
fn invocation_deadline(deadline_ms: u64) -> Option<tokio::time::Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Some(tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// The query string as decoded pairs, in order (repeats kept, so that the parsers can refuse
/// them).
fn query_pairs(req: &Request) -> Vec<(String, String)> {
    match req.uri().query() {
        Some(q) if !q.is_empty() => form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        _ => req
            .query_string_parameters()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    }
}

fn parse_event_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::param(
            "eventId",
            format!("must be a UUID, got {:?}", truncate(text, 64)),
        )
    })
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn only_fields(params: &[(String, String)]) -> Result<kxq::Fields, ApiError> {
    let mut fields = None;
    for (k, v) in params {
        match k.as_str() {
            "fields" | "qkeys" if fields.is_none() => fields = Some(kxq::Fields::parse(v)?),
            "fields" | "qkeys" => return Err(ApiError::param(k, "given more than once")),
            other => {
                return Err(ApiError::param(
                    other,
                    "unknown parameter; GET /events/{eventId} takes fields",
                ))
            }
        }
    }
    Ok(fields.unwrap_or_default())
}

fn only_max_depth(params: &[(String, String)]) -> Result<u32, ApiError> {
    let mut depth = None;
    for (k, v) in params {
        match k.as_str() {
            "maxDepth" if depth.is_none() => depth = Some(kxq::parse_max_depth(v)?),
            "maxDepth" => return Err(ApiError::param(k, "given more than once")),
            other => {
                return Err(ApiError::param(
                    other,
                    "unknown parameter; chains take maxDepth",
                ))
            }
        }
    }
    Ok(depth.unwrap_or(kxq::DEFAULT_MAX_DEPTH))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            ApiError::unavailable(e.to_string())
        } else {
            ApiError::internal(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_document_has_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, routed);
        // Every route of the table is served by the router.
        for (method, path) in ROUTES {
            let concrete = path.replace("{eventId}", "x");
            let method = http::Method::from_bytes(method.as_bytes()).unwrap();
            assert!(Route::find(&method, &concrete).is_ok(), "{method} {path}");
        }
    }
}
