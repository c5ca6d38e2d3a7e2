//! Test support for the read side (kx-events-query, kx): a fresh PostgreSQL database per test,
//! with the schema of `migrations/` applied, on the server of `KX_TEST_DATABASE_URL`.
//!
//! Synchronous, like the library it tests, and without the consumer's dependencies (the AWS
//! SDK): the end-to-end helper crate `kx-events-tests` builds the whole pipeline, which these
//! tests do not need.
//!
//! Run `scripts/services.sh up && source .state/env` first; a missing variable fails the test
//! with a message saying so.
#![warn(missing_docs)]

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A database of its own for one test, dropped (`WITH (FORCE)`) with this value, together with
/// the roles made by [`TestDb::read_only_role`].
#[derive(Debug)]
pub struct TestDb {
    /// The database name (`kx_query_test_…`).
    pub name: String,
    /// A `postgres://` URL of the database, as the superuser of `KX_TEST_DATABASE_URL`.
    pub url: String,
    admin_url: String,
    roles: Vec<String>,
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: these tests need PostgreSQL. Run \
             `scripts/services.sh up && source .state/env` (or `make test`) first."
        ),
    }
}

/// `url` with its database name replaced by `dbname`.
fn with_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{dbname}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` with user and password replaced.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{}{user}:{password}@{host}", &url[..scheme_end])
}

/// A plain connection to `url`.
pub fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL ({url}): {e}"))
}

impl TestDb {
    /// Creates the database and applies every `migrations/*.sql` in order (what the consumer's
    /// cold start applies).
    pub fn create() -> Self {
        let admin_url = required_env("KX_TEST_DATABASE_URL");
        let name = format!("kx_query_test_{}", Uuid::new_v4().simple());
        connect(&admin_url)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        let db = Self {
            url: with_dbname(&admin_url, &name),
            name,
            admin_url,
            roles: Vec::new(),
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let mut c = db.client();
        for f in files {
            let sql = std::fs::read_to_string(&f).unwrap();
            // As the consumer's runner does: the part before `-- kx:outside-transaction` in one
            // transaction, each statement after it on its own (CREATE INDEX CONCURRENTLY).
            let (inside, outside) = sql
                .split_once("-- kx:outside-transaction")
                .unwrap_or((sql.as_str(), ""));
            c.batch_execute(&format!("BEGIN; {inside}; COMMIT;"))
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let mut statement = String::new();
            for line in outside.lines() {
                let code = line.trim();
                if code.is_empty() || code.starts_with("--") {
                    continue;
                }
                statement.push_str(line);
                statement.push('\n');
                if code.ends_with(';') {
                    c.batch_execute(&statement)
                        .unwrap_or_else(|e| panic!("{}: {statement}: {e}", f.display()));
                    statement.clear();
                }
            }
        }
        db
    }

    /// A new superuser connection to the database.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }

    /// Runs statements (no parameters).
    pub fn execute(&self, sql: &str) {
        self.client()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Creates a login role with nothing but `SELECT` on `events` and returns a URL that
    /// connects as it.
    pub fn read_only_role(&mut self) -> String {
        let role = format!("kx_reader_{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'reader' NOSUPERUSER NOCREATEDB NOCREATEROLE;
             REVOKE ALL ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT ON DATABASE {db} TO {role};
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT ON events TO {role};",
            db = self.name
        ));
        self.roles.push(role.clone());
        with_user(&self.url, &role, "reader")
    }

    /// Inserts `events` (one statement each).
    pub fn insert(&self, events: &[NewEvent]) {
        let mut c = self.client();
        let stmt = c
            .prepare(
                "INSERT INTO events (event_id, client_id, previous_event_id, user_id, entity_id,
                   entity_type, event_type, source, campaign_id, points_awarded, session_id,
                   occurred_at, metadata, published_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .unwrap();
        for e in events {
            c.execute(
                &stmt,
                &[
                    &e.event_id,
                    &e.client_id,
                    &e.previous_event_id,
                    &e.user_id,
                    &e.entity_id,
                    &e.entity_type,
                    &e.event_type,
                    &e.source,
                    &e.campaign_id,
                    &e.points_awarded,
                    &e.session_id,
                    &e.occurred_at,
                    &e.metadata,
                    &e.published_at,
                ],
            )
            .unwrap_or_else(|err| panic!("insert {}: {err}", e.event_id));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
            for r in &self.roles {
                let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {r}"));
            }
        }
    }
}

/// A row for [`TestDb::insert`]; [`NewEvent::new`] fills the required columns.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `event_id`
    pub event_id: Uuid,
    /// `client_id`
    pub client_id: String,
    /// `previous_event_id`
    pub previous_event_id: Option<Uuid>,
    /// `user_id`
    pub user_id: Option<String>,
    /// `entity_id`
    pub entity_id: Option<String>,
    /// `entity_type`
    pub entity_type: Option<String>,
    /// `event_type`
    pub event_type: String,
    /// `source`
    pub source: Option<String>,
    /// `campaign_id`
    pub campaign_id: Option<String>,
    /// `points_awarded`
    pub points_awarded: Option<i32>,
    /// `session_id`
    pub session_id: Option<String>,
    /// `occurred_at`
    pub occurred_at: DateTime<Utc>,
    /// `metadata`
    pub metadata: Option<Value>,
    /// `published_at`
    pub published_at: Option<DateTime<Utc>>,
}

impl NewEvent {
    /// An event of `client_id`, `entity_type.event_type`, at `occurred_at`, with a new id.
    pub fn new(
        client_id: &str,
        entity_type: &str,
        event_type: &str,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            client_id: client_id.to_owned(),
            previous_event_id: None,
            user_id: None,
            entity_id: None,
            entity_type: Some(entity_type.to_owned()),
            event_type: event_type.to_owned(),
            source: None,
            campaign_id: None,
            points_awarded: None,
            session_id: None,
            occurred_at,
            metadata: None,
            published_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            with_dbname("postgres://kx:kx@127.0.0.1:5432/postgres", "d"),
            "postgres://kx:kx@127.0.0.1:5432/d"
        );
        assert_eq!(
            with_dbname("postgres://h:1/x?sslmode=disable", "d"),
            "postgres://h:1/d?sslmode=disable"
        );
        assert_eq!(
            with_user("postgres://kx:kx@127.0.0.1:5432/d", "r", "p"),
            "postgres://r:p@127.0.0.1:5432/d"
        );
    }
}
