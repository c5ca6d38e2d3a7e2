//! The environment: [`Config`], read once per cold start, and [`ConfigError`], a missing or
//! malformed setting named in one line.

use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// How the consumer protects its connections to PostgreSQL (`DB_SSLMODE`), with libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: plain TCP.
    Disable,
    /// `require`: TLS, without verifying the server's certificate (as libpq's `require`).
    Require,
    /// `verify-full`: TLS, the certificate chain verified against `DB_SSL_ROOT_CERT` (a PEM file)
    /// or the system roots, and the host name checked.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "require" => Ok(SslMode::Require),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(format!(
                "must be one of disable, require, verify-full, got {other:?}"
            )),
        }
    }
}

/// Whether the consumer may apply missing migrations at cold start (`KX_MIGRATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateMode {
    /// `auto` (default): apply missing migrations if the role may (a role without DDL rights
    /// gets a cold-start error naming the missing migration). A current schema costs one
    /// `SELECT` and no DDL either way.
    Auto,
    /// `off`: never run DDL; refuse to start when the schema is behind. For deployments whose
    /// migrations run at deploy time (`bootstrap migrate`, the Terraform migrate function).
    Off,
}

/// A setting that is missing or malformed. Displays as one line: `NAME: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or secret key) at fault, e.g. `MAX_RECEIVE_COUNT`.
    pub setting: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// A new error about `setting`.
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The same error naming `to` where it named `from` (the setting and its problem text).
    pub fn for_setting(self, from: &str, to: &str) -> Self {
        Self {
            setting: self.setting.replace(from, to),
            problem: self.problem.replace(from, to),
        }
    }
}

/// Everything the consumer reads from its environment.
///
/// Database host, port and name may also come from the secret (see
/// [`crate::DbSettings::resolve`]): **a value set in the environment wins over the secret's**, so
/// a deployment can point at a proxy or replica while using the database's own secret; the
/// secret's value is used when the variable is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `DB_SECRET_ARN` (required): Secrets Manager secret with `username` and `password`, and
    /// optionally `host`, `port`, `dbname`.
    pub db_secret_arn: String,
    /// `DB_HOST`: database host; falls back to the secret's `host`.
    pub db_host: Option<String>,
    /// `DB_PORT`: database port; falls back to the secret's `port`, then 5432.
    pub db_port: Option<u16>,
    /// `DB_NAME`: database name; falls back to the secret's `dbname`.
    pub db_name: Option<String>,
    /// `DB_SSLMODE`: `disable`, `require` or `verify-full` (default: the certificate is verified
    /// against the embedded Amazon RDS CA bundle or `DB_SSL_ROOT_CERT`, and the host name
    /// checked).
    pub db_sslmode: SslMode,
    /// `DB_SSL_ROOT_CERT`: PEM file of the CA(s) for `verify-full` (when unset: the Amazon RDS
    /// CA bundle built into the consumer; `system` for the system's root certificates).
    pub db_ssl_root_cert: Option<PathBuf>,
    /// `EVENT_BUS_NAME` (required): the EventBridge bus the events are put on.
    pub event_bus_name: String,
    /// `EVENT_SOURCE`: the entries' `Source` (default `kx-event-tracking`).
    pub event_source: String,
    /// `DEAD_LETTER_QUEUE_URL` (required): where records that can never be valid are sent.
    pub dead_letter_queue_url: String,
    /// `MAX_RECEIVE_COUNT`: the queue's redrive `maxReceiveCount` (default 3). On this receive a
    /// child whose parent is still missing is stored unlinked instead of retried.
    pub max_receive_count: u32,
    /// `KX_MIGRATE`: `auto` (default) or `off`.
    pub migrate: MigrateMode,
    /// `EVENTS_QUEUE_URL` (optional): the events queue itself. When set, a valid record that
    /// cannot be stored on its last receive because the database is unavailable is sent to the
    /// queue again (a fresh receive count) instead of being left to the redrive to the DLQ.
    pub events_queue_url: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a name → value function, e.g. over a map). An empty
    /// value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::parse(lookup, true)
    }

    /// The database settings only, for `bootstrap migrate` (`EVENT_BUS_NAME` and
    /// `DEAD_LETTER_QUEUE_URL` are not needed and may be unset).
    pub fn database_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::parse(lookup, false)
    }

    fn parse(lookup: impl Fn(&str) -> Option<String>, pipeline: bool) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required =
            |name: &str| get(name).ok_or_else(|| ConfigError::new(name, "is required but not set"));
        let db_port = match get("DB_PORT") {
            None => None,
            Some(v) => Some(parse_port("DB_PORT", &v)?),
        };
        let db_sslmode = match get("DB_SSLMODE") {
            None => SslMode::VerifyFull,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| ConfigError::new("DB_SSLMODE", e))?,
        };
        let max_receive_count = match get("MAX_RECEIVE_COUNT") {
            None => 3,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(ConfigError::new(
                        "MAX_RECEIVE_COUNT",
                        format!(
                            "must be a positive integer (the queue's maxReceiveCount), got {v:?}"
                        ),
                    ))
                }
            },
        };
        let db_ssl_root_cert = get("DB_SSL_ROOT_CERT").map(PathBuf::from);
        if let Some(path) = &db_ssl_root_cert {
            if path.as_os_str() != crate::tls::SYSTEM_ROOTS && !path.is_file() {
                return Err(ConfigError::new(
                    "DB_SSL_ROOT_CERT",
                    format!("no such file: {}", path.display()),
                ));
            }
        }
        Ok(Self {
            db_secret_arn: required("DB_SECRET_ARN")?,
            db_host: get("DB_HOST"),
            db_port,
            db_name: get("DB_NAME"),
            db_sslmode,
            db_ssl_root_cert,
            event_bus_name: if pipeline {
                required("EVENT_BUS_NAME")?
            } else {
                get("EVENT_BUS_NAME").unwrap_or_default()
            },
            event_source: get("EVENT_SOURCE")
                .unwrap_or_else(|| kx_events::DEFAULT_EVENT_SOURCE.to_owned()),
            dead_letter_queue_url: if pipeline {
                required("DEAD_LETTER_QUEUE_URL")?
            } else {
                get("DEAD_LETTER_QUEUE_URL").unwrap_or_default()
            },
            max_receive_count,
            migrate: match get("KX_MIGRATE").as_deref().map(str::trim) {
                None | Some("auto") => MigrateMode::Auto,
                Some("off") => MigrateMode::Off,
                Some(other) => {
                    return Err(ConfigError::new(
                        "KX_MIGRATE",
                        format!("must be auto or off, got {other:?}"),
                    ))
                }
            },
            events_queue_url: get("EVENTS_QUEUE_URL"),
        })
    }
}

/// Parses a TCP port, naming `setting` in the error.
pub(crate) fn parse_port(setting: &str, v: &str) -> Result<u16, ConfigError> {
    match v.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ConfigError::new(
            setting,
            format!("must be a TCP port (1-65535), got {v:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const MINIMAL: [(&str, &str); 3] = [
        (
            "DB_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:db",
        ),
        ("EVENT_BUS_NAME", "kx-events"),
        ("DEAD_LETTER_QUEUE_URL", "http://q/dlq"),
    ];

    #[test]
    fn defaults() {
        let c = Config::from_lookup(lookup(&MINIMAL)).unwrap();
        assert_eq!(c.db_sslmode, SslMode::VerifyFull);
        assert_eq!(c.migrate, MigrateMode::Auto);
        assert_eq!(c.max_receive_count, 3);
        assert_eq!(c.event_source, "kx-event-tracking");
        assert_eq!(c.db_port, None);
    }

    #[test]
    fn each_error_names_its_setting() {
        for (drop, name) in [
            (0, "DB_SECRET_ARN"),
            (1, "EVENT_BUS_NAME"),
            (2, "DEAD_LETTER_QUEUE_URL"),
        ] {
            let mut pairs = MINIMAL.to_vec();
            pairs.remove(drop);
            let e = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert_eq!(e.to_string(), format!("{name}: is required but not set"));
        }
        for (name, value) in [
            ("DB_PORT", "x"),
            ("DB_PORT", "70000"),
            ("DB_SSLMODE", "prefer"),
            ("MAX_RECEIVE_COUNT", "0"),
            ("MAX_RECEIVE_COUNT", "three"),
            ("DB_SSL_ROOT_CERT", "/nonexistent/ca.pem"),
            ("KX_MIGRATE", "sometimes"),
        ] {
            let mut pairs = MINIMAL.to_vec();
            pairs.push((name, value));
            let e = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert_eq!(e.setting, name);
            assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
