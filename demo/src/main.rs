//! `kx-events-demo`: the producer, the reporter and the driver of `make demo`.
//!
//! ```text
//! kx-events-demo produce --manifest FILE
//!     Tracks the story with kx-events (EVENTS_QUEUE_URL and the AWS SDK's environment), sends one
//!     duplicate delivery and one poison message with the raw SDK, writes what it sent to FILE.
//! kx-events-demo report --manifest FILE --database-url URL --subscriber-queue-url URL
//!                       --dead-letter-queue-url URL [--events-queue-url URL]
//!                       [--runner-log FILE] [--timeout-s N]
//!     Waits (at most N seconds, default 120) until the pipeline has handled everything (every
//!     valid event at the subscriber, the poison in the DLQ, the events queue empty), then
//!     prints the summary. Exits 0 only when every event is accounted for.
//! kx-events-demo up [--started-at UNIX_S]
//!     The demo after scripts/demo.sh's tool checks, services and build (see the `driver`
//!     module): Terraform against moto, the runner, produce, report, the kx read-back, the
//!     verdict. Exits 0 only when every event is accounted for.
//! kx-events-demo down
//!     Stops whatever a demo left running, drops its database, forgets its state.
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use uuid::Uuid;

use kx_events::{track, Config, Tracked};
use kx_events_demo::accounting::{Accounting, Output, Row};
use kx_events_demo::aws;
use kx_events_demo::driver;
use kx_events_demo::observe::{Collector, Error, Sources};
use kx_events_demo::story::{self, Manifest, SentEvent, SentPoison, Story};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "kx-events-demo",
    about = "kx-events-demo: the producer, the reporter and the driver of `make demo`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Track the story with kx-events (EVENTS_QUEUE_URL and the AWS SDK's environment), send one
    /// duplicate delivery and one poison message with the raw SDK, write what was sent.
    Produce(ProduceArgs),
    /// Wait until the pipeline has handled everything, then print the summary; exit 0 only when
    /// every event is accounted for.
    Report(ReportArgs),
    /// Run the demo after scripts/demo.sh's tool checks, services and build; exit 0 only when
    /// every event is accounted for.
    Up(UpArgs),
    /// Stop whatever a demo left running, drop its database, forget its state.
    Down,
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// Where to write what was sent (read by `report`)
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// What `produce` sent
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// The consumer's database
    #[arg(long, value_name = "URL")]
    database_url: String,
    /// The queue the subscriber rule delivers to
    #[arg(long, value_name = "URL")]
    subscriber_queue_url: String,
    /// The consumer's dead-letter queue
    #[arg(long, value_name = "URL")]
    dead_letter_queue_url: String,
    /// The events queue: when given, the pipeline is complete only once it is empty
    #[arg(long, value_name = "URL")]
    events_queue_url: Option<String>,
    /// The runner's log, for the consumer's invocation summaries
    #[arg(long, value_name = "FILE")]
    runner_log: Option<PathBuf>,
    /// How long to wait for the pipeline, in seconds
    #[arg(long = "timeout-s", value_name = "N", default_value_t = 120)]
    timeout_s: u64,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// When scripts/demo.sh started (Unix seconds), for the elapsed times [default: now]
    #[arg(long, value_name = "UNIX_S")]
    started_at: Option<u64>,
}

fn say(line: impl AsRef<str>) {
    println!("[demo] {}", line.as_ref());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The driver runs its own programs and runtimes: outside any async runtime.
    match cli.command {
        Command::Up(args) => return verdict(driver::up(args.started_at)),
        Command::Down => return verdict(driver::down().map(|()| true)),
        Command::Produce(_) | Command::Report(_) => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kx-events-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (name, result) = match &cli.command {
        Command::Produce(args) => ("produce", runtime.block_on(produce(args)).map(|()| true)),
        Command::Report(args) => ("report", runtime.block_on(report(args))),
        Command::Up(_) | Command::Down => unreachable!("handled above"),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kx-events-demo {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of `up` / `down`; an error is printed as the demo's last line.
fn verdict(result: Result<bool, driver::Error>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            driver::Style::detect().die(&e);
            ExitCode::FAILURE
        }
    }
}

/// Tracks the story and writes the manifest.
async fn produce(args: &ProduceArgs) -> Result<(), Error> {
    let manifest_path = args.manifest.display();
    let queue_url = std::env::var("EVENTS_QUEUE_URL")
        .map_err(|_| "EVENTS_QUEUE_URL is not set (the module's producer_environment output)")?;
    let sdk = aws::sdk_config().await;
    kx_events::init(Config::from_env().with_sdk_config(sdk.clone()))
        .map_err(|e| format!("configuring kx-events: {e}"))?;
    let sqs = aws::sqs(&sdk);
    let story = Story::new()?;
    let mut manifest = Manifest::default();

    // A sign-up job receives a worker event; `track!` finds the clientId in it.
    let signup = story
        .event("user_signed_up")
        .ok_or("story without a sign-up")?;
    let job = json!({ "clientId": story::CLIENT_ID, "jobId": "signup-job-1" });
    let tracked = track!(
        job,
        "user",
        "user_signed_up",
        user_id = signup.user_id.clone().unwrap_or_default(),
        entity_id = signup.entity_id.clone().unwrap_or_default(),
        source = "web",
        campaign_id = "spring-launch",
        points_awarded = 100,
        session_id = signup.session_id.clone().unwrap_or_default(),
        metadata = json!({ "plan": "free", "referrer": "newsletter" }),
    );
    let id = queued(tracked, "user_signed_up")?;
    say(format!(
        "track!(job, \"user\", \"user_signed_up\", points_awarded = 100, …) → {id}"
    ));
    manifest.events.push(SentEvent {
        label: "user_signed_up".into(),
        event_id: id,
        previous_event_id: None,
        detail_type: "user.user_signed_up".into(),
        via: "track!".into(),
    });

    // The order's life, and its payment, as built events.
    for (label, event) in story.events.iter().filter(|(l, _)| l != "user_signed_up") {
        let detail_type = event.detail_type();
        let previous = event.previous_event_id;
        let id = queued(kx_events::publish_event(event.clone()), label)?;
        let link = previous
            .and_then(|p| {
                manifest
                    .label_of(p)
                    .map(|l| format!(" (previousEventId → {l})"))
            })
            .unwrap_or_default();
        say(format!("publish_event({detail_type}) → {id}{link}"));
        manifest.events.push(SentEvent {
            label: label.clone(),
            event_id: id,
            previous_event_id: previous,
            detail_type,
            via: "publish_event".into(),
        });
    }
    kx_events::flush().await;
    say(format!(
        "flush().await: {} events sent to the events queue",
        manifest.events.len()
    ));

    // SQS delivers at least once: the same message again.
    let paid = story
        .event("order_paid")
        .ok_or("story without order_paid")?;
    story::send_raw(&sqs, &queue_url, &paid.to_json()).await?;
    say(format!(
        "duplicate delivery: the message of order_paid ({}) sent a second time",
        paid.event_id
    ));
    manifest.duplicates.push(SentEvent {
        label: "order_paid".into(),
        event_id: paid.event_id,
        previous_event_id: paid.previous_event_id,
        detail_type: paid.detail_type(),
        via: "raw SendMessage".into(),
    });

    // A buggy producer: its eventId is an order number.
    let body = story::poison_body();
    let message_id = story::send_raw(&sqs, &queue_url, &body).await?;
    say(format!("poison message: {body}"));
    manifest.poison.push(SentPoison {
        label: "eventId is an order number, not a UUID".into(),
        body,
        message_id,
    });

    let json = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(&args.manifest, json).map_err(|e| format!("writing {manifest_path}: {e}"))?;
    say(format!(
        "{} messages on the events queue; the manifest is in {manifest_path}",
        manifest.messages_sent()
    ));
    Ok(())
}

fn queued(tracked: Tracked, label: &str) -> Result<Uuid, Error> {
    tracked
        .into_result()
        .map_err(|e| format!("{label} was not tracked: {e}").into())
}

/// Waits for the pipeline, prints the summary, and says whether every event is accounted for.
async fn report(args: &ReportArgs) -> Result<bool, Error> {
    let manifest_path = args.manifest.display();
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&args.manifest).map_err(|e| format!("reading {manifest_path}: {e}"))?,
    )?;
    let sources = Sources {
        database_url: args.database_url.clone(),
        subscriber_queue_url: args.subscriber_queue_url.clone(),
        dead_letter_queue_url: args.dead_letter_queue_url.clone(),
        events_queue_url: args.events_queue_url.clone(),
    };
    let limit = Duration::from_secs(args.timeout_s);
    let sdk = aws::sdk_config().await;
    let input = manifest.input();
    let mut collector = Collector::new(aws::sqs(&sdk), sources.clone());
    let progress = collector
        .wait(&input, limit, |p| say(format!("pipeline: {p}")))
        .await?;
    if !progress.complete() {
        say(format!(
            "gave up waiting after {} s; reporting what arrived",
            limit.as_secs()
        ));
    }
    let output = collector.finish(Duration::from_secs(2), false).await?;
    let accounting = Accounting::compute(&input, &output);
    print_summary(
        &manifest,
        &output,
        &accounting,
        &sources,
        args.runner_log.as_deref(),
    );
    Ok(accounting.ok())
}

/// The consumer's own summary lines (`"message":"batch done"`, one per invocation) from the
/// runner's log, where the function's output is echoed with a `[bootstrap] ` prefix.
fn invocation_summaries(log: &str) -> Vec<String> {
    const KEYS: [&str; 7] = [
        "received",
        "stored",
        "duplicates",
        "published",
        "swept",
        "dlq",
        "retried",
    ];
    log.lines()
        .filter_map(|line| {
            let json = line.strip_prefix("[bootstrap] ")?;
            let v: serde_json::Value = serde_json::from_str(json).ok()?;
            let fields = v.get("fields")?;
            (fields.get("message")?.as_str()? == "batch done").then(|| {
                KEYS.iter()
                    .map(|k| format!("{k} {}", fields.get(*k).cloned().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
        })
        .collect()
}

fn short(id: Uuid) -> String {
    id.to_string()[..8].to_string()
}

fn print_summary(
    manifest: &Manifest,
    output: &Output,
    acc: &Accounting,
    sources: &Sources,
    runner_log: Option<&Path>,
) {
    let label = |id: Uuid| manifest.label_of(id).unwrap_or("?").to_string();
    println!();
    println!("==================== kx-events demo: summary ====================");
    let tracked = manifest.events.iter().filter(|e| e.via == "track!").count();
    println!(
        "SENT      {} messages to the events queue:",
        manifest.messages_sent()
    );
    println!(
        "          {} events with kx-events ({} with track!, {} with publish_event), flushed",
        manifest.events.len(),
        tracked,
        manifest.events.len() - tracked
    );
    for d in &manifest.duplicates {
        println!(
            "          1 duplicate delivery of {} ({}), the same message again",
            d.label,
            short(d.event_id)
        );
    }
    for p in &manifest.poison {
        println!("          1 poison message: {}", p.label);
    }

    let mut ours: Vec<&Row> = output
        .rows
        .iter()
        .filter(|r| manifest.label_of(r.event_id).is_some())
        .collect();
    ours.sort_by_key(|r| {
        manifest
            .events
            .iter()
            .position(|e| e.event_id == r.event_id)
    });
    println!();
    println!(
        "STORED    {} rows in PostgreSQL ({}, table events), {} marked published:",
        ours.len(),
        kx_events_demo::observe::redact(&sources.database_url),
        ours.iter().filter(|r| r.published).count()
    );
    print_chains(&ours, &label);

    println!();
    let position = |id: Option<Uuid>| {
        manifest
            .events
            .iter()
            .position(|e| Some(e.event_id) == id)
            .unwrap_or(usize::MAX)
    };
    let mut delivered: Vec<_> = output
        .bus
        .iter()
        .filter(|e| e.event_id.is_some_and(|id| manifest.label_of(id).is_some()))
        .collect();
    delivered.sort_by_key(|e| position(e.event_id));
    println!(
        "DELIVERED {} events to the subscriber's queue (EventBridge rule → SQS):",
        delivered.len()
    );
    for e in &delivered {
        let id = e.event_id.unwrap_or_default();
        println!(
            "          {:<28} {}  source {}  time {}",
            e.detail_type,
            short(id),
            e.source,
            e.time
        );
    }
    for d in &manifest.duplicates {
        let rows = output
            .rows
            .iter()
            .filter(|r| r.event_id == d.event_id)
            .count();
        let bus = output
            .bus
            .iter()
            .filter(|e| e.event_id == Some(d.event_id))
            .count();
        println!(
            "          the duplicate of {} made {} row(s) and {} bus event(s)",
            d.label, rows, bus
        );
    }

    if let Some(path) = runner_log {
        let summaries = invocation_summaries(&std::fs::read_to_string(path).unwrap_or_default());
        let path = path.display();
        println!();
        println!(
            "CONSUMED  {} invocation(s) of the real bootstrap through the Lambda Runtime API ({path}):",
            summaries.len()
        );
        for (i, s) in summaries.iter().enumerate() {
            println!("          #{} {s}", i + 1);
        }
    }

    println!();
    println!(
        "DLQ       {} message(s) in the dead-letter queue:",
        output.dlq.len()
    );
    for m in &output.dlq {
        let what = manifest
            .poison
            .iter()
            .find(|p| {
                m.body == p.body
                    || p.message_id
                        .as_deref()
                        .is_some_and(|id| m.attributes.values().any(|v| v == id))
            })
            .map(|p| p.label.clone())
            .unwrap_or_else(|| "not one of the demo's messages".into());
        println!("          {} — {}", short_body(&m.body), what);
        if m.attributes.is_empty() {
            println!("            (no attributes: redriven by SQS after its receives ran out)");
        }
        for (k, v) in &m.attributes {
            println!("            {k}: {v}");
        }
    }

    println!();
    if acc.ok() {
        println!(
            "ACCOUNTED every event is accounted for: {} of {} valid events stored once and delivered once, {} of {} poison messages in the DLQ with a reason, nothing else.",
            acc.rows,
            manifest.events.len(),
            acc.dlq,
            manifest.poison.len()
        );
    } else {
        for p in acc.problems() {
            println!("PROBLEM   {p}");
        }
        println!(
            "NOT ACCOUNTED: {} lost, {} duplicated, {} unexpected — see above and the runner's log.",
            acc.lost.len(),
            acc.duplicated.len(),
            acc.unexpected.len()
        );
    }
}

fn short_body(body: &str) -> String {
    let one_line: String = body.chars().filter(|c| *c != '\n').take(90).collect();
    if one_line.len() < body.len() {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// Prints the rows as trees along `previousEventId`.
fn print_chains(rows: &[&Row], label: &dyn Fn(Uuid) -> String) {
    let ids: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let mut children: HashMap<Uuid, Vec<&Row>> = HashMap::new();
    let mut roots = Vec::new();
    for r in rows {
        match r.previous_event_id {
            Some(p) if ids.contains(&p) => children.entry(p).or_default().push(r),
            _ => roots.push(*r),
        }
    }
    fn walk(
        row: &Row,
        depth: usize,
        children: &HashMap<Uuid, Vec<&Row>>,
        label: &dyn Fn(Uuid) -> String,
    ) {
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└─ ", "   ".repeat(depth - 1))
        };
        let mut extras = Vec::new();
        if let Some(p) = row.points_awarded {
            extras.push(format!("+{p} points"));
        }
        if let Some(u) = &row.user_id {
            extras.push(u.clone());
        }
        if let Some(e) = &row.entity_id {
            extras.push(e.clone());
        }
        if let Some(u) = row.unresolved_previous_event_id {
            extras.push(format!("parent {} never arrived", short(u)));
        }
        let name = format!(
            "{}{}.{}",
            indent,
            row.entity_type.as_deref().unwrap_or("?"),
            row.event_type
        );
        println!(
            "          {:<40} {}  {:<18} {}",
            name,
            short(row.event_id),
            label(row.event_id),
            extras.join(", ")
        );
        for child in children.get(&row.event_id).into_iter().flatten() {
            walk(child, depth + 1, children, label);
        }
    }
    for root in roots {
        walk(root, 0, &children, label);
    }
}
