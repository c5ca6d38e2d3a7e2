//! Figure 1, growth run: the real store's ingest rate as the `events` table grows from empty to
//! `BENCH_ROWS` rows (default 2,000,000; 20,000 with `BENCH_QUICK=1`), in batches of 100, once
//! with random event ids (UUID v4, as the TypeScript system's producers make them) and once with time-ordered
//! ones (UUID v7, as `kx_events::TrackedEvent::new` makes them now).
//!
//! Each run starts from a fresh database migrated by the store (every index of the schema), with
//! the server's `shared_buffers` as installed, and stores one batch after the other through
//! `Store::insert_events` (half the events name one of the last 1,000 stored events as their
//! previous event, as a request's events chain, so the foreign-key check runs). The rate is taken
//! over each tenth of the rows, as events / time inside `Store::insert_events`; "empty" is the
//! first 1% (at least 1,000 rows).

use crate::db::{scan_counts, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::thousands;
use crate::store::{real_store, runtime};
use crate::workload::{events, Rng};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The figure's database (dropped at the end).
pub const DATABASE: &str = "kx_bench_growth";

/// Events per batch of the growth run.
pub const BATCH: usize = 100;

/// Parents are drawn from this many most recent events.
const RECENT: usize = 1_000;

/// How the events of a run get their ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Random (version 4), as the TypeScript system's producers make them.
    V4,
    /// Time-ordered (version 7), as the producer crate makes them.
    V7,
}

impl Ids {
    fn label(self) -> &'static str {
        match self {
            Ids::V4 => "UUID v4 (random, the TypeScript producers)",
            Ids::V7 => "UUID v7 (time-ordered, kx-events)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Ids::V4 => "v4",
            Ids::V7 => "v7",
        }
    }
}

/// Rows of the growth run: `BENCH_ROWS`, or the default of the mode.
pub fn rows(quick: bool) -> BenchResult<usize> {
    match std::env::var("BENCH_ROWS") {
        Ok(v) if !v.trim().is_empty() => {
            let n: usize = v
                .trim()
                .replace('_', "")
                .parse()
                .map_err(|e| format!("BENCH_ROWS={v:?}: {e}"))?;
            if n < BATCH * 10 {
                return Err(format!(
                    "BENCH_ROWS={n}: at least {} (ten batches of {BATCH})",
                    BATCH * 10
                ));
            }
            Ok(n)
        }
        _ => Ok(if quick { 20_000 } else { 2_000_000 }),
    }
}

/// One run's measurements.
struct Curve {
    ids: Ids,
    /// Events/s over the first 1%.
    empty: f64,
    /// (rows at the end of the tenth, events/s over the tenth, table + indexes in bytes).
    tenths: Vec<(usize, f64, i64)>,
    elapsed: Duration,
}

impl Curve {
    fn last_over_empty(&self) -> f64 {
        self.tenths.last().map(|t| t.1).unwrap_or(0.0) / self.empty
    }
}

/// Runs both growth runs and returns their rows.
pub fn run(server: &Server, total: usize) -> BenchResult<Vec<Row>> {
    section(
        1,
        "store growth: ingest rate as the table grows, v4 and v7 event ids",
        &format!(
            "Fresh database {DATABASE} per run, migrated by Store::migrate (every index), then {} events\n\
             stored through Store::insert_events in batches of {BATCH} (half name one of the last {RECENT}\n\
             events stored as previous event). events/s over each tenth of the rows; 'empty' = the first 1%.\n\
             Same events (contents, chains) in both runs; only the ids differ.",
            thousands(total as f64)
        ),
    );
    let mut curves = Vec::new();
    for ids in [Ids::V4, Ids::V7] {
        curves.push(grow(server, total, ids)?);
    }
    let _ = server.drop_database(DATABASE);

    let mut rows = Vec::new();
    println!();
    println!("   {:>10}  {:>12}  {:>12}", "rows", "v4 ev/s", "v7 ev/s");
    let (v4, v7) = (&curves[0], &curves[1]);
    println!(
        "   {:>10}  {:>12}  {:>12}",
        "empty",
        thousands(v4.empty),
        thousands(v7.empty)
    );
    for (a, b) in v4.tenths.iter().zip(&v7.tenths) {
        println!(
            "   {:>10}  {:>12}  {:>12}   (table + indexes: v4 {} MB, v7 {} MB)",
            thousands(a.0 as f64),
            thousands(a.1),
            thousands(b.1),
            a.2 / 1_000_000,
            b.2 / 1_000_000
        );
    }
    for c in &curves {
        let curve: Vec<String> = c.tenths.iter().map(|t| thousands(t.1)).collect();
        rows.push(Row::info(
            1,
            format!(
                "store growth to {} rows, {}: ev/s empty, then per 10%",
                thousands(total as f64),
                c.short_label()
            ),
            format!("{} | {}", thousands(c.empty), curve.join(" · ")),
        ));
    }
    let size = |c: &Curve| c.tenths.last().map(|t| t.2).unwrap_or(0);
    rows.push(Row::target(
        1,
        format!(
            "store growth: rate at {} rows / empty table, v7 ids (v4 beside it)",
            thousands(total as f64)
        ),
        format!(
            "v7 {:.0}% · v4 {:.0}% (table + indexes at the end: {} MB; v4 run {:.0} s, v7 run {:.0} s)",
            v7.last_over_empty() * 100.0,
            v4.last_over_empty() * 100.0,
            size(v7) / 1_000_000,
            v4.elapsed.as_secs_f64(),
            v7.elapsed.as_secs_f64()
        ),
        "v7 ≥ 80%",
        v7.last_over_empty() >= 0.8,
    ));
    Ok(rows)
}

impl Curve {
    fn short_label(&self) -> &'static str {
        self.ids.short()
    }
}

/// A random version-4 id from the benchmark's generator (the same ids run after run).
fn v4(rng: &mut Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn grow(server: &Server, total: usize, ids: Ids) -> BenchResult<Curve> {
    server.recreate(DATABASE)?;
    let store = real_store(server, DATABASE)?;
    let rt = runtime()?;
    rt.block_on(store.migrate()).context("Store::migrate")?;
    let mut admin = server.connect(DATABASE)?;
    let shared_buffers: String = admin
        .query_one("SHOW shared_buffers", &[])
        .map(|r| r.get(0))
        .unwrap_or_else(|_| "?".into());
    println!(
        "   {}: growing to {} rows (shared_buffers {shared_buffers})",
        ids.label(),
        thousands(total as f64)
    );
    // The same contents in both runs; the ids come from their own generator.
    let mut rng = Rng::new(0x67726f77);
    let mut id_rng = Rng::new(0x69647334);
    let mut recent: Vec<Uuid> = Vec::with_capacity(RECENT);
    let mut next_recent = 0;
    let empty_rows = (total / 100).max(1_000).min(total);
    let tenth = total / 10;
    let mut curve = Curve {
        ids,
        empty: 0.0,
        tenths: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let mut stored = 0;
    let mut tenth_rows = 0;
    // Time inside Store::insert_events only (generating the events is the harness's work).
    let mut store_time = Duration::ZERO;
    let mut tenth_time = Duration::ZERO;
    while stored < total {
        let n = BATCH.min(total - stored);
        let mut batch = events(&mut rng, n, &recent);
        if ids == Ids::V4 {
            for e in &mut batch {
                e.event_id = v4(&mut id_rng);
            }
        }
        let t = Instant::now();
        let outcome = rt
            .block_on(store.insert_events(&batch))
            .context("Store::insert_events")?;
        let took = t.elapsed();
        store_time += took;
        tenth_time += took;
        if outcome.inserted() != n {
            return Err(format!(
                "{}: stored {} of {n} events at row {stored}",
                ids.short(),
                outcome.inserted()
            ));
        }
        for e in &batch {
            if recent.len() < RECENT {
                recent.push(e.event_id);
            } else {
                recent[next_recent] = e.event_id;
                next_recent = (next_recent + 1) % RECENT;
            }
        }
        stored += n;
        tenth_rows += n;
        if stored == empty_rows {
            curve.empty = stored as f64 / store_time.as_secs_f64();
        }
        if tenth_rows >= tenth || stored == total {
            let rate = tenth_rows as f64 / tenth_time.as_secs_f64();
            let bytes: i64 = admin
                .query_one("SELECT pg_total_relation_size('events')", &[])
                .context("pg_total_relation_size")?
                .get(0);
            println!(
                "     {:>10} rows  {:>8} ev/s  table + indexes {} MB",
                thousands(stored as f64),
                thousands(rate),
                bytes / 1_000_000
            );
            curve.tenths.push((stored, rate, bytes));
            tenth_rows = 0;
            tenth_time = Duration::ZERO;
        }
    }
    curve.elapsed = started.elapsed();
    let indexes: i64 = admin
        .query_one("SELECT pg_indexes_size('events')", &[])
        .context("pg_indexes_size")?
        .get(0);
    std::thread::sleep(Duration::from_millis(1_100));
    rt.block_on(store.ping()).context("Store::ping")?;
    let (seq, idx) = scan_counts(&mut admin)?;
    println!(
        "     indexes at the end: {} MB (shared_buffers {shared_buffers}); scans of events: {seq} sequential, {idx} index",
        indexes / 1_000_000
    );
    drop(admin);
    drop(store);
    drop(rt);
    Ok(curve)
}
