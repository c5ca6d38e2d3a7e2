//! `kx-bench`: runs the figures of issue 7 and prints one table. `scripts/bench.sh` builds what
//! it needs and calls it; see `kx-bench --help`.

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

const HELP: &str = "\
kx-bench [OPTIONS] [FIGURE…]   run figures 1–10 (all by default) and print one table

  --bootstrap PATH     the consumer's bootstrap binary (figures 3, 6 and 10)
  --query PATH         the query API's binary (figure 10's cold start)
  --build LABEL        how it was built, for the output (e.g. 'release, x86_64')
  --zip PATH           the arm64 zip of make package (figure 4)
  --package-how TEXT   whether make package ran in this run (figure 4)
  --track-log PATH     output of `cargo bench -p kx-events --bench track` (figure 5)
  --track-since SECS   unix time the criterion run started (figure 5)
  --criterion-dir DIR  criterion's output folder (figure 5)
  --json PATH          also write the table's rows as JSON
  BENCH_QUICK=1        short runs (CI): the benchmarks run, the figures are rough
  BENCH_ROWS=N         rows of figure 1's growth run (default 2,000,000; 20,000 quick)
  BENCH_BATCH_SIZES=L  figure 2's batch sizes among 10,100,1000 (default all)
Environment: KX_TEST_DATABASE_URL, AWS_ENDPOINT_URL and credentials (.state/env).";

/// A figure that needs the database server and the AWS resources.
type Figure<'a> = dyn Fn(&Server, &Resources) -> Result<Vec<Row>, String> + 'a;

#[derive(Default)]
struct Args {
    bootstrap: Option<PathBuf>,
    query: Option<PathBuf>,
    build: String,
    zip: Option<PathBuf>,
    package_how: String,
    track_log: Option<PathBuf>,
    track_since: Option<SystemTime>,
    criterion_dir: Option<PathBuf>,
    json: Option<PathBuf>,
    figures: Vec<u8>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        build: "release".into(),
        package_how: "built earlier".into(),
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(HELP.into()),
            "--bootstrap" => args.bootstrap = Some(value()?.into()),
            "--query" => args.query = Some(value()?.into()),
            "--build" => args.build = value()?,
            "--zip" => args.zip = Some(value()?.into()),
            "--package-how" => args.package_how = value()?,
            "--track-log" => args.track_log = Some(value()?.into()),
            "--track-since" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--track-since: {e}"))?;
                args.track_since = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            }
            "--criterion-dir" => args.criterion_dir = Some(value()?.into()),
            "--json" => args.json = Some(value()?.into()),
            figure => match figure.parse::<u8>() {
                Ok(n @ 1..=10) => args.figures.push(n),
                _ => return Err(format!("unknown argument {figure:?}\n\n{HELP}")),
            },
        }
    }
    Ok(args)
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
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
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
            (Some(log), Some(dir)) => track::run(
                log,
                dir,
                args.track_since.unwrap_or(SystemTime::UNIX_EPOCH),
                &args.build,
            ),
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
            eprintln!("kx-bench: figure {} ({}) failed: {e}", row.figure, row.what);
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
