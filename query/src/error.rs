//! What can go wrong: a bad parameter (the caller's fault) or the database.

use std::fmt;

/// A request parameter that broke a rule: its name as the caller wrote it and the rule, shown as
/// `limit: must be 1..1000`. An HTTP edge turns it into a 400, `kx` into exit code 2.
///
/// ```
/// use kx_events_query::EventsRequest;
///
/// let err = EventsRequest::from_query_pairs(&[("limit", "5000")]).unwrap_err();
/// assert_eq!(err.param(), "limit");
/// assert_eq!(err.to_string(), "limit: must be 1..1000, got \"5000\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    param: String,
    rule: String,
}

impl ParamError {
    pub(crate) fn new(param: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            rule: rule.into(),
        }
    }

    /// The parameter, as named in the request (`limit`, `startDate`, `fields`, …).
    pub fn param(&self) -> &str {
        &self.param
    }

    /// The rule it broke, the text after `param: `.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.rule)
    }
}

impl std::error::Error for ParamError {}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter broke a rule (see [`ParamError`]); nothing was sent to the database.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The database refused or could not run the query. [`Error::is_unavailable`] tells an
    /// outage (retry later) from anything else.
    #[error("database: {0}")]
    Database(#[from] postgres::Error),
}

impl Error {
    /// `true` when the database is unreachable or going away (closed connection, SQLSTATE class
    /// 08 connection exception, 57P0x shutdown, 53xxx insufficient resources): worth a retry,
    /// a 503 at an HTTP edge, exit code 4 in `kx`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Param(_) => false,
            Error::Database(e) => is_unavailable(e),
        }
    }
}

/// See [`Error::is_unavailable`]; also used for connection errors, which come before any query.
pub fn is_unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P0") || c.starts_with("53")
        }
        // No SQLSTATE: unavailable when it happened below SQL (I/O, refused, connect timeout),
        // not when a value failed to convert.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}
