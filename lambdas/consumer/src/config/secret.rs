//! The `DB_SECRET_ARN` secret: the database credentials, and optionally its location, in the
//! layout of an RDS-managed master secret or of the TypeScript system's secret.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use serde_json::Value;

use super::env::{parse_port, ConfigError};

/// The database credentials (and, when present, location) held by the `DB_SECRET_ARN` secret.
///
/// An RDS-managed master secret holds only `username` and `password`; the TypeScript system's
/// secret also holds `host`, `port` and `dbname`. Both are accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSecret {
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `host`, if the secret has it.
    pub host: Option<String>,
    /// `port` (a number or a numeric string), if the secret has it.
    pub port: Option<u16>,
    /// `dbname`, if the secret has it.
    pub dbname: Option<String>,
}

impl std::fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSecret")
            .field("username", &self.username)
            .field("password", &"***")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .finish()
    }
}

impl DbSecret {
    /// Parses a secret's `SecretString`. Errors name `DB_SECRET_ARN` and the key at fault, never
    /// a value.
    pub fn parse(secret_string: &str) -> Result<Self, ConfigError> {
        let bad = |what: &str| ConfigError::new("DB_SECRET_ARN", what.to_owned());
        let v: Value = serde_json::from_str(secret_string)
            .map_err(|_| bad("the secret is not a JSON object"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("the secret is not a JSON object"))?;
        let text = |key: &str| match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("the secret's `{key}` is not a string"))),
        };
        let port = match obj.get("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("the secret's `port` is not a TCP port"))?,
            ),
            Some(Value::String(s)) => Some(
                parse_port("DB_SECRET_ARN", s)
                    .map_err(|_| bad("the secret's `port` is not a TCP port"))?,
            ),
            Some(_) => return Err(bad("the secret's `port` is not a TCP port")),
        };
        Ok(Self {
            username: text("username")?.ok_or_else(|| bad("the secret has no `username`"))?,
            password: text("password")?.ok_or_else(|| bad("the secret has no `password`"))?,
            host: text("host")?,
            port,
            dbname: text("dbname")?,
        })
    }

    /// Reads and parses the secret `arn` with `client`; the error is a [`ConfigError`] naming
    /// `DB_SECRET_ARN` (see [`DbSecret::read`] for the error with its cause).
    pub async fn fetch(
        client: &aws_sdk_secretsmanager::Client,
        arn: &str,
    ) -> Result<Self, ConfigError> {
        Self::read(client, arn).await.map_err(ConfigError::from)
    }

    /// Reads and parses the secret `arn` with `client`, keeping the Secrets Manager error as the
    /// cause of a failed read.
    pub async fn read(
        client: &aws_sdk_secretsmanager::Client,
        arn: &str,
    ) -> Result<Self, SecretError> {
        let out = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretError::Read {
                setting: SECRET_SETTING.to_owned(),
                arn: arn.to_owned(),
                source: Box::new(e),
            })?;
        let s = out
            .secret_string()
            .ok_or_else(|| SecretError::NoSecretString {
                setting: SECRET_SETTING.to_owned(),
                arn: arn.to_owned(),
            })?;
        Ok(Self::parse(s)?)
    }
}

/// The setting that names the database secret.
const SECRET_SETTING: &str = "DB_SECRET_ARN";

/// The database secret could not be read. Displays as one line starting with the setting that
/// names the secret (`DB_SECRET_ARN: …`), as a [`ConfigError`] does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// `GetSecretValue` failed (no such secret, no permission, Secrets Manager unreachable).
    #[error("{setting}: cannot read secret {arn}")]
    Read {
        /// The setting that names the secret.
        setting: String,
        /// The secret's ARN.
        arn: String,
        /// What Secrets Manager (or the SDK) said.
        #[source]
        source: Box<SdkError<GetSecretValueError>>,
    },
    /// The secret has no `SecretString` (a binary secret).
    #[error("{setting}: secret {arn} has no SecretString")]
    NoSecretString {
        /// The setting that names the secret.
        setting: String,
        /// The secret's ARN.
        arn: String,
    },
    /// The `SecretString` is not the expected JSON object (see [`DbSecret::parse`]).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl SecretError {
    /// The same error naming `setting` instead of `DB_SECRET_ARN` (for a secret named by another
    /// setting, e.g. the query API's `KX_ERASER_SECRET_ARN`).
    pub fn for_setting(self, setting: &str) -> Self {
        match self {
            SecretError::Read { arn, source, .. } => SecretError::Read {
                setting: setting.to_owned(),
                arn,
                source,
            },
            SecretError::NoSecretString { arn, .. } => SecretError::NoSecretString {
                setting: setting.to_owned(),
                arn,
            },
            SecretError::Invalid(e) => SecretError::Invalid(e.for_setting(SECRET_SETTING, setting)),
        }
    }
}

/// The one-line [`ConfigError`] that [`DbSecret::fetch`] returns.
impl From<SecretError> for ConfigError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Read {
                setting,
                arn,
                source,
            } => ConfigError::new(
                setting,
                format!(
                    "cannot read secret {arn}: {}",
                    DisplayErrorContext(&*source)
                )
                .replace('\n', " "),
            ),
            SecretError::NoSecretString { setting, arn } => {
                ConfigError::new(setting, format!("secret {arn} has no SecretString"))
            }
            SecretError::Invalid(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_secrets_name_the_setting_not_the_value() {
        for s in [
            "nope",
            "[]",
            r#"{"username":"kx"}"#,
            r#"{"username":"kx","password":"pw","port":"x"}"#,
        ] {
            let e = DbSecret::parse(s).unwrap_err();
            assert_eq!(e.setting, "DB_SECRET_ARN");
            assert!(!e.to_string().contains("pw"));
        }
    }
}
