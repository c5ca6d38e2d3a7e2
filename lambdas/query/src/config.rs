//! The query API's configuration, read once per cold start from the environment.

use kx_events_consumer::{Config, ConfigError};

/// The JWT scope `DELETE /events` requires when the request came through a JWT authorizer,
/// unless `KX_ERASURE_SCOPE` names another.
pub const DEFAULT_ERASURE_SCOPE: &str = "kx-events/erase";

/// Everything the query API reads from its environment.
///
/// | variable | required | meaning |
/// | --- | --- | --- |
/// | `DB_SECRET_ARN` | yes | the **read-only** role's secret (`username`, `password`, optionally `host`, `port`, `dbname`) |
/// | `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_SSLMODE`, `DB_SSL_ROOT_CERT` | as the consumer | where and how to connect (`verify-full` by default) |
/// | `KX_ERASER_SECRET_ARN` | no | the erasure role's secret; when unset, `DELETE /events` answers 403 |
/// | `KX_ERASURE_SCOPE` | no | the JWT scope `DELETE /events` requires (default `kx-events/erase`) |
/// | `EVENTS_QUEUE_URL` | no | the events queue; when unset, `POST /events` answers 403 |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The read-only connection (the consumer's database settings, without its pipeline ones).
    pub database: Config,
    /// `KX_ERASER_SECRET_ARN`.
    pub eraser_secret_arn: Option<String>,
    /// `KX_ERASURE_SCOPE`.
    pub erasure_scope: String,
    /// `EVENTS_QUEUE_URL`.
    pub events_queue_url: Option<String>,
}

impl ApiConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a name → value function). An empty value counts as
    /// unset.
    ///
    /// ```
    /// use kx_events_query_api::ApiConfig;
    ///
    /// let c = ApiConfig::from_lookup(|k| (k == "DB_SECRET_ARN").then(|| "arn:s".to_string())).unwrap();
    /// assert_eq!(c.erasure_scope, "kx-events/erase");
    /// assert!(c.events_queue_url.is_none() && c.eraser_secret_arn.is_none());
    /// let e = ApiConfig::from_lookup(|_| None).unwrap_err();
    /// assert_eq!(e.to_string(), "DB_SECRET_ARN: is required but not set");
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database = Config::database_from_lookup(&lookup)?;
        let erasure_scope = get("KX_ERASURE_SCOPE")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| DEFAULT_ERASURE_SCOPE.to_owned());
        if erasure_scope.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "KX_ERASURE_SCOPE",
                format!("must be one scope (no spaces), got {erasure_scope:?}"),
            ));
        }
        Ok(Self {
            database,
            eraser_secret_arn: get("KX_ERASER_SECRET_ARN"),
            erasure_scope,
            events_queue_url: get("EVENTS_QUEUE_URL"),
        })
    }

    /// The database settings of the erasure role: the read-only ones with its secret.
    pub fn eraser_database(&self) -> Option<Config> {
        self.eraser_secret_arn.as_ref().map(|arn| Config {
            db_secret_arn: arn.clone(),
            ..self.database.clone()
        })
    }
}
