//! Embedded schema migrations, applied at cold start under a PostgreSQL advisory lock.

use sha2::{Digest, Sha256};

/// One embedded SQL migration (a file of `migrations/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Ordered version, the file's numeric prefix (`0001`).
    pub version: &'static str,
    /// The file name.
    pub name: &'static str,
    /// The SQL, applied as one batch inside the migration transaction.
    pub sql: &'static str,
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
    },
    Migration {
        version: "0002",
        name: "0002_query_indexes.sql",
        sql: include_str!("../../../migrations/0002_query_indexes.sql"),
    },
];

/// Table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "kx_schema_migrations";

/// Key of the transaction-scoped advisory lock that serialises concurrent cold starts
/// (`pg_advisory_xact_lock`); an arbitrary constant ("kxevents" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x6b78_6576_656e_7473;

/// What [`crate::Store::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now.
    pub applied: Vec<String>,
    /// Versions found already applied (checksums matched).
    pub already_applied: Vec<String>,
}

/// Why migrating failed, beyond the database being unreachable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The database has a migration this build does not know (an older build after a newer one).
    #[error(
        "the database has migration {0}, which this build does not know; deploy the newer consumer"
    )]
    Unknown(String),
}

/// Applies the missing migrations on `client` in one transaction holding the advisory lock.
pub(crate) fn apply(
    client: &mut postgres::Client,
) -> Result<Result<MigrationReport, MigrationError>, postgres::Error> {
    let mut tx = client.transaction()?;
    // Migrations may wait on the lock and build indexes: no statement timeout for them.
    tx.batch_execute("SET LOCAL statement_timeout = 0")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    // Created under the lock: concurrent `CREATE TABLE IF NOT EXISTS` can otherwise collide.
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
           version    TEXT PRIMARY KEY,
           name       TEXT NOT NULL,
           checksum   TEXT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )"
    ))?;
    let recorded: Vec<(String, String)> = tx
        .query(
            &format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"),
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (version, _) in &recorded {
        if !MIGRATIONS.iter().any(|m| m.version == version) {
            return Ok(Err(MigrationError::Unknown(version.clone())));
        }
    }
    let mut report = MigrationReport::default();
    for m in MIGRATIONS {
        let embedded = m.checksum();
        match recorded.iter().find(|(v, _)| v == m.version) {
            Some((_, sum)) if *sum == embedded => report.already_applied.push(m.version.into()),
            Some((_, sum)) => {
                return Ok(Err(MigrationError::Checksum {
                    version: m.version.into(),
                    recorded: sum.clone(),
                    embedded,
                }))
            }
            None => {
                tx.batch_execute(m.sql)?;
                tx.execute(
                    &format!(
                        "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES ($1, $2, $3)"
                    ),
                    &[&m.version, &m.name, &embedded],
                )?;
                report.applied.push(m.version.into());
            }
        }
    }
    tx.commit()?;
    Ok(Ok(report))
}
