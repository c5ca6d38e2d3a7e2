//! Everything needed to open connections to PostgreSQL: the environment ([`Config`]) and the
//! secret ([`DbSecret`]) combined, with the timeouts and the pool size.

use std::path::PathBuf;
use std::time::Duration;

use super::env::{parse_port, Config, ConfigError, SslMode};
use super::secret::DbSecret;

/// Everything needed to open connections to PostgreSQL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSettings {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub dbname: String,
    /// Role.
    pub user: String,
    /// Password.
    pub password: String,
    /// TLS mode.
    pub sslmode: SslMode,
    /// PEM file of trusted CAs for [`SslMode::VerifyFull`] (system roots when `None`).
    pub ssl_root_cert: Option<PathBuf>,
    /// Longest wait for a connection (TCP + TLS + auth), and for a free pooled connection.
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` of every statement except migrations.
    pub statement_timeout: Duration,
    /// Most connections the pool holds (one invocation at a time needs one; the deployed
    /// consumer uses 1).
    pub pool_size: u32,
}

impl std::fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"***")
            .field("sslmode", &self.sslmode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .finish_non_exhaustive()
    }
}

/// Default [`DbSettings::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`DbSettings::statement_timeout`].
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);

impl DbSettings {
    /// Combines the environment and the secret. **The environment wins**: `DB_HOST`, `DB_PORT`
    /// and `DB_NAME` when set, else the secret's `host`, `port`, `dbname`; the port defaults to
    /// 5432. Credentials come only from the secret.
    pub fn resolve(config: &Config, secret: &DbSecret) -> Result<Self, ConfigError> {
        let host = config
            .db_host
            .clone()
            .or_else(|| secret.host.clone())
            .ok_or_else(|| {
                ConfigError::new(
                    "DB_HOST",
                    "is required: not set and the secret has no `host`",
                )
            })?;
        let dbname = config
            .db_name
            .clone()
            .or_else(|| secret.dbname.clone())
            .ok_or_else(|| {
                ConfigError::new(
                    "DB_NAME",
                    "is required: not set and the secret has no `dbname`",
                )
            })?;
        Ok(Self {
            host,
            port: config.db_port.or(secret.port).unwrap_or(5432),
            dbname,
            user: secret.username.clone(),
            password: secret.password.clone(),
            sslmode: config.db_sslmode,
            ssl_root_cert: config.db_ssl_root_cert.clone(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            // One invocation at a time per sandbox, its statements one after the other: one
            // connection per sandbox, so the function's concurrency is its connection count.
            pool_size: 1,
        })
    }

    /// Settings from a `postgres://user:password@host:port/dbname[?sslmode=…]` URL (for tests and
    /// benchmarks; no percent-decoding). `sslmode` defaults to `require`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::new(
                "database URL",
                "expected postgres://user:password@host:port/dbname",
            )
        };
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(bad)?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, rest) = rest.rsplit_once('@').ok_or_else(bad)?;
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, dbname) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, parse_port("database URL", p)?),
            None => (hostport, 5432),
        };
        let mut sslmode = SslMode::Require;
        let mut ssl_root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => {
                    sslmode = v.parse().map_err(|e| ConfigError::new("sslmode", e))?
                }
                Some(("sslrootcert", v)) => ssl_root_cert = Some(PathBuf::from(v)),
                _ => {}
            }
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            dbname: if dbname.is_empty() {
                "postgres"
            } else {
                dbname
            }
            .to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            sslmode,
            ssl_root_cert,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            pool_size: 2,
        })
    }

    pub(crate) fn pg_config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .password(&self.password)
            .application_name("kx-events-consumer")
            .connect_timeout(self.connect_timeout)
            // A peer that vanished (failover, a dropped route) is noticed by the kernel within
            // seconds: unacknowledged data after tcp_user_timeout, silence after the keepalives.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(self.connect_timeout + self.statement_timeout)
            .options(&format!(
                "-c statement_timeout={}",
                self.statement_timeout.as_millis()
            ))
            .ssl_mode(match self.sslmode {
                SslMode::Disable => postgres::config::SslMode::Disable,
                SslMode::Require | SslMode::VerifyFull => postgres::config::SslMode::Require,
            });
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MigrateMode;

    fn config(host: Option<&str>, port: Option<u16>, name: Option<&str>) -> Config {
        Config {
            db_secret_arn: "arn".into(),
            db_host: host.map(Into::into),
            db_port: port,
            db_name: name.map(Into::into),
            db_sslmode: SslMode::Require,
            db_ssl_root_cert: None,
            event_bus_name: "b".into(),
            event_source: "s".into(),
            dead_letter_queue_url: "q".into(),
            max_receive_count: 3,
            migrate: MigrateMode::Auto,
            events_queue_url: None,
        }
    }

    #[test]
    fn rds_managed_secret_needs_the_environment() {
        let s = DbSecret::parse(r#"{"username":"kx","password":"pw"}"#).unwrap();
        let e = DbSettings::resolve(&config(None, None, Some("db")), &s).unwrap_err();
        assert_eq!(e.setting, "DB_HOST");
        let d = DbSettings::resolve(&config(Some("h"), None, Some("db")), &s).unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.dbname.as_str()),
            ("h", 5432, "db")
        );
    }

    #[test]
    fn environment_wins_over_the_secret() {
        let s = DbSecret::parse(
            r#"{"username":"kx","password":"pw","host":"sh","port":"6543","dbname":"sd","engine":"postgres"}"#,
        )
        .unwrap();
        let d = DbSettings::resolve(&config(None, None, None), &s).unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.dbname.as_str()),
            ("sh", 6543, "sd")
        );
        let d = DbSettings::resolve(&config(Some("eh"), Some(7000), Some("ed")), &s).unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.dbname.as_str()),
            ("eh", 7000, "ed")
        );
    }
}
