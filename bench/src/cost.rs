//! Figure 9: cost per million events, from the benchmark's own counters and public AWS list
//! prices: kx-events (figure 2's handler at batches of 10, 100 and 1,000) against the TypeScript
//! system's design (one `SendMessage` per event, one invocation per 10 events, one `INSERT` and one
//! `PutEvents` per event), whose invocation is measured here too.
//!
//! What is counted per million events: SQS requests (the producer's sends, and the Lambda
//! poller's `ReceiveMessage` and `DeleteMessageBatch`, 10 messages each at most; every 64 KB of a
//! request is billed as one), Lambda requests (invocations), Lambda GB-seconds (invocations ×
//! the measured median duration rounded up to the millisecond, as Lambda bills it, × the
//! configured memory), and EventBridge `PutEvents` entries (billed per 64 KB entry). The
//! database is a fixed-size instance in both designs and has no per-event price; its statements
//! per event are shown beside the cost.
//!
//! The TypeScript system's invocation is measured with this Rust harness doing the TypeScript system's sequence (decode,
//! one autocommit `INSERT … ON CONFLICT DO NOTHING` per event, one `PutEvents` per event, on
//! the same PostgreSQL and moto as figure 2): a lower bound for Node.js, whose runtime adds its
//! own time, so the TypeScript system's cost shown is a lower bound too.

use crate::aws::{sqs_batch, Resources};
use crate::db::{blocking, BenchResult, Context, Server};
use crate::handler::Measured;
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};
use crate::store::real_store;
use crate::workload::{events, metadata_value, row_params, Rng, PER_MESSAGE_INSERT};
use aws_lambda_events::event::sqs::SqsEvent;
use kx_events::TrackedEvent;
use kx_events_consumer::Bus;
use std::time::{Duration, Instant};

/// Public list prices, US East (N. Virginia), on-demand, after the free tiers, from the AWS
/// pricing pages below. They were not fetched from aws.amazon.com by this build: the figures
/// are those the pages list as quoted, with their dates, by cloudburn.io's guides "Amazon SQS
/// Pricing" (2026-03-14) and "Amazon EventBridge Pricing" (2026-03-13), factualminds.com's SQS
/// pricing post (2026-06-13), and the api-evangelist transcription of the Lambda page (read
/// 2026-09-20); check the pages before quoting a bill.
/// - <https://aws.amazon.com/sqs/pricing/>: standard queue, $0.40 per million requests (first
///   100 billion a month); each 64 KB chunk of a request's payload is one request.
/// - <https://aws.amazon.com/lambda/pricing/>: $0.20 per million requests; duration
///   $0.0000133334 per GB-second on Arm (arm64), $0.0000166667 on x86, billed per 1 ms.
/// - <https://aws.amazon.com/eventbridge/pricing/>: custom events, $1.00 per million entries
///   put (each 64 KB chunk of an entry is one).
pub mod price {
    /// SQS standard queue, dollars per request.
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    /// Lambda, dollars per invocation.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda on arm64, dollars per GB-second.
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    /// Lambda on x86_64, dollars per GB-second.
    pub const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
    /// EventBridge custom events, dollars per entry.
    pub const PUT_EVENTS_ENTRY: f64 = 1.00 / 1e6;
    /// The dates of the sources the prices above were taken from.
    pub const AS_OF: &str = "2026-03 (SQS, EventBridge) and 2026-09 (Lambda)";
}

/// The consumer module's default memory (MB; `memory_size` of terraform/modules/consumer), arm64.
pub const KX_MEMORY_MB: f64 = 256.0;
/// The TypeScript system's consumer: `memorySize: 512` in their CDK stack, Node.js on x86_64 (CDK's default).
pub const BASELINE_MEMORY_MB: f64 = 512.0;
/// The TypeScript system's SQS batch (Lambda's default for SQS).
pub const BASELINE_BATCH: usize = 10;

/// One design at one batch size, per million events.
#[derive(Debug, Clone)]
struct Bill {
    name: String,
    sqs_requests: f64,
    invocations: f64,
    gb_seconds: f64,
    entries: f64,
    statements: f64,
    gb_second_price: f64,
}

impl Bill {
    fn sqs(&self) -> f64 {
        self.sqs_requests * price::SQS_REQUEST
    }
    fn lambda(&self) -> f64 {
        self.invocations * price::LAMBDA_REQUEST + self.gb_seconds * self.gb_second_price
    }
    fn bus(&self) -> f64 {
        self.entries * price::PUT_EVENTS_ENTRY
    }
    fn total(&self) -> f64 {
        self.sqs() + self.lambda() + self.bus()
    }
}

/// Billed milliseconds of one invocation (Lambda rounds up to the millisecond).
fn billed_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e3).ceil().max(1.0)
}

/// SQS requests of a request carrying `bytes` (one per 64 KB chunk).
fn chunks(bytes: usize) -> f64 {
    bytes.div_ceil(64 * 1024).max(1) as f64
}

/// Runs figure 9 from figure 2's moto runs (`measured`) and a measurement of the TypeScript system's design.
pub async fn run(
    server: &Server,
    resources: &Resources,
    measured: &[Measured],
    invocations: usize,
) -> BenchResult<Vec<Row>> {
    section(
        9,
        "cost per million events: kx-events vs the TypeScript system's design",
        &format!(
            "Counts per million events from this run (figure 2's handler on moto; the TypeScript system's sequence measured\n\
             below) × AWS list prices of {} (us-east-1; see bench/src/cost.rs for the pages).\n\
             kx-events: SendMessageBatch of 10 (figure 5 counts 100 requests per 1,000 events), {KX_MEMORY_MB} MB arm64.\n\
             TypeScript system: one SendMessage per event, batches of {BASELINE_BATCH}, {BASELINE_MEMORY_MB} MB x86_64 (Node.js), INSERT and PutEvents per event.",
            price::AS_OF
        ),
    );
    let baseline_call = baseline_invocation(server, resources, invocations).await?;
    let mut rng = Rng::new(0x636f7374);
    let sample = events(&mut rng, 1_000, &[]);
    let body_bytes: Vec<usize> = sample.iter().map(|e| e.to_json().len()).collect();
    let mean_body = body_bytes.iter().sum::<usize>() as f64 / body_bytes.len() as f64;
    println!(
        "   TypeScript system's invocation of {BASELINE_BATCH} events (Rust harness, lower bound for Node.js): {:.2} ms median; message body {:.0} bytes on average",
        baseline_call.as_secs_f64() * 1e3,
        mean_body
    );

    let million = 1e6;
    // Requests per 10 messages (a send batch, a receive, a delete batch) with their 64 KB chunks.
    let ten = chunks((mean_body * 10.0) as usize);
    let one = chunks(mean_body as usize);
    let mut bills = Vec::new();
    let baseline_invocations = million / BASELINE_BATCH as f64;
    bills.push(Bill {
        name: format!("TypeScript design, batches of {BASELINE_BATCH}"),
        // SendMessage per event; the poller's receive and delete per 10 messages.
        sqs_requests: million * one + 2.0 * million / 10.0 * ten,
        invocations: baseline_invocations,
        gb_seconds: baseline_invocations * billed_ms(baseline_call) / 1e3 * BASELINE_MEMORY_MB
            / 1024.0,
        entries: million,
        statements: million,
        gb_second_price: price::LAMBDA_GB_SECOND_X86,
    });
    for m in measured.iter().filter(|m| m.moto) {
        let invocations = million / m.batch as f64;
        bills.push(Bill {
            name: format!("kx-events, batches of {}", m.batch),
            sqs_requests: 3.0 * million / 10.0 * ten,
            invocations,
            gb_seconds: invocations * billed_ms(m.median_call) / 1e3 * KX_MEMORY_MB / 1024.0,
            entries: million,
            statements: invocations * m.statements_per_batch,
            gb_second_price: price::LAMBDA_GB_SECOND_ARM,
        });
    }

    println!();
    println!(
        "   {:<30} {:>10} {:>10} {:>11} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "per 1,000,000 events",
        "SQS req",
        "invocat.",
        "GB-s",
        "entries",
        "DB stmts",
        "SQS $",
        "Lambda $",
        "bus $",
        "total $"
    );
    for b in &bills {
        println!(
            "   {:<30} {:>10} {:>10} {:>11.1} {:>9} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            b.name,
            thousands(b.sqs_requests),
            thousands(b.invocations),
            b.gb_seconds,
            thousands(b.entries),
            thousands(b.statements),
            b.sqs(),
            b.lambda(),
            b.bus(),
            b.total()
        );
    }
    let baseline = bills[0].clone();
    let mut rows = vec![Row::info(
        9,
        format!("cost per 1M events, {} (SQS + Lambda + bus)", baseline.name),
        format!(
            "${:.3} = SQS ${:.3} + Lambda ${:.3} ({:.2} ms billed per invocation) + PutEvents ${:.2}; {} DB statements",
            baseline.total(),
            baseline.sqs(),
            baseline.lambda(),
            billed_ms(baseline_call),
            baseline.bus(),
            thousands(baseline.statements)
        ),
    )];
    for (b, m) in bills[1..].iter().zip(measured.iter().filter(|m| m.moto)) {
        rows.push(Row::info(
            9,
            format!("cost per 1M events, {}", b.name),
            format!(
                "${:.3} = SQS ${:.3} + Lambda ${:.3} ({:.0} ms billed per invocation) + PutEvents ${:.2}; {} DB statements; {:.2}× cheaper than the TypeScript design (SQS {:.1}×, Lambda {:.1}×)",
                b.total(),
                b.sqs(),
                b.lambda(),
                billed_ms(m.median_call),
                b.bus(),
                thousands(b.statements),
                baseline.total() / b.total(),
                baseline.sqs() / b.sqs(),
                baseline.lambda() / b.lambda()
            ),
        ));
    }
    Ok(rows)
}

/// The median wall time of the TypeScript system's invocation of [`BASELINE_BATCH`] events: decode each body,
/// one autocommit `INSERT … ON CONFLICT DO NOTHING` (prepared once), then one `PutEvents` of
/// that one event, event after event.
async fn baseline_invocation(
    server: &Server,
    resources: &Resources,
    invocations: usize,
) -> BenchResult<Duration> {
    const DATABASE: &str = "kx_bench_cost";
    blocking(|| server.recreate(DATABASE))?;
    let store = blocking(|| real_store(server, DATABASE))?;
    store.migrate().await.context("Store::migrate")?;
    blocking(move || drop(store));
    let mut client = blocking(|| server.connect(DATABASE))?;
    let statement = blocking(|| {
        client
            .prepare(PER_MESSAGE_INSERT)
            .context("preparing the TypeScript system's INSERT")
    })?;
    let bus = Bus::new(
        aws_sdk_eventbridge::Client::new(&resources.sdk),
        &resources.bus_name,
        kx_events::DEFAULT_EVENT_SOURCE,
    );
    let mut rng = Rng::new(0x73656564);
    let mut times = Vec::with_capacity(invocations);
    for i in 0..invocations + 2 {
        let batch = events(&mut rng, BASELINE_BATCH, &[]);
        let payload = serde_json::to_vec(&sqs_batch(&batch)).unwrap_or_default();
        let start = Instant::now();
        let event: SqsEvent = serde_json::from_slice(&payload).context("SqsEvent")?;
        for record in &event.records {
            let (e, _) = TrackedEvent::decode(record.body.as_deref().unwrap_or("").as_bytes())
                .map_err(|e| format!("decode: {e}"))?;
            let metadata = metadata_value(&e);
            blocking(|| {
                client
                    .execute(&statement, &row_params(&e, &metadata))
                    .context("the TypeScript system's INSERT")
            })?;
            let report = bus
                .publish(
                    std::slice::from_ref(&e),
                    tokio::time::Instant::now() + Duration::from_secs(10),
                )
                .await;
            if report.published.len() != 1 {
                return Err(format!("PutEvents: {:?}", report.failed.first()));
            }
        }
        // The first two are warm-up.
        if i >= 2 {
            times.push(start.elapsed());
        }
    }
    blocking(move || drop(client));
    blocking(|| server.drop_database(DATABASE))?;
    let summary = Summary::of_millis(&times).ok_or("no baseline invocations")?;
    Ok(Duration::from_secs_f64(summary.median / 1e3))
}
