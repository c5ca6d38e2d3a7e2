//! The consumer's configuration, read once per cold start: the environment ([`Config`], `env`),
//! the database secret ([`DbSecret`], `secret`), and the two combined into the settings a
//! connection needs ([`DbSettings`], `db`).
//!
//! The variable names are a contract with the Terraform module and the tests; each is documented
//! in the README. A missing or malformed setting is a [`ConfigError`] whose one-line message
//! starts with the name of the setting. Where both set the database's location, the environment
//! wins over the secret ([`DbSettings::resolve`]).

mod db;
mod env;
mod secret;

pub use db::{DbSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
pub use env::{Config, ConfigError, MigrateMode, SslMode};
pub use secret::{DbSecret, SecretError};
