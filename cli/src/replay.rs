//! `kx replay`: stored events put on the bus again, from the database (the complete, ordered
//! record), in `occurred_at` order, rate-limited, resumable from a checkpoint row.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use kx_events::TrackedEvent;
use kx_events_consumer::{row_event, Bus, EntryExtras, MAX_ENTRIES_PER_PUT};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Failure, OneFormat, Printed};

/// The prefix of the `Resources` entry that marks a replayed bus entry: the envelope of a
/// replayed event has `"resources": ["kx-events:replay/<replay id>"]`; its `detail-type`,
/// `source`, `time` and `detail` are those of the first delivery.
pub const REPLAY_RESOURCE_PREFIX: &str = "kx-events:replay/";

/// Rows read from the database per query.
const PAGE_ROWS: i64 = 500;

/// The flags of `kx replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Events that occurred at or after this time: 2024-01-15 (midnight UTC) or
    /// 2024-01-15T10:30:00Z (default: the oldest).
    #[arg(long)]
    since: Option<String>,
    /// Events that occurred before this time (exclusive; default: when the replay starts).
    #[arg(long)]
    until: Option<String>,
    /// Only this client (clientId).
    #[arg(long)]
    client_id: Option<String>,
    /// Only this entity type (entityType).
    #[arg(long)]
    entity_type: Option<String>,
    /// Only this event type (eventType).
    #[arg(long)]
    event_type: Option<String>,
    /// At most this many events per second: `N` or `N/s` (EventBridge's PutEvents quota is per
    /// account and Region; leave room for the consumer).
    #[arg(long, default_value = "100/s")]
    rate: String,
    /// Count and show what would be put; put nothing, write no checkpoint.
    #[arg(long)]
    dry_run: bool,
    /// Continue the newest unfinished replay with the same filters after its checkpoint (the
    /// same replay id).
    #[arg(long)]
    resume: bool,
    /// Replay the rows the bus rejected permanently (publish_failed_at set) instead, once the
    /// cause is fixed; each one put is marked published.
    #[arg(long)]
    failed: bool,
    /// The EventBridge bus (the consumer's EVENT_BUS_NAME).
    #[arg(long, env = "KX_EVENT_BUS_NAME")]
    bus_name: Option<String>,
    /// The entries' Source (the consumer's EVENT_SOURCE).
    #[arg(long, env = "KX_EVENT_SOURCE", default_value = kx_events::DEFAULT_EVENT_SOURCE)]
    event_source: String,
    /// Output format of the final count.
    #[arg(long, value_enum, default_value_t = OneFormat::Table)]
    format: OneFormat,
}

/// The resolved filter of a replay (what its checkpoint row keeps).
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    failed: bool,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    client_id: Option<String>,
    entity_type: Option<String>,
    event_type: Option<String>,
}

impl Selection {
    fn to_json(&self) -> Value {
        json!({
            "failed": self.failed,
            "since": self.since.map(|t| kx_events_query::format_timestamp(&t)),
            "until": self.until.map(|t| kx_events_query::format_timestamp(&t)),
            "clientId": self.client_id,
            "entityType": self.entity_type,
            "eventType": self.event_type,
        })
    }

    fn from_json(v: &Value) -> Result<Self, Failure> {
        let time = |k: &str| -> Result<Option<DateTime<Utc>>, Failure> {
            match v[k].as_str() {
                None => Ok(None),
                Some(s) => DateTime::parse_from_rfc3339(s)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|e| Failure::Other(format!("checkpoint filter {k}: {e}"))),
            }
        };
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        Ok(Self {
            failed: v["failed"].as_bool().unwrap_or(false),
            since: time("since")?,
            until: time("until")?,
            client_id: text("clientId"),
            entity_type: text("entityType"),
            event_type: text("eventType"),
        })
    }
}

/// `N` or `N/s`, 0 < N ≤ 1,000,000.
fn parse_rate(text: &str) -> Result<f64, Failure> {
    let n = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match n.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1_000_000.0 => Ok(r),
        _ => Err(Failure::Usage(format!(
            "--rate: must be events per second, N or N/s with 0 < N <= 1000000, got {text:?}"
        ))),
    }
}

/// Where a replay stands.
#[derive(Debug, Clone)]
struct Checkpoint {
    replay_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    put: i64,
}

/// The filters both selections share, after their own condition; parameters $1..$7 are since,
/// until, client, entity type, event type, the checkpoint's occurred_at and event_id
/// (NULL = none).
macro_rules! selection_filters {
    () => {
        "
           AND ($1::timestamptz IS NULL OR occurred_at >= $1)
           AND ($2::timestamptz IS NULL OR occurred_at < $2)
           AND ($3::text IS NULL OR client_id = $3)
           AND ($4::text IS NULL OR entity_type = $4)
           AND ($5::text IS NULL OR event_type = $5)
           AND ($6::timestamptz IS NULL OR (occurred_at, event_id) > ($6, $7::uuid))"
    };
}

/// The WHERE clause of a selection (the parameters of `selection_filters!`).
fn where_clause(failed: bool) -> &'static str {
    if failed {
        concat!(
            " FROM events
         WHERE published_at IS NULL AND publish_failed_at IS NOT NULL",
            selection_filters!()
        )
    } else {
        // Every stored event that has been on the bus or was never the outbox's (history rows,
        // published_at '-infinity'); rows still waiting for the bus are the outbox's to put.
        concat!(
            " FROM events
         WHERE published_at IS NOT NULL",
            selection_filters!()
        )
    }
}

fn db_error(e: postgres::Error) -> Failure {
    if kx_events_query::is_unavailable(&e) {
        Failure::Unavailable(format!("database unavailable: {e}"))
    } else if e
        .as_db_error()
        .is_some_and(|d| d.code() == &postgres::error::SqlState::UNDEFINED_TABLE)
    {
        Failure::Other(format!(
            "{e}: the schema is older than this kx (kx_replay_checkpoints comes with migration \
             0005): run `bootstrap migrate` first"
        ))
    } else {
        Failure::Other(format!("database: {e}"))
    }
}

struct Query<'a> {
    sel: &'a Selection,
    after: Option<(DateTime<Utc>, Uuid)>,
}

impl Query<'_> {
    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 7] {
        [
            &self.sel.since,
            &self.sel.until,
            &self.sel.client_id,
            &self.sel.entity_type,
            &self.sel.event_type,
            // Typed NULLs when there is no checkpoint.
            match &self.after {
                Some((t, _)) => t as &(dyn postgres::types::ToSql + Sync),
                None => &NO_TIME,
            },
            match &self.after {
                Some((_, id)) => id as &(dyn postgres::types::ToSql + Sync),
                None => &NO_ID,
            },
        ]
    }
}

static NO_TIME: Option<DateTime<Utc>> = None;
static NO_ID: Option<Uuid> = None;

fn count(db: &mut postgres::Client, q: &Query) -> Result<i64, Failure> {
    let sql = format!("SELECT count(*){}", where_clause(q.sel.failed));
    db.query_one(sql.as_str(), &q.params())
        .map(|r| r.get(0))
        .map_err(db_error)
}

fn page(db: &mut postgres::Client, q: &Query) -> Result<Vec<TrackedEvent>, Failure> {
    let sql = format!(
        "SELECT {}{} ORDER BY occurred_at, event_id LIMIT {PAGE_ROWS}",
        kx_events_consumer::EVENT_COLUMNS,
        where_clause(q.sel.failed)
    );
    db.query(sql.as_str(), &q.params())
        .map(|rows| rows.iter().map(row_event).collect())
        .map_err(db_error)
}

/// The filter as given (what `--resume` matches), canonical JSON text.
fn filter_key(a: &ReplayArgs, bus: &str) -> String {
    json!({
        "bus": bus,
        "failed": a.failed,
        "since": a.since,
        "until": a.until,
        "clientId": a.client_id,
        "entityType": a.entity_type,
        "eventType": a.event_type,
    })
    .to_string()
}

fn selection(a: &ReplayArgs) -> Result<Selection, Failure> {
    let pairs: Vec<(&str, String)> = [
        ("clientId", &a.client_id),
        ("entityType", &a.entity_type),
        ("eventType", &a.event_type),
        ("startDate", &a.since),
        ("endDate", &a.until),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect();
    let f = kx_events_query::Filter::from_query_pairs(&pairs)?;
    Ok(Selection {
        failed: a.failed,
        since: f.start,
        // A replay of stored events stops at its start, so that a resumed run never picks up
        // events stored since (those reached the bus the ordinary way).
        until: f.end.or_else(|| (!a.failed).then(Utc::now)),
        client_id: f.client_id,
        entity_type: f.entity_type,
        event_type: f.event_type,
    })
}

/// Marks replayed rejected rows published, records the new error of those rejected again.
fn settle_failed(
    db: &mut postgres::Client,
    published: &[Uuid],
    rejected: &[(Uuid, String)],
) -> Result<(), Failure> {
    if !published.is_empty() {
        db.execute(
            "UPDATE events SET published_at = now(), publish_lease = NULL,
                 publish_failed_at = NULL, publish_error = NULL,
                 publish_attempts = coalesce(publish_attempts, 0) + 1
             WHERE event_id = ANY($1) AND published_at IS NULL",
            &[&published],
        )
        .map_err(db_error)?;
    }
    if !rejected.is_empty() {
        let ids: Vec<Uuid> = rejected.iter().map(|(id, _)| *id).collect();
        let errors: Vec<&str> = rejected.iter().map(|(_, e)| e.as_str()).collect();
        db.execute(
            "UPDATE events SET publish_failed_at = now(), publish_error = u.error,
                 publish_attempts = coalesce(publish_attempts, 0) + 1
             FROM unnest($1::uuid[], $2::text[]) AS u(event_id, error)
             WHERE events.event_id = u.event_id AND events.published_at IS NULL",
            &[&ids, &errors],
        )
        .map_err(db_error)?;
    }
    Ok(())
}

/// Runs `kx replay`.
pub fn run(db: &mut postgres::Client, a: &ReplayArgs) -> Result<Printed, Failure> {
    let rate = parse_rate(&a.rate)?;
    let bus_name = a
        .bus_name
        .clone()
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| Failure::Usage("--bus-name: required (or set KX_EVENT_BUS_NAME)".into()))?;
    let key = filter_key(a, &bus_name);
    let (sel, mut checkpoint, resumed) = if a.resume {
        let row = db
            .query_opt(
                "SELECT replay_id, filter, last_occurred_at, last_event_id, put_count
                 FROM kx_replay_checkpoints
                 WHERE filter_key = $1 AND finished_at IS NULL
                 ORDER BY started_at DESC LIMIT 1",
                &[&key],
            )
            .map_err(db_error)?
            .ok_or_else(|| {
                Failure::Usage(
                    "--resume: no unfinished replay with these filters and bus (start one \
                     without --resume)"
                        .into(),
                )
            })?;
        let filter: Value = row.get(1);
        let at: Option<DateTime<Utc>> = row.get(2);
        let id: Option<Uuid> = row.get(3);
        (
            Selection::from_json(&filter)?,
            Checkpoint {
                replay_id: row.get(0),
                after: at.zip(id),
                put: row.get(4),
            },
            true,
        )
    } else {
        (
            selection(a)?,
            Checkpoint {
                replay_id: Uuid::new_v4(),
                after: None,
                put: 0,
            },
            false,
        )
    };
    let matching = count(
        db,
        &Query {
            sel: &sel,
            after: checkpoint.after,
        },
    )?;

    if a.dry_run {
        let first = page(
            db,
            &Query {
                sel: &sel,
                after: checkpoint.after,
            },
        )?;
        let sample: Vec<Value> = first
            .iter()
            .take(10)
            .map(|e| {
                json!({
                    "eventId": e.event_id,
                    "occurredAt": kx_events_query::format_timestamp(&e.occurred_at),
                    "detailType": e.detail_type(),
                })
            })
            .collect();
        return Ok(match a.format {
            OneFormat::Json => crate::output::json(&json!({
                "dryRun": true,
                "replayId": resumed.then_some(checkpoint.replay_id),
                "matching": matching,
                "filter": sel.to_json(),
                "first": sample,
            })),
            OneFormat::Table => {
                let mut s = format!(
                    "dry run: {matching} event(s) would be put on bus {bus_name}{}\n",
                    if resumed {
                        format!(" (resuming replay {})", checkpoint.replay_id)
                    } else {
                        String::new()
                    }
                );
                for e in &sample {
                    s.push_str(&format!(
                        "  {}  {}  {}\n",
                        e["occurredAt"].as_str().unwrap_or(""),
                        e["eventId"].as_str().unwrap_or(""),
                        e["detailType"].as_str().unwrap_or("")
                    ));
                }
                if matching > sample.len() as i64 {
                    s.push_str(&format!(
                        "  … and {} more\n",
                        matching - sample.len() as i64
                    ));
                }
                s
            }
        }
        .into());
    }

    if !resumed {
        db.execute(
            "INSERT INTO kx_replay_checkpoints (replay_id, filter_key, filter, bus_name)
             VALUES ($1, $2, $3, $4)",
            &[&checkpoint.replay_id, &key, &sel.to_json(), &bus_name],
        )
        .map_err(db_error)?;
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the async runtime: {e}")))?;
    let sdk = rt.block_on(kx_events_consumer::sdk_config());
    let bus = Bus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        &bus_name,
        &a.event_source,
    );
    let marker = format!("{REPLAY_RESOURCE_PREFIX}{}", checkpoint.replay_id);
    let extras = |_: &TrackedEvent| {
        if sel.failed {
            // Rejected rows never reached a subscriber: this is their first delivery.
            EntryExtras::default()
        } else {
            EntryExtras {
                resources: vec![marker.clone()],
                trace_header: None,
            }
        }
    };

    let bar = indicatif::ProgressBar::new(matching.max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut put_now: i64 = 0;
    let mut rejected: Vec<(Uuid, String)> = Vec::new();
    let mut failed: Vec<(Uuid, String)> = Vec::new();
    'pages: loop {
        let events = page(
            db,
            &Query {
                sel: &sel,
                after: checkpoint.after,
            },
        )?;
        if events.is_empty() {
            break;
        }
        for chunk in events.chunks(MAX_ENTRIES_PER_PUT) {
            // Rate: the n-th event leaves no earlier than n/rate seconds after the start.
            let due = started + Duration::from_secs_f64(put_now as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let report = rt.block_on(bus.publish_with(chunk, extras, deadline));
            if sel.failed {
                settle_failed(db, &report.published, &report.rejected)?;
            }
            // The checkpoint moves over the longest prefix that needs nothing more from the bus.
            let done = |id: &Uuid| {
                report.published.contains(id) || report.rejected.iter().any(|(r, _)| r == id)
            };
            let prefix = chunk.iter().take_while(|e| done(&e.event_id)).count();
            put_now += report.published.len() as i64;
            checkpoint.put += report.published.len() as i64;
            rejected.extend(report.rejected.iter().cloned());
            if let Some(last) = chunk[..prefix].last() {
                checkpoint.after = Some((last.occurred_at, last.event_id));
            }
            db.execute(
                "UPDATE kx_replay_checkpoints SET last_occurred_at = $2, last_event_id = $3,
                     put_count = $4, updated_at = now() WHERE replay_id = $1",
                &[
                    &checkpoint.replay_id,
                    &checkpoint.after.map(|(t, _)| t),
                    &checkpoint.after.map(|(_, id)| id),
                    &checkpoint.put,
                ],
            )
            .map_err(db_error)?;
            bar.inc(chunk.len() as u64);
            if !report.failed.is_empty() {
                failed = report.failed;
                break 'pages;
            }
        }
    }
    bar.finish_and_clear();
    let finished = failed.is_empty();
    if finished {
        db.execute(
            "UPDATE kx_replay_checkpoints SET finished_at = now(), updated_at = now()
             WHERE replay_id = $1",
            &[&checkpoint.replay_id],
        )
        .map_err(db_error)?;
    }
    let checkpoint_json = checkpoint
        .after
        .map(|(t, id)| json!({"occurredAt": kx_events_query::format_timestamp(&t), "eventId": id}));
    let summary = json!({
        "replayId": checkpoint.replay_id,
        "bus": bus_name,
        "failedRows": sel.failed,
        "resumed": resumed,
        "matching": matching,
        "put": put_now,
        "putTotal": checkpoint.put,
        "rejected": rejected.iter().map(|(id, why)| json!({"eventId": id, "error": why})).collect::<Vec<_>>(),
        "notPut": failed.len(),
        "finished": finished,
        "checkpoint": checkpoint_json,
    });
    let text = match a.format {
        OneFormat::Json => crate::output::json(&summary),
        OneFormat::Table => {
            let mut s = format!(
                "replay {}: {put_now} of {matching} event(s) put on bus {bus_name}{}{}\n",
                checkpoint.replay_id,
                if resumed {
                    format!(" (resumed; {} in all)", checkpoint.put)
                } else {
                    String::new()
                },
                if sel.failed {
                    " (rows the bus had rejected; now marked published)"
                } else {
                    ""
                }
            );
            for (id, why) in &rejected {
                s.push_str(&format!("rejected by the bus: {id}: {why}\n"));
            }
            if let Some(c) = &checkpoint_json {
                s.push_str(&format!(
                    "checkpoint: {} {}\n",
                    c["occurredAt"].as_str().unwrap_or(""),
                    c["eventId"].as_str().unwrap_or("")
                ));
            }
            s
        }
    };
    if !finished {
        print!("{text}");
        return Err(Failure::Other(format!(
            "{} event(s) could not be put (first error: {}); the checkpoint is before them: \
             rerun the same command with --resume",
            failed.len(),
            failed[0].1
        )));
    }
    if !rejected.is_empty() {
        print!("{text}");
        return Err(Failure::Other(format!(
            "{} event(s) were rejected by the bus for good (listed above)",
            rejected.len()
        )));
    }
    Ok(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_events_per_second() {
        assert_eq!(parse_rate("50").unwrap(), 50.0);
        assert_eq!(parse_rate("2.5/s").unwrap(), 2.5);
        for bad in ["0", "-1", "x", "10/m", "", "2000000"] {
            let e = parse_rate(bad).unwrap_err();
            assert!(
                e.message().starts_with("--rate: "),
                "{bad}: {}",
                e.message()
            );
        }
    }
}
