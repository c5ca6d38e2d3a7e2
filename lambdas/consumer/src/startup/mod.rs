//! What both Lambdas of the workspace (the consumer's `bootstrap` and the query API's `query`)
//! do before their first invocation: JSON logs, and one typed error for a failed cold start,
//! turned into text in one place ([`exit_on_init_error`]).
//!
//! A cold start's steps keep their errors as they are ([`InitError`], one variant per cause); the
//! error becomes one line, with its causes ([`kx_events::error_chain`]), only when it is logged
//! and posted to the Runtime API as the init error (`init_error`: `POST /runtime/init/error`).
//! The line starts with the setting at fault (`DB_SECRET_ARN: …`, `MAX_RECEIVE_COUNT: …`), so
//! that one log line names what to fix.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::prelude::*;

use crate::config::{ConfigError, SecretError};
use crate::store::StoreError;

mod init_error;

pub use init_error::report_init_error;

/// Why a cold start failed. Each variant keeps its cause ([`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting is missing or malformed: in the environment, or in the database settings
    /// resolved from the environment and the secret ([`crate::DbSettings::resolve`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database secret could not be read ([`crate::DbSecret::read`]).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The database pool could not be built (its TLS settings: `DB_SSL_ROOT_CERT`).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database schema check failed for a reason a retry will not fix (a migration the role
    /// may not apply, a schema ahead of this build).
    #[error("database: {0}")]
    Schema(#[source] StoreError),
}

impl InitError {
    /// The same error naming `setting` instead of `DB_SECRET_ARN`, for a database whose secret
    /// another setting names (the query API's `KX_ERASER_SECRET_ARN`).
    pub fn for_secret_setting(self, setting: &str) -> Self {
        match self {
            InitError::Config(e) => InitError::Config(e.for_setting("DB_SECRET_ARN", setting)),
            InitError::Secret(e) => InitError::Secret(e.for_setting(setting)),
            other => other,
        }
    }
}

/// Installs the JSON log format both Lambdas use: one object per line, with the current span's
/// fields, on stdout (CloudWatch Logs), or on stderr when stdout carries a command's result.
///
/// The level filter is `RUST_LOG` read as [`Targets`] (e.g. `info,kx_events_consumer=debug`;
/// default `info`), not `EnvFilter`, whose regex engine would add about 0.2 MB to the zip.
pub fn init_json_logs(to_stderr: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let writer = if to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .with_filter(filter),
        )
        .init();
}

/// Ends a failed cold start: logs `cold start failed: <the error and its causes>` as one line,
/// posts the same text to the Runtime API as the init error ([`report_init_error`]), and exits
/// with status 1.
pub fn exit_on_init_error(error: &InitError) -> ! {
    let message = kx_events::error_chain(error);
    tracing::error!("cold start failed: {message}");
    report_init_error("Runtime.InitError", &message);
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use aws_sdk_secretsmanager::error::SdkError;

    use super::*;
    use crate::store::DbCause;

    fn unreadable_secret() -> SecretError {
        SecretError::Read {
            setting: "DB_SECRET_ARN".into(),
            arn: "arn:s".into(),
            source: Box::new(SdkError::construction_failure(std::io::Error::other(
                "no such secret",
            ))),
        }
    }

    #[test]
    fn the_line_names_the_setting_and_keeps_the_cause() {
        let error = InitError::from(unreadable_secret());
        let line = kx_events::error_chain(&error);
        assert!(
            line.starts_with("DB_SECRET_ARN: cannot read secret arn:s: "),
            "{line}"
        );
        assert!(line.ends_with("no such secret"), "{line}");
        assert!(error.source().is_some());

        let renamed = kx_events::error_chain(&error.for_secret_setting("KX_ERASER_SECRET_ARN"));
        assert!(
            renamed.starts_with("KX_ERASER_SECRET_ARN: cannot read secret arn:s: "),
            "{renamed}"
        );
        let config = InitError::from(ConfigError::new(
            "DB_SECRET_ARN",
            "the secret has no `password`",
        ))
        .for_secret_setting("KX_ERASER_SECRET_ARN");
        assert_eq!(
            config.to_string(),
            "KX_ERASER_SECRET_ARN: the secret has no `password`"
        );
    }

    #[test]
    fn a_store_error_keeps_its_text_and_its_cause() {
        let refused = std::io::Error::other("connection refused");
        let error = InitError::Schema(StoreError::Unavailable(DbCause::new(
            "error connecting to server: connection refused",
            refused,
        )));
        assert_eq!(
            error.to_string(),
            "database: database unreachable: error connecting to server: connection refused"
        );
        // Each cause's text is in the line already: printed once.
        assert_eq!(kx_events::error_chain(&error), error.to_string());
        let mut innermost: &dyn Error = &error;
        while let Some(next) = innermost.source() {
            innermost = next;
        }
        assert_eq!(innermost.to_string(), "connection refused");
    }
}
