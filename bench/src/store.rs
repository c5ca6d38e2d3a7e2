//! Figure 1: the consumer's store path against the same PostgreSQL server and `events` table
//! (its indexes and self foreign key included), in one run: the project's real store code, a
//! per-message baseline and `COPY FROM STDIN`.
//!
//! How the table is kept honest between runs: a base set of events is loaded once and analysed,
//! so the planner knows the table's real size; each run inserts fresh events (half of them naming
//! a base event as their previous event, so the foreign-key check runs), then the all-duplicate
//! run sends the same events again, then only that run's rows are deleted and the table is
//! vacuumed (not truncated: after `TRUNCATE` + `VACUUM` the planner believes the table empty and
//! plans the foreign-key checks as sequential scans). `pg_stat_user_tables.seq_scan` is read
//! around every timed run and reported. Methods run interleaved, in a rotating order, round after
//! round, so that drift of the machine spreads evenly over them.

use crate::db::{flush_stats, scan_counts, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};
use crate::workload::{events, metadata_value, Rng};
use kx_events::TrackedEvent;
use kx_events_consumer::{
    DbSettings, SslMode, Store, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Statement};
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

/// The dedicated database of this figure.
pub const DATABASE: &str = "kx_bench";

/// Settings of figure 1.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Events loaded (and analysed) before the runs.
    pub base_events: usize,
    /// Rounds; each round runs every method once per batch size and case.
    pub rounds: usize,
    /// Batch sizes and how many events one run stores with that size.
    pub batches: Vec<(usize, usize)>,
}

impl StoreSettings {
    /// The full run (`make bench`).
    pub fn full() -> StoreSettings {
        StoreSettings {
            base_events: 100_000,
            rounds: 5,
            batches: vec![(10, 3_000), (100, 5_000), (1_000, 10_000)],
        }
    }

    /// The quick run (`BENCH_QUICK=1`): checks that everything works, figures are rough.
    pub fn quick() -> StoreSettings {
        StoreSettings {
            base_events: 10_000,
            rounds: 2,
            batches: vec![(10, 300), (100, 500), (1_000, 2_000)],
        }
    }
}

/// The two cases of the figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Case {
    /// Every event is new.
    AllNew,
    /// Every event is already stored (a redelivered batch).
    AllDuplicate,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::AllNew => "all new",
            Case::AllDuplicate => "all duplicate",
        }
    }
}

/// One way of storing a batch.
trait Method {
    /// Short name for the table.
    fn name(&self) -> &'static str;
    /// Whether the method can take events that are already stored (`COPY` cannot).
    fn handles_duplicates(&self) -> bool {
        true
    }
    /// Stores one batch.
    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()>;
    /// Whether its connection reports statistics on its own schedule (a pooled connection this
    /// harness cannot ask to report now).
    fn reports_late(&self) -> bool {
        false
    }
    /// One round trip on the method's own connection (makes it report its statistics).
    fn ping(&mut self, client: &mut Client) -> BenchResult<()> {
        client.batch_execute("SELECT 1").context("SELECT 1")
    }
}

const COLUMNS: &str = "event_id, client_id, previous_event_id, user_id, entity_id, entity_type, \
    event_type, source, campaign_id, points_awarded, session_id, occurred_at, metadata";

/// The seeds' Node consumer: one `INSERT … ON CONFLICT DO NOTHING` per event, autocommit (one
/// transaction and one round trip per event; the statement is prepared once, so each event is a
/// single Bind/Execute round trip, as node-postgres sends it).
struct PerMessage {
    statement: Option<Statement>,
}

impl Method for PerMessage {
    fn name(&self) -> &'static str {
        "per-message INSERT"
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => {
                let s = client
                    .prepare(&format!(
                        "INSERT INTO events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (event_id) DO NOTHING"
                    ))
                    .context("preparing the per-message INSERT")?;
                self.statement = Some(s.clone());
                s
            }
        };
        for e in batch {
            let metadata = metadata_value(e);
            client
                .execute(
                    &statement,
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
                        &metadata,
                    ],
                )
                .context("per-message INSERT")?;
        }
        Ok(())
    }
}

/// Reference, not a baseline of the issue: the bare statement of the design, one autocommit
/// `INSERT … SELECT FROM unnest($1 … $13) ON CONFLICT (event_id) DO NOTHING` per batch, prepared
/// once (one round trip and one commit per batch). It shows how far the real store's extra work
/// (parent lookup, chains, outbox columns, its transaction) is from the statement alone.
struct BareUnnest {
    statement: Option<Statement>,
}

impl Method for BareUnnest {
    fn name(&self) -> &'static str {
        BARE
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => {
                let s = client
                    .prepare(&format!(
                        "INSERT INTO events ({COLUMNS}) \
                         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[], \
                         $12::timestamptz[], $13::jsonb[]) \
                         ON CONFLICT (event_id) DO NOTHING"
                    ))
                    .context("preparing the unnest INSERT")?;
                self.statement = Some(s.clone());
                s
            }
        };
        let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
        let clients: Vec<&str> = batch.iter().map(|e| e.client_id.as_str()).collect();
        let previous: Vec<Option<Uuid>> = batch.iter().map(|e| e.previous_event_id).collect();
        let users: Vec<Option<&str>> = batch.iter().map(|e| e.user_id.as_deref()).collect();
        let entities: Vec<Option<&str>> = batch.iter().map(|e| e.entity_id.as_deref()).collect();
        let entity_types: Vec<&str> = batch.iter().map(|e| e.entity_type.as_str()).collect();
        let event_types: Vec<&str> = batch.iter().map(|e| e.event_type.as_str()).collect();
        let sources: Vec<Option<&str>> = batch.iter().map(|e| e.source.as_deref()).collect();
        let campaigns: Vec<Option<&str>> = batch.iter().map(|e| e.campaign_id.as_deref()).collect();
        let points: Vec<Option<i32>> = batch.iter().map(|e| e.points_awarded).collect();
        let sessions: Vec<Option<&str>> = batch.iter().map(|e| e.session_id.as_deref()).collect();
        let occurred: Vec<chrono::DateTime<chrono::Utc>> =
            batch.iter().map(|e| e.occurred_at).collect();
        let metadata: Vec<Option<serde_json::Value>> = batch.iter().map(metadata_value).collect();
        client
            .execute(
                &statement,
                &[
                    &ids,
                    &clients,
                    &previous,
                    &users,
                    &entities,
                    &entity_types,
                    &event_types,
                    &sources,
                    &campaigns,
                    &points,
                    &sessions,
                    &occurred,
                    &metadata,
                ],
            )
            .context("unnest INSERT")?;
        Ok(())
    }
}

/// `COPY events (…) FROM STDIN (FORMAT binary)`, one COPY per batch: the table's physical limit
/// (same indexes, same foreign-key checks, no conflict handling, so it cannot take duplicates).
struct CopyIn;

const COPY_TYPES: [Type; 13] = [
    Type::UUID,
    Type::VARCHAR,
    Type::UUID,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::INT4,
    Type::VARCHAR,
    Type::TIMESTAMPTZ,
    Type::JSONB,
];

impl Method for CopyIn {
    fn name(&self) -> &'static str {
        "COPY FROM STDIN (binary)"
    }

    fn handles_duplicates(&self) -> bool {
        false
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        copy_in(client, batch)
    }
}

/// Loads `batch` with one binary COPY.
pub fn copy_in(client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
    let sink = client
        .copy_in(&format!(
            "COPY events ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .context("COPY")?;
    let mut writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    for e in batch {
        let metadata = metadata_value(e);
        writer
            .write(&[
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
                &metadata,
            ])
            .context("COPY row")?;
    }
    writer.finish().context("COPY")?;
    Ok(())
}

/// The project's real store code: `kx_events_consumer::Store::insert_events` (one
/// `INSERT … SELECT FROM unnest(…) ON CONFLICT (event_id) DO NOTHING` per batch, autocommit, that
/// also checks the parents named from outside the batch; a lookup first only when one is
/// missing), through its own r2d2 pool and `spawn_blocking`, driven from a tokio runtime as the
/// Lambda drives it.
struct RealStore {
    store: Store,
    runtime: tokio::runtime::Runtime,
}

impl Method for RealStore {
    fn name(&self) -> &'static str {
        REAL
    }

    fn store(&mut self, _client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let outcome = self
            .runtime
            .block_on(self.store.insert_events(batch))
            .context("Store::insert_events")?;
        let handled = batch
            .iter()
            .filter(|e| outcome.status(&e.event_id).is_some_and(|s| s.is_stored()))
            .count();
        if handled != batch.len() {
            return Err(format!(
                "Store::insert_events stored {handled} of {} events",
                batch.len()
            ));
        }
        Ok(())
    }

    fn reports_late(&self) -> bool {
        true
    }

    fn ping(&mut self, _client: &mut Client) -> BenchResult<()> {
        self.runtime
            .block_on(self.store.ping())
            .context("Store::ping")
    }
}

/// The real store, connected to `database` with a pool of one connection (one invocation at a
/// time, as in Lambda), without TLS (loopback).
pub fn real_store(server: &Server, database: &str) -> BenchResult<Store> {
    let (host, port, user, password) = server.parts();
    Store::connect(DbSettings {
        host,
        port,
        dbname: database.to_string(),
        user,
        password,
        sslmode: SslMode::Disable,
        ssl_root_cert: None,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        pool_size: 1,
    })
    .context("Store::connect")
}

/// A runtime like the Lambda's, for the store's async API outside `main`'s runtime.
pub fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("building a tokio runtime")
}

/// The measurements of one (method, batch size, case).
#[derive(Debug, Default)]
struct Samples {
    rates: Vec<f64>,
    seq_scans: i64,
    idx_scans: i64,
}

type Key = (usize, Case, &'static str);

/// Runs figure 1 and returns its table rows.
pub fn run(server: &Server, settings: &StoreSettings) -> BenchResult<Vec<Row>> {
    section(
        1,
        "consumer store path: real store code vs per-message INSERT vs COPY",
        &format!(
            "Same PostgreSQL server, database {DATABASE}, table events with its indexes and self foreign key.\n\
             Base set: {} events loaded with COPY, then VACUUM ANALYZE (the planner knows the table's size).\n\
             Each run stores fresh events (half name a stored previous event: the FK check runs), in batches,\n\
             then stores the same events again (all duplicate), then only its rows are deleted and the table\n\
             vacuumed. {} rounds, methods interleaved in rotating order, one connection per method.\n\
             events/s = events of the run / wall time of the run, client side (encode + round trips + commit).\n\
             COPY has no conflict handling (a duplicate fails it): all-duplicate runs compare with per-message only.",
            settings.base_events, settings.rounds
        ),
    );
    server.recreate(DATABASE)?;
    if std::env::var_os("KX_BENCH_EXPLAIN").is_some() {
        // Diagnostics: every plan of every connection to the database goes to the server log
        // (e.g. `grep -B2 -A8 'Seq Scan on events' /var/log/postgresql/postgresql-15-main.log`).
        let mut c = server.connect(DATABASE)?;
        c.batch_execute(&format!(
            "ALTER DATABASE {DATABASE} SET session_preload_libraries = 'auto_explain'; \
             ALTER DATABASE {DATABASE} SET auto_explain.log_min_duration = 0; \
             ALTER DATABASE {DATABASE} SET auto_explain.log_nested_statements = on"
        ))
        .context("enabling auto_explain")?;
        println!("   KX_BENCH_EXPLAIN: auto_explain logs every plan to the server log");
    }
    let real = RealStore {
        store: real_store(server, DATABASE)?,
        runtime: runtime()?,
    };
    let report = real
        .runtime
        .block_on(real.store.migrate())
        .context("Store::migrate")?;
    println!(
        "   schema: the consumer's own migrations (Store::migrate), applied {:?}",
        report.applied
    );
    let mut admin = server.connect(DATABASE)?;
    let show = |admin: &mut Client, name: &str| -> String {
        admin
            .query_one(&format!("SHOW {name}"), &[])
            .map(|r| r.get::<_, String>(0))
            .unwrap_or_else(|_| "?".into())
    };
    println!(
        "   server: PostgreSQL {}, fsync {}, synchronous_commit {}, shared_buffers {} (loopback TCP, no TLS)",
        show(&mut admin, "server_version"),
        show(&mut admin, "fsync"),
        show(&mut admin, "synchronous_commit"),
        show(&mut admin, "shared_buffers")
    );
    // The harness's own statements (verifying counts, deleting a run's rows and the foreign key's
    // ON DELETE SET NULL) must not add sequential scans to the figure.
    admin
        .batch_execute("SET enable_seqscan = off")
        .context("SET enable_seqscan")?;

    let mut rng = Rng::new(0x6B78_6576_656E_7473);
    let base = events(&mut rng, settings.base_events, &[]);
    for chunk in base.chunks(5_000) {
        copy_in(&mut admin, chunk)?;
    }
    admin
        .batch_execute("VACUUM ANALYZE events")
        .context("VACUUM ANALYZE")?;
    let parents: Vec<Uuid> = base.iter().map(|e| e.event_id).collect();
    drop(base);

    let mut methods: Vec<(Box<dyn Method>, Client)> = vec![
        (Box::new(real), server.connect(DATABASE)?),
        (
            Box::new(PerMessage { statement: None }),
            server.connect(DATABASE)?,
        ),
        (Box::new(CopyIn), server.connect(DATABASE)?),
        (
            Box::new(BareUnnest { statement: None }),
            server.connect(DATABASE)?,
        ),
    ];
    let mut samples: BTreeMap<Key, Samples> = BTreeMap::new();
    // The store's connection built the table and its indexes (heap scans, counted as seq scans):
    // let it report them before the first timed run.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    for (method, client) in &mut methods {
        method.ping(client)?;
    }

    for round in 0..settings.rounds {
        for &(batch, count) in &settings.batches {
            let n = methods.len();
            for i in 0..n {
                let (method, client) = &mut methods[(i + round) % n];
                let events = events(&mut rng, count, &parents);
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                let mut cases = vec![Case::AllNew];
                if method.handles_duplicates() {
                    cases.push(Case::AllDuplicate);
                }
                for case in cases {
                    let (seq0, idx0) = scan_counts(client)?;
                    let start = Instant::now();
                    for chunk in events.chunks(batch) {
                        method.store(client, chunk).map_err(|e| {
                            format!("{}, batch {batch}, {}: {e}", method.name(), case.label())
                        })?;
                    }
                    let elapsed = start.elapsed();
                    if method.reports_late() {
                        // An idle backend reports its statistics at most once a second, at its
                        // next statement: wait, then make it run one (untimed).
                        std::thread::sleep(std::time::Duration::from_millis(1_100));
                        method.ping(client)?;
                    }
                    let (seq1, idx1) = scan_counts(client)?;
                    let stored: i64 = admin
                        .query_one(
                            "SELECT count(*) FROM events WHERE event_id = ANY($1)",
                            &[&ids],
                        )
                        .context("counting stored rows")?
                        .get(0);
                    if stored != count as i64 {
                        return Err(format!(
                            "{}, batch {batch}, {}: {stored} of {count} events stored",
                            method.name(),
                            case.label()
                        ));
                    }
                    flush_stats(&mut admin)?;
                    let s = samples.entry((batch, case, method.name())).or_default();
                    s.rates.push(count as f64 / elapsed.as_secs_f64());
                    s.seq_scans += seq1 - seq0;
                    s.idx_scans += idx1 - idx0;
                }
                admin
                    .execute("DELETE FROM events WHERE event_id = ANY($1)", &[&ids])
                    .context("deleting the run's rows")?;
                flush_stats(&mut admin)?;
            }
        }
        admin.batch_execute("VACUUM events").context("VACUUM")?;
        println!("   round {}/{} done", round + 1, settings.rounds);
    }

    drop(methods);
    drop(admin);
    Ok(summarise(&samples, settings))
}

const REAL: &str = "real store";
const PER_MESSAGE: &str = "per-message INSERT";
const COPY: &str = "COPY FROM STDIN (binary)";
const BARE: &str = "reference: bare unnest INSERT";

fn summarise(samples: &BTreeMap<Key, Samples>, settings: &StoreSettings) -> Vec<Row> {
    println!();
    println!(
        "   {:<6} {:<14} {:<26} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "batch", "case", "method", "min ev/s", "median", "max", "seqscan", "idxscan"
    );
    for ((batch, case, name), s) in samples {
        if let Some(sum) = Summary::of(&s.rates) {
            let (seq, idx) = (s.seq_scans, s.idx_scans);
            println!(
                "   {:<6} {:<14} {:<26} {:>10} {:>10} {:>10} {:>8} {:>8}",
                batch,
                case.label(),
                name,
                thousands(sum.min),
                thousands(sum.median),
                thousands(sum.max),
                seq,
                idx
            );
        }
    }
    let median = |batch: usize, case: Case, name: &str| {
        samples
            .iter()
            .find(|((b, c, n), _)| *b == batch && *c == case && *n == name)
            .and_then(|(_, s)| Summary::of(&s.rates))
    };
    let mut rows = Vec::new();
    for &(batch, _) in &settings.batches {
        for case in [Case::AllNew, Case::AllDuplicate] {
            let rates: Vec<String> = [
                (REAL, "real"),
                (PER_MESSAGE, "per-message"),
                (COPY, "COPY"),
                (BARE, "bare unnest"),
            ]
            .iter()
            .filter_map(|(name, short)| {
                median(batch, case, name).map(|s| format!("{short} {}", thousands(s.median)))
            })
            .collect();
            if !rates.is_empty() {
                rows.push(Row::info(
                    1,
                    format!("store, batch {batch}, {}: ev/s (median)", case.label()),
                    rates.join(" · "),
                ));
            }
            let real = median(batch, case, REAL);
            if let (Some(r), Some(p)) = (real, median(batch, case, PER_MESSAGE)) {
                let ratio = r.median / p.median;
                let what = format!("store, batch {batch}, {}: real / per-message", case.label());
                // What the table itself allows at this batch size: COPY / per-message.
                let limit = median(batch, case, COPY)
                    .map(|c| format!(" (COPY: {:.1}×)", c.median / p.median))
                    .unwrap_or_default();
                let measured = format!("{ratio:.1}×{limit}");
                rows.push(if batch == 10 && case == Case::AllNew {
                    Row::target(1, what, measured, "≥ 5×", ratio >= 5.0)
                } else {
                    Row::info(1, what, measured)
                });
            }
            if let (Some(r), Some(c)) = (real, median(batch, case, COPY)) {
                let ratio = r.median / c.median;
                let what = format!("store, batch {batch}, {}: real / COPY", case.label());
                let measured = format!("{:.0}%", ratio * 100.0);
                rows.push(if case == Case::AllNew {
                    Row::target(1, what, measured, "≥ 95%", ratio >= 0.95)
                } else {
                    Row::info(1, what, measured)
                });
            }
        }
    }
    println!(
        "   seqscan/idxscan: pg_stat_user_tables deltas of table events over each method's timed runs, all\n   \
         rounds (the harness's own statements run with enable_seqscan off and report before each run)."
    );
    let seq = |name: &str| -> i64 {
        samples
            .iter()
            .filter(|((_, _, n), _)| *n == name)
            .map(|(_, s)| s.seq_scans)
            .sum()
    };
    rows.push(Row::info(
        1,
        "store: seq scans of events in timed runs (real / per-message / COPY / bare)",
        format!(
            "{} / {} / {} / {}",
            seq(REAL),
            seq(PER_MESSAGE),
            seq(COPY),
            seq(BARE)
        ),
    ));
    rows
}
