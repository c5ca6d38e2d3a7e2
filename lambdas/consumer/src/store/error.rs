//! Database failures and their classification.
//!
//! [`StoreError`] says what failed (connect, connection, authentication, statement, TLS, schema,
//! secret, deadline) and [`StoreError::is_retryable`] whether the records should be retried: a
//! statement failure is judged by its SQLSTATE class (transaction rollback, resources, operator
//! intervention, connection exceptions, a lock timeout and a foreign-key violation are
//! transient; everything else needs a deployment). r2d2 keeps only the text of a failed connect,
//! so the pool's error handler records the last one ([`LastConnectError`]) for the checkout to
//! classify (a certificate that did not verify, rejected credentials, or unreachable), with the
//! error itself as the [`DbCause`] of the variant it becomes.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;

use crate::config::ConfigError;
use crate::migrate::MigrationError;
use crate::tls;

/// What a [`StoreError`] met: one line of text and the error it came from, kept as the
/// [`source`](Error::source) (shared, so that a [`StoreError`] stays `Clone`).
///
/// The text is the one the error has always displayed, and it already names the cause: a chain
/// formatter that skips text it has already printed ([`kx_events::error_chain`]) shows the
/// cause once, and code can still walk to it (a `postgres::Error`, a `rustls::Error`, …).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct DbCause {
    detail: String,
    #[source]
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl DbCause {
    /// `detail` caused by `source`.
    pub fn new(detail: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self {
            detail: detail.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// `detail` with no underlying error (a problem found by the consumer itself).
    pub fn text(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            source: None,
        }
    }

    /// The one-line text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The same cause with `context` (and `: `) before its text.
    pub(crate) fn context(self, context: &str) -> Self {
        Self {
            detail: format!("{context}: {}", self.detail),
            ..self
        }
    }
}

/// A database failure. [`StoreError::is_retryable`] tells whether trying again later may succeed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No connection could be opened (server down, wrong host or port, timeout).
    #[error("database unreachable: {0}")]
    Unavailable(#[source] DbCause),
    /// The connection broke during a statement (dropped, server restarted, network).
    #[error("database connection lost: {0}")]
    ConnectionLost(#[source] DbCause),
    /// The server refused the credentials (SQLSTATE 28P01/28000), even after re-reading the secret.
    #[error("database authentication failed: {0}")]
    Auth(#[source] DbCause),
    /// A statement failed on the server.
    #[error("database statement failed (SQLSTATE {code}): {message}")]
    Statement {
        /// The SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The TLS settings cannot be used (bad `DB_SSL_ROOT_CERT`), or the server's certificate did
    /// not verify: a configuration error, not retryable.
    #[error(transparent)]
    Tls(DbCause),
    /// The embedded migrations and the database disagree.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The secret could not be re-read after an authentication failure.
    #[error(transparent)]
    Secret(ConfigError),
    /// The call did not finish before the invocation's deadline (or the longest a connect plus
    /// a statement may take): the connection is abandoned.
    #[error("database call did not finish within {0:?}; connection abandoned")]
    Timeout(Duration),
    /// The blocking task running the statement panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(#[source] DbCause),
}

impl StoreError {
    /// Whether the same work may succeed later (the records should be retried), as opposed to a
    /// configuration or schema problem that needs a deployment.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_)
            | StoreError::ConnectionLost(_)
            | StoreError::Auth(_)
            | StoreError::Secret(_)
            | StoreError::Timeout(_)
            | StoreError::Task(_) => true,
            StoreError::Statement { code, .. } => {
                // Transaction rollbacks (40: serialization, deadlock), resources (53, incl.
                // too_many_connections), a lock_timeout (55P03), operator
                // intervention incl. statement timeout (57), connection exceptions (08), and a
                // foreign-key violation (23503): the only way the batch INSERT meets one is a
                // parent deleted between the lookup and the insert, which a retry resolves.
                ["40", "53", "57", "08", "23503", "55P03"]
                    .iter()
                    .any(|c| code.starts_with(c))
            }
            StoreError::Migration(MigrationError::Busy(_)) => true,
            StoreError::Tls(_) | StoreError::Migration(_) => false,
        }
    }

    pub(super) fn from_pg(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                let message = db.message().to_owned();
                return StoreError::Auth(DbCause::new(message, e));
            }
            return StoreError::Statement {
                code: code.code().to_owned(),
                message: db.message().to_owned(),
            };
        }
        StoreError::ConnectionLost(DbCause::new(kx_events::error_chain(&e), e))
    }
}

/// Why opening a connection failed.
#[derive(Debug)]
pub(super) enum ConnectFailure {
    /// The server's TLS certificate did not verify.
    Certificate(DbCause),
    /// Anything else, with the SQLSTATE when the server answered.
    Other(Option<SqlState>, DbCause),
}

/// The last error the pool met while opening a connection (r2d2 keeps only its text).
#[derive(Debug, Default)]
pub(super) struct LastConnectError(pub(super) Mutex<Option<ConnectFailure>>);

#[derive(Debug)]
pub(super) struct RecordConnectError(pub(super) Arc<LastConnectError>);

impl r2d2::HandleError<postgres::Error> for RecordConnectError {
    fn handle_error(&self, error: postgres::Error) {
        let code = error.code().cloned();
        let text = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => kx_events::error_chain(&error),
        };
        tracing::debug!(error = %text, "database connection attempt failed");
        let failure = if tls::is_certificate_error(&error) {
            ConnectFailure::Certificate(DbCause::new(text, error))
        } else {
            ConnectFailure::Other(code, DbCause::new(text, error))
        };
        if let Ok(mut last) = (self.0).0.lock() {
            *last = Some(failure);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statement_errors() {
        let statement = |code: &str| StoreError::Statement {
            code: code.into(),
            message: String::new(),
        };
        for code in ["40001", "40P01", "53300", "57014", "08006", "23503"] {
            assert!(statement(code).is_retryable(), "{code}");
        }
        for code in ["23505", "22P02", "42601", "23502"] {
            assert!(!statement(code).is_retryable(), "{code}");
        }
    }
}
