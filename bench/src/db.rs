//! The benchmark's own databases on the test server: created fresh, migrated, and dropped.

use kx_events_consumer::{DbSettings, SslMode, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
use kx_events_testkit::Services;
use postgres::{Client, Config, NoTls};

/// Errors are carried as text: a benchmark that fails prints why and the run goes on.
pub type BenchResult<T> = Result<T, String>;

/// Adds context to an error (`"what: error"`).
pub trait Context<T> {
    /// Maps the error to `"{what}: {error}"`.
    fn context(self, what: impl std::fmt::Display) -> BenchResult<T>;
}

impl<T, E: std::error::Error> Context<T> for Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> BenchResult<T> {
        self.map_err(|e| format!("{what}: {}", chain(&e)))
    }
}

/// An error and its sources on one line (`postgres::Error` alone says only "db error").
pub use kx_events::error_chain as chain;

/// The server the benchmarks use: `KX_TEST_DATABASE_URL` of the local services
/// ([`kx_events_testkit::Services`], from `.state/env`), a superuser over TCP.
#[derive(Debug, Clone)]
pub struct Server {
    admin: Config,
    services: Services,
}

impl Server {
    /// The local services from the environment (`make bench` sources `.state/env`).
    pub fn from_env() -> BenchResult<Server> {
        let services = Services::from_env("run `make bench`")?;
        let admin: Config = services
            .database_url
            .parse()
            .context("KX_TEST_DATABASE_URL")?;
        Ok(Server { admin, services })
    }

    /// Connection settings for database `name` on this server.
    pub fn config(&self, name: &str) -> Config {
        let mut config = self.admin.clone();
        config.dbname(name);
        config
    }

    /// Host, port, user and password, as the consumer's environment and secret carry them.
    pub fn parts(&self) -> BenchResult<(String, u16, String, String)> {
        self.services.database_parts()
    }

    /// The consumer's store settings for database `name`: a pool of one connection (one
    /// invocation at a time, as in Lambda), no TLS (loopback), the consumer's default timeouts.
    pub fn store_settings(&self, name: &str) -> BenchResult<DbSettings> {
        let (host, port, user, password) = self.parts()?;
        Ok(DbSettings {
            host,
            port,
            dbname: name.to_string(),
            user,
            password,
            sslmode: SslMode::Disable,
            ssl_root_cert: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            pool_size: 1,
        })
    }

    /// Connects to database `name`.
    pub fn connect(&self, name: &str) -> BenchResult<Client> {
        self.config(name)
            .connect(NoTls)
            .context(format!("connecting to database {name}"))
    }

    /// Drops database `name` if it exists and creates it empty.
    pub fn recreate(&self, name: &str) -> BenchResult<()> {
        self.drop_database(name)?;
        // Its own statement: CREATE DATABASE may not run inside a multi-statement query.
        self.admin()?
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .context(format!("creating database {name}"))
    }

    /// Drops database `name` if it exists.
    pub fn drop_database(&self, name: &str) -> BenchResult<()> {
        self.admin()?
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .context(format!("dropping database {name}"))
    }

    fn admin(&self) -> BenchResult<Client> {
        self.admin
            .connect(NoTls)
            .context("connecting to the server")
    }
}

/// `seq_scan` and `idx_scan` of table `events` from `pg_stat_user_tables`, after flushing this
/// backend's pending statistics (PostgreSQL 15 reports them at most once a second otherwise).
pub fn scan_counts(client: &mut Client) -> BenchResult<(i64, i64)> {
    flush_stats(client)?;
    client
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .context("pg_stat_clear_snapshot")?;
    let row = client
        .query_one(
            "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'events'",
            &[],
        )
        .context("reading pg_stat_user_tables")?;
    Ok((row.get(0), row.get(1)))
}

/// Makes this backend report its pending statistics now (they are reported when it goes idle,
/// at most once a second otherwise), so that they do not land inside another connection's run.
pub fn flush_stats(client: &mut Client) -> BenchResult<()> {
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .context("pg_stat_force_next_flush")
}

/// Runs synchronous database code from async code (the sync `postgres` client starts its own
/// runtime and must not run on a tokio worker as is).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}
