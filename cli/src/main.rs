//! `kx`: read kx-events from the command line, through the same library (`kx-events-query`) and
//! the same parameter parser as the query API; and operate it: replay stored events on the bus,
//! inspect and redrive the dead-letter queue.

mod dlq;
mod output;
mod remote;
mod replay;

use std::io::Write as _;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kx_events_query as query;
use uuid::Uuid;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  any other failure (e.g. the database refused the query)
  2  usage error or bad parameter (the message names the flag and the rule)
  3  not found (kx event, kx chain, kx ancestors with an unknown id)
  4  database or AWS service unavailable (cannot connect, connection lost): worth a retry";

/// Read kx-events from PostgreSQL (list, show, chains, counts) and operate it (replay, DLQ).
#[derive(Debug, Parser)]
#[command(
    name = "kx",
    version,
    after_help = EXIT_CODES,
    long_about = "Read kx-events from PostgreSQL: list and filter events, show one, draw its chain, \
                  count; operate it: replay stored events on the bus, inspect and redrive the \
                  dead-letter queue.\n\nConnects with --database-url or KX_DATABASE_URL (a \
                  postgres:// URL; a read-only role is enough to read, kx replay needs the \
                  owner's; this build connects without TLS: sslmode=disable or prefer), or reads \
                  a deployed query API with --api-url or KX_API_URL (the query_api_url output; \
                  each request SigV4-signed with the AWS SDK's default credentials, which need \
                  execute-api:Invoke on the routes). AWS calls (replay, dlq) use the SDK's usual \
                  configuration (AWS_REGION, credentials, AWS_ENDPOINT_URL)."
)]
struct Cli {
    /// PostgreSQL URL, e.g. postgres://reader:secret@localhost:5432/kx.
    #[arg(long, env = "KX_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// The deployed query API instead of the database, e.g.
    /// https://a1b2c3.execute-api.eu-west-1.amazonaws.com (SigV4-signed; region from AWS_REGION
    /// or the URL).
    #[arg(
        long,
        env = "KX_API_URL",
        global = true,
        conflicts_with = "database_url"
    )]
    api_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List events, newest first, one page at a time (follow the printed --cursor).
    #[command(after_help = EXIT_CODES)]
    Events(Box<EventsArgs>),
    /// Show one event.
    #[command(after_help = EXIT_CODES)]
    Event {
        /// The event id (a UUID).
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OneFormat::Json)]
        format: OneFormat,
    },
    /// Draw an event and all its descendants as a tree.
    #[command(after_help = EXIT_CODES)]
    Chain(ChainArgs),
    /// Draw an event's ancestors, from the root down to the event.
    #[command(after_help = EXIT_CODES)]
    Ancestors(ChainArgs),
    /// Count events: total, by type, points, per day (last 30 days), unique users, by source.
    #[command(after_help = EXIT_CODES)]
    Analytics(AnalyticsArgs),
    /// Put stored events on the bus again, in occurredAt order, rate-limited and resumable
    /// (needs the owner's --database-url and --bus-name).
    #[command(after_help = EXIT_CODES)]
    Replay(Box<replay::ReplayArgs>),
    /// Inspect the dead-letter queue, move messages back to the events queue, purge poison.
    #[command(after_help = EXIT_CODES)]
    Dlq(Box<dlq::DlqArgs>),
}

/// The filters of `kx events` and `kx analytics`; each maps to the API parameter of the same
/// name (`--since` is `startDate`, `--until` is `endDate`).
#[derive(Debug, Args)]
struct FilterArgs {
    /// Only this client (clientId).
    #[arg(long)]
    client_id: Option<String>,
    /// Only this user (userId).
    #[arg(long)]
    user_id: Option<String>,
    /// Only this entity (entityId).
    #[arg(long)]
    entity_id: Option<String>,
    /// Only this entity type (entityType), e.g. order.
    #[arg(long)]
    entity_type: Option<String>,
    /// Only this event type (eventType), e.g. order_created.
    #[arg(long)]
    event_type: Option<String>,
    /// Only this source (source), e.g. api.
    #[arg(long)]
    source: Option<String>,
    /// Only this campaign (campaignId).
    #[arg(long)]
    campaign_id: Option<String>,
    /// Only this session (sessionId).
    #[arg(long)]
    session_id: Option<String>,
    /// Events at or after this time: 2024-01-15 (midnight UTC) or 2024-01-15T10:30:00Z.
    #[arg(long)]
    since: Option<String>,
    /// Events before this time (exclusive), same forms as --since.
    #[arg(long)]
    until: Option<String>,
    /// Events whose metadata contains this JSON object, e.g. '{"campaign":"x"}'.
    #[arg(long)]
    metadata: Option<String>,
}

impl FilterArgs {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("clientId", &self.client_id),
            ("userId", &self.user_id),
            ("entityId", &self.entity_id),
            ("entityType", &self.entity_type),
            ("eventType", &self.event_type),
            ("source", &self.source),
            ("campaignId", &self.campaign_id),
            ("sessionId", &self.session_id),
            ("startDate", &self.since),
            ("endDate", &self.until),
            ("metadata", &self.metadata),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Args)]
struct EventsArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Rows per page, 1..1000.
    #[arg(long, default_value = "50")]
    limit: String,
    /// Start after a previous page (the cursor it printed).
    #[arg(long)]
    cursor: Option<String>,
    /// Skip this many rows instead (slow on deep pages; not with --cursor).
    #[arg(long)]
    offset: Option<String>,
    /// Comma-separated fields, e.g. eventId,clientId,occurredAt (default: a summary for
    /// table, every field for json and csv).
    #[arg(long)]
    fields: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

#[derive(Debug, Args)]
struct ChainArgs {
    /// The event id (a UUID).
    id: String,
    /// Follow at most this many levels (1..100000); the output says when it cut.
    #[arg(long, default_value = "1000")]
    max_depth: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TreeFormat::Tree)]
    format: TreeFormat,
}

#[derive(Debug, Args)]
struct AnalyticsArgs {
    /// Only this client (default: all clients).
    #[arg(long)]
    client_id: Option<String>,
    /// From this time (inclusive): 2024-01-15 or 2024-01-15T10:30:00Z.
    #[arg(long)]
    since: Option<String>,
    /// Until this time (exclusive).
    #[arg(long)]
    until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OneFormat::Table)]
    format: OneFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    /// Aligned columns, the next page's cursor on stderr.
    Table,
    /// The API's page: {"data": [...], "count": n, "nextCursor": ...}.
    Json,
    /// A header line and one line per event (metadata as JSON).
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OneFormat {
    /// Readable lines.
    Table,
    /// JSON, as the API answers.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TreeFormat {
    /// A tree along previousEventId.
    Tree,
    /// JSON, as the API answers.
    Json,
}

/// Why `kx` stopped, and its exit code.
#[derive(Debug)]
enum Failure {
    /// 2: bad usage or parameter.
    Usage(String),
    /// 3: no such event.
    NotFound(String),
    /// 4: the database cannot be reached.
    Unavailable(String),
    /// 1: anything else.
    Other(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Other(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NotFound(_) => 3,
            Failure::Unavailable(_) => 4,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(m)
            | Failure::NotFound(m)
            | Failure::Unavailable(m)
            | Failure::Other(m) => m,
        }
    }
}

/// The flag of an API parameter, so that messages speak the CLI's language.
fn flag(param: &str) -> String {
    match param {
        "startDate" => "--since".into(),
        "endDate" => "--until".into(),
        "maxDepth" => "--max-depth".into(),
        "eventId" => "ID".into(),
        p => {
            let mut f = String::from("--");
            for ch in p.chars() {
                if ch.is_ascii_uppercase() {
                    f.push('-');
                    f.push(ch.to_ascii_lowercase());
                } else {
                    f.push(ch);
                }
            }
            f
        }
    }
}

impl From<query::ParamError> for Failure {
    fn from(e: query::ParamError) -> Self {
        Failure::Usage(format!("{}: {}", flag(e.param()), e.rule()))
    }
}

impl From<query::Error> for Failure {
    fn from(e: query::Error) -> Self {
        match e {
            query::Error::Param(p) => p.into(),
            e if e.is_unavailable() => Failure::Unavailable(format!("database unavailable: {e}")),
            e => Failure::Other(e.to_string()),
        }
    }
}

fn connect(url: Option<&str>) -> Result<postgres::Client, Failure> {
    let url = url.ok_or_else(|| {
        Failure::Usage("--database-url: required (or set KX_DATABASE_URL), e.g. postgres://reader@localhost/kx".into())
    })?;
    let mut config = postgres::Config::from_str(url)
        .map_err(|e| Failure::Usage(format!("--database-url: not a valid PostgreSQL URL: {e}")))?;
    if config.get_ssl_mode() == postgres::config::SslMode::Require {
        return Err(Failure::Usage(
            "--database-url: sslmode=require needs TLS, which this build of kx does not have yet; \
             use sslmode=disable or prefer"
                .into(),
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.connect(postgres::NoTls).map_err(|e| {
        if query::is_unavailable(&e) {
            Failure::Unavailable(format!("database unavailable: {e}"))
        } else {
            Failure::Other(format!("cannot connect: {e}"))
        }
    })
}

fn event_id(text: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(text.trim())
        .map_err(|_| Failure::Usage(format!("ID: must be a UUID, got {text:?}")))
}

/// What `kx` prints: the answer (stdout) and a note for the person at the terminal (stderr).
struct Printed {
    stdout: String,
    note: String,
}

impl From<String> for Printed {
    fn from(stdout: String) -> Self {
        Self {
            stdout,
            note: String::new(),
        }
    }
}

fn run(cli: Cli) -> Result<Printed, Failure> {
    let url = cli.database_url.as_deref();
    let api = match &cli.api_url {
        Some(u) => Some(remote::Api::new(u)?),
        None => None,
    };
    match cli.command {
        Command::Events(a) => {
            let mut pairs = a.filter.pairs();
            pairs.push(("limit", a.limit.clone()));
            if let Some(c) = &a.cursor {
                pairs.push(("cursor", c.clone()));
            }
            if let Some(o) = &a.offset {
                pairs.push(("offset", o.clone()));
            }
            let fields = match (&a.fields, a.format) {
                (Some(f), _) => Some(f.clone()),
                (None, ListFormat::Table) => Some(output::TABLE_FIELDS.into()),
                (None, _) => None,
            };
            if let Some(f) = fields {
                pairs.push(("fields", f));
            }
            let req = query::EventsRequest::from_query_pairs(&pairs)?;
            let page = match &api {
                Some(api) => query::EventPage::from_json(
                    &api.get("/events", &pairs)?,
                    req.page.fields.clone(),
                )
                .map_err(bad_answer)?,
                None => query::events(&mut connect(url)?, &req)?,
            };
            let note = output::page_note(&page);
            let stdout = match a.format {
                ListFormat::Table => output::events_table(&page),
                ListFormat::Json => output::json(&page),
                ListFormat::Csv => output::events_csv(&page),
            };
            Ok(Printed { stdout, note })
        }
        Command::Event { id, format } => {
            let id = event_id(&id)?;
            let e = match &api {
                Some(api) => {
                    let v = api.get(&format!("/events/{id}"), &[])?;
                    let m = v["data"]
                        .as_object()
                        .ok_or_else(|| bad_answer("data: expected an object".into()))?;
                    query::Event::from_json(m).map_err(bad_answer)?
                }
                None => query::event(&mut connect(url)?, id)?
                    .ok_or_else(|| Failure::NotFound(format!("no event {id}")))?,
            };
            Ok(match format {
                OneFormat::Json => output::json(&e),
                OneFormat::Table => output::event_lines(&e),
            }
            .into())
        }
        Command::Chain(a) => {
            let (id, depth) = (event_id(&a.id)?, query::parse_max_depth(&a.max_depth)?);
            let c = match &api {
                Some(api) => remote_chain(api, "chain", id, depth)?,
                None => query::chain(&mut connect(url)?, id, depth)?
                    .ok_or_else(|| Failure::NotFound(format!("no event {id}")))?,
            };
            Ok(match a.format {
                TreeFormat::Tree => output::tree(&c, false),
                TreeFormat::Json => output::json(&c),
            }
            .into())
        }
        Command::Ancestors(a) => {
            let (id, depth) = (event_id(&a.id)?, query::parse_max_depth(&a.max_depth)?);
            let c = match &api {
                Some(api) => remote_chain(api, "ancestors", id, depth)?,
                None => query::ancestors(&mut connect(url)?, id, depth)?
                    .ok_or_else(|| Failure::NotFound(format!("no event {id}")))?,
            };
            Ok(match a.format {
                TreeFormat::Tree => output::tree(&c, true),
                TreeFormat::Json => output::json(&c),
            }
            .into())
        }
        Command::Analytics(a) => {
            let pairs: Vec<(&str, String)> = [
                ("clientId", &a.client_id),
                ("startDate", &a.since),
                ("endDate", &a.until),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect();
            let filter = query::Filter::from_query_pairs(&pairs)?;
            let an = match &api {
                Some(api) => serde_json::from_value(api.get("/analytics", &pairs)?["data"].take())
                    .map_err(|e| bad_answer(e.to_string()))?,
                None => query::analytics(&mut connect(url)?, &filter)?,
            };
            Ok(match a.format {
                OneFormat::Json => output::json(&an),
                OneFormat::Table => output::analytics(&an),
            }
            .into())
        }
        Command::Replay(a) => replay::run(&mut connect(url)?, &a),
        Command::Dlq(a) => dlq::run(&a),
    }
}

/// An answer of the query API that this build of kx cannot read (a different version?).
fn bad_answer(what: String) -> Failure {
    Failure::Other(format!("unexpected answer from the query API: {what}"))
}

fn remote_chain(
    api: &remote::Api,
    kind: &str,
    id: Uuid,
    depth: u32,
) -> Result<query::Chain, Failure> {
    let v = api.get(
        &format!("/events/{id}/{kind}"),
        &[("maxDepth", depth.to_string())],
    )?;
    query::Chain::from_json(&v).map_err(bad_answer)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(printed) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`kx events | head`) is not a failure.
            let _ = out
                .write_all(printed.stdout.as_bytes())
                .and_then(|()| out.flush());
            if !printed.note.is_empty() {
                eprint!("{}", printed.note);
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("kx: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}
