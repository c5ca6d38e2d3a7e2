//! A database of its own per test on the shared server of `KX_TEST_DATABASE_URL` ([`TestDb`]):
//! created fresh with a unique name, read and written with the sync `postgres` client on a
//! blocking thread, dropped (`WITH (FORCE)`) at the end.

use std::time::Duration;

use kx_events_consumer::{DbSettings, SslMode};
use serde_json::Value;
use uuid::Uuid;

use crate::env::{blocking, required_env};

/// A database of its own for one test, created on the server of `KX_TEST_DATABASE_URL` and
/// dropped (`WITH (FORCE)`) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// The database name (`kx_test_…`).
    pub name: String,
    /// Settings for the consumer's store (TLS `require`: the local server has `ssl = on`).
    pub settings: DbSettings,
    admin: DbSettings,
}

fn connect(settings: &DbSettings) -> postgres::Client {
    let mut c = postgres::Config::new();
    c.host(&settings.host)
        .port(settings.port)
        .user(&settings.user)
        .password(&settings.password)
        .dbname(&settings.dbname)
        .connect_timeout(Duration::from_secs(10));
    c.connect(postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to PostgreSQL at {}:{}: {e}",
            settings.host, settings.port
        )
    })
}

impl TestDb {
    /// Creates the database.
    pub async fn create() -> Self {
        let url = required_env("KX_TEST_DATABASE_URL");
        let admin = DbSettings::from_url(&url)
            .unwrap_or_else(|e| panic!("KX_TEST_DATABASE_URL is not a postgres:// URL: {e}"));
        let name = format!("kx_test_{}", Uuid::new_v4().simple());
        let (a, n) = (admin.clone(), name.clone());
        blocking(move || {
            connect(&a)
                .batch_execute(&format!("CREATE DATABASE {n}"))
                .expect("CREATE DATABASE");
        })
        .await;
        let settings = DbSettings {
            dbname: name.clone(),
            sslmode: SslMode::Require,
            connect_timeout: Duration::from_secs(3),
            ..admin.clone()
        };
        Self {
            name,
            settings,
            admin,
        }
    }

    /// Runs `sql` (no parameters) and returns each row as a JSON object (`row_to_json`).
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        let (s, sql) = (self.settings.clone(), sql.to_owned());
        blocking(move || {
            let wrapped = format!("SELECT row_to_json(t)::text FROM ({sql}) t");
            connect(&s)
                .query(&wrapped, &[])
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
                .collect()
        })
        .await
    }

    /// Runs statements.
    pub async fn execute(&self, sql: &str) {
        let (s, sql) = (self.settings.clone(), sql.to_owned());
        blocking(move || {
            connect(&s)
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
        .await
    }

    /// `SELECT count(*) FROM events [WHERE …]`.
    pub async fn count_events(&self, filter: &str) -> i64 {
        let sql = if filter.is_empty() {
            "SELECT count(*) AS n FROM events".to_owned()
        } else {
            format!("SELECT count(*) AS n FROM events WHERE {filter}")
        };
        self.rows(&sql).await[0]["n"].as_i64().unwrap()
    }

    /// The row of `event_id` as JSON, or `None`.
    pub async fn event_row(&self, event_id: Uuid) -> Option<Value> {
        self.rows(&format!(
            "SELECT * FROM events WHERE event_id = '{event_id}'"
        ))
        .await
        .into_iter()
        .next()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (a, n) = (self.admin.clone(), self.name.clone());
        // Drop may run on a tokio worker: use a plain thread for the sync client.
        let _ = std::thread::spawn(move || {
            let _ = connect(&a).batch_execute(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"));
        })
        .join();
    }
}
