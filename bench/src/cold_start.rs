//! Figure 3: cold start of the real `bootstrap`, from process start to its first
//! `GET /2018-06-01/runtime/invocation/next` against the Runtime API server of crate
//! `kx-events-local` (its protocol timeline stamps the request; the clock starts just before
//! `spawn`). The secret is fetched from Secrets Manager (moto), the pool is built and the
//! migrations are checked (or applied) before the first `next`, as `main.rs` does.

use crate::aws::Resources;
use crate::db::{blocking, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::Summary;
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::RuntimeApi;
use std::path::Path;
use std::time::Duration;

/// Database that is migrated once, before the timed runs.
pub const MIGRATED_DB: &str = "kx_bench_cold";
/// Database created empty before each timed run.
pub const FRESH_DB: &str = "kx_bench_fresh";

/// Target of the issue: under 25 ms natively, with migrations already applied.
pub const TARGET_MS: f64 = 25.0;

/// Starts `bootstrap` once against `db` and returns its time to the first `next`.
pub async fn once(
    api: &RuntimeApi,
    bootstrap: &Path,
    env: &[(String, String)],
) -> BenchResult<Duration> {
    let mut config = FunctionConfig::new(bootstrap);
    config.env = env.to_vec();
    let mut function = Function::spawn(api, config)
        .await
        .context("starting bootstrap")?;
    let result = function
        .wait_first_next(Duration::from_secs(20))
        .await
        .context("bootstrap cold start");
    function.kill().await.context("stopping bootstrap")?;
    result
}

/// Runs figure 3 with `runs` timed starts per case.
pub async fn run(
    server: &Server,
    resources: &Resources,
    bootstrap: &Path,
    build: &str,
    runs: usize,
) -> BenchResult<Vec<Row>> {
    section(
        3,
        "cold start of the real bootstrap",
        &format!(
            "{} ({build}), spawned by kx-events-local's Function with Lambda's environment; clock from just\n\
             before spawn to the Runtime API server's stamp of the first GET …/invocation/next.\n\
             Config from env, secret from Secrets Manager (moto), r2d2 pool, migration check under the\n\
             advisory lock. 'migrated': database {MIGRATED_DB} migrated by an untimed first start.\n\
             'fresh': database {FRESH_DB} dropped and created empty (untimed) before each start, so the\n\
             start applies the migrations. {runs} timed runs per case, one untimed warm-up.",
            bootstrap.display()
        ),
    );
    let api = RuntimeApi::start()
        .await
        .context("starting the Runtime API server")?;

    blocking(|| server.recreate(MIGRATED_DB))?;
    let env = resources.consumer_env(MIGRATED_DB);
    once(&api, bootstrap, &env).await?; // applies the migrations; warms the page cache
    let mut migrated = Vec::with_capacity(runs);
    for _ in 0..runs {
        migrated.push(once(&api, bootstrap, &env).await?);
    }

    let env = resources.consumer_env(FRESH_DB);
    let mut fresh = Vec::with_capacity(runs);
    for _ in 0..runs {
        blocking(|| server.recreate(FRESH_DB))?;
        fresh.push(once(&api, bootstrap, &env).await?);
    }
    // The fresh start must really have migrated its database.
    blocking(|| -> BenchResult<()> {
        let mut client = server.connect(FRESH_DB)?;
        client
            .query_one("SELECT count(*) FROM events", &[])
            .context("the fresh database has no events table after a cold start")?;
        Ok(())
    })?;
    blocking(|| server.drop_database(FRESH_DB))?;
    blocking(|| server.drop_database(MIGRATED_DB))?;

    let mut rows = Vec::new();
    for (case, times) in [("migrated", &migrated), ("fresh database", &fresh)] {
        let s = Summary::of_millis(times).ok_or("no cold-start samples")?;
        println!(
            "   {case:<16} median {:.1} ms (min {:.1}, max {:.1}, n={})",
            s.median, s.min, s.max, s.n
        );
        let what = format!("cold start to first next, {case} ({build})");
        let measured = format!("{:.1} ms (min {:.1}, max {:.1})", s.median, s.min, s.max);
        rows.push(if case == "migrated" {
            Row::target(3, what, measured, "< 25 ms", s.median < TARGET_MS)
        } else {
            Row::info(3, what, measured)
        });
    }
    Ok(rows)
}
