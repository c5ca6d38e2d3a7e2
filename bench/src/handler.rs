//! Figure 2: the whole handler on a batch (decode, validate, store, publish on the bus in moto),
//! in process: `kx_events_consumer::Consumer::handle_batch` on `SqsEvent`s as Lambda delivers
//! them, against PostgreSQL and moto. The handler exposes no timings, so the share of each phase
//! is measured on a second set of batches by calling the same public functions in the handler's
//! order, each timed on its own.

use crate::aws::{sqs_batch, Resources};
use crate::db::{blocking, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};
use crate::store::real_store;
use crate::workload::{events, Rng};
use aws_lambda_events::event::sqs::SqsEvent;
use kx_events::TrackedEvent;
use kx_events_consumer::{Bus, Consumer, ConsumerOptions, DeadLetterQueue, NewEvent, Store};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The figure's database.
pub const DATABASE: &str = "kx_bench_handler";

/// Short names of the phases, for the table.
const SHORT: [&str; 7] = [
    "SqsEvent",
    "decode",
    "validate",
    "store",
    "claim",
    "PutEvents",
    "mark+sweep",
];

/// The phases of one batch, in the handler's order.
const PHASES: [&str; 7] = [
    "SqsEvent JSON → struct (runtime)",
    "decode bodies (JSON)",
    "validate (TrackedEvent)",
    "store (insert_batch)",
    "claim for the bus",
    "PutEvents (moto)",
    "mark published + sweep",
];

/// Runs figure 2: `batches` batches of `batch` events through the handler, and as many again
/// phase by phase.
pub async fn run(
    server: &Server,
    resources: &Resources,
    batch: usize,
    batches: usize,
) -> BenchResult<Vec<Row>> {
    section(
        2,
        "the whole handler on a batch",
        &format!(
            "Consumer::handle_batch in this process (the library the bootstrap runs; no log subscriber),\n\
             PostgreSQL database {DATABASE} (migrated by the store) and the bus in moto (no rules).\n\
             {batches} SqsEvents of {batch} new events each (JSON as Lambda delivers it, parsed to SqsEvent\n\
             and handled); events/s = events / wall time of the handler calls. Phase shares: as many\n\
             batches again, each phase of the handler's sequence timed around the same public calls\n\
             (serde for SqsEvent and bodies, TrackedEvent::from_value, Store::insert_batch,\n\
             Store::claim, Bus::publish, Store::mark_published + Store::claim_stale)."
        ),
    );
    blocking(|| server.recreate(DATABASE))?;
    let store = blocking(|| real_store(server, DATABASE))?;
    store.migrate().await.context("Store::migrate")?;
    let bus = Bus::new(
        aws_sdk_eventbridge::Client::new(&resources.sdk),
        &resources.bus_name,
        kx_events::DEFAULT_EVENT_SOURCE,
    );
    let dlq = DeadLetterQueue::new(aws_sdk_sqs::Client::new(&resources.sdk), &resources.dlq_url);
    let options = ConsumerOptions::default();
    let consumer = Consumer::new(store.clone(), bus.clone(), dlq, options.clone());

    let mut rng = Rng::new(0x68616e64);
    let mut recent: Vec<Uuid> = Vec::new();
    let mut payloads = |rng: &mut Rng| {
        let events = events(rng, batch, &recent);
        recent = events.iter().map(|e| e.event_id).collect();
        serde_json::to_vec(&sqs_batch(&events)).unwrap_or_default()
    };

    // Warm-up: connections, SDK clients, caches.
    for _ in 0..3 {
        let bytes = payloads(&mut rng);
        handle(&consumer, &bytes).await?;
    }

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
    let mut rows = vec![Row::info(
        2,
        format!("handler, batches of {batch}: events/s (PostgreSQL + moto)"),
        format!(
            "{} ev/s ({:.2} ms per batch, median)",
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
        format!("handler, batches of {batch}: share of time per phase"),
        shares.join(", "),
    ));

    drop(consumer);
    drop(bus);
    blocking(move || drop(store));
    blocking(|| server.drop_database(DATABASE))?;
    Ok(rows)
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
        .insert_batch(&items)
        .await
        .context("Store::insert_batch")?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.event.event_id).collect();
    if outcome.inserted() != ids.len() {
        return Err(format!("stored {} of {}", outcome.inserted(), ids.len()));
    }
    lap(3, &mut clock);
    let claimed = store.claim(&ids, lease).await.context("Store::claim")?;
    lap(4, &mut clock);
    let report = bus.publish(&claimed, deadline).await;
    if !report.failed.is_empty() || report.published.len() != ids.len() {
        return Err(format!(
            "Bus::publish: {} published, failures {:?}",
            report.published.len(),
            report.failed.first()
        ));
    }
    lap(5, &mut clock);
    store
        .mark_published(&report.published)
        .await
        .context("Store::mark_published")?;
    store
        .claim_stale(options.sweep_limit, options.sweep_min_age, lease, &ids)
        .await
        .context("Store::claim_stale")?;
    lap(6, &mut clock);
    Ok(())
}
