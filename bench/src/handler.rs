//! Figure 2: the whole handler on a batch (decode, validate, store, publish on the bus), in
//! process: `kx_events_consumer::Consumer::handle_batch` on `SqsEvent`s as Lambda delivers them,
//! against PostgreSQL and the bus in moto, or a no-op bus ([`crate::null_bus`]) so that moto's
//! speed does not hide the consumer's own. The share of each phase is measured on a second set
//! of batches by calling the same public functions in the handler's order, each timed on its own.

use crate::aws::{sqs_batch, Resources};
use crate::db::{blocking, BenchResult, Context, Server};
use crate::null_bus::NullBus;
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};
use crate::store::{copy_in, real_store};
use crate::workload::{events, Rng};
use aws_lambda_events::event::sqs::SqsEvent;
use kx_events::TrackedEvent;
use kx_events_consumer::{Bus, Consumer, ConsumerOptions, DeadLetterQueue, NewEvent, Store};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The figure's database.
pub const DATABASE: &str = "kx_bench_handler";

/// Events loaded with `COPY` and analysed before the figure's runs.
pub const BASE_EVENTS: usize = 20_000;

/// Short names of the phases, for the table.
const SHORT: [&str; 6] = [
    "SqsEvent",
    "decode",
    "validate",
    "store+lease",
    "PutEvents",
    "mark(+sweep)",
];

/// The phases of one batch, in the handler's order.
const PHASES: [&str; 6] = [
    "SqsEvent JSON → struct (runtime)",
    "decode bodies (JSON)",
    "validate (TrackedEvent)",
    "store, lease, stale check (1 stmt)",
    "PutEvents",
    "mark published (+ sweep if stale)",
];

/// Which bus figure 2 puts on.
#[derive(Debug, Clone)]
pub enum BusKind {
    /// The EventBridge bus in moto.
    Moto,
    /// The no-op endpoint.
    Null(NullBus),
}

impl BusKind {
    fn label(&self) -> &'static str {
        match self {
            BusKind::Moto => "PostgreSQL + moto",
            BusKind::Null(_) => "PostgreSQL + no-op bus",
        }
    }
}

/// What one figure-2 run measured, for the cost model and the batch-size advice.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Events per batch.
    pub batch: usize,
    /// The bus it put on.
    pub moto: bool,
    /// Events/s over the handler calls.
    pub rate: f64,
    /// Median wall time of one handler call.
    pub median_call: Duration,
    /// Database statements per batch over the handler calls (the database's `xact_commit` delta:
    /// every statement of the store is autocommit).
    pub statements_per_batch: f64,
    /// `PutEvents` calls per batch (counted by the no-op bus; `None` on moto).
    pub put_calls_per_batch: Option<f64>,
}

/// Runs figure 2: `batches` batches of `batch` events through the handler, and as many again
/// phase by phase.
pub async fn run(
    server: &Server,
    resources: &Resources,
    batch: usize,
    batches: usize,
    kind: &BusKind,
) -> BenchResult<(Vec<Row>, Measured)> {
    let bus_text = match kind {
        BusKind::Moto => "the bus in moto (no rules)",
        BusKind::Null(_) => "a no-op bus (an HTTP endpoint that accepts every PutEvents at once)",
    };
    section(
        2,
        &format!("the whole handler on a batch of {batch} ({})", kind.label()),
        &format!(
            "Consumer::handle_batch in this process (the library the bootstrap runs; no log subscriber),\n\
             PostgreSQL database {DATABASE} (migrated by the store, {BASE_EVENTS} events loaded with COPY and\n\
             analysed first) and {bus_text}.\n\
             {batches} SqsEvents of {batch} new events each (JSON as Lambda delivers it, parsed to SqsEvent\n\
             and handled); events/s = events / wall time of the handler calls. Phase shares: as many\n\
             batches again, each phase of the handler's sequence timed around the same public calls\n\
             (serde for SqsEvent and bodies, TrackedEvent::from_value, Store::insert_and_claim,\n\
             Bus::publish, Store::mark_published, Store::claim_stale when the insert saw stale rows)."
        ),
    );
    blocking(|| server.recreate(DATABASE))?;
    if let Some(ms) = std::env::var_os("KX_BENCH_EXPLAIN") {
        // Diagnostics: plans of statements slower than KX_BENCH_EXPLAIN ms go to the server log.
        let ms = ms.to_string_lossy().parse::<u32>().unwrap_or(0);
        blocking(|| {
            server
                .connect(DATABASE)?
                .batch_execute(&format!(
                    "ALTER DATABASE {DATABASE} SET session_preload_libraries = 'auto_explain'; \
                 ALTER DATABASE {DATABASE} SET auto_explain.log_min_duration = {ms}; \
                 ALTER DATABASE {DATABASE} SET auto_explain.log_analyze = on; \
                 ALTER DATABASE {DATABASE} SET auto_explain.log_nested_statements = on"
                ))
                .context("enabling auto_explain")
        })?;
    }
    let store = blocking(|| real_store(server, DATABASE))?;
    store.migrate().await.context("Store::migrate")?;
    // A table with history, analysed, as in production: planned on an empty table, the
    // statements (and the foreign-key checks' cached plans) would scan it sequentially.
    let mut rng = Rng::new(0x68616e64);
    blocking(|| -> BenchResult<()> {
        let mut admin = server.connect(DATABASE)?;
        let base = events(&mut rng, BASE_EVENTS, &[]);
        for chunk in base.chunks(5_000) {
            copy_in(&mut admin, chunk)?;
        }
        admin
            .batch_execute("VACUUM ANALYZE events")
            .context("VACUUM ANALYZE")
    })?;
    let client = match kind {
        BusKind::Moto => aws_sdk_eventbridge::Client::new(&resources.sdk),
        BusKind::Null(null) => null.client(&resources.sdk),
    };
    let bus = Bus::new(client, &resources.bus_name, kx_events::DEFAULT_EVENT_SOURCE);
    let dlq = DeadLetterQueue::new(aws_sdk_sqs::Client::new(&resources.sdk), &resources.dlq_url);
    let options = ConsumerOptions::default();
    let consumer = Consumer::new(store.clone(), bus.clone(), dlq, options.clone());

    let mut recent: Vec<Uuid> = Vec::new();
    let mut payloads = |rng: &mut Rng| {
        let events = events(rng, batch, &recent);
        recent = events.iter().map(|e| e.event_id).collect();
        serde_json::to_vec(&sqs_batch(&events)).unwrap_or_default()
    };

    // Warm-up: connections, SDK clients, caches.
    for _ in 0..(3_000 / batch).clamp(1, 3) {
        let bytes = payloads(&mut rng);
        handle(&consumer, &bytes).await?;
    }

    // Statements per batch: the commits of the figure's database (every statement of the store
    // is autocommit), read from another database so that the reads do not count.
    let mut admin = blocking(|| server.connect("postgres"))?;
    let commits = |admin: &mut postgres::Client| -> BenchResult<i64> {
        blocking(|| {
            admin
                .batch_execute("SELECT pg_stat_clear_snapshot()")
                .context("pg_stat_clear_snapshot")?;
            admin
                .query_one(
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
                    &[&DATABASE],
                )
                .map(|r| r.get::<_, i64>(0))
                .context("pg_stat_database")
        })
    };
    // The store's connection reports its statistics when idle, at most once a second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    store.ping().await.context("Store::ping")?;
    let commits_before = commits(&mut admin)?;
    let calls_before = match kind {
        BusKind::Null(null) => null.calls(),
        BusKind::Moto => 0,
    };
    let mut rates = Vec::with_capacity(batches);
    let mut total = Duration::ZERO;
    for _ in 0..batches {
        let bytes = payloads(&mut rng);
        let start = Instant::now();
        handle(&consumer, &bytes).await?;
        let elapsed = start.elapsed();
        total += elapsed;
        rates.push(batch as f64 / elapsed.as_secs_f64());
    }
    let handler_rate = (batches * batch) as f64 / total.as_secs_f64();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    store.ping().await.context("Store::ping")?;
    let commits_after = commits(&mut admin)?;
    // Less the second ping.
    let statements_per_batch = (commits_after - commits_before - 1).max(0) as f64 / batches as f64;
    let put_calls_per_batch = match kind {
        BusKind::Null(null) => Some((null.calls() - calls_before) as f64 / batches as f64),
        BusKind::Moto => None,
    };
    blocking(move || drop(admin));

    let mut phases = [Duration::ZERO; PHASES.len()];
    for _ in 0..batches {
        let bytes = payloads(&mut rng);
        phased(&store, &bus, &options, &bytes, &mut phases).await?;
    }
    let phase_total: Duration = phases.iter().sum();

    let per_batch = Summary::of_millis(
        &rates
            .iter()
            .map(|r| Duration::from_secs_f64(batch as f64 / r))
            .collect::<Vec<_>>(),
    )
    .ok_or("no handler samples")?;
    println!(
        "   handler: {} events/s overall; per batch of {batch}: median {:.2} ms (min {:.2}, max {:.2})",
        thousands(handler_rate),
        per_batch.median,
        per_batch.min,
        per_batch.max
    );
    println!(
        "   phases (sum {:.2} ms per batch; the handler took {:.2} ms per batch):",
        phase_total.as_secs_f64() * 1e3 / batches as f64,
        total.as_secs_f64() * 1e3 / batches as f64
    );
    let puts = put_calls_per_batch
        .map(|p| format!(", {p:.0} PutEvents"))
        .unwrap_or_default();
    println!(
        "   round trips per batch: {statements_per_batch:.1} database statements (xact_commit){puts}"
    );
    let mut rows = vec![Row::info(
        2,
        format!("handler, batches of {batch}: events/s ({})", kind.label()),
        format!(
            "{} ev/s ({:.2} ms per batch, median; {statements_per_batch:.1} statements per batch{puts})",
            thousands(handler_rate),
            per_batch.median
        ),
    )];
    let mut shares = Vec::new();
    for ((name, short), d) in PHASES.iter().zip(SHORT).zip(phases) {
        let share = d.as_secs_f64() / phase_total.as_secs_f64() * 100.0;
        println!(
            "     {name:<34} {:>7.3} ms per batch  {share:>5.1}%",
            d.as_secs_f64() * 1e3 / batches as f64
        );
        shares.push(format!("{short} {share:.0}%"));
    }
    rows.push(Row::info(
        2,
        format!(
            "handler, batches of {batch} ({}): share of time per phase",
            kind.label()
        ),
        shares.join(", "),
    ));

    drop(consumer);
    drop(bus);
    blocking(move || drop(store));
    blocking(|| server.drop_database(DATABASE))?;
    let measured = Measured {
        batch,
        moto: matches!(kind, BusKind::Moto),
        rate: handler_rate,
        median_call: Duration::from_secs_f64(per_batch.median / 1e3),
        statements_per_batch,
        put_calls_per_batch,
    };
    Ok((rows, measured))
}

/// The Terraform module's recommended `batch_size` / `maximum_batching_window_in_seconds`,
/// derived from the moto runs: the smallest measured batch size whose rate reaches 90% of the
/// best one, and the least window SQS mappings allow above 10 records (1 s: a batch is handed
/// over when full or after a second, whichever comes first).
pub fn advice(measured: &[Measured]) -> Vec<Row> {
    let moto: Vec<&Measured> = measured.iter().filter(|m| m.moto).collect();
    let Some(best) = moto.iter().map(|m| m.rate).reduce(f64::max) else {
        return Vec::new();
    };
    let Some(pick) = moto
        .iter()
        .filter(|m| m.rate >= 0.9 * best)
        .min_by_key(|m| m.batch)
    else {
        return Vec::new();
    };
    let rates: Vec<String> = moto
        .iter()
        .map(|m| format!("{}: {} ev/s", m.batch, thousands(m.rate)))
        .collect();
    let window = if pick.batch > 10 { 1 } else { 0 };
    vec![Row::info(
        2,
        "handler: recommended batch_size / maximum_batching_window_in_seconds (≥ 90% of the best rate)",
        format!(
            "{} / {window} s ({})",
            pick.batch,
            rates.join(", ")
        ),
    )]
}

async fn handle(consumer: &Consumer, payload: &[u8]) -> BenchResult<()> {
    let event: SqsEvent = serde_json::from_slice(payload).context("SqsEvent")?;
    let records = event.records.len();
    let (response, summary) = consumer
        .handle_batch(event, tokio::time::Instant::now() + Duration::from_secs(30))
        .await
        .context("Consumer::handle_batch")?;
    if !response.batch_item_failures.is_empty()
        || summary.stored != records
        || summary.published != records
    {
        return Err(format!(
            "handler did not store and publish every event: {summary:?}, {} failures",
            response.batch_item_failures.len()
        ));
    }
    Ok(())
}

async fn phased(
    store: &Store,
    bus: &Bus,
    options: &ConsumerOptions,
    payload: &[u8],
    phases: &mut [Duration; PHASES.len()],
) -> BenchResult<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let lease = Duration::from_secs(60);
    let mut clock = Instant::now();
    let mut lap = |phase: usize, clock: &mut Instant| {
        let now = Instant::now();
        phases[phase] += now - *clock;
        *clock = now;
    };

    let event: SqsEvent = serde_json::from_slice(payload).context("SqsEvent")?;
    lap(0, &mut clock);
    let values: Vec<serde_json::Value> = event
        .records
        .iter()
        .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or_default()))
        .collect::<Result<_, _>>()
        .context("message body")?;
    lap(1, &mut clock);
    let events: Vec<TrackedEvent> = values
        .into_iter()
        .map(TrackedEvent::from_value)
        .collect::<Result<_, _>>()
        .context("TrackedEvent::from_value")?;
    lap(2, &mut clock);
    let items: Vec<NewEvent> = events.into_iter().map(NewEvent::from).collect();
    let outcome = store
        .insert_and_claim(&items, lease, Some(options.sweep_min_age))
        .await
        .context("Store::insert_and_claim")?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.event.event_id).collect();
    if outcome.inserted() != ids.len() || !ids.iter().all(|id| outcome.is_claimed(id)) {
        return Err(format!("stored {} of {}", outcome.inserted(), ids.len()));
    }
    let claimed: Vec<TrackedEvent> = items.into_iter().map(|i| i.event).collect();
    lap(3, &mut clock);
    let report = bus.publish(&claimed, deadline).await;
    if !report.failed.is_empty() || report.published.len() != ids.len() {
        return Err(format!(
            "Bus::publish: {} published, failures {:?}",
            report.published.len(),
            report.failed.first()
        ));
    }
    lap(4, &mut clock);
    // The handler marks each chunk of PutEvents as it is put: one statement per 10 events.
    for chunk in report
        .published
        .chunks(kx_events_consumer::MAX_ENTRIES_PER_PUT)
    {
        store
            .mark_published(chunk)
            .await
            .context("Store::mark_published")?;
    }
    if outcome.stale == Some(true) {
        store
            .claim_stale(options.sweep_limit, options.sweep_min_age, lease, &ids)
            .await
            .context("Store::claim_stale")?;
    }
    lap(5, &mut clock);
    Ok(())
}
