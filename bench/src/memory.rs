//! Figure 6: peak resident memory of the real `bootstrap` while it stores 100,000 events in
//! batches of 10, driven through the Runtime API like Lambda drives it. The peak is the kernel's
//! own high-water mark, `VmHWM` in `/proc/<pid>/status`, read after the last invocation.

use crate::aws::{sqs_batch, Resources};
use crate::db::{blocking, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::thousands;
use crate::workload::{events, Rng};
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The figure's database.
pub const DATABASE: &str = "kx_bench_memory";
/// Target of the issue, in bytes (32 MB, read as MiB as the kernel reports kB).
pub const TARGET_KB: u64 = 32 * 1024;

/// `VmHWM` and `VmRSS` of process `pid`, in kB.
pub fn peak_and_current_kb(pid: u32) -> BenchResult<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context(format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> BenchResult<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// Runs figure 6: `total` events in batches of `batch`.
pub async fn run(
    server: &Server,
    resources: &Resources,
    bootstrap: &Path,
    build: &str,
    total: usize,
    batch: usize,
) -> BenchResult<Vec<Row>> {
    section(
        6,
        "peak resident memory of the consumer",
        &format!(
            "{} ({build}) as a child process, driven through the Runtime API (kx-events-local) with\n\
             {} invocations of an SqsEvent of {batch} new events each ({} events; half chained to an\n\
             earlier event), stored in database {DATABASE} and put on the bus (moto). Peak = VmHWM of\n\
             /proc/<pid>/status after the last invocation; every response is checked (no failures).",
            bootstrap.display(),
            thousands((total / batch) as f64),
            thousands(total as f64)
        ),
    );
    blocking(|| server.recreate(DATABASE))?;
    let api = RuntimeApi::start()
        .await
        .context("starting the Runtime API server")?;
    let mut config = FunctionConfig::new(bootstrap);
    config.env = resources.consumer_env(DATABASE);
    let mut function = Function::spawn(&api, config)
        .await
        .context("starting bootstrap")?;
    let result = drive(&api, &mut function, total, batch).await;
    let _ = function.kill().await;
    let (after_first, peak, current, elapsed) = result?;

    let stored: i64 = blocking(|| -> BenchResult<i64> {
        let mut client = server.connect(DATABASE)?;
        Ok(client
            .query_one("SELECT count(*) FROM events", &[])
            .context("counting stored events")?
            .get(0))
    })?;
    if stored != total as i64 {
        return Err(format!("{stored} of {total} events stored"));
    }
    blocking(|| server.drop_database(DATABASE))?;

    println!(
        "   VmHWM after the first invocation {after_first} kB; after {} events {peak} kB (VmRSS {current} kB); {:.1} s, {} events/s end to end",
        thousands(total as f64),
        elapsed.as_secs_f64(),
        thousands(total as f64 / elapsed.as_secs_f64())
    );
    Ok(vec![
        Row::target(
            6,
            format!(
                "peak RSS storing {} events, batches of {batch} ({build})",
                thousands(total as f64)
            ),
            format!(
                "{:.1} MiB (after 1st batch {:.1} MiB)",
                peak as f64 / 1024.0,
                after_first as f64 / 1024.0
            ),
            "≤ 32 MiB",
            peak <= TARGET_KB,
        ),
        Row::info(
            6,
            format!("bootstrap end to end via Runtime API, batches of {batch} ({build})"),
            format!("{} ev/s", thousands(total as f64 / elapsed.as_secs_f64())),
        ),
    ])
}

async fn drive(
    api: &RuntimeApi,
    function: &mut Function,
    total: usize,
    batch: usize,
) -> BenchResult<(u64, u64, u64, Duration)> {
    function
        .wait_first_next(Duration::from_secs(20))
        .await
        .context("bootstrap cold start")?;
    let pid = function.pid().ok_or("bootstrap exited")?;
    let mut rng = Rng::new(0x6d656d);
    let mut recent: Vec<Uuid> = Vec::new();
    let mut after_first = 0;
    let start = Instant::now();
    for i in 0..total.div_ceil(batch) {
        let events = events(&mut rng, batch.min(total - i * batch), &recent);
        recent = events.iter().map(|e| e.event_id).collect();
        let payload = sqs_batch(&events);
        let outcome = api
            .invoke(payload, Duration::from_secs(30))
            .await
            .context("invoking bootstrap")?;
        match &outcome {
            InvocationOutcome::Response(v)
                if v.get("batchItemFailures")
                    .and_then(|f| f.as_array())
                    .is_none_or(|f| f.is_empty()) => {}
            other => return Err(format!("invocation {i} did not succeed: {other:?}")),
        }
        if i == 0 {
            after_first = peak_and_current_kb(pid)?.0;
        }
    }
    let elapsed = start.elapsed();
    let (peak, current) = peak_and_current_kb(pid)?;
    Ok((after_first, peak, current, elapsed))
}
