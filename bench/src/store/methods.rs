//! The ways figure 1 stores a batch: the real store, the TypeScript system's per-message INSERT,
//! `COPY FROM STDIN` and the bare unnest statement, each on its own connection.

use super::{BARE, COPY, PER_MESSAGE, REAL};
use crate::db::{BenchResult, Context, Server};
use crate::workload::{metadata_value, row_params, COLUMNS, PER_MESSAGE_INSERT};
use kx_events::TrackedEvent;
use kx_events_consumer::Store;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Statement};
use uuid::Uuid;

/// One way of storing a batch.
pub(crate) trait Method {
    /// Short name for the table.
    fn name(&self) -> &'static str;
    /// Whether the method can take events that are already stored (`COPY` cannot).
    fn handles_duplicates(&self) -> bool {
        true
    }
    /// Stores one batch.
    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()>;
    /// Whether its connection reports statistics on its own schedule (a pooled connection this
    /// harness cannot ask to report now).
    fn reports_late(&self) -> bool {
        false
    }
    /// One round trip on the method's own connection (makes it report its statistics).
    fn ping(&mut self, client: &mut Client) -> BenchResult<()> {
        client.batch_execute("SELECT 1").context("SELECT 1")
    }
}

/// The TypeScript system's Node consumer: one `INSERT … ON CONFLICT DO NOTHING` per event, autocommit (one
/// transaction and one round trip per event; the statement is prepared once, so each event is a
/// single Bind/Execute round trip, as node-postgres sends it).
pub(crate) struct PerMessage {
    pub(crate) statement: Option<Statement>,
}

impl Method for PerMessage {
    fn name(&self) -> &'static str {
        PER_MESSAGE
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => {
                let s = client
                    .prepare(PER_MESSAGE_INSERT)
                    .context("preparing the per-message INSERT")?;
                self.statement = Some(s.clone());
                s
            }
        };
        for e in batch {
            let metadata = metadata_value(e);
            client
                .execute(&statement, &row_params(e, &metadata))
                .context("per-message INSERT")?;
        }
        Ok(())
    }
}

/// Reference, not a baseline of the issue: the bare statement of the design, one autocommit
/// `INSERT … SELECT FROM unnest($1 … $13) ON CONFLICT (event_id) DO NOTHING` per batch, prepared
/// once (one round trip and one commit per batch). It shows how far the real store's extra work
/// (parent lookup, chains, outbox columns, its transaction) is from the statement alone.
pub(crate) struct BareUnnest {
    pub(crate) statement: Option<Statement>,
}

impl Method for BareUnnest {
    fn name(&self) -> &'static str {
        BARE
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => {
                let s = client
                    .prepare(&format!(
                        "INSERT INTO events ({COLUMNS}) \
                         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[], \
                         $12::timestamptz[], $13::jsonb[]) \
                         ON CONFLICT (event_id) DO NOTHING"
                    ))
                    .context("preparing the unnest INSERT")?;
                self.statement = Some(s.clone());
                s
            }
        };
        let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
        let clients: Vec<&str> = batch.iter().map(|e| e.client_id.as_str()).collect();
        let previous: Vec<Option<Uuid>> = batch.iter().map(|e| e.previous_event_id).collect();
        let users: Vec<Option<&str>> = batch.iter().map(|e| e.user_id.as_deref()).collect();
        let entities: Vec<Option<&str>> = batch.iter().map(|e| e.entity_id.as_deref()).collect();
        let entity_types: Vec<&str> = batch.iter().map(|e| e.entity_type.as_str()).collect();
        let event_types: Vec<&str> = batch.iter().map(|e| e.event_type.as_str()).collect();
        let sources: Vec<Option<&str>> = batch.iter().map(|e| e.source.as_deref()).collect();
        let campaigns: Vec<Option<&str>> = batch.iter().map(|e| e.campaign_id.as_deref()).collect();
        let points: Vec<Option<i32>> = batch.iter().map(|e| e.points_awarded).collect();
        let sessions: Vec<Option<&str>> = batch.iter().map(|e| e.session_id.as_deref()).collect();
        let occurred: Vec<chrono::DateTime<chrono::Utc>> =
            batch.iter().map(|e| e.occurred_at).collect();
        let metadata: Vec<Option<serde_json::Value>> = batch.iter().map(metadata_value).collect();
        client
            .execute(
                &statement,
                &[
                    &ids,
                    &clients,
                    &previous,
                    &users,
                    &entities,
                    &entity_types,
                    &event_types,
                    &sources,
                    &campaigns,
                    &points,
                    &sessions,
                    &occurred,
                    &metadata,
                ],
            )
            .context("unnest INSERT")?;
        Ok(())
    }
}

/// `COPY events (…) FROM STDIN (FORMAT binary)`, one COPY per batch: the table's physical limit
/// (same indexes, same foreign-key checks, no conflict handling, so it cannot take duplicates).
pub(crate) struct CopyIn;

const COPY_TYPES: [Type; 13] = [
    Type::UUID,
    Type::VARCHAR,
    Type::UUID,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::VARCHAR,
    Type::INT4,
    Type::VARCHAR,
    Type::TIMESTAMPTZ,
    Type::JSONB,
];

impl Method for CopyIn {
    fn name(&self) -> &'static str {
        COPY
    }

    fn handles_duplicates(&self) -> bool {
        false
    }

    fn store(&mut self, client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        copy_in(client, batch)
    }
}

/// Loads `batch` with one binary COPY.
pub fn copy_in(client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
    let sink = client
        .copy_in(&format!(
            "COPY events ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .context("COPY")?;
    let mut writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    for e in batch {
        let metadata = metadata_value(e);
        writer
            .write(&row_params(e, &metadata))
            .context("COPY row")?;
    }
    writer.finish().context("COPY")?;
    Ok(())
}

/// The project's real store code: `kx_events_consumer::Store::insert_events` (one
/// `INSERT … SELECT FROM unnest(…) ON CONFLICT (event_id) DO NOTHING` per batch, autocommit, that
/// also checks the parents named from outside the batch; a lookup first only when one is
/// missing), through its own r2d2 pool and `spawn_blocking`, driven from a tokio runtime as the
/// Lambda drives it.
pub(crate) struct RealStore {
    pub(crate) store: Store,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl Method for RealStore {
    fn name(&self) -> &'static str {
        REAL
    }

    fn store(&mut self, _client: &mut Client, batch: &[TrackedEvent]) -> BenchResult<()> {
        let outcome = self
            .runtime
            .block_on(self.store.insert_events(batch))
            .context("Store::insert_events")?;
        let handled = batch
            .iter()
            .filter(|e| outcome.status(&e.event_id).is_some_and(|s| s.is_stored()))
            .count();
        if handled != batch.len() {
            return Err(format!(
                "Store::insert_events stored {handled} of {} events",
                batch.len()
            ));
        }
        Ok(())
    }

    fn reports_late(&self) -> bool {
        true
    }

    fn ping(&mut self, _client: &mut Client) -> BenchResult<()> {
        self.runtime
            .block_on(self.store.ping())
            .context("Store::ping")
    }
}

/// The real store, connected to `database` with a pool of one connection (one invocation at a
/// time, as in Lambda), without TLS (loopback).
pub fn real_store(server: &Server, database: &str) -> BenchResult<Store> {
    Store::connect(server.store_settings(database)?).context("Store::connect")
}

/// A runtime like the Lambda's, for the store's async API outside `main`'s runtime.
pub fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("building a tokio runtime")
}
