//! The outbox: the `events` table's publish columns.
//!
//! A row is put on the bus only by the consumer that holds its publish lease
//! (`publish_lease`, a time): [`Store::claim`] takes it for rows of this batch, the sweep
//! ([`Store::claim_stale`]) for rows left unpublished by others (`FOR UPDATE SKIP LOCKED`, oldest
//! first), each one autocommit `UPDATE … RETURNING`, so two consumers never hold the same row.
//! After `PutEvents` a row is marked published ([`Store::mark_published`]), its lease released
//! for a retry ([`Store::release`]), or marked rejected for good ([`Store::mark_rejected`]),
//! which the sweep skips until an operator replays it. [`Store::link_orphans`] links children
//! stored without their parent once the parent is stored.

use std::time::Duration;

use kx_events::TrackedEvent;
use postgres::types::Type;
use uuid::Uuid;

use super::pool::Conn;
use super::{row_event, Store, StoreError};

const CLAIM_SQL: &str = concat!(
    "UPDATE events SET publish_lease = now() + make_interval(secs => $2)
     WHERE event_id = ANY($1) AND published_at IS NULL AND publish_failed_at IS NULL
       AND (publish_lease IS NULL OR publish_lease < now())
     RETURNING ",
    event_columns!()
);

const CLAIM_STALE_SQL: &str = concat!(
    "UPDATE events SET publish_lease = now() + make_interval(secs => $3)
     WHERE event_id IN (
         SELECT event_id FROM events
         WHERE published_at IS NULL AND publish_failed_at IS NULL
           AND created_at <= now() - make_interval(secs => $2)
           AND (publish_lease IS NULL OR publish_lease < now())
           AND event_id <> ALL($4)
         ORDER BY created_at
         LIMIT $1
         FOR UPDATE SKIP LOCKED)
       AND published_at IS NULL
     RETURNING ",
    event_columns!()
);

const OUTBOX_BACKLOG_SQL: &str = "SELECT count(*) FROM (
         SELECT 1 FROM events
         WHERE published_at IS NULL AND publish_failed_at IS NULL
           AND created_at <= now() - make_interval(secs => $1)
         LIMIT $2) AS backlog";

pub(super) const MARK_PUBLISHED_SQL: &str =
    "UPDATE events SET published_at = now(), publish_lease = NULL
     WHERE event_id = ANY($1) AND published_at IS NULL";

const RELEASE_SQL: &str = "UPDATE events SET publish_lease = NULL,
         publish_attempts = coalesce(publish_attempts, 0) + 1
     WHERE event_id = ANY($1) AND published_at IS NULL";

/// Links children stored unlinked whose parent is stored now (a parent inserted concurrently by
/// another consumer, whose link step could not see the child yet), never closing a cycle.
const LINK_ORPHANS_SQL: &str = "UPDATE events c
     SET previous_event_id = c.unresolved_previous_event_id, unresolved_previous_event_id = NULL
     FROM events p
     WHERE c.unresolved_previous_event_id IS NOT NULL
       AND p.event_id = c.unresolved_previous_event_id
       AND p.event_id <> c.event_id
       AND NOT EXISTS (
         WITH RECURSIVE up(id, depth) AS (
           SELECT p.previous_event_id, 1
           UNION ALL
           SELECT (SELECT a.previous_event_id FROM events a WHERE a.event_id = up.id), up.depth + 1
           FROM up WHERE up.id IS NOT NULL AND up.depth < 1000)
         SELECT 1 FROM up WHERE up.id = c.event_id)";

/// Records permanent rejections: the sweep skips these rows until an operator replays them.
const REJECT_SQL: &str = "UPDATE events SET publish_lease = NULL, publish_failed_at = now(),
         publish_error = u.error, publish_attempts = coalesce(publish_attempts, 0) + 1
     FROM unnest($1::uuid[], $2::text[]) AS u(event_id, error)
     WHERE events.event_id = u.event_id AND events.published_at IS NULL";

impl Store {
    /// Claims the unpublished rows among `event_ids` for `lease` (rows claimed by another live
    /// lease, or already published, are left out) and returns them as events. One autocommit
    /// `UPDATE … RETURNING`: two consumers never claim the same row at once.
    pub async fn claim(
        &self,
        event_ids: &[Uuid],
        lease: Duration,
    ) -> Result<Vec<TrackedEvent>, StoreError> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = event_ids.to_vec();
        let secs = lease.as_secs_f64();
        self.run(move |c| {
            let st = c
                .statement(CLAIM_SQL, &[Type::UUID_ARRAY, Type::FLOAT8])
                .map_err(StoreError::from_pg)?;
            let rows = c
                .client()
                .query(&st, &[&ids, &secs])
                .map_err(StoreError::from_pg)?;
            Ok(rows.iter().map(row_event).collect())
        })
        .await
    }

    /// The outbox sweep: claims up to `limit` unpublished rows created more than `min_age` ago
    /// whose lease is free or expired, oldest first, skipping rows locked by others
    /// (`FOR UPDATE SKIP LOCKED`) and `exclude`.
    pub async fn claim_stale(
        &self,
        limit: u32,
        min_age: Duration,
        lease: Duration,
        exclude: &[Uuid],
    ) -> Result<Vec<TrackedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.ensure_migrated().await?;
        let exclude = exclude.to_vec();
        let (limit, age, secs) = (i64::from(limit), min_age.as_secs_f64(), lease.as_secs_f64());
        self.run(move |c| {
            let st = c
                .statement(
                    CLAIM_STALE_SQL,
                    &[Type::INT8, Type::FLOAT8, Type::FLOAT8, Type::UUID_ARRAY],
                )
                .map_err(StoreError::from_pg)?;
            let rows = c
                .client()
                .query(&st, &[&limit, &age, &secs, &exclude])
                .map_err(StoreError::from_pg)?;
            Ok(rows.iter().map(row_event).collect())
        })
        .await
    }

    /// Marks rows as put on the bus and drops their lease.
    pub async fn mark_published(&self, event_ids: &[Uuid]) -> Result<u64, StoreError> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let ids = event_ids.to_vec();
        self.run(move |c| execute(c, MARK_PUBLISHED_SQL, &ids))
            .await
    }

    /// Counts the unpublished rows (not rejected) created more than `min_age` ago, stopping at
    /// `cap`: a read of the outbox's partial index, cheap enough for every invocation.
    pub async fn outbox_backlog(&self, min_age: Duration, cap: u64) -> Result<u64, StoreError> {
        let (age, cap) = (min_age.as_secs_f64(), cap.min(i64::MAX as u64) as i64);
        self.run(move |c| {
            let st = c
                .statement(OUTBOX_BACKLOG_SQL, &[Type::FLOAT8, Type::INT8])
                .map_err(StoreError::from_pg)?;
            let n: i64 = c
                .client()
                .query_one(&st, &[&age, &cap])
                .map_err(StoreError::from_pg)?
                .get(0);
            Ok(n.max(0) as u64)
        })
        .await
    }

    /// Drops the lease of rows whose put failed, so that the next attempt need not wait for it.
    pub async fn release(&self, event_ids: &[Uuid]) -> Result<u64, StoreError> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let ids = event_ids.to_vec();
        self.run(move |c| execute(c, RELEASE_SQL, &ids)).await
    }

    /// Links rows stored without their parent to that parent when it is stored now (see
    /// [`LINK_ORPHANS_SQL`]); returns how many were linked. The sweep runs it; it reads only
    /// the small partial index of unlinked rows.
    pub async fn link_orphans(&self) -> Result<u64, StoreError> {
        self.run(|c| {
            let st = c
                .statement(LINK_ORPHANS_SQL, &[])
                .map_err(StoreError::from_pg)?;
            c.client().execute(&st, &[]).map_err(StoreError::from_pg)
        })
        .await
    }

    /// Records that the bus refused these events for good (`code: message` each): the rows stay
    /// unpublished with `publish_failed_at`, `publish_error` and `publish_attempts` set, and the
    /// outbox sweep skips them (`kx replay --failed` puts them on the bus once the cause is
    /// fixed).
    pub async fn mark_rejected(&self, rejected: &[(Uuid, String)]) -> Result<u64, StoreError> {
        if rejected.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = rejected.iter().map(|(id, _)| *id).collect();
        let errors: Vec<String> = rejected.iter().map(|(_, e)| e.clone()).collect();
        self.run(move |c| {
            let st = c
                .statement(REJECT_SQL, &[Type::UUID_ARRAY, Type::TEXT_ARRAY])
                .map_err(StoreError::from_pg)?;
            c.client()
                .execute(&st, &[&ids, &errors])
                .map_err(StoreError::from_pg)
        })
        .await
    }
}

/// Runs a prepared statement whose only parameter is an array of event ids.
fn execute(c: &mut Conn, sql: &'static str, ids: &Vec<Uuid>) -> Result<u64, StoreError> {
    let st = c
        .statement(sql, &[Type::UUID_ARRAY])
        .map_err(StoreError::from_pg)?;
    c.client().execute(&st, &[ids]).map_err(StoreError::from_pg)
}
