//! Embedded schema migrations: checked read-only at every cold start, applied by the owner.
//!
//! - [`status`] reads `kx_schema_migrations` only (a `SELECT`): a consumer whose role has DML
//!   rights and nothing more starts on an up-to-date database without any DDL.
//! - [`apply`] applies what is missing under a session advisory lock (concurrent runs wait for
//!   each other), each migration's transactional part in one transaction with `lock_timeout`
//!   set, so that a migration queued behind a long read gives up after a few seconds instead of
//!   blocking every insert behind it. A part after a `-- kx:outside-transaction` line runs
//!   statement by statement (for `CREATE INDEX CONCURRENTLY`); those statements are idempotent
//!   and an invalid index left by an interrupted build is dropped and built again.
//! - A database that already has the old system's `events` table (and no record of version 1)
//!   is adopted: version 1 is applied in its adoption form (`migrations/adopt/`), which adds the
//!   outbox columns so that the old rows are never put on the bus.
//! - A version recorded in the database that this build does not know (a rollback to an older
//!   build) is a warning, not an error; an applied migration whose file changed is an error.

use sha2::{Digest, Sha256};
use std::time::Duration;

/// One embedded SQL migration (a file of `migrations/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Ordered version, the file's numeric prefix (`0001`).
    pub version: &'static str,
    /// The file name.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
    /// The SQL applied instead when the database already has the old system's `events` table
    /// (only version 1 has one).
    pub adopt: Option<&'static str>,
}

impl Migration {
    /// SHA-256 of the SQL, hex; recorded when applied and compared at every cold start.
    pub fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The migrations of this build, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "0001",
        name: "0001_events.sql",
        sql: include_str!("../../../migrations/0001_events.sql"),
        adopt: Some(include_str!("../../../migrations/adopt/0001_events.sql")),
    },
    Migration {
        version: "0002",
        name: "0002_outbox_state.sql",
        sql: include_str!("../../../migrations/0002_outbox_state.sql"),
        adopt: None,
    },
    Migration {
        version: "0003",
        name: "0003_outbox_index.sql",
        sql: include_str!("../../../migrations/0003_outbox_index.sql"),
        adopt: None,
    },
    Migration {
        version: "0004",
        name: "0004_query_indexes.sql",
        sql: include_str!("../../../migrations/0004_query_indexes.sql"),
        adopt: None,
    },
    Migration {
        version: "0005",
        name: "0005_replay_checkpoints.sql",
        sql: include_str!("../../../migrations/0005_replay_checkpoints.sql"),
        adopt: None,
    },
];

/// Table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "kx_schema_migrations";

/// Key of the session advisory lock that serialises concurrent migration runs
/// (`pg_advisory_lock`); an arbitrary constant ("kxevents" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x6b78_6576_656e_7473;

/// Default `lock_timeout` of a migration's statements.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for another process's migration run to finish.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The line that starts the part of a migration run outside a transaction.
const OUTSIDE_TRANSACTION: &str = "-- kx:outside-transaction";

/// What [`crate::Store::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now.
    pub applied: Vec<String>,
    /// Versions found already applied (checksums matched).
    pub already_applied: Vec<String>,
    /// Whether version 1 was applied now in its adoption form (an existing `events` table).
    pub adopted: bool,
    /// Versions recorded in the database that this build does not know (a newer build ran
    /// before this one): logged as a warning.
    pub unknown: Vec<String>,
}

/// What [`status`] found, without changing anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions recorded with the checksum of this build.
    pub applied: Vec<String>,
    /// File names of this build's migrations that are not recorded, in order.
    pub pending: Vec<String>,
    /// Versions recorded that this build does not know.
    pub unknown: Vec<String>,
    /// Whether a table `events` exists.
    pub events_table: bool,
}

impl SchemaStatus {
    /// Whether every migration of this build is applied.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Why the schema cannot be used, beyond the database being unreachable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// An applied migration's file changed since (never edit a released migration).
    #[error("migration {version} was applied with checksum {recorded} but this build has {embedded}; add a new migration instead of editing an applied one")]
    Checksum {
        /// The version.
        version: String,
        /// Checksum in the database.
        recorded: String,
        /// Checksum of the embedded file.
        embedded: String,
    },
    /// The schema is behind this build and this process may not migrate (`KX_MIGRATE=off`).
    #[error("the database schema is behind this consumer: {} not applied (KX_MIGRATE=off: this process never runs DDL); run `bootstrap migrate` with the database owner's credentials (Terraform: the migrate function)", .pending.join(", "))]
    Behind {
        /// File names of the missing migrations.
        pending: Vec<String>,
    },
    /// Another process has been migrating for longer than the wait (retryable: the next
    /// check finds its work done).
    #[error("another process has held the migration lock for over {0:?}; try again later")]
    Busy(Duration),
    /// The schema is behind this build and the role may not change it.
    #[error("the database schema is behind this consumer: {} not applied, and role {role} may not apply it ({cause}); run `bootstrap migrate` with the database owner's credentials (Terraform: the migrate function)", .pending.join(", "))]
    NotPermitted {
        /// File names of the missing migrations.
        pending: Vec<String>,
        /// The role that tried.
        role: String,
        /// The server's message.
        cause: String,
    },
}

/// Reads the recorded migrations (one `SELECT`, no DDL, no lock).
pub fn status(client: &mut postgres::Client) -> Result<SchemaStatus, postgres::Error> {
    let row = client.query_one(
        &format!(
            "SELECT to_regclass('{MIGRATIONS_TABLE}') IS NOT NULL, to_regclass('events') IS NOT NULL"
        ),
        &[],
    )?;
    let (has_table, events_table): (bool, bool) = (row.get(0), row.get(1));
    let recorded: Vec<(String, String)> = if has_table {
        client
            .query(
                &format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"),
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    } else {
        Vec::new()
    };
    Ok(compare(&recorded, events_table))
}

fn compare(recorded: &[(String, String)], events_table: bool) -> SchemaStatus {
    let mut s = SchemaStatus {
        events_table,
        ..SchemaStatus::default()
    };
    for (version, _) in recorded {
        if !MIGRATIONS.iter().any(|m| m.version == version) {
            s.unknown.push(version.clone());
        }
    }
    for m in MIGRATIONS {
        match recorded.iter().find(|(v, _)| v == m.version) {
            Some(_) => s.applied.push(m.version.into()),
            None => s.pending.push(m.name.into()),
        }
    }
    s
}

/// The first recorded migration whose checksum differs from this build's.
fn checksum_mismatch(recorded: &[(String, String)]) -> Option<MigrationError> {
    MIGRATIONS.iter().find_map(|m| {
        let embedded = m.checksum();
        recorded
            .iter()
            .find(|(v, sum)| v == m.version && *sum != embedded)
            .map(|(_, sum)| MigrationError::Checksum {
                version: m.version.into(),
                recorded: sum.clone(),
                embedded,
            })
    })
}

fn recorded(client: &mut postgres::Client) -> Result<Vec<(String, String)>, postgres::Error> {
    Ok(client
        .query(
            &format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"),
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Checks checksums read-only: `Ok(status)` when the recorded migrations are this build's.
pub fn check(
    client: &mut postgres::Client,
) -> Result<Result<SchemaStatus, MigrationError>, postgres::Error> {
    let s = status(client)?;
    if s.applied.is_empty() {
        return Ok(Ok(s));
    }
    let rec = recorded(client)?;
    Ok(match checksum_mismatch(&rec) {
        Some(e) => Err(e),
        None => Ok(s),
    })
}

/// The statements of one migration: the transactional part, then the statements to run one by
/// one outside a transaction.
fn split(sql: &str) -> (&str, Vec<String>) {
    match sql.find(OUTSIDE_TRANSACTION) {
        None => (sql, Vec::new()),
        Some(at) => {
            let (inside, outside) = sql.split_at(at);
            let outside = &outside[OUTSIDE_TRANSACTION.len()..];
            let mut statements = Vec::new();
            let mut current = String::new();
            for line in outside.lines() {
                let code = line.trim();
                if code.starts_with("--") || code.is_empty() {
                    continue;
                }
                current.push_str(line);
                current.push('\n');
                if code.ends_with(';') {
                    statements.push(std::mem::take(&mut current));
                }
            }
            if !current.trim().is_empty() {
                statements.push(current);
            }
            (inside, statements)
        }
    }
}

/// The index a `CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>` statement builds.
fn concurrent_index_name(statement: &str) -> Option<&str> {
    let rest = statement
        .trim_start()
        .strip_prefix("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")?;
    rest.split_whitespace().next()
}

/// Releases the session advisory lock (a no-op when not held) and resets the session settings when dropped.
struct Session<'a>(&'a mut postgres::Client);

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.0.batch_execute(&format!(
            "RESET lock_timeout; RESET statement_timeout; SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"
        ));
    }
}

/// Applies the missing migrations on `client` (see the module docs). Returns the outer error
/// for database failures (a `lock_timeout` is SQLSTATE 55P03, retryable).
pub fn apply(
    client: &mut postgres::Client,
    lock_timeout: Duration,
) -> Result<Result<MigrationReport, MigrationError>, postgres::Error> {
    // Nothing to do: no lock, no DDL.
    let before = match check(client)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    if before.is_current() {
        return Ok(Ok(MigrationReport {
            already_applied: before.applied,
            unknown: before.unknown,
            ..MigrationReport::default()
        }));
    }
    let lock_ms = lock_timeout.as_millis().max(1);
    // Migrations may build indexes for longer than the pool's statement timeout.
    let session = Session(client);
    let client = &mut *session.0;
    client.batch_execute("SET statement_timeout = 0")?;
    // Waiting with pg_try_advisory_lock between short statements rather than pg_advisory_lock:
    // a session blocked inside a statement holds a snapshot, and CREATE INDEX CONCURRENTLY in
    // the session that holds the lock would wait for it (a deadlock).
    let started = std::time::Instant::now();
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])?
            .get(0);
        if got {
            break;
        }
        if started.elapsed() >= LOCK_WAIT {
            return Ok(Err(MigrationError::Busy(LOCK_WAIT)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    client.batch_execute(&format!(
        "SET lock_timeout = {lock_ms};
         CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
           version    TEXT PRIMARY KEY,
           name       TEXT NOT NULL,
           checksum   TEXT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )"
    ))?;
    // Another run may have applied some while this one waited for the lock.
    let rec = recorded(client)?;
    if let Some(e) = checksum_mismatch(&rec) {
        return Ok(Err(e));
    }
    let events_table: bool = client
        .query_one("SELECT to_regclass('events') IS NOT NULL", &[])?
        .get(0);
    let now = compare(&rec, events_table);
    let mut report = MigrationReport {
        already_applied: now.applied,
        unknown: now.unknown,
        ..MigrationReport::default()
    };
    for m in MIGRATIONS {
        if rec.iter().any(|(v, _)| v == m.version) {
            continue;
        }
        let adopting = m.adopt.is_some() && events_table;
        let sql = if adopting {
            m.adopt.unwrap_or(m.sql)
        } else {
            m.sql
        };
        let name = if adopting {
            format!("{} (adopted an existing events table)", m.name)
        } else {
            m.name.to_owned()
        };
        let (inside, outside) = split(sql);
        let record =
            format!("INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ($1, $2, $3)");
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = {lock_ms}"))?;
        tx.batch_execute(inside)?;
        if outside.is_empty() {
            tx.execute(&record, &[&m.version, &name, &m.checksum()])?;
            tx.commit()?;
        } else {
            tx.commit()?;
            for statement in &outside {
                if let Some(index) = concurrent_index_name(statement) {
                    let invalid: bool = client
                        .query_one(
                            "SELECT EXISTS (SELECT 1 FROM pg_index
                               WHERE indexrelid = to_regclass($1) AND NOT indisvalid)",
                            &[&index],
                        )?
                        .get(0);
                    if invalid {
                        tracing::warn!(
                            index,
                            "dropping an invalid index left by an interrupted build"
                        );
                        client.batch_execute(&format!("DROP INDEX CONCURRENTLY {index}"))?;
                    }
                }
                client.batch_execute(statement)?;
            }
            client.execute(&record, &[&m.version, &name, &m.checksum()])?;
        }
        report.adopted |= adopting;
        report.applied.push(m.version.into());
    }
    drop(session);
    Ok(Ok(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_outside_the_transaction_are_split_one_by_one() {
        let (inside, outside) = split(MIGRATIONS[2].sql);
        assert!(!inside.contains("CREATE INDEX"));
        assert_eq!(outside.len(), 2, "{outside:?}");
        assert_eq!(
            concurrent_index_name(&outside[0]),
            Some("idx_events_outbox")
        );
        assert_eq!(concurrent_index_name(&outside[1]), None);
        let (inside, outside) = split(MIGRATIONS[1].sql);
        assert_eq!(inside, MIGRATIONS[1].sql);
        assert!(outside.is_empty());
        let (_, adopt) = split(MIGRATIONS[0].adopt.unwrap());
        assert_eq!(adopt.len(), 7);
        assert!(adopt.iter().all(|s| concurrent_index_name(s).is_some()));
    }

    #[test]
    fn unknown_versions_are_reported_not_fatal() {
        let rec = vec![
            ("0001".to_string(), MIGRATIONS[0].checksum()),
            ("9999".to_string(), "x".to_string()),
        ];
        let s = compare(&rec, true);
        assert_eq!(s.unknown, ["9999"]);
        assert_eq!(s.applied, ["0001"]);
        assert_eq!(
            s.pending,
            [
                "0002_outbox_state.sql",
                "0003_outbox_index.sql",
                "0004_query_indexes.sql",
                "0005_replay_checkpoints.sql"
            ]
        );
        assert!(checksum_mismatch(&rec).is_none());
        let bad = vec![("0001".to_string(), "x".to_string())];
        assert!(matches!(
            checksum_mismatch(&bad),
            Some(MigrationError::Checksum { .. })
        ));
    }
}
