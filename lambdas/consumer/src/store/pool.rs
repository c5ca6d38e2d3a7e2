//! The connection pool: `r2d2` over the synchronous `postgres` client, with each fixed statement
//! prepared once per connection, and without a health-check round trip on every checkout.
//!
//! - A connection used successfully in the last [`CHECK_IDLE_AFTER`] is handed out as is; one idle
//!   longer (a sandbox thawed after minutes) is checked with an empty query first, and replaced
//!   if the check fails. `r2d2_postgres` checks every checkout, which costs one round trip per
//!   statement.
//! - When a statement finds its connection lost (a server restart, a dropped socket), the
//!   connection is discarded and every other pooled connection is checked on its next checkout
//!   (a shared epoch moves on), so one failure does not become one per pooled connection.
//! - Statements are prepared on first use and kept by the connection (PostgreSQL parses and
//!   analyses them once; the insert's CTE costs more to parse than a batch of 10 to insert). A
//!   statement error drops the connection's prepared statements, so a changed schema is
//!   re-prepared.
//!
//! On top of it, [`Store`]'s runner: every call runs in `spawn_blocking` bounded by the
//! invocation's deadline ([`with_deadline`]) and by the longest a connect plus a statement may
//! take (a call past it abandons its connection with its pool); a pooled connection that the
//! server closed while idle is retried once on a checked one (every statement of the store is
//! idempotent); an authentication failure (a rotated password) re-reads the secret once,
//! rebuilds the pool and tries again. A pool is closed off the async runtime ([`PoolCell`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{ConnectFailure, DbCause, LastConnectError, RecordConnectError};
use super::{lock, Store, StoreError};
use crate::config::Config;
use crate::config::{DbSecret, DbSettings};
use crate::tls;
use postgres::error::SqlState;

use postgres::types::Type;
use postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A pooled connection idle longer than this is checked (`SELECT` of nothing) before use.
pub(crate) const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);

/// Opens connections for the pool and decides when they need a check.
pub(crate) struct Manager {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    epoch: Arc<AtomicU64>,
}

impl Manager {
    pub(crate) fn new(config: postgres::Config, tls: MakeRustlsConnect) -> Self {
        Self {
            config,
            tls,
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A pooled connection: the client, its prepared statements and when it last worked.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<(usize, usize), Statement>,
    last_ok: Instant,
    epoch: u64,
    shared_epoch: Arc<AtomicU64>,
    uses: u64,
    broken: bool,
}

impl Conn {
    /// The client, for statements that are not worth preparing (migrations, pings).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `sql` prepared with `types` on this connection, once.
    pub(crate) fn statement(
        &mut self,
        sql: &'static str,
        types: &[Type],
    ) -> Result<Statement, postgres::Error> {
        let key = (sql.as_ptr() as usize, sql.len());
        if let Some(s) = self.statements.get(&key) {
            return Ok(s.clone());
        }
        let s = self.client.prepare_typed(sql, types)?;
        self.statements.insert(key, s.clone());
        Ok(s)
    }

    /// Whether this connection served a statement before this checkout.
    pub(crate) fn reused(&self) -> bool {
        self.uses > 1
    }

    /// Records a checkout (see [`Conn::reused`]).
    pub(crate) fn checked_out(&mut self) {
        self.uses += 1;
    }

    /// The work on this connection succeeded.
    pub(crate) fn ok(&mut self) {
        self.last_ok = Instant::now();
    }

    /// A statement failed on the server: prepared statements may be stale (a changed schema).
    pub(crate) fn statement_failed(&mut self) {
        self.statements.clear();
    }

    /// Whether the server or the network closed the connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Whether [`Conn::lost`] was called.
    pub(crate) fn is_lost(&self) -> bool {
        self.broken
    }

    /// The connection is lost: the pool discards it, and checks every other connection before
    /// its next use.
    pub(crate) fn lost(&mut self) {
        self.broken = true;
        self.shared_epoch.fetch_add(1, Ordering::SeqCst);
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let client = self.config.connect(self.tls.clone())?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            last_ok: Instant::now(),
            epoch,
            shared_epoch: self.epoch.clone(),
            uses: 0,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        if conn.epoch == epoch && conn.last_ok.elapsed() < CHECK_IDLE_AFTER {
            return Ok(());
        }
        conn.client.simple_query("")?;
        conn.epoch = epoch;
        conn.last_ok = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

type PgPool = r2d2::Pool<Manager>;

/// Time a call may take beyond its connect and statement timeouts (network round trips).
const CALL_SLACK: Duration = Duration::from_secs(2);

tokio::task_local! {
    static DEADLINE: tokio::time::Instant;
}

/// Runs `fut` with every store call in it bounded by `deadline` (the handler passes the
/// invocation's deadline less its margin): a call still running then returns
/// [`StoreError::Timeout`].
pub async fn with_deadline<F: std::future::Future>(
    deadline: tokio::time::Instant,
    fut: F,
) -> F::Output {
    DEADLINE.scope(deadline, fut).await
}

pub(super) struct SecretRefresh {
    pub(super) client: aws_sdk_secretsmanager::Client,
    pub(super) config: Config,
}

/// Owns a pool and closes it off the async runtime: dropping a sync `postgres::Client` blocks on
/// its own runtime, which panics on a tokio worker thread.
pub(super) struct PoolCell(pub(super) Option<PgPool>);

impl PoolCell {
    pub(super) fn pool(&self) -> &PgPool {
        self.0.as_ref().expect("pool present until drop")
    }
}

impl Drop for PoolCell {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(pool));
            } else {
                drop(pool);
            }
        }
    }
}

pub(super) fn build_pool(
    settings: &DbSettings,
    last: &Arc<LastConnectError>,
) -> Result<PgPool, StoreError> {
    let tls = tls::connector(settings.sslmode, settings.ssl_root_cert.as_deref())
        .map_err(StoreError::Tls)?;
    let manager = Manager::new(settings.pg_config(), tls);
    Ok(r2d2::Pool::builder()
        .max_size(settings.pool_size.max(1))
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout)
        .error_handler(Box::new(RecordConnectError(last.clone())))
        .build_unchecked(manager))
}
impl Store {
    async fn reload_credentials(&self) -> Result<(), StoreError> {
        let Some(refresh) = &self.inner.refresh else {
            return Ok(());
        };
        let secret = DbSecret::fetch(&refresh.client, &refresh.config.db_secret_arn)
            .await
            .map_err(StoreError::Secret)?;
        let fresh = DbSettings::resolve(&refresh.config, &secret).map_err(StoreError::Secret)?;
        let current = self.settings();
        self.reconfigure(DbSettings {
            connect_timeout: current.connect_timeout,
            statement_timeout: current.statement_timeout,
            pool_size: current.pool_size,
            ..fresh
        })
    }

    /// Runs `f` on a pooled connection in `spawn_blocking`. An authentication failure re-reads
    /// the secret once (when the store has one) and tries again.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(&mut Conn) -> Result<T, StoreError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        match self.run_once(f.clone()).await {
            Err(StoreError::Auth(cause)) if self.inner.refresh.is_some() => {
                tracing::warn!(cause = %cause, "database authentication failed; re-reading the secret once (rotation?) and rebuilding the pool");
                self.reload_credentials().await?;
                self.run_once(f).await
            }
            other => other,
        }
    }

    async fn run_once<T, F>(&self, f: Arc<F>) -> Result<T, StoreError>
    where
        F: Fn(&mut Conn) -> Result<T, StoreError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let pool = lock(&self.inner.pool).clone();
        let last = self.inner.last_connect_error.clone();
        // The client-side bound: the invocation's deadline (see `with_deadline`), and never more
        // than a connect plus a statement could legitimately take. A connection that stops
        // answering without closing (a black-holed network, an RDS failover) ends here, not at
        // the Lambda timeout.
        let settings = self.settings();
        let ceiling = settings.connect_timeout + settings.statement_timeout + CALL_SLACK;
        let limit = match DEADLINE.try_with(|d| *d) {
            Ok(deadline) => deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(ceiling),
            Err(_) => ceiling,
        };
        let task = tokio::task::spawn_blocking(move || {
            let checkout = || {
                *lock(&last.0) = None;
                pool.pool().get().map_err(|e| match lock(&last.0).take() {
                    Some(ConnectFailure::Certificate(cause)) => StoreError::Tls(cause.context(
                        "the database server's TLS certificate did not verify (DB_SSLMODE=verify-full; check DB_HOST and DB_SSL_ROOT_CERT)"
                    )),
                    Some(ConnectFailure::Other(Some(code), cause))
                        if code == SqlState::INVALID_PASSWORD
                            || code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
                    {
                        StoreError::Auth(cause)
                    }
                    Some(ConnectFailure::Other(_, cause)) => StoreError::Unavailable(cause),
                    None => StoreError::Unavailable(DbCause::new(e.to_string(), e)),
                })
            };
            let attempt = |conn: &mut Conn| {
                conn.checked_out();
                let result = f(conn);
                match &result {
                    Ok(_) => conn.ok(),
                    Err(_) if conn.is_closed() => conn.lost(),
                    Err(StoreError::ConnectionLost(_)) => conn.lost(),
                    Err(StoreError::Statement { .. }) => conn.statement_failed(),
                    Err(_) => {}
                }
                result
            };
            let mut conn = checkout()?;
            match attempt(&mut conn) {
                // A pooled connection that the server closed while it was idle (a restart, a
                // terminated backend): every statement of the store is idempotent, so it runs
                // once more on a checked connection.
                Err(e) if conn.reused() && conn.is_lost() => {
                    drop(conn);
                    tracing::warn!(cause = %e, "pooled database connection lost; retrying once on a checked connection");
                    attempt(&mut *checkout()?)
                }
                other => other,
            }
        });
        match tokio::time::timeout(limit, task).await {
            Ok(joined) => joined.map_err(|e| StoreError::Task(DbCause::new(e.to_string(), e)))?,
            Err(_) => {
                // The blocking call may never return: abandon its connection with its pool (a
                // fresh pool serves the next call; the old one closes when the call ends).
                tracing::warn!(
                    limit_ms = limit.as_millis() as u64,
                    "database call did not finish in time; abandoning its connection"
                );
                if let Err(e) = self.reconfigure(settings) {
                    tracing::warn!(cause = %e, "could not rebuild the pool");
                }
                Err(StoreError::Timeout(limit))
            }
        }
    }
}
