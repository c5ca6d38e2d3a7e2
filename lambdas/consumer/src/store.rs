//! PostgreSQL: the `events` table and its outbox columns.
//!
//! The synchronous `postgres` client runs only inside `tokio::task::spawn_blocking`, through an
//! `r2d2` pool built once per cold start (see `pool`: statements prepared once per connection, no
//! health check on a connection used in the last seconds). Every public method runs autocommit
//! statements (the migrations one transaction); none stays open across a network call to another
//! service.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kx_events::TrackedEvent;
use postgres::error::SqlState;
use postgres::types::{Json, Type};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{Config, ConfigError};
use crate::migrate::{self, MigrationError, MigrationReport, SchemaStatus};
use crate::pool::{Conn, Manager};
use crate::settings::{DbSecret, DbSettings};
use crate::tls;

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

/// A database failure. [`StoreError::is_retryable`] tells whether trying again later may succeed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No connection could be opened (server down, wrong host or port, timeout).
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// The connection broke during a statement (dropped, server restarted, network).
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// The server refused the credentials (SQLSTATE 28P01/28000), even after re-reading the secret.
    #[error("database authentication failed: {0}")]
    Auth(String),
    /// A statement failed on the server.
    #[error("database statement failed (SQLSTATE {code}): {message}")]
    Statement {
        /// The SQLSTATE.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The TLS settings cannot be used (bad `DB_SSL_ROOT_CERT`), or the server's certificate did
    /// not verify: a configuration error, not retryable.
    #[error("{0}")]
    Tls(String),
    /// The embedded migrations and the database disagree.
    #[error("{0}")]
    Migration(#[from] MigrationError),
    /// The secret could not be re-read after an authentication failure.
    #[error("{0}")]
    Secret(ConfigError),
    /// The call did not finish before the invocation's deadline (or the longest a connect plus
    /// a statement may take): the connection is abandoned.
    #[error("database call did not finish within {0:?}; connection abandoned")]
    Timeout(Duration),
    /// The blocking task running the statement panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether the same work may succeed later (the records should be retried), as opposed to a
    /// configuration or schema problem that needs a deployment.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_)
            | StoreError::ConnectionLost(_)
            | StoreError::Auth(_)
            | StoreError::Secret(_)
            | StoreError::Timeout(_)
            | StoreError::Task(_) => true,
            StoreError::Statement { code, .. } => {
                // Transaction rollbacks (40: serialization, deadlock), resources (53, incl.
                // too_many_connections), a lock_timeout (55P03), operator
                // intervention incl. statement timeout (57), connection exceptions (08), and a
                // foreign-key violation (23503): the only way the batch INSERT meets one is a
                // parent deleted between the lookup and the insert, which a retry resolves.
                ["40", "53", "57", "08", "23503", "55P03"]
                    .iter()
                    .any(|c| code.starts_with(c))
            }
            StoreError::Migration(MigrationError::Busy(_)) => true,
            StoreError::Tls(_) | StoreError::Migration(_) => false,
        }
    }

    fn from_pg(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                return StoreError::Auth(db.message().to_owned());
            }
            return StoreError::Statement {
                code: code.code().to_owned(),
                message: db.message().to_owned(),
            };
        }
        StoreError::ConnectionLost(kx_events::error_chain(&e))
    }
}

/// Why opening a connection failed.
#[derive(Debug)]
enum ConnectFailure {
    /// The server's TLS certificate did not verify.
    Certificate(String),
    /// Anything else, with the SQLSTATE when the server answered.
    Other(Option<SqlState>, String),
}

/// The last error the pool met while opening a connection (r2d2 keeps only its text).
#[derive(Debug, Default)]
struct LastConnectError(Mutex<Option<ConnectFailure>>);

#[derive(Debug)]
struct RecordConnectError(Arc<LastConnectError>);

impl r2d2::HandleError<postgres::Error> for RecordConnectError {
    fn handle_error(&self, error: postgres::Error) {
        let code = error.code().cloned();
        let text = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => kx_events::error_chain(&error),
        };
        tracing::debug!(error = %text, "database connection attempt failed");
        let failure = if tls::is_certificate_error(&error) {
            ConnectFailure::Certificate(text)
        } else {
            ConnectFailure::Other(code, text)
        };
        if let Ok(mut last) = (self.0).0.lock() {
            *last = Some(failure);
        }
    }
}

/// How one event of [`Store::insert_batch`] ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStatus {
    /// A new row (linked to its parent, if it names one).
    Inserted,
    /// A new row stored on its last receive although its parent is not stored:
    /// `previous_event_id` NULL, the id kept in `unresolved_previous_event_id`.
    InsertedUnlinked {
        /// The parent that was not found.
        missing_parent: Uuid,
    },
    /// The row already existed (a duplicate delivery); nothing was written.
    AlreadyStored,
    /// Not stored: its parent is neither stored nor storable in this batch, and this is not its
    /// last receive. Retry it later.
    WaitingForParent {
        /// The parent that was not found.
        missing_parent: Uuid,
    },
}

impl StoreStatus {
    /// Whether the event has a row now.
    pub fn is_stored(self) -> bool {
        !matches!(self, StoreStatus::WaitingForParent { .. })
    }
}

/// One event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The validated event.
    pub event: TrackedEvent,
    /// The producer already put it on the bus (message attribute `kx-on-bus`): store it as
    /// published.
    pub on_bus: bool,
    /// This is the message's last receive: if its parent is missing, store it unlinked rather
    /// than wait.
    pub last_receive: bool,
}

impl From<TrackedEvent> for NewEvent {
    fn from(event: TrackedEvent) -> Self {
        Self {
            event,
            on_bus: false,
            last_receive: false,
        }
    }
}

/// The result of [`Store::insert_batch`].
#[derive(Debug, Clone, Default)]
pub struct InsertOutcome {
    statuses: HashMap<Uuid, StoreStatus>,
    published: HashSet<Uuid>,
    differs: HashSet<Uuid>,
    claimed: HashSet<Uuid>,
    /// Rows stored earlier without their parent that were linked to a parent inserted now.
    pub linked_children: u64,
    /// Whether the outbox had stale rows (what [`Store::claim_stale`] would claim, `exclude`
    /// aside) when the batch statement ran; `None` when it was not asked
    /// ([`Store::insert_and_claim`] with no `stale_after`) or no statement ran.
    pub stale: Option<bool>,
}

impl InsertOutcome {
    /// The status of `event_id` (`None` if it was not in the batch).
    pub fn status(&self, event_id: &Uuid) -> Option<StoreStatus> {
        self.statuses.get(event_id).copied()
    }

    /// Whether the row needs nothing more from the bus: published before (or by the producer,
    /// `on_bus`), history that is not the outbox's, or rejected by the bus for good.
    pub fn is_published(&self, event_id: &Uuid) -> bool {
        self.published.contains(event_id)
    }

    /// Whether the row existed with a different content than this batch's copy (the same
    /// `eventId` reused for another event): the first copy is kept.
    pub fn differs(&self, event_id: &Uuid) -> bool {
        self.differs.contains(event_id)
    }

    /// Whether this call inserted the row with a publish lease for the caller
    /// ([`Store::insert_and_claim`]): the caller puts it on the bus as it sent it, with no
    /// [`Store::claim`].
    pub fn is_claimed(&self, event_id: &Uuid) -> bool {
        self.claimed.contains(event_id)
    }

    /// Number of new rows.
    pub fn inserted(&self) -> usize {
        self.statuses
            .values()
            .filter(|s| {
                matches!(
                    s,
                    StoreStatus::Inserted | StoreStatus::InsertedUnlinked { .. }
                )
            })
            .count()
    }
}

struct SecretRefresh {
    client: aws_sdk_secretsmanager::Client,
    config: Config,
}

/// Owns a pool and closes it off the async runtime: dropping a sync `postgres::Client` blocks on
/// its own runtime, which panics on a tokio worker thread.
struct PoolCell(Option<PgPool>);

impl PoolCell {
    fn pool(&self) -> &PgPool {
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

struct Inner {
    pool: Mutex<Arc<PoolCell>>,
    settings: Mutex<DbSettings>,
    last_connect_error: Arc<LastConnectError>,
    refresh: Option<SecretRefresh>,
    migrated: AtomicBool,
    may_migrate: AtomicBool,
    lock_timeout: Duration,
}

/// The events table: batch insert, outbox claims, migrations. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// The columns [`row_event`] reads (a macro, so that statements can be `concat!` constants).
macro_rules! event_columns {
    () => {
        "event_id, client_id, previous_event_id, user_id, entity_id, entity_type, event_type, \
         source, campaign_id, points_awarded, session_id, occurred_at, metadata, extra_fields, \
         unresolved_previous_event_id"
    };
}

const CLAIM_SQL: &str = concat!(
    "UPDATE events SET publish_lease = now() + make_interval(secs => $2)
     WHERE event_id = ANY($1) AND published_at IS NULL AND publish_failed_at IS NULL
       AND (publish_lease IS NULL OR publish_lease < now())
     RETURNING ",
    event_columns!()
);

const CLAIM_STALE_SQL: &str = concat!(
    "UPDATE events SET publish_lease = now() + make_interval(secs => $3)
     WHERE event_id IN (
         SELECT event_id FROM events
         WHERE published_at IS NULL AND publish_failed_at IS NULL
           AND created_at <= now() - make_interval(secs => $2)
           AND (publish_lease IS NULL OR publish_lease < now())
           AND event_id <> ALL($4)
         ORDER BY created_at
         LIMIT $1
         FOR UPDATE SKIP LOCKED)
       AND published_at IS NULL
     RETURNING ",
    event_columns!()
);

const OUTBOX_BACKLOG_SQL: &str = "SELECT count(*) FROM (
         SELECT 1 FROM events
         WHERE published_at IS NULL AND publish_failed_at IS NULL
           AND created_at <= now() - make_interval(secs => $1)
         LIMIT $2) AS backlog";

const MARK_PUBLISHED_SQL: &str = "UPDATE events SET published_at = now(), publish_lease = NULL
     WHERE event_id = ANY($1) AND published_at IS NULL";

const RELEASE_SQL: &str = "UPDATE events SET publish_lease = NULL,
         publish_attempts = coalesce(publish_attempts, 0) + 1
     WHERE event_id = ANY($1) AND published_at IS NULL";

/// Links children stored unlinked whose parent is stored now (a parent inserted concurrently by
/// another consumer, whose link step could not see the child yet), never closing a cycle.
const LINK_ORPHANS_SQL: &str = "UPDATE events c
     SET previous_event_id = c.unresolved_previous_event_id, unresolved_previous_event_id = NULL
     FROM events p
     WHERE c.unresolved_previous_event_id IS NOT NULL
       AND p.event_id = c.unresolved_previous_event_id
       AND p.event_id <> c.event_id
       AND NOT EXISTS (
         WITH RECURSIVE up(id, depth) AS (
           SELECT p.previous_event_id, 1
           UNION ALL
           SELECT (SELECT a.previous_event_id FROM events a WHERE a.event_id = up.id), up.depth + 1
           FROM up WHERE up.id IS NOT NULL AND up.depth < 1000)
         SELECT 1 FROM up WHERE up.id = c.event_id)";

/// Records permanent rejections: the sweep skips these rows until an operator replays them.
const REJECT_SQL: &str = "UPDATE events SET publish_lease = NULL, publish_failed_at = now(),
         publish_error = u.error, publish_attempts = coalesce(publish_attempts, 0) + 1
     FROM unnest($1::uuid[], $2::text[]) AS u(event_id, error)
     WHERE events.event_id = u.event_id AND events.published_at IS NULL";

const LOOKUP_SQL: &str =
    "SELECT event_id, published_at IS NOT NULL OR publish_failed_at IS NOT NULL
     FROM events WHERE event_id = ANY($1)";

fn build_pool(settings: &DbSettings, last: &Arc<LastConnectError>) -> Result<PgPool, StoreError> {
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
    /// Builds the pool (no connection is opened yet).
    pub fn connect(settings: DbSettings) -> Result<Self, StoreError> {
        let last = Arc::new(LastConnectError::default());
        let pool = build_pool(&settings, &last)?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool: Mutex::new(Arc::new(PoolCell(Some(pool)))),
                settings: Mutex::new(settings),
                last_connect_error: last,
                refresh: None,
                migrated: AtomicBool::new(false),
                may_migrate: AtomicBool::new(true),
                lock_timeout: migrate::DEFAULT_LOCK_TIMEOUT,
            }),
        })
    }

    /// Like [`Store::connect`], and on an authentication failure (rotated password) re-reads the
    /// secret `config.db_secret_arn` once, rebuilds the pool and retries.
    pub fn connect_with_secret(
        settings: DbSettings,
        client: aws_sdk_secretsmanager::Client,
        config: Config,
    ) -> Result<Self, StoreError> {
        let last = Arc::new(LastConnectError::default());
        let pool = build_pool(&settings, &last)?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool: Mutex::new(Arc::new(PoolCell(Some(pool)))),
                settings: Mutex::new(settings),
                last_connect_error: last,
                refresh: Some(SecretRefresh { client, config }),
                migrated: AtomicBool::new(false),
                may_migrate: AtomicBool::new(true),
                lock_timeout: migrate::DEFAULT_LOCK_TIMEOUT,
            }),
        })
    }

    /// Points the store at other settings (a new pool; connections of the old one close when
    /// idle). Used after a secret rotation, and by tests that move the database.
    pub fn reconfigure(&self, settings: DbSettings) -> Result<(), StoreError> {
        let pool = build_pool(&settings, &self.inner.last_connect_error)?;
        let old = std::mem::replace(&mut *lock(&self.inner.pool), Arc::new(PoolCell(Some(pool))));
        drop(old);
        *lock(&self.inner.settings) = settings;
        Ok(())
    }

    /// The current settings.
    pub fn settings(&self) -> DbSettings {
        lock(&self.inner.settings).clone()
    }

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
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
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
                    Some(ConnectFailure::Certificate(text)) => StoreError::Tls(format!(
                        "the database server's TLS certificate did not verify (DB_SSLMODE=verify-full; check DB_HOST and DB_SSL_ROOT_CERT): {text}"
                    )),
                    Some(ConnectFailure::Other(Some(code), text))
                        if code == SqlState::INVALID_PASSWORD
                            || code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
                    {
                        StoreError::Auth(text)
                    }
                    Some(ConnectFailure::Other(_, text)) => StoreError::Unavailable(text),
                    None => StoreError::Unavailable(e.to_string()),
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
            Ok(joined) => joined.map_err(|e| StoreError::Task(e.to_string()))?,
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

    /// Runs `f` on a pooled connection of this store, off the async runtime, with everything the
    /// store's own statements get: the deadline of [`with_deadline`], the connect and statement
    /// timeouts, TLS, one re-read of the secret on an authentication failure, and one retry on a
    /// pooled connection the server closed while idle (so `f` must be safe to run twice, as
    /// reads are). The query API runs its reads and its erasure through it.
    pub async fn with_client<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(&mut postgres::Client) -> Result<T, postgres::Error> + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| f(conn.client()).map_err(StoreError::from_pg))
            .await
    }

    /// Applies the embedded migrations (see [`crate::migrate`]) under a session advisory lock,
    /// recorded with checksums in `kx_schema_migrations`: nothing but one `SELECT` when the
    /// schema is current. Idempotent and safe to run from many processes at once. A role that
    /// may not change the schema gets [`MigrationError::NotPermitted`], which names the missing
    /// migrations.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let role = self.settings().user;
        let lock_timeout = self.inner.lock_timeout;
        let report = self
            .run(move |c| match migrate::apply(c.client(), lock_timeout) {
                Ok(r) => r.map_err(StoreError::Migration),
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    let pending = migrate::status(c.client())
                        .map(|s| s.pending)
                        .unwrap_or_default();
                    Err(StoreError::Migration(MigrationError::NotPermitted {
                        pending,
                        role: role.clone(),
                        cause: e
                            .as_db_error()
                            .map(|d| d.message().to_owned())
                            .unwrap_or_default(),
                    }))
                }
                Err(e) => Err(StoreError::from_pg(e)),
            })
            .await?;
        if !report.unknown.is_empty() {
            tracing::warn!(unknown = ?report.unknown, "the database has migrations this build does not know (a newer build ran before this one); running on it");
        }
        self.inner.migrated.store(true, Ordering::SeqCst);
        Ok(report)
    }

    /// Reads the schema's state without changing anything (one `SELECT`; a role with DML rights
    /// only may call it).
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        self.run(|c| {
            migrate::check(c.client())
                .map_err(StoreError::from_pg)?
                .map_err(StoreError::Migration)
        })
        .await
    }

    /// Whether this process may apply missing migrations itself (`KX_MIGRATE=auto`, the
    /// default) or must find the schema current (`KX_MIGRATE=off`: it never runs DDL).
    pub fn set_may_migrate(&self, may: bool) {
        self.inner.may_migrate.store(may, Ordering::SeqCst);
    }

    /// Makes sure the schema is this build's, once per process: a read-only check, then (when
    /// something is missing and the process may migrate) [`Store::migrate`]. With
    /// `KX_MIGRATE=off` a schema that is behind is [`MigrationError::Behind`].
    pub async fn ensure_migrated(&self) -> Result<MigrationReport, StoreError> {
        if self.inner.migrated.load(Ordering::SeqCst) {
            return Ok(MigrationReport::default());
        }
        let status = self.schema_status().await?;
        if status.is_current() {
            if !status.unknown.is_empty() {
                tracing::warn!(unknown = ?status.unknown, "the database has migrations this build does not know (a newer build ran before this one); running on it");
            }
            self.inner.migrated.store(true, Ordering::SeqCst);
            return Ok(MigrationReport {
                already_applied: status.applied,
                unknown: status.unknown,
                ..MigrationReport::default()
            });
        }
        if !self.inner.may_migrate.load(Ordering::SeqCst) {
            return Err(StoreError::Migration(MigrationError::Behind {
                pending: status.pending,
            }));
        }
        let report = self.migrate().await?;
        if !report.applied.is_empty() {
            tracing::info!(applied = ?report.applied, adopted = report.adopted, "database migrations applied");
        }
        Ok(report)
    }

    /// Creates `role` (LOGIN, `password`) or updates its password, and grants it what `kind`
    /// needs (see [`crate::roles::grant_statements`]). Needs the owner's (or a CREATEROLE) role.
    pub async fn ensure_role(
        &self,
        kind: crate::roles::RoleKind,
        role: &str,
        password: &str,
    ) -> Result<(), StoreError> {
        crate::roles::validate_role_name("role", role).map_err(StoreError::Secret)?;
        let (role, password) = (role.to_owned(), password.to_owned());
        self.run(move |c| {
            crate::roles::ensure_role(c.client(), kind, &role, &password)
                .map_err(StoreError::from_pg)
        })
        .await
    }

    /// A connection round trip (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| {
            c.client()
                .simple_query("SELECT 1")
                .map(|_| ())
                .map_err(StoreError::from_pg)
        })
        .await
    }

    /// Convenience for [`Store::insert_batch`] with events that are neither on the bus nor on
    /// their last receive.
    pub async fn insert_events(
        &self,
        events: &[TrackedEvent],
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_owned(
            events.iter().cloned().map(NewEvent::from).collect(),
            Claim::default(),
        )
        .await
    }

    /// Stores a batch with ONE `INSERT … SELECT FROM unnest(…) ON CONFLICT (event_id) DO NOTHING`,
    /// autocommit, which also links late children: one round trip when every parent named from
    /// outside the batch is stored (the statement checks them), two otherwise (see `insert_tx`).
    ///
    /// Chains: an event whose parent is stored, or is stored by this same statement, is linked
    /// (the foreign key is checked at the end of the statement, so order inside the batch does
    /// not matter). An event whose parent is missing is not inserted
    /// ([`StoreStatus::WaitingForParent`]) unless it is on its `last_receive`: then it is stored
    /// with `previous_event_id` NULL and the id in `unresolved_previous_event_id`
    /// ([`StoreStatus::InsertedUnlinked`]); its own children in the batch are linked to it. A
    /// missing parent never fails the statement. When a parent arrives, rows stored earlier
    /// without it are linked to it.
    ///
    /// Duplicate event ids inside the batch are stored once (the first one's content).
    pub async fn insert_batch(&self, items: &[NewEvent]) -> Result<InsertOutcome, StoreError> {
        self.insert_owned(items.to_vec(), Claim::default()).await
    }

    /// [`Store::insert_batch`] that also takes the publish lease of every row it inserts (not
    /// `on_bus`) for `lease`, in the same statement ([`InsertOutcome::is_claimed`]): a batch of
    /// new events costs one statement before `PutEvents` and [`Store::mark_published`] after.
    /// Rows that existed before are not claimed ([`Store::claim`] them). With `stale_after`, the
    /// same statement also checks whether the outbox has rows unpublished for that long with a
    /// free or expired lease ([`InsertOutcome::stale`]), so that the sweep runs only then.
    pub async fn insert_and_claim(
        &self,
        items: &[NewEvent],
        lease: Duration,
        stale_after: Option<Duration>,
    ) -> Result<InsertOutcome, StoreError> {
        let claim = Claim {
            lease: Some(lease.as_secs_f64()),
            stale_after: stale_after.map(|d| d.as_secs_f64()),
        };
        self.insert_owned(items.to_vec(), claim).await
    }

    async fn insert_owned(
        &self,
        items: Vec<NewEvent>,
        claim: Claim,
    ) -> Result<InsertOutcome, StoreError> {
        self.ensure_migrated().await?;
        let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(items.len());
        let mut unique: Vec<NewEvent> = Vec::with_capacity(items.len());
        for item in items {
            match seen.get(&item.event.event_id) {
                Some(&i) => {
                    unique[i].on_bus |= item.on_bus;
                    unique[i].last_receive |= item.last_receive;
                }
                None => {
                    seen.insert(item.event.event_id, unique.len());
                    unique.push(item);
                }
            }
        }
        if unique.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let unique = Arc::new(unique);
        self.run(move |c| insert_tx(c, &unique, claim).map_err(StoreError::from_pg))
            .await
    }

    /// Claims the unpublished rows among `event_ids` for `lease` (rows claimed by another live
    /// lease, or already published, are left out) and returns them as events. One autocommit
    /// `UPDATE … RETURNING`: two consumers never claim the same row at once.
    pub async fn claim(
        &self,
        event_ids: &[Uuid],
        lease: Duration,
    ) -> Result<Vec<TrackedEvent>, StoreError> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = event_ids.to_vec();
        let secs = lease.as_secs_f64();
        self.run(move |c| {
            let st = c
                .statement(CLAIM_SQL, &[Type::UUID_ARRAY, Type::FLOAT8])
                .map_err(StoreError::from_pg)?;
            let rows = c
                .client()
                .query(&st, &[&ids, &secs])
                .map_err(StoreError::from_pg)?;
            Ok(rows.iter().map(row_event).collect())
        })
        .await
    }

    /// The outbox sweep: claims up to `limit` unpublished rows created more than `min_age` ago
    /// whose lease is free or expired, oldest first, skipping rows locked by others
    /// (`FOR UPDATE SKIP LOCKED`) and `exclude`.
    pub async fn claim_stale(
        &self,
        limit: u32,
        min_age: Duration,
        lease: Duration,
        exclude: &[Uuid],
    ) -> Result<Vec<TrackedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.ensure_migrated().await?;
        let exclude = exclude.to_vec();
        let (limit, age, secs) = (i64::from(limit), min_age.as_secs_f64(), lease.as_secs_f64());
        self.run(move |c| {
            let st = c
                .statement(
                    CLAIM_STALE_SQL,
                    &[Type::INT8, Type::FLOAT8, Type::FLOAT8, Type::UUID_ARRAY],
                )
                .map_err(StoreError::from_pg)?;
            let rows = c
                .client()
                .query(&st, &[&limit, &age, &secs, &exclude])
                .map_err(StoreError::from_pg)?;
            Ok(rows.iter().map(row_event).collect())
        })
        .await
    }

    /// Marks rows as put on the bus and drops their lease.
    pub async fn mark_published(&self, event_ids: &[Uuid]) -> Result<u64, StoreError> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let ids = event_ids.to_vec();
        self.run(move |c| execute(c, MARK_PUBLISHED_SQL, &ids))
            .await
    }

    /// Counts the unpublished rows (not rejected) created more than `min_age` ago, stopping at
    /// `cap`: a read of the outbox's partial index, cheap enough for every invocation.
    pub async fn outbox_backlog(&self, min_age: Duration, cap: u64) -> Result<u64, StoreError> {
        let (age, cap) = (min_age.as_secs_f64(), cap.min(i64::MAX as u64) as i64);
        self.run(move |c| {
            let st = c
                .statement(OUTBOX_BACKLOG_SQL, &[Type::FLOAT8, Type::INT8])
                .map_err(StoreError::from_pg)?;
            let n: i64 = c
                .client()
                .query_one(&st, &[&age, &cap])
                .map_err(StoreError::from_pg)?
                .get(0);
            Ok(n.max(0) as u64)
        })
        .await
    }

    /// Drops the lease of rows whose put failed, so that the next attempt need not wait for it.
    pub async fn release(&self, event_ids: &[Uuid]) -> Result<u64, StoreError> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let ids = event_ids.to_vec();
        self.run(move |c| execute(c, RELEASE_SQL, &ids)).await
    }
}

impl Store {
    /// Links rows stored without their parent to that parent when it is stored now (see
    /// [`LINK_ORPHANS_SQL`]); returns how many were linked. The sweep runs it; it reads only
    /// the small partial index of unlinked rows.
    pub async fn link_orphans(&self) -> Result<u64, StoreError> {
        self.run(|c| {
            let st = c
                .statement(LINK_ORPHANS_SQL, &[])
                .map_err(StoreError::from_pg)?;
            c.client().execute(&st, &[]).map_err(StoreError::from_pg)
        })
        .await
    }

    /// Records that the bus refused these events for good (`code: message` each): the rows stay
    /// unpublished with `publish_failed_at`, `publish_error` and `publish_attempts` set, and the
    /// outbox sweep skips them (`kx replay --failed` puts them on the bus once the cause is
    /// fixed).
    pub async fn mark_rejected(&self, rejected: &[(Uuid, String)]) -> Result<u64, StoreError> {
        if rejected.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = rejected.iter().map(|(id, _)| *id).collect();
        let errors: Vec<String> = rejected.iter().map(|(_, e)| e.clone()).collect();
        self.run(move |c| {
            let st = c
                .statement(REJECT_SQL, &[Type::UUID_ARRAY, Type::TEXT_ARRAY])
                .map_err(StoreError::from_pg)?;
            c.client()
                .execute(&st, &[&ids, &errors])
                .map_err(StoreError::from_pg)
        })
        .await
    }
}

/// Runs a prepared statement whose only parameter is an array of event ids.
fn execute(c: &mut Conn, sql: &'static str, ids: &Vec<Uuid>) -> Result<u64, StoreError> {
    let st = c
        .statement(sql, &[Type::UUID_ARRAY])
        .map_err(StoreError::from_pg)?;
    c.client().execute(&st, &[ids]).map_err(StoreError::from_pg)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Rebuilds the event from a row, as the bus entry's `Detail` shows it: an unresolved parent is
/// still the event's `previousEventId`.
/// The columns of `events` that [`row_event`] reads, for a `SELECT` list.
pub const EVENT_COLUMNS: &str = event_columns!();

/// The event a row of `events` holds (selected with [`EVENT_COLUMNS`]), as the consumer puts it
/// on the bus: a child stored without its parent names the parent it came with.
pub fn row_event(r: &postgres::Row) -> TrackedEvent {
    let previous: Option<Uuid> = r.get("previous_event_id");
    let unresolved: Option<Uuid> = r.get("unresolved_previous_event_id");
    let object = |v: Option<Value>| match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    TrackedEvent {
        event_id: r.get("event_id"),
        client_id: r.get("client_id"),
        previous_event_id: previous.or(unresolved),
        user_id: r.get("user_id"),
        entity_id: r.get("entity_id"),
        entity_type: r
            .get::<_, Option<String>>("entity_type")
            .unwrap_or_default(),
        event_type: r.get("event_type"),
        source: r.get("source"),
        campaign_id: r.get("campaign_id"),
        points_awarded: r.get("points_awarded"),
        session_id: r.get("session_id"),
        occurred_at: r.get("occurred_at"),
        metadata: object(r.get("metadata")),
        extra: object(r.get("extra_fields")).unwrap_or_default(),
    }
}

/// Which of `items` to insert given the ids already `known` to be stored: `(accepted, undecided)`,
/// `accepted` as (index, unresolved parent — `None` = linked), `undecided` waiting for a parent.
///
/// An event is accepted linked when it names no parent, or a known one, or one accepted before
/// it (any order in the batch); when no more links are possible, last-receive events are accepted
/// unlinked and their children may link in turn.
fn decide(
    items: &[NewEvent],
    candidates: Vec<usize>,
    mut known: HashSet<Uuid>,
) -> (Vec<(usize, Option<Uuid>)>, Vec<usize>) {
    let mut accepted: Vec<(usize, Option<Uuid>)> = Vec::new();
    let mut undecided = candidates;
    loop {
        let before = undecided.len();
        undecided.retain(|&i| match items[i].event.previous_event_id {
            // A self-reference can never be a link: stored at once with the id kept unresolved.
            Some(p) if p == items[i].event.event_id => {
                accepted.push((i, Some(p)));
                known.insert(p);
                false
            }
            Some(p) if !known.contains(&p) => true,
            _ => {
                accepted.push((i, None));
                known.insert(items[i].event.event_id);
                false
            }
        });
        if undecided.len() < before {
            continue;
        }
        // No more links possible: store the last-receive ones unlinked; their children may link.
        undecided.retain(|&i| {
            if items[i].last_receive {
                accepted.push((i, items[i].event.previous_event_id));
                known.insert(items[i].event.event_id);
                false
            } else {
                true
            }
        });
        if undecided.len() == before {
            break;
        }
    }
    (accepted, undecided)
}

/// The batch statement: inserts the accepted rows, links children stored earlier without one of
/// the inserted rows as parent (the foreign key is checked at the end of the whole statement, so
/// a child may point at a row inserted by the same statement), and reads the published state of
/// the rows that existed before it (the statement's snapshot; not looked up at all when every
/// row was new). One round trip, autocommit. Per new event it costs the bare insert's index
/// probes plus one per parent named from outside the batch (and, only while some row waits
/// unlinked, one of the small partial index of unlinked rows).
///
/// `$17` lists parents outside the batch that the caller assumed stored: the statement inserts
/// nothing unless every one of them exists, and then returns which do (so that the caller can
/// decide again without another lookup).
///
/// `$18` (seconds, or NULL): the rows it inserts (not `on_bus`) take the publish lease for the
/// caller, so that no claim statement follows. `$19` (seconds, or NULL): the cheap check of the
/// sweep, whether the outbox has rows unpublished that long with a free lease (an index range of
/// the small partial outbox index).
///
/// Rows: `(event_id, kind, flag, linked, stale)` with kind 0 = inserted now (flag: inserted with
/// the lease of `$18`), 1 = batch event that existed before (flag: needs nothing from the bus;
/// linked: 1 when the stored copy differs from this one), 3 = outside parent that exists (only
/// when one is missing; flag unused), 2 = one row: flag = whether the insert ran (all of `$17`
/// exist), linked = number of linked children, stale = the answer of `$19`'s check.
const INSERT_SQL: &str = "WITH t AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[],
                 $12::timestamptz[], $13::jsonb[], $14::jsonb[], $15::uuid[], $16::bool[])
           AS t(event_id, client_id, previous_event_id, user_id, entity_id, entity_type,
                event_type, source, campaign_id, points_awarded, session_id, occurred_at,
                metadata, extra_fields, unresolved_previous_event_id, on_bus)),
     go AS (
         SELECT count(*) = cardinality($17::uuid[]) AS ok
         FROM events WHERE event_id = ANY($17::uuid[])),
     ins AS (
         INSERT INTO events (event_id, client_id, previous_event_id, user_id, entity_id,
             entity_type, event_type, source, campaign_id, points_awarded, session_id,
             occurred_at, metadata, extra_fields, unresolved_previous_event_id, published_at,
             publish_lease)
         SELECT t.event_id, t.client_id, t.previous_event_id, t.user_id, t.entity_id,
             t.entity_type, t.event_type, t.source, t.campaign_id, t.points_awarded,
             t.session_id, t.occurred_at, t.metadata, t.extra_fields,
             t.unresolved_previous_event_id, CASE WHEN t.on_bus THEN now() END,
             CASE WHEN NOT t.on_bus THEN now() + make_interval(secs => $18::float8) END
         FROM t
         WHERE (SELECT ok FROM go)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id, publish_lease IS NOT NULL AS leased),
     link AS (
         UPDATE events
         SET previous_event_id = unresolved_previous_event_id,
             unresolved_previous_event_id = NULL
         WHERE unresolved_previous_event_id IN (SELECT event_id FROM ins)
           AND EXISTS (SELECT 1 FROM events WHERE unresolved_previous_event_id IS NOT NULL)
           -- Never close a cycle: the child must not be an ancestor of its late parent (the
           -- parent's ancestors are new rows of this statement or stored ones).
           AND NOT EXISTS (
             WITH RECURSIVE up(id, depth) AS (
               SELECT n.previous_event_id, 1 FROM t n
               WHERE n.event_id = events.unresolved_previous_event_id
               UNION ALL
               SELECT coalesce((SELECT a.previous_event_id FROM events a WHERE a.event_id = up.id),
                               (SELECT b.previous_event_id FROM t b WHERE b.event_id = up.id)),
                      up.depth + 1
               FROM up WHERE up.id IS NOT NULL AND up.depth < 1000)
             SELECT 1 FROM up WHERE up.id = events.event_id)
         RETURNING 1)
     SELECT event_id, 0 AS kind, leased AS flag, 0::int8 AS linked, NULL::bool AS stale FROM ins
     UNION ALL
     SELECT e.event_id, 1, e.published_at IS NOT NULL OR e.publish_failed_at IS NOT NULL,
            CASE WHEN (e.client_id, coalesce(e.previous_event_id, e.unresolved_previous_event_id),
                       e.user_id, e.entity_id, e.entity_type, e.event_type, e.source,
                       e.campaign_id, e.points_awarded, e.session_id, e.occurred_at, e.metadata)
                  IS DISTINCT FROM
                      (t.client_id, coalesce(t.previous_event_id, t.unresolved_previous_event_id),
                       t.user_id, t.entity_id, t.entity_type, t.event_type, t.source,
                       t.campaign_id, t.points_awarded, t.session_id, t.occurred_at, t.metadata)
                 THEN 1 ELSE 0 END::int8,
            NULL
     FROM events e JOIN t USING (event_id)
     WHERE e.event_id = ANY($1::uuid[])
       AND (SELECT count(*) FROM ins) < cardinality($1::uuid[])
     UNION ALL
     SELECT event_id, 3, false, 0, NULL FROM events
     WHERE event_id = ANY($17::uuid[]) AND NOT (SELECT ok FROM go)
     UNION ALL
     SELECT NULL, 2, (SELECT ok FROM go), count(*),
            CASE WHEN $19::float8 IS NOT NULL THEN EXISTS (
              SELECT 1 FROM events
              WHERE published_at IS NULL AND publish_failed_at IS NULL
                AND created_at <= now() - make_interval(secs => $19::float8)
                AND (publish_lease IS NULL OR publish_lease < now())) END
     FROM link";

const INSERT_TYPES: [Type; 19] = [
    Type::UUID_ARRAY,
    Type::TEXT_ARRAY,
    Type::UUID_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::JSONB_ARRAY,
    Type::JSONB_ARRAY,
    Type::UUID_ARRAY,
    Type::BOOL_ARRAY,
    Type::UUID_ARRAY,
    Type::FLOAT8,
    Type::FLOAT8,
];

/// What one run of [`INSERT_SQL`] reported.
#[derive(Default)]
struct Ran {
    /// Every parent of `$17` exists, so the insert ran.
    ok: bool,
    inserted: HashSet<Uuid>,
    /// Rows that existed before the statement, with their published state.
    existing: HashMap<Uuid, bool>,
    /// Rows that existed with a different content than this batch's copy.
    differs: HashSet<Uuid>,
    linked: u64,
    /// Rows inserted with the caller's lease.
    claimed: HashSet<Uuid>,
    /// The stale check's answer (`None` when not asked).
    stale: Option<bool>,
}

/// What [`INSERT_SQL`] does beyond the insert: `lease` (seconds) takes the publish lease of the
/// rows it inserts; `stale_after` (seconds) checks the outbox for stale rows. `None`: neither.
#[derive(Debug, Clone, Copy, Default)]
struct Claim {
    lease: Option<f64>,
    stale_after: Option<f64>,
}

/// Stores the batch in as few round trips as possible, all autocommit (no explicit transaction):
///
/// - Optimistically, in ONE statement ([`INSERT_SQL`]): every event is decided as if each parent
///   named from outside the batch were stored (children of parents in the batch are linked
///   whatever their order); the statement checks those parents itself and inserts only if all
///   exist, then links late children and reports which rows existed already (and whether
///   published). This is every batch whose parents arrived first, the common case.
/// - When a parent outside the batch is missing (the statement then wrote nothing and said which
///   rows exist), or the batch has a cycle of parents, the events are decided on what is stored:
///   waiting for their parent, or stored unlinked on their last receive; a second statement
///   inserts those that can be. No statement takes a lock beforehand: the insert's own
///   foreign-key check locks the parents it needs (`FOR KEY SHARE`). If a parent disappeared in
///   between, the insert fails with a foreign-key violation and nothing is written: the handler
///   reports every record of the batch as a batch item failure and SQS retries them (rows of
///   `events` are never deleted by the consumer, so this race needs an outside delete).
/// - Only when an `on_bus` copy finds its row already stored, a last `UPDATE` marks it published
///   (idempotent: a failure there leaves the rows for the redelivery, which finds them and
///   updates them then).
///
/// Statements are prepared once per pooled connection (see `pool`).
fn insert_tx(
    c: &mut Conn,
    items: &[NewEvent],
    claim: Claim,
) -> Result<InsertOutcome, postgres::Error> {
    let mut out = InsertOutcome::default();
    let batch_ids: HashSet<Uuid> = items.iter().map(|i| i.event.event_id).collect();
    let mut outside: Vec<Uuid> = items
        .iter()
        .filter_map(|i| i.event.previous_event_id)
        .filter(|p| !batch_ids.contains(p))
        .collect();
    outside.sort_unstable();
    outside.dedup();
    let all: Vec<usize> = (0..items.len()).collect();
    let (optimistic, optimistic_undecided) = decide(items, all, outside.iter().copied().collect());
    let mut existing: Option<HashMap<Uuid, bool>> = None;
    if optimistic_undecided.is_empty() && optimistic.iter().all(|&(_, m)| m.is_none()) {
        let ran = run_insert(c, items, &optimistic, &outside, claim)?;
        if ran.ok {
            return finish(c, items, out, &optimistic, ran);
        }
        out.stale = ran.stale;
        existing = Some(ran.existing);
    }
    // Decide on what is stored.
    let existing = match existing {
        Some(e) => e,
        None => {
            let mut lookup: Vec<Uuid> = batch_ids.iter().copied().collect();
            lookup.extend(outside.iter().copied());
            let st = c.statement(LOOKUP_SQL, &[Type::UUID_ARRAY])?;
            c.client()
                .query(&st, &[&lookup])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        }
    };
    let mut candidates = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if existing.contains_key(&item.event.event_id) {
            out.statuses
                .insert(item.event.event_id, StoreStatus::AlreadyStored);
        } else {
            candidates.push(i);
        }
    }
    let (accepted, undecided) = decide(items, candidates, existing.keys().copied().collect());
    for &i in &undecided {
        let e = &items[i].event;
        out.statuses.insert(
            e.event_id,
            StoreStatus::WaitingForParent {
                missing_parent: e.previous_event_id.unwrap_or_default(),
            },
        );
    }
    let mut ran = if accepted.is_empty() {
        Ran {
            stale: out.stale,
            ..Ran::default()
        }
    } else {
        run_insert(c, items, &accepted, &[], claim)?
    };
    for (id, published) in existing {
        ran.existing.entry(id).or_insert(published);
    }
    finish(c, items, out, &accepted, ran)
}

/// For the `accepted` events stored unlinked whose missing parent is accepted too (both on their
/// last receive), the parent to link them to at once: only where the link closes no cycle (a
/// self-reference, or A and B naming each other, keeps its id unresolved).
fn in_batch_links(items: &[NewEvent], accepted: &[(usize, Option<Uuid>)]) -> HashMap<Uuid, Uuid> {
    let parent_of: HashMap<Uuid, Option<Uuid>> = accepted
        .iter()
        .map(|&(i, missing)| {
            let e = &items[i].event;
            (
                e.event_id,
                if missing.is_some() {
                    None
                } else {
                    e.previous_event_id
                },
            )
        })
        .collect();
    let mut links: HashMap<Uuid, Uuid> = HashMap::new();
    // In event-id order, so that every caller decides the same links.
    let mut order = accepted.to_vec();
    order.sort_unstable_by_key(|&(i, _)| items[i].event.event_id);
    for (i, missing) in order {
        let id = items[i].event.event_id;
        let Some(p) = missing.filter(|p| parent_of.contains_key(p) && *p != id) else {
            continue;
        };
        // Walk up from the parent through this batch's links; reaching `id` is a cycle.
        let mut current = Some(p);
        let mut steps = 0;
        let mut cycle = false;
        while let Some(c) = current {
            if c == id {
                cycle = true;
                break;
            }
            steps += 1;
            if steps > accepted.len() {
                break;
            }
            current = links
                .get(&c)
                .copied()
                .or_else(|| parent_of.get(&c).copied().flatten());
        }
        if !cycle {
            links.insert(id, p);
        }
    }
    links
}

/// Runs [`INSERT_SQL`] for the `accepted` events (as (index, unresolved parent)), checking that
/// the parents in `check` exist.
fn run_insert(
    c: &mut Conn,
    items: &[NewEvent],
    accepted: &[(usize, Option<Uuid>)],
    check: &[Uuid],
    claim: Claim,
) -> Result<Ran, postgres::Error> {
    // A consistent row order keeps concurrent inserts of overlapping batches from deadlocking.
    let mut accepted = accepted.to_vec();
    accepted.sort_unstable_by_key(|&(i, _)| items[i].event.event_id);
    let links = in_batch_links(items, &accepted);
    let n = accepted.len();
    let mut event_id = Vec::with_capacity(n);
    let mut client_id = Vec::with_capacity(n);
    let mut previous = Vec::with_capacity(n);
    let mut user_id = Vec::with_capacity(n);
    let mut entity_id = Vec::with_capacity(n);
    let mut entity_type = Vec::with_capacity(n);
    let mut event_type = Vec::with_capacity(n);
    let mut source = Vec::with_capacity(n);
    let mut campaign_id = Vec::with_capacity(n);
    let mut points = Vec::with_capacity(n);
    let mut session_id = Vec::with_capacity(n);
    let mut occurred_at = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut extra = Vec::with_capacity(n);
    let mut unresolved = Vec::with_capacity(n);
    let mut on_bus = Vec::with_capacity(n);
    for &(i, missing) in &accepted {
        let e = &items[i].event;
        event_id.push(e.event_id);
        client_id.push(e.client_id.as_str());
        // An event stored unlinked whose parent is stored by this same statement (both on their
        // last receive in one batch) is linked to it at once (see `finish`).
        let in_batch = missing.and_then(|_| links.get(&e.event_id).copied());
        previous.push(match missing {
            Some(_) => in_batch,
            None => e.previous_event_id,
        });
        user_id.push(e.user_id.as_deref());
        entity_id.push(e.entity_id.as_deref());
        entity_type.push(e.entity_type.as_str());
        event_type.push(e.event_type.as_str());
        source.push(e.source.as_deref());
        campaign_id.push(e.campaign_id.as_deref());
        points.push(e.points_awarded);
        session_id.push(e.session_id.as_deref());
        occurred_at.push(e.occurred_at);
        // Serialised straight from the event (no copy of the maps).
        metadata.push(e.metadata.as_ref().map(Json));
        extra.push((!e.extra.is_empty()).then_some(Json(&e.extra)));
        unresolved.push(if in_batch.is_some() { None } else { missing });
        on_bus.push(items[i].on_bus);
    }
    let check = check.to_vec();
    let st = c.statement(INSERT_SQL, &INSERT_TYPES)?;
    let rows = c.client().query(
        &st,
        &[
            &event_id,
            &client_id,
            &previous,
            &user_id,
            &entity_id,
            &entity_type,
            &event_type,
            &source,
            &campaign_id,
            &points,
            &session_id,
            &occurred_at,
            &metadata,
            &extra,
            &unresolved,
            &on_bus,
            &check,
            &claim.lease,
            &claim.stale_after,
        ],
    )?;
    let mut ran = Ran::default();
    for r in &rows {
        match r.get::<_, i32>(1) {
            0 => {
                ran.inserted.insert(r.get(0));
                if r.get::<_, bool>(2) {
                    ran.claimed.insert(r.get(0));
                }
            }
            1 => {
                ran.existing.insert(r.get(0), r.get(2));
                if r.get::<_, i64>(3) == 1 {
                    ran.differs.insert(r.get(0));
                }
            }
            3 => {
                ran.existing.insert(r.get(0), r.get(2));
            }
            _ => {
                ran.ok = r.get(2);
                ran.linked = r.get::<_, i64>(3).max(0) as u64;
                ran.stale = r.get(4);
            }
        }
    }
    Ok(ran)
}

/// The statuses of the `accepted` events after [`INSERT_SQL`] ran, and the `on_bus` marking.
fn finish(
    c: &mut Conn,
    items: &[NewEvent],
    mut out: InsertOutcome,
    accepted: &[(usize, Option<Uuid>)],
    ran: Ran,
) -> Result<InsertOutcome, postgres::Error> {
    let Ran {
        inserted,
        existing,
        linked,
        differs,
        claimed,
        stale,
        ..
    } = ran;
    out.differs = differs;
    out.claimed = claimed;
    out.stale = stale;
    // A child stored unlinked whose parent was inserted by the same statement was linked to it
    // at once: it keeps its `InsertedUnlinked` status and counts as a linked child, as if stored
    // unlinked and linked by the late-parent update (which only sees rows that existed before
    // the statement). If that parent is inserted concurrently by another consumer in between,
    // the child is linked all the same (the foreign key holds).
    let links = in_batch_links(items, accepted);
    out.linked_children = linked
        + links
            .iter()
            .filter(|(child, parent)| inserted.contains(child) && inserted.contains(parent))
            .count() as u64;
    for &(i, missing) in accepted {
        let id = items[i].event.event_id;
        let status = match (inserted.contains(&id), missing) {
            // Stored before (the statement's snapshot saw it), or inserted concurrently by
            // another consumer after that snapshot.
            (false, _) => StoreStatus::AlreadyStored,
            (true, None) => StoreStatus::Inserted,
            (true, Some(p)) => StoreStatus::InsertedUnlinked { missing_parent: p },
        };
        out.statuses.insert(id, status);
    }

    // The producer already put these on the bus: a row stored earlier by a copy without the
    // attribute must not be put again.
    let on_bus_stored: Vec<Uuid> = items
        .iter()
        .filter(|i| i.on_bus && !inserted.contains(&i.event.event_id))
        .filter(|i| out.statuses[&i.event.event_id].is_stored())
        .map(|i| i.event.event_id)
        .collect();
    if !on_bus_stored.is_empty() {
        let st = c.statement(MARK_PUBLISHED_SQL, &[Type::UUID_ARRAY])?;
        c.client().execute(&st, &[&on_bus_stored])?;
    }
    for item in items {
        let id = item.event.event_id;
        if existing.get(&id).copied().unwrap_or(false)
            || (item.on_bus && out.statuses[&id].is_stored())
        {
            out.published.insert(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statement_errors() {
        let statement = |code: &str| StoreError::Statement {
            code: code.into(),
            message: String::new(),
        };
        for code in ["40001", "40P01", "53300", "57014", "08006", "23503"] {
            assert!(statement(code).is_retryable(), "{code}");
        }
        for code in ["23505", "22P02", "42601", "23502"] {
            assert!(!statement(code).is_retryable(), "{code}");
        }
    }

    fn item(id: Uuid, previous: Option<Uuid>, last_receive: bool) -> NewEvent {
        let mut e = TrackedEvent::new("client_123", "order", "order_created");
        e.event_id = id;
        e.previous_event_id = previous;
        NewEvent {
            event: e,
            on_bus: false,
            last_receive,
        }
    }

    fn sorted(mut v: Vec<(usize, Option<Uuid>)>) -> Vec<(usize, Option<Uuid>)> {
        v.sort_unstable();
        v
    }

    #[test]
    fn in_batch_chains_are_decided_without_a_lookup_in_any_order() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(c, Some(b), false),
            item(b, Some(a), false),
            item(a, None, false),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        assert!(undecided.is_empty());
        assert_eq!(sorted(accepted), vec![(0, None), (1, None), (2, None)]);
    }

    #[test]
    fn a_cycle_waits_like_a_missing_parent_and_a_self_reference_is_stored_unlinked() {
        let (a, b, s) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(a, Some(b), false),
            item(b, Some(a), false),
            item(s, Some(s), false),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        // Waiting can never make a self-reference a link: it is stored unlinked at once.
        assert_eq!(accepted, vec![(2, Some(s))]);
        assert_eq!(undecided, vec![0, 1]);
        // On their last receive the cycle is stored with one link at most.
        let items = [
            item(a, Some(b), true),
            item(b, Some(a), true),
            item(s, Some(s), true),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        assert!(undecided.is_empty());
        let links = in_batch_links(&items, &accepted);
        assert_eq!(links.len(), 1, "{links:?}");
        assert!(!links.contains_key(&s));
    }

    #[test]
    fn last_receive_events_of_one_round_are_accepted_unlinked_together() {
        // `child` names `parent`, which names a missing event: both on their last receive are
        // accepted unlinked in the same round (insert_tx then links child to parent at once).
        let (missing, parent, child) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(child, Some(parent), true),
            item(parent, Some(missing), true),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1], HashSet::new());
        assert!(undecided.is_empty());
        assert_eq!(
            sorted(accepted),
            vec![(0, Some(parent)), (1, Some(missing))]
        );
        // With the parent known (stored), the child is linked and only the parent waits.
        let items = [
            item(child, Some(parent), false),
            item(parent, Some(missing), false),
        ];
        let (accepted, undecided) = decide(&items, vec![0], [parent].into_iter().collect());
        assert_eq!((accepted, undecided), (vec![(0, None)], vec![]));
    }
}
