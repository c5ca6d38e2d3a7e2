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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
