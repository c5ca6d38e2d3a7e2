//! Which route a request is for.

use http::Method;

use crate::respond::ApiError;

/// Every route of the API as (method, OpenAPI path template); `openapi.json` documents exactly
/// these (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/events"),
    ("POST", "/events"),
    ("DELETE", "/events"),
    ("GET", "/events/{eventId}"),
    ("GET", "/events/{eventId}/chain"),
    ("GET", "/events/chain/{eventId}"),
    ("GET", "/events/{eventId}/ancestors"),
    ("GET", "/analytics"),
    ("GET", "/openapi.json"),
];

/// A matched route, with its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET /events`.
    ListEvents,
    /// `POST /events`.
    PostEvents,
    /// `DELETE /events`.
    DeleteEvents,
    /// `GET /events/{eventId}`.
    Event(String),
    /// `GET /events/{eventId}/chain` and `GET /events/chain/{eventId}`.
    Chain(String),
    /// `GET /events/{eventId}/ancestors`.
    Ancestors(String),
    /// `GET /analytics`.
    Analytics,
    /// `GET /openapi.json`.
    OpenApi,
}

impl Route {
    /// The route for `method` and `path` (a trailing slash is ignored): 404 for an unknown path,
    /// 405 (with the allowed methods) for a known path and another method.
    ///
    /// ```
    /// use http::Method;
    /// use kx_events_query_api::Route;
    ///
    /// assert_eq!(Route::find(&Method::GET, "/events/abc/chain").unwrap(), Route::Chain("abc".into()));
    /// assert_eq!(Route::find(&Method::GET, "/events/chain/abc").unwrap(), Route::Chain("abc".into()));
    /// assert_eq!(Route::find(&Method::PUT, "/events").unwrap_err().status(), 405);
    /// assert_eq!(Route::find(&Method::GET, "/nope").unwrap_err().status(), 404);
    /// ```
    pub fn find(method: &Method, path: &str) -> Result<Route, ApiError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (allowed, route): (&[Method], Option<Route>) = match segments.as_slice() {
            ["events"] => (
                &[Method::GET, Method::POST, Method::DELETE],
                match *method {
                    Method::GET => Some(Route::ListEvents),
                    Method::POST => Some(Route::PostEvents),
                    Method::DELETE => Some(Route::DeleteEvents),
                    _ => None,
                },
            ),
            ["events", "chain", id] => (&[Method::GET], get(method, Route::Chain(id.to_string()))),
            ["events", id] => (&[Method::GET], get(method, Route::Event(id.to_string()))),
            ["events", id, "chain"] => (&[Method::GET], get(method, Route::Chain(id.to_string()))),
            ["events", id, "ancestors"] => (
                &[Method::GET],
                get(method, Route::Ancestors(id.to_string())),
            ),
            ["analytics"] => (&[Method::GET], get(method, Route::Analytics)),
            ["openapi.json"] => (&[Method::GET], get(method, Route::OpenApi)),
            _ => return Err(ApiError::not_found(format!("no route {method} {path}"))),
        };
        route.ok_or_else(|| ApiError::method_not_allowed(method, path, allowed))
    }
}

fn get(method: &Method, route: Route) -> Option<Route> {
    (*method == Method::GET).then_some(route)
}
