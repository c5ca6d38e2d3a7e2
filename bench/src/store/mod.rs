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

mod methods;
mod summary;

pub use methods::{copy_in, real_store, runtime};

use crate::db::{flush_stats, scan_counts, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::workload::{events, Rng};
use methods::{BareUnnest, CopyIn, Method, PerMessage, RealStore};
use postgres::Client;
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
    pub(crate) fn label(self) -> &'static str {
        match self {
            Case::AllNew => "all new",
            Case::AllDuplicate => "all duplicate",
        }
    }
}

pub(crate) const REAL: &str = "real store";
pub(crate) const PER_MESSAGE: &str = "per-message INSERT";
pub(crate) const COPY: &str = "COPY FROM STDIN (binary)";
pub(crate) const BARE: &str = "reference: bare unnest INSERT";

/// The measurements of one (method, batch size, case).
#[derive(Debug, Default)]
pub(crate) struct Samples {
    pub(crate) rates: Vec<f64>,
    pub(crate) seq_scans: i64,
    pub(crate) idx_scans: i64,
}

pub(crate) type Key = (usize, Case, &'static str);

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
    Ok(summary::summarise(&samples, settings))
}
