//! Figure 10: the read side at scale. A table made by the bench (1,000 clients, chains of 200
//! events, so chains up to depth 200; 1,000,000 rows, 20,000 with `BENCH_QUICK`) read through
//! the query library and the query API's handler:
//!
//! - every documented filter combination is planned as an index scan (`EXPLAIN`; a `Seq Scan on
//!   events` is an error of the bench, not a miss);
//! - keyset page 1,000 against page 1 (and the `offset` version beside it);
//! - a depth-100 chain on the large table against the same chain on a 10,000-row table;
//! - the handler's overhead (routing, JSON, the pool's thread hop) over the query's own time for
//!   `GET /events?clientId=…&limit=50`;
//! - cold start of the real `query` binary to its first `next`, beside the consumer's.

use std::path::Path;
use std::time::{Duration, Instant};

use kx_events_consumer::{DbSettings, Store};
use kx_events_local::runtime_api::RuntimeApi;
use kx_events_query as kxq;
use kx_events_query_api::QueryApi;
use postgres::Client;

use crate::aws::Resources;
use crate::cold_start;
use crate::db::{blocking, BenchResult, Context, Server};
use crate::report::{section, Row};
use crate::stats::{thousands, Summary};

/// The figure's number in the table.
pub const FIGURE: u8 = 10;
/// The database the figure builds.
pub const DB: &str = "kx_bench_query";
/// Events per chain (so the deepest chain has this many levels).
const CHAIN_LENGTH: i64 = 200;
/// Clients the events are spread over.
const CLIENTS: i64 = 1_000;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct QuerySettings {
    /// Rows of the small table (the chain's reference).
    pub small_rows: i64,
    /// Rows of the large table.
    pub rows: i64,
    /// The deep page compared with page 1.
    pub deep_page: i64,
    /// Timed repetitions of each read.
    pub runs: usize,
}

impl QuerySettings {
    /// `make bench`.
    pub fn full() -> Self {
        Self {
            small_rows: 10_000,
            rows: 1_000_000,
            deep_page: 1_000,
            runs: 30,
        }
    }

    /// `BENCH_QUICK=1`.
    pub fn quick() -> Self {
        Self {
            small_rows: 10_000,
            rows: 20_000,
            deep_page: 100,
            runs: 10,
        }
    }
}

/// Inserts events `from..to` (1-based positions): event `i` has id `md5('e'||i)`, belongs to
/// client `(i / 200) % 1000`, and follows event `i - 1` unless it starts a chain of 200.
fn insert(client: &mut Client, from: i64, to: i64) -> BenchResult<()> {
    let mut start = from;
    while start <= to {
        let end = (start + 99_999).min(to);
        client
            .execute(
                "INSERT INTO events (event_id, client_id, previous_event_id, user_id, entity_id,
                    entity_type, event_type, source, campaign_id, points_awarded, session_id,
                    occurred_at, metadata, published_at)
                 SELECT md5('e' || i)::uuid,
                        'client_' || ((i / $3) % $4),
                        CASE WHEN i % $3 = 0 THEN NULL ELSE md5('e' || (i - 1))::uuid END,
                        'user_' || (i % 50000),
                        'entity_' || (i % 100000),
                        (ARRAY['order', 'user', 'cart', 'payment'])[1 + i % 4],
                        (ARRAY['created', 'paid', 'shipped', 'refunded', 'viewed'])[1 + i % 5],
                        (ARRAY['api', 'web', 'mobile'])[1 + i % 3],
                        CASE WHEN i % 10 = 0 THEN 'campaign_' || (i % 20) END,
                        i % 100,
                        'session_' || (i / 20),
                        timestamptz '2024-01-01' + i * interval '2 seconds',
                        jsonb_build_object('campaign', 'c' || (i % 50), 'n', i % 7),
                        now()
                 FROM generate_series($1::bigint, $2::bigint) AS i",
                &[&start, &end, &CHAIN_LENGTH, &CLIENTS],
            )
            .context("inserting the bench's events")?;
        start = end + 1;
    }
    client
        .batch_execute("ANALYZE events")
        .context("ANALYZE events")
}

/// The id of event `i`.
fn id_of(client: &mut Client, i: i64) -> BenchResult<uuid::Uuid> {
    let row = client
        .query_one("SELECT md5('e' || $1::bigint)::uuid", &[&i])
        .context("event id")?;
    Ok(row.get(0))
}

fn median_of(runs: usize, mut f: impl FnMut() -> BenchResult<()>) -> BenchResult<Summary> {
    f()?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    Summary::of_millis(&times).ok_or_else(|| "no samples".into())
}

fn request(pairs: &[(&str, &str)]) -> BenchResult<kxq::EventsRequest> {
    kxq::EventsRequest::from_query_pairs(pairs).map_err(|e| e.to_string())
}

/// The documented filters, alone and with `clientId`, each on the first page and after a cursor.
fn plans(client: &mut Client) -> BenchResult<(usize, Vec<String>)> {
    let filters: [&[(&str, &str)]; 14] = [
        &[],
        &[("clientId", "client_7")],
        &[("userId", "user_42")],
        &[("entityId", "entity_42")],
        &[("entityType", "order")],
        &[("eventType", "paid")],
        &[("source", "web")],
        &[("campaignId", "campaign_3")],
        &[("sessionId", "session_42")],
        &[("startDate", "2024-01-02"), ("endDate", "2024-01-03")],
        &[("metadata", r#"{"campaign":"c7"}"#)],
        &[("clientId", "client_7"), ("eventType", "paid")],
        &[
            ("clientId", "client_7"),
            ("startDate", "2024-01-02"),
            ("endDate", "2024-01-09"),
        ],
        &[("clientId", "client_7"), ("userId", "user_42")],
    ];
    let cursor = kxq::Cursor::new(
        chrono::DateTime::parse_from_rfc3339("2024-01-05T00:00:00Z")
            .expect("a time")
            .with_timezone(&chrono::Utc),
        uuid::Uuid::nil(),
    )
    .encode();
    let mut checked = 0;
    let mut seq = Vec::new();
    for f in filters {
        for after in [false, true] {
            let mut pairs: Vec<(&str, &str)> = f.to_vec();
            if after {
                pairs.push(("cursor", &cursor));
            }
            let req = request(&pairs)?;
            let plan = kxq::explain_events(client, &req).map_err(|e| e.to_string())?;
            checked += 1;
            if plan.iter().any(|l| l.contains("Seq Scan on events")) {
                seq.push(format!("{pairs:?}: {}", plan.join(" | ")));
            }
        }
    }
    Ok((checked, seq))
}

/// Runs the database half of figure 10 (plans, pages, chains, handler overhead).
pub fn run_db(
    server: &Server,
    runtime: &tokio::runtime::Runtime,
    settings: QuerySettings,
) -> BenchResult<Vec<Row>> {
    section(
        FIGURE,
        "the read side at scale",
        &format!(
            "Database {DB}: events of {CLIENTS} clients in chains of {CHAIN_LENGTH} (2 s apart), first\n\
             {} rows (the chain reference), then {} rows; ANALYZE after each load. Reads through\n\
             kx-events-query on one connection, {} timed runs each (median).",
            thousands(settings.small_rows as f64),
            thousands(settings.rows as f64),
            settings.runs
        ),
    );
    blocking(|| server.recreate(DB))?;
    let db_settings = DbSettings {
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(600),
        ..server.store_settings(DB)?
    };
    let store = Store::connect(db_settings).map_err(|e| e.to_string())?;
    runtime
        .block_on(store.migrate())
        .map_err(|e| format!("Store::migrate: {e}"))?;
    let mut client = server.connect(DB)?;
    let mut rows = Vec::new();

    // A depth-100 chain: from the 101st event of the first chain (positions 0..199) down to
    // its end. Chains start at multiples of 200.
    let chain_root = id_of(&mut client, 100)?;
    let chain_time = |client: &mut Client| {
        median_of(settings.runs, || {
            let c = kxq::chain(client, chain_root, kxq::DEFAULT_MAX_DEPTH)
                .map_err(|e| e.to_string())?
                .ok_or("the chain's root is missing")?;
            if c.events.len() != 100 {
                return Err(format!("the depth-100 chain has {} events", c.events.len()));
            }
            Ok(())
        })
    };
    let t = Instant::now();
    insert(&mut client, 0, settings.small_rows - 1)?;
    println!(
        "   loaded {} rows in {:.1} s",
        thousands(settings.small_rows as f64),
        t.elapsed().as_secs_f64()
    );
    let small_chain = chain_time(&mut client)?;
    let t = Instant::now();
    insert(&mut client, settings.small_rows, settings.rows - 1)?;
    println!(
        "   loaded {} rows in {:.1} s",
        thousands(settings.rows as f64),
        t.elapsed().as_secs_f64()
    );
    let large_chain = chain_time(&mut client)?;
    let ratio = large_chain.median / small_chain.median;
    println!(
        "   depth-100 chain: {:.2} ms at {} rows, {:.2} ms at {} rows ({ratio:.2}x)",
        small_chain.median,
        thousands(settings.small_rows as f64),
        large_chain.median,
        thousands(settings.rows as f64)
    );
    rows.push(Row::target(
        FIGURE,
        format!(
            "depth-100 chain at {} rows / at {} rows",
            thousands(settings.rows as f64),
            thousands(settings.small_rows as f64)
        ),
        format!(
            "{ratio:.2}x ({:.2} ms / {:.2} ms)",
            large_chain.median, small_chain.median
        ),
        "<= 2x",
        ratio <= 2.0,
    ));

    let (checked, seq) = plans(&mut client)?;
    println!(
        "   EXPLAIN: {checked} filter plans, {} with a Seq Scan on events",
        seq.len()
    );
    if !seq.is_empty() {
        return Err(format!(
            "a documented filter is planned as a sequential scan: {}",
            seq.join("; ")
        ));
    }
    rows.push(Row::target(
        FIGURE,
        format!(
            "documented filters planned on an index ({} rows, first page and after a cursor)",
            thousands(settings.rows as f64)
        ),
        format!("{checked}/{checked}"),
        "all",
        true,
    ));

    // Page 1 against page `deep_page` (50 a page, newest first, no filter).
    let limit = 50i64;
    let skip = (settings.deep_page - 1) * limit;
    let first = request(&[("limit", "50")])?;
    let page1 = median_of(settings.runs, || {
        kxq::events(&mut client, &first)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let before: (chrono::DateTime<chrono::Utc>, uuid::Uuid) = {
        let r = client
            .query_one(
                "SELECT occurred_at, event_id FROM events ORDER BY occurred_at DESC, event_id DESC OFFSET $1 LIMIT 1",
                &[&(skip - 1)],
            )
            .context("the deep page's cursor")?;
        (r.get(0), r.get(1))
    };
    let mut deep = first.clone();
    deep.page.start = kxq::Start::After(kxq::Cursor::new(before.0, before.1));
    let keyset = median_of(settings.runs, || {
        kxq::events(&mut client, &deep)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let mut by_offset = first.clone();
    by_offset.page.start = kxq::Start::Offset(skip as u64);
    let offset = median_of(settings.runs.min(10), || {
        kxq::events(&mut client, &by_offset)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let ratio = keyset.median / page1.median;
    println!(
        "   page 1 {:.2} ms; page {} by cursor {:.2} ms ({ratio:.2}x), by offset {:.2} ms ({:.1}x)",
        page1.median,
        settings.deep_page,
        keyset.median,
        offset.median,
        offset.median / page1.median
    );
    rows.push(Row::target(
        FIGURE,
        format!("keyset page {} / page 1 (50 a page)", settings.deep_page),
        format!(
            "{ratio:.2}x ({:.2} ms / {:.2} ms)",
            keyset.median, page1.median
        ),
        "<= 2x",
        ratio <= 2.0,
    ));
    rows.push(Row::info(
        FIGURE,
        format!(
            "offset page {} / page 1 (the old API's paging)",
            settings.deep_page
        ),
        format!(
            "{:.1}x ({:.2} ms / {:.2} ms)",
            offset.median / page1.median,
            offset.median,
            page1.median
        ),
    ));

    // The handler against the query alone, for GET /events?clientId=client_7&limit=50.
    let pairs = [("clientId", "client_7"), ("limit", "50")];
    let req = request(&pairs)?;
    let query_alone = median_of(settings.runs, || {
        kxq::events(&mut client, &req)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let api = QueryApi::new(store);
    let handler = median_of(settings.runs, || {
        let request = http::Request::builder()
            .method("GET")
            .uri("/events?clientId=client_7&limit=50")
            .body(lambda_http::Body::Empty)
            .map_err(|e| e.to_string())?;
        let response = runtime.block_on(api.handle(request));
        if response.status() != 200 {
            return Err(format!("GET /events answered {}", response.status()));
        }
        Ok(())
    })?;
    let overhead = (handler.median - query_alone.median) / query_alone.median;
    println!(
        "   GET /events?clientId=…&limit=50: handler {:.3} ms, query alone {:.3} ms (overhead {:.1}%)",
        handler.median,
        query_alone.median,
        overhead * 100.0
    );
    rows.push(Row::target(
        FIGURE,
        "query API handler overhead (routing, JSON, pool hop) over the query, GET /events?clientId&limit=50",
        format!(
            "{:.1}% ({:.3} ms / {:.3} ms)",
            overhead * 100.0,
            handler.median,
            query_alone.median
        ),
        "< 10%",
        overhead < 0.10,
    ));
    drop(client);
    blocking(|| server.drop_database(DB))?;
    Ok(rows)
}

/// The cold-start half of figure 10: the real `query` binary next to the consumer's `bootstrap`.
pub async fn run_cold_start(
    server: &Server,
    resources: &Resources,
    bootstrap: &Path,
    query: &Path,
    runs: usize,
) -> BenchResult<Vec<Row>> {
    let api = RuntimeApi::start()
        .await
        .context("starting the Runtime API server")?;
    blocking(|| server.recreate(cold_start::MIGRATED_DB))?;
    let env = resources.consumer_env(cold_start::MIGRATED_DB);
    cold_start::once(&api, bootstrap, &env).await?; // migrates
    cold_start::once(&api, query, &env).await?; // warm-up
    let (mut consumer, mut reader) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        consumer.push(cold_start::once(&api, bootstrap, &env).await?);
        reader.push(cold_start::once(&api, query, &env).await?);
    }
    blocking(|| server.drop_database(cold_start::MIGRATED_DB))?;
    let c = Summary::of_millis(&consumer).ok_or("no samples")?;
    let q = Summary::of_millis(&reader).ok_or("no samples")?;
    let ratio = q.median / c.median;
    println!(
        "   cold start to first next: query {:.1} ms, consumer {:.1} ms ({ratio:.2}x)",
        q.median, c.median
    );
    Ok(vec![Row::target(
        FIGURE,
        "cold start of query / of the consumer (to first next)",
        format!("{ratio:.2}x ({:.1} ms / {:.1} ms)", q.median, c.median),
        "<= 1.5x",
        ratio <= 1.5,
    )])
}
