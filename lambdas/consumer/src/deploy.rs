//! `bootstrap migrate`: what runs once per deployment with the database owner's credentials.
//!
//! It applies the embedded migrations, then creates or updates the roles the deployment runs
//! with (see [`crate::roles`]). It runs as a command (`bootstrap migrate`, for operators and the
//! local demo) or as a Lambda function (`KX_MODE=migrate`, invoked by Terraform at apply time,
//! inside the VPC), with the same environment as the consumer plus:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `DB_SECRET_ARN` | the **owner's** secret (e.g. the RDS-managed master secret) |
//! | `KX_DATABASE_URL` | instead of the secret: `postgres://user:password@host:port/db?sslmode=…` |
//! | `KX_APP_ROLE_SECRET_ARN` | secret of the consumer's role; created with a generated password when it has no value yet |
//! | `KX_APP_ROLE_NAME` | the consumer's role when its secret has no `username` (default `kx_events_consumer`) |
//! | `KX_QUERY_ROLE_SECRET_ARN`, `KX_QUERY_ROLE_NAME` | the same for the read-only role (default `kx_events_query`) |
//! | `KX_ERASER_ROLE_SECRET_ARN`, `KX_ERASER_ROLE_NAME` | the same for the erasure role of the query API's `DELETE /events` (default `kx_events_eraser`) |
//!
//! A role secret is JSON `{"username": …, "password": …}`, as RDS secrets are; nothing secret ever
//! passes through Terraform state.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::config::{DbSecret, DbSettings};
use crate::migrate::MigrationReport;
use crate::roles::{
    self, RoleKind, DEFAULT_CONSUMER_ROLE, DEFAULT_ERASER_ROLE, DEFAULT_READ_ONLY_ROLE,
};
use crate::store::{Store, StoreError};

/// A role that `bootstrap migrate` provisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRequest {
    /// What the role is for.
    pub kind: RoleKind,
    /// The Secrets Manager secret holding (or to hold) its credentials.
    pub secret_arn: String,
    /// The role name used when the secret has no `username`.
    pub default_name: String,
}

/// Everything `bootstrap migrate` reads from its environment.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// The database settings (the owner's secret).
    pub database: Config,
    /// `KX_DATABASE_URL`, used instead of the secret when set.
    pub database_url: Option<String>,
    /// The roles to provision.
    pub roles: Vec<RoleRequest>,
}

impl MigrateConfig {
    /// Reads the settings through `lookup` (a name → value function).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database_url = get("KX_DATABASE_URL");
        let database = if database_url.is_some() {
            // The URL carries the credentials: no secret needed.
            Config::database_from_lookup(|name| match name {
                "DB_SECRET_ARN" => Some("KX_DATABASE_URL".to_owned()),
                other => get(other),
            })?
        } else {
            Config::database_from_lookup(&lookup)?
        };
        let mut roles = Vec::new();
        for (kind, secret, name, default) in [
            (
                RoleKind::Consumer,
                "KX_APP_ROLE_SECRET_ARN",
                "KX_APP_ROLE_NAME",
                DEFAULT_CONSUMER_ROLE,
            ),
            (
                RoleKind::ReadOnly,
                "KX_QUERY_ROLE_SECRET_ARN",
                "KX_QUERY_ROLE_NAME",
                DEFAULT_READ_ONLY_ROLE,
            ),
            (
                RoleKind::Eraser,
                "KX_ERASER_ROLE_SECRET_ARN",
                "KX_ERASER_ROLE_NAME",
                DEFAULT_ERASER_ROLE,
            ),
        ] {
            let default_name = get(name).unwrap_or_else(|| default.to_owned());
            roles::validate_role_name(name, &default_name)?;
            if let Some(secret_arn) = get(secret) {
                roles.push(RoleRequest {
                    kind,
                    secret_arn,
                    default_name,
                });
            }
        }
        Ok(Self {
            database,
            database_url,
            roles,
        })
    }
}

/// What `bootstrap migrate` did; printed (and returned by the migrate function) as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateOutcome {
    /// Versions applied now.
    pub applied: Vec<String>,
    /// Versions that were applied before.
    pub already_applied: Vec<String>,
    /// Whether an existing `events` table of the old system was adopted now.
    pub adopted: bool,
    /// Versions in the database that this build does not know.
    pub unknown: Vec<String>,
    /// The roles created or updated, with their grants.
    pub roles: Vec<String>,
}

/// Why `bootstrap migrate` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateCommandError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database refused or failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// A role secret could not be read or written.
    #[error("{setting}: {problem}")]
    Secret {
        /// The variable naming the secret.
        setting: &'static str,
        /// What went wrong.
        problem: String,
    },
}

/// A fresh password: 64 hex characters from two random v4 UUIDs (244 random bits), which needs no
/// quoting anywhere.
fn generate_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn secret_setting(kind: RoleKind) -> &'static str {
    match kind {
        RoleKind::ReadOnly => "KX_QUERY_ROLE_SECRET_ARN",
        RoleKind::Eraser => "KX_ERASER_ROLE_SECRET_ARN",
        _ => "KX_APP_ROLE_SECRET_ARN",
    }
}

/// Reads a role's secret; writes generated credentials into it when it has no value yet (or no
/// password). Returns (username, password).
async fn role_credentials(
    secrets: &aws_sdk_secretsmanager::Client,
    request: &RoleRequest,
) -> Result<(String, String), MigrateCommandError> {
    let setting = secret_setting(request.kind);
    let fail = |problem: String| MigrateCommandError::Secret { setting, problem };
    let current = match secrets
        .get_secret_value()
        .secret_id(&request.secret_arn)
        .send()
        .await
    {
        Ok(out) => out.secret_string().map(str::to_owned),
        // A secret created without a value (as the Terraform module does) has no AWSCURRENT.
        Err(e) if e.code() == Some("ResourceNotFoundException") => {
            let exists = secrets
                .describe_secret()
                .secret_id(&request.secret_arn)
                .send()
                .await
                .is_ok();
            if !exists {
                return Err(fail(format!(
                    "secret {} does not exist",
                    request.secret_arn
                )));
            }
            None
        }
        Err(e) => {
            return Err(fail(format!(
                "cannot read secret {}: {}",
                request.secret_arn,
                DisplayErrorContext(&e).to_string().replace('\n', " ")
            )))
        }
    };
    if let Some(text) = current {
        if let Ok(secret) = DbSecret::parse(&text) {
            roles::validate_role_name(setting, &secret.username)?;
            return Ok((secret.username, secret.password));
        }
    }
    let username = request.default_name.clone();
    let password = generate_password();
    let value = serde_json::json!({ "username": username, "password": password }).to_string();
    secrets
        .put_secret_value()
        .secret_id(&request.secret_arn)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| {
            fail(format!(
                "cannot write secret {}: {}",
                request.secret_arn,
                DisplayErrorContext(&e).to_string().replace('\n', " ")
            ))
        })?;
    tracing::info!(role = %username, secret = %request.secret_arn, "generated the role's password and stored it in its secret");
    Ok((username, password))
}

/// Runs the migrations and provisions the roles (see the module docs).
pub async fn run_migrate(
    config: &MigrateConfig,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<MigrateOutcome, MigrateCommandError> {
    let settings = match &config.database_url {
        Some(url) => {
            let mut s = DbSettings::from_url(url)?;
            if let Some(root) = &config.database.db_ssl_root_cert {
                s.ssl_root_cert = Some(root.clone());
            }
            s
        }
        None => {
            let secret = DbSecret::fetch(secrets, &config.database.db_secret_arn).await?;
            DbSettings::resolve(&config.database, &secret)?
        }
    };
    let store = Store::connect(DbSettings {
        pool_size: 1,
        ..settings
    })?;
    let MigrationReport {
        applied,
        already_applied,
        adopted,
        unknown,
    } = store.migrate().await?;
    let mut outcome = MigrateOutcome {
        applied,
        already_applied,
        adopted,
        unknown,
        roles: Vec::new(),
    };
    for request in &config.roles {
        let (username, password) = role_credentials(secrets, request).await?;
        store
            .ensure_role(request.kind, &username, &password)
            .await?;
        outcome.roles.push(username);
    }
    Ok(outcome)
}
