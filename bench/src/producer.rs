//! Figures 7 and 8: the producer crate under faults.
//!
//! 7. Memory while SQS is down: a child process (`kx-events-bench --producer-outage-child`, so that
//!    nothing else of the bench is in its resident set) tracks 100,000 events against an
//!    endpoint that accepts connections and never answers, sending as events come (as outside
//!    `kx_events::run`). Its peak resident memory (`VmHWM`) must stay bounded by the publisher's
//!    limits (10,000 events, 16 MiB by default), not grow with the number of events; every
//!    refused event is counted (and logged by the crate, to a discarded standard error).
//! 8. Flush time with SQS throttled: a publisher holding events until the flush (as under
//!    `kx_events::run`) against moto through kx-events-local's fault proxy, flushing 20 events
//!    with the flush budget the crate uses after a response: healthy, throttled on every call,
//!    throttled twice then healthy, and AccessDenied (a permanent error).

use crate::db::{BenchResult, Context};
use crate::memory::peak_and_current_kb;
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};
use kx_events::{Config, Publisher, Tracked, TrackedEvent};
use kx_events_local::fault_proxy::{FaultProxy, SEND_MESSAGE_BATCH};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The argument that turns `kx-events-bench` into figure 7's child process.
pub const OUTAGE_CHILD: &str = "--producer-outage-child";

/// Figure 7's bound on the child's peak resident memory: the 16 MiB byte budget plus the
/// process itself (runtime, SDK, TLS roots).
pub const OUTAGE_TARGET_KB: u64 = 64 * 1024;

/// What the child measured, printed as one JSON line on its standard output.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct OutageReport {
    /// Events tracked.
    pub tracked: usize,
    /// Events queued (accepted by the publisher).
    pub queued: usize,
    /// Events refused with `QueueFull`.
    pub refused: usize,
    /// Events held by the publisher at the end.
    pub held: usize,
    /// Bytes of metadata per event.
    pub metadata_bytes: usize,
    /// `VmHWM` before the first event, kB.
    pub baseline_kb: u64,
    /// `VmHWM` after the last event, kB.
    pub peak_kb: u64,
}

/// The child: `kx-events-bench --producer-outage-child EVENTS METADATA_BYTES`.
pub fn outage_child(args: &[String]) -> BenchResult<()> {
    let count: usize = args
        .first()
        .and_then(|n| n.parse().ok())
        .ok_or("EVENTS expected")?;
    let metadata_bytes: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1024);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("a tokio runtime")?;
    let report = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the black hole")?;
        let addr = listener.local_addr().context("black hole address")?;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        let publisher = Publisher::new(
            Config::default()
                .with_queue_url(format!("http://{addr}/000000000000/outage"))
                .with_endpoint_url(format!("http://{addr}")),
        );
        // Let the sender start and connect before measuring the baseline.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pid = std::process::id();
        let baseline_kb = peak_and_current_kb(pid)?.0;
        let filler = "x".repeat(metadata_bytes);
        let (mut queued, mut refused) = (0, 0);
        for i in 0..count {
            let mut event = TrackedEvent::new("client_bench", "order", "order_created");
            event.points_awarded = Some(i as i32);
            let mut metadata = serde_json::Map::new();
            metadata.insert("filler".into(), filler.clone().into());
            event.metadata = Some(metadata);
            match publisher.publish(event) {
                Tracked::Queued(_) => queued += 1,
                Tracked::NotTracked(_) => refused += 1,
            }
            if i % 1_000 == 0 {
                // The sender's thread takes events off the line meanwhile, as in a service.
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let peak_kb = peak_and_current_kb(pid)?.0;
        Ok::<_, String>(OutageReport {
            tracked: count,
            queued,
            refused,
            held: publisher.queued(),
            metadata_bytes,
            baseline_kb,
            peak_kb,
        })
    })?;
    println!(
        "{}",
        serde_json::to_string(&report).context("report as JSON")?
    );
    // Exit at once: the held events would otherwise be flushed (and logged) at exit.
    std::process::exit(0);
}

fn run_child(events: usize, metadata_bytes: usize) -> BenchResult<OutageReport> {
    let exe = std::env::current_exe().context("the kx-events-bench executable")?;
    let out = std::process::Command::new(exe)
        .args([
            OUTAGE_CHILD,
            &events.to_string(),
            &metadata_bytes.to_string(),
        ])
        .env_remove("EVENT_BUS_NAME")
        .stdin(Stdio::null())
        // The crate logs each refused event with its JSON: not what this figure measures.
        .stderr(Stdio::null())
        .output()
        .context("running the outage child")?;
    if !out.status.success() {
        return Err(format!("the outage child failed: {:?}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).context(format!("the child's report {text:?}"))
}

/// Figure 7.
pub fn outage_memory(quick: bool) -> BenchResult<Vec<Row>> {
    let small = if quick { 20_000 } else { 100_000 };
    let large = if quick { 1_000 } else { 10_000 };
    section(
        7,
        "producer memory while SQS is down",
        &format!(
            "A child process tracks {} events (1 KiB of metadata each), then {} events (60 KiB\n\
             each), sending as they come to an endpoint that accepts connections and never\n\
             answers (an outage as a black-holed route shows it). Default limits: 10,000 events,\n\
             16 MiB. Peak = VmHWM of /proc/self/status after the last event. Before the limits\n\
             counted every held event, the backlog grew without bound (64 KiB × 10,000 ≈ 640 MiB).",
            thousands(small as f64),
            thousands(large as f64)
        ),
    );
    let mut rows = Vec::new();
    for (events, metadata) in [(small, 1024), (large, 60 * 1024)] {
        let r = run_child(events, metadata)?;
        println!(
            "   {} events of {} KiB metadata: {} queued, {} refused (QueueFull, each logged), {} held at the end; VmHWM {} kB before, {} kB after",
            thousands(r.tracked as f64),
            metadata / 1024,
            thousands(r.queued as f64),
            thousands(r.refused as f64),
            thousands(r.held as f64),
            r.baseline_kb,
            r.peak_kb
        );
        rows.push(Row::target(
            7,
            format!(
                "producer peak RSS, {} events of {} KiB tracked during an outage",
                thousands(r.tracked as f64),
                metadata / 1024
            ),
            format!(
                "{:.1} MiB ({} held, {} refused)",
                r.peak_kb as f64 / 1024.0,
                thousands(r.held as f64),
                thousands(r.refused as f64)
            ),
            "bounded: ≤ 64 MiB",
            r.peak_kb <= OUTAGE_TARGET_KB && r.queued + r.refused == r.tracked,
        ));
    }
    Ok(rows)
}

/// An injected fault: HTTP status, AWS error code, how many times (`None`: every call).
type Fault = (u16, &'static str, Option<u64>);

/// One flush of `events` events with the flush budget; returns how long it took.
async fn timed_flush(publisher: &Publisher, events: usize) -> Duration {
    for i in 0..events {
        let mut event = TrackedEvent::new("client_bench", "order", "order_created");
        event.points_awarded = Some(i as i32);
        publisher.publish(event);
    }
    let started = Instant::now();
    publisher
        .flush_before(Instant::now() + publisher.config().flush_timeout())
        .await;
    started.elapsed()
}

/// Figure 8.
pub async fn flush_throttled(quick: bool) -> BenchResult<Vec<Row>> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL is not set: run `make bench`".to_string())?;
    let runs = if quick { 3 } else { 15 };
    // A handler tracks a few events per invocation: two SendMessageBatch calls' worth.
    let events = 20;
    let budget = Config::default().flush_timeout();
    section(
        8,
        "flush time with SQS throttled",
        &format!(
            "A publisher that holds events until the flush (as under kx_events::run) sends {events}\n\
             events per flush to moto through kx-events-local's fault proxy, bounded by the flush\n\
             budget run uses after a response ({} ms by default); {runs} flushes per case. Throttling\n\
             is RequestThrottled on SendMessageBatch; AccessDenied is a permanent error.",
            budget.as_millis()
        ),
    );
    // The crate logs every event a flush gives up on, with its JSON: thousands of lines here,
    // not what this figure measures (the counts below say how many).
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    let sdk = kx_events_local::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!(
            "kx-bench-flush-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateQueue: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let url = queue.queue_url().unwrap_or_default().to_string();
    let proxy = FaultProxy::start(&endpoint)
        .await
        .map_err(|e| format!("starting the fault proxy: {e}"))?;
    let publisher = Publisher::new(
        Config::default()
            .with_queue_url(&url)
            .with_endpoint_url(proxy.url())
            // A breaker would turn repeated AccessDenied into no requests at all: measure the
            // requests themselves here.
            .with_circuit_breaker(0, Duration::ZERO),
    );
    publisher.hold_until_flush();
    // Warm up: connections, credentials, the queue.
    timed_flush(&publisher, 10).await;

    let mut rows = Vec::new();
    let cases: [(&str, Option<Fault>); 4] = [
        ("SQS healthy", None),
        (
            "SQS throttling every call",
            Some((400, "RequestThrottled", None)),
        ),
        (
            "SQS throttling once, then healthy",
            Some((400, "RequestThrottled", Some(1))),
        ),
        (
            "AccessDenied on every call",
            Some((403, "AccessDenied", None)),
        ),
    ];
    for (label, fault) in cases {
        let mut times = Vec::new();
        let before = proxy.stats().target(SEND_MESSAGE_BATCH).forwarded_entries;
        for _ in 0..runs {
            let id = fault.map(|(status, code, times)| {
                proxy.fail_requests_with_code(SEND_MESSAGE_BATCH, status, code, times)
            });
            times.push(timed_flush(&publisher, events).await);
            if let Some(id) = id {
                proxy.remove(id);
            }
        }
        let delivered = proxy.stats().target(SEND_MESSAGE_BATCH).forwarded_entries - before;
        let s = Summary::of_millis(&times).ok_or("no measurement")?;
        println!(
            "   {label}: flush of {events} events median {:.0} ms (min {:.0}, max {:.0}); {} of {} events delivered, the rest logged",
            s.median,
            s.min,
            s.max,
            thousands(delivered as f64),
            thousands((events * runs) as f64)
        );
        let what = format!("flush of {events} events, {label}");
        let measured = format!(
            "{:.0} ms (max {:.0} ms), {}% delivered",
            s.median,
            s.max,
            delivered * 100 / (events * runs) as u64
        );
        let budget_ms = budget.as_secs_f64() * 1e3;
        rows.push(match label {
            "AccessDenied on every call" => Row::target(
                8,
                what,
                measured,
                "≤ 100 ms median (no retries)",
                s.median <= 100.0,
            ),
            "SQS healthy" => Row::info(8, what, measured),
            _ => Row::target(
                8,
                what,
                measured,
                format!(
                    "max ≤ flush budget + 100 ms ({} ms)",
                    budget_ms as u64 + 100
                ),
                s.max <= budget_ms + 100.0,
            ),
        });
    }
    // Drain what the healthy cases delivered.
    let _ = sqs.purge_queue().queue_url(&url).send().await;
    Ok(rows)
}
