//! `kx-events-bench`: runs the figures of the performance report (README "Performance": store
//! path, handler, cold start, zip size, `track!`, memory, producer under faults, cost, read side)
//! and prints one table. `scripts/bench.sh` builds what it needs and calls it; see
//! `kx-events-bench --help`.

use clap::Parser;
use kx_events_bench::aws::Resources;
use kx_events_bench::db::Server;
use kx_events_bench::handler::BusKind;
use kx_events_bench::null_bus::NullBus;
use kx_events_bench::report::{table, Row, Verdict};
use kx_events_bench::store::StoreSettings;
use kx_events_bench::{
    cold_start, cost, growth, handler, memory, package, producer, query, store, track,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// A figure that needs the database server and the AWS resources.
type Figure<'a> = dyn Fn(&Server, &Resources) -> Result<Vec<Row>, String> + 'a;

/// The command line of `kx-events-bench`.
#[derive(Debug, Parser)]
#[command(
    name = "kx-events-bench",
    about = "Runs figures 1–10 of the performance report (all by default) and prints one table",
    after_help = "\
Environment:
  BENCH_QUICK=1        short runs (CI): the benchmarks run, the figures are rough
  BENCH_ROWS=N         rows of figure 1's growth run (default 2,000,000; 20,000 quick)
  BENCH_BATCH_SIZES=L  figure 2's batch sizes among 10,100,1000 (default all)
  KX_TEST_DATABASE_URL, AWS_ENDPOINT_URL and credentials (.state/env)."
)]
struct Args {
    /// The consumer's bootstrap binary (figures 3, 6 and 10)
    #[arg(long, value_name = "PATH")]
    bootstrap: Option<PathBuf>,
    /// The query API's binary (figure 10's cold start)
    #[arg(long, value_name = "PATH")]
    query: Option<PathBuf>,
    /// How it was built, for the output (e.g. 'release, x86_64')
    #[arg(long, value_name = "LABEL", default_value = "release")]
    build: String,
    /// The arm64 zip of make package (figure 4)
    #[arg(long, value_name = "PATH")]
    zip: Option<PathBuf>,
    /// Whether make package ran in this run (figure 4)
    #[arg(long, value_name = "TEXT", default_value = "built earlier")]
    package_how: String,
    /// Output of `cargo bench -p kx-events --bench track` (figure 5)
    #[arg(long, value_name = "PATH")]
    track_log: Option<PathBuf>,
    /// Unix time (seconds) the criterion run started (figure 5)
    #[arg(long, value_name = "SECS")]
    track_since: Option<u64>,
    /// Criterion's output folder (figure 5)
    #[arg(long, value_name = "DIR")]
    criterion_dir: Option<PathBuf>,
    /// Also write the table's rows as JSON
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// The figures to run, 1 to 10 (default: all)
    #[arg(value_name = "FIGURE", value_parser = clap::value_parser!(u8).range(1..=10))]
    figures: Vec<u8>,
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some(producer::OUTAGE_CHILD) {
        // Figure 7's child process (see `producer::outage_child`).
        return match producer::outage_child(&raw[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    // Bad arguments: clap's message on stderr, exit status 2.
    let args = Args::parse();
    let track_since = args.track_since.map_or(SystemTime::UNIX_EPOCH, |secs| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    });
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let wanted = |figure: u8| args.figures.is_empty() || args.figures.contains(&figure);
    let mut rows: Vec<Row> = Vec::new();
    let mut record = |figure: u8, what: &str, result: Result<Vec<Row>, String>| match result {
        Ok(r) => rows.extend(r),
        Err(e) => {
            eprintln!("   ERROR: {e}");
            rows.push(Row::error(figure, what, e));
        }
    };

    let server = Server::from_env();
    if wanted(1) {
        let settings = if quick {
            StoreSettings::quick()
        } else {
            StoreSettings::full()
        };
        let result = server.clone().and_then(|s| store::run(&s, &settings));
        record(1, "store path", result);
        let result = server
            .clone()
            .and_then(|s| growth::rows(quick).and_then(|n| growth::run(&s, n)));
        record(1, "store growth", result);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let needs_aws = [2, 3, 6, 9, 10].iter().any(|f| wanted(*f));
    let resources = match (&server, needs_aws) {
        (Ok(server), true) => Some(runtime.block_on(Resources::create(server))),
        (Err(e), true) => Some(Err(e.clone())),
        _ => None,
    };
    let bootstrap = args
        .bootstrap
        .clone()
        .ok_or_else(|| "--bootstrap PATH is required".to_string());
    let with = |f: &Figure| {
        let server = server.as_ref().map_err(Clone::clone)?;
        let resources = resources
            .as_ref()
            .ok_or("no AWS resources")?
            .as_ref()
            .map_err(Clone::clone)?;
        f(server, resources)
    };
    let bootstrap = bootstrap.as_ref().map_err(Clone::clone);

    if wanted(2) || wanted(9) {
        let null_bus = runtime.block_on(NullBus::start());
        let measured_cell = std::cell::RefCell::new(Vec::new());
        // BENCH_BATCH_SIZES=10,100 runs only those sizes (scripts/bench-compare.sh uses 10).
        let sizes: Option<Vec<usize>> = std::env::var("BENCH_BATCH_SIZES")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
        for (batch, full, short) in [(10, 200, 20), (100, 40, 3), (1_000, 8, 1)] {
            if sizes.as_ref().is_some_and(|s| !s.contains(&batch)) {
                continue;
            }
            let batches = if quick { short } else { full };
            let mut kinds = vec![BusKind::Moto];
            if let Ok(null) = &null_bus {
                kinds.push(BusKind::Null(null.clone()));
            }
            for kind in &kinds {
                let result = with(&|s, r| {
                    let (rows, m) = runtime.block_on(handler::run(s, r, batch, batches, kind))?;
                    measured_cell.borrow_mut().push(m);
                    Ok(rows)
                });
                record(2, "handler", result);
            }
        }
        if let Err(e) = null_bus {
            record(2, "handler, no-op bus", Err(e));
        }
        let measured = measured_cell.into_inner();
        record(2, "batch-size advice", Ok(handler::advice(&measured)));
        if wanted(9) {
            let invocations = if quick { 5 } else { 100 };
            let result = with(&|s, r| runtime.block_on(cost::run(s, r, &measured, invocations)));
            record(9, "cost", result);
        }
    }
    if wanted(3) {
        let runs = if quick { 5 } else { 20 };
        let result = with(&|s, r| {
            runtime.block_on(cold_start::run(s, r, bootstrap.clone()?, &args.build, runs))
        });
        record(3, "cold start", result);
    }
    if wanted(4) {
        let result = args
            .zip
            .as_ref()
            .ok_or_else(|| "--zip PATH is required".to_string())
            .and_then(|z| package::run(z, &args.package_how));
        record(4, "arm64 zip", result);
    }
    if wanted(5) {
        let result = match (&args.track_log, &args.criterion_dir) {
            (Some(log), Some(dir)) => track::run(log, dir, track_since, &args.build),
            _ => Err("--track-log and --criterion-dir are required".into()),
        };
        record(5, "track!", result);
    }
    if wanted(6) {
        let total = if quick { 2_000 } else { 100_000 };
        let result = with(&|s, r| {
            runtime.block_on(memory::run(
                s,
                r,
                bootstrap.clone()?,
                &args.build,
                total,
                10,
            ))
        });
        record(6, "peak RSS", result);
    }

    if wanted(7) {
        record(7, "producer memory", producer::outage_memory(quick));
    }
    if wanted(8) {
        let result = runtime.block_on(producer::flush_throttled(quick));
        record(8, "producer flush", result);
    }
    if wanted(query::FIGURE) {
        let settings = if quick {
            query::QuerySettings::quick()
        } else {
            query::QuerySettings::full()
        };
        let result = server
            .clone()
            .and_then(|s| query::run_db(&s, &runtime, settings));
        record(query::FIGURE, "read side", result);
        let runs = if quick { 3 } else { 20 };
        let result = with(&|s, r| {
            let query_bin = args
                .query
                .clone()
                .ok_or_else(|| "--query PATH is required".to_string())?;
            runtime.block_on(query::run_cold_start(
                s,
                r,
                bootstrap.clone()?,
                &query_bin,
                runs,
            ))
        });
        record(query::FIGURE, "query cold start", result);
    }

    rows.sort_by_key(|r| r.figure);
    println!();
    println!(
        "== Summary{} (targets are informational; ratios are within this run) [{}]",
        if quick {
            " — BENCH_QUICK=1: short runs, rough figures"
        } else {
            ""
        },
        kx_events_bench::report::machine()
    );
    let rough = quick || !args.build.starts_with("release");
    print!("{}", table(&rows, rough));
    if rough {
        println!(
            "(verdicts in parentheses: quick mode or a non-release build; not figures to quote)"
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("writing {}: {e}", path.display());
        }
    }
    let mut failed = false;
    for row in &rows {
        if let Verdict::Error(e) = &row.verdict {
            eprintln!(
                "kx-events-bench: figure {} ({}) failed: {e}",
                row.figure, row.what
            );
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn parses_what_scripts_bench_sh_passes() {
        let args = Args::try_parse_from([
            "kx-events-bench",
            "--bootstrap",
            "/b",
            "--build",
            "dev build, x86_64",
            "--track-since",
            "1700000000",
            "--json",
            "/tmp/f.json",
            "2",
            "9",
        ])
        .unwrap();
        assert_eq!(args.figures, vec![2, 9]);
        assert_eq!(args.track_since, Some(1_700_000_000));
        assert_eq!(args.package_how, "built earlier");
        for bad in [&["11"][..], &["--nope"], &["--track-since", "soon"]] {
            let error =
                Args::try_parse_from(std::iter::once("kx-events-bench").chain(bad.iter().copied()))
                    .unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad:?}: {error}");
        }
    }
}
