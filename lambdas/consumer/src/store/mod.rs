//! PostgreSQL: the `events` table and its outbox columns.
//!
//! The synchronous `postgres` client runs only inside `tokio::task::spawn_blocking`, through an
//! `r2d2` pool built once per cold start (see [`pool`]: statements prepared once per connection,
//! no health check on a connection used in the last seconds). Every public method runs autocommit
//! statements (the migrations one transaction); none stays open across a network call to another
//! service.
//!
//! The modules, by role:
//! - [`error`]: [`StoreError`] and how a `postgres` failure is classified (retryable or not, by
//!   SQLSTATE class);
//! - [`pool`]: the connection pool, the deadline of every call, and the runner that re-reads a
//!   rotated secret once on an authentication failure;
//! - [`insert`] (with `insert.sql`) and [`plan`]: the batch insert that stores and links chains;
//! - [`outbox`]: the publish lease (claim, sweep, mark published, release, reject).
//!
//! This module holds the [`Store`] itself, its schema calls (migrations, roles, ping), and the
//! types the insert reports with.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kx_events::TrackedEvent;
use postgres::error::SqlState;
use serde_json::Value;
use uuid::Uuid;

use crate::config::Config;
use crate::config::DbSettings;
use crate::migrate::{self, MigrationError, MigrationReport, SchemaStatus};

/// The columns [`row_event`] reads (a macro, so that statements can be `concat!` constants).
macro_rules! event_columns {
    () => {
        "event_id, client_id, previous_event_id, user_id, entity_id, entity_type, event_type, \
         source, campaign_id, points_awarded, session_id, occurred_at, metadata, extra_fields, \
         unresolved_previous_event_id"
    };
}

mod error;
mod insert;
mod outbox;
mod plan;
pub(crate) mod pool;

pub use error::{DbCause, StoreError};
pub use pool::with_deadline;

use error::LastConnectError;
use pool::{build_pool, PoolCell, SecretRefresh};

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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
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
