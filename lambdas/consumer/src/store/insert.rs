//! The batch insert: a batch of events stored, linked and (optionally) leased for the bus in
//! one autocommit statement in the common case.
//!
//! The statement (`insert.sql`, [`INSERT_SQL`]) is an `INSERT … SELECT FROM unnest(…) ON
//! CONFLICT (event_id) DO NOTHING` over one array per column, so a batch costs one round trip
//! whatever its size; rows go in event-id order, so that concurrent inserts of overlapping
//! batches never deadlock. In the same statement it links children stored earlier without one
//! of the new rows as parent (never closing a cycle), reports which rows existed already (and
//! whether they need the bus), and, for the handler, takes the publish lease of the rows it
//! inserts and checks the outbox for stale rows.
//!
//! The common batch (every event new, every parent stored or in the batch) skips even that
//! statement's extra work: `insert_new.sql` ([`INSERT_NEW_SQL`]) is a plain insert with the
//! lease and the late-child update, which a duplicate or a missing parent fails with nothing
//! written (the server logs that error once per such batch); the batch then takes
//! `insert.sql`.
//!
//! Which events go in is decided in memory first ([`super::plan`]): as if every parent named
//! from outside the batch were stored (the statement checks them and inserts nothing otherwise),
//! and, when one is missing, again on what is stored: an event waits for its parent
//! ([`StoreStatus::WaitingForParent`]) or, on its last receive, is stored unlinked. Duplicates
//! are idempotent: a row that exists is never rewritten, only reported (and marked published
//! when the producer already put this copy on the bus).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kx_events::TrackedEvent;
use postgres::error::SqlState;
use postgres::types::{Json, ToSql, Type};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::outbox::MARK_PUBLISHED_SQL;
use super::plan::{decide, in_batch_links};
use super::pool::Conn;
use super::{InsertOutcome, NewEvent, Store, StoreError, StoreStatus};

const LOOKUP_SQL: &str =
    "SELECT event_id, published_at IS NOT NULL OR publish_failed_at IS NOT NULL
     FROM events WHERE event_id = ANY($1)";

impl Store {
    /// Convenience for [`Store::insert_batch`] with events that are neither on the bus nor on
    /// their last receive.
    pub async fn insert_events(
        &self,
        events: &[TrackedEvent],
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_owned(
            events.iter().cloned().map(NewEvent::from).collect(),
            Claim::default(),
        )
        .await
    }

    /// Stores a batch with ONE `INSERT … SELECT FROM unnest(…) ON CONFLICT (event_id) DO NOTHING`,
    /// autocommit, which also links late children: one round trip when every parent named from
    /// outside the batch is stored (the statement checks them), two otherwise (the events are
    /// then decided again on what is stored, and the second statement inserts those that can be).
    ///
    /// Chains: an event whose parent is stored, or is stored by this same statement, is linked
    /// (the foreign key is checked at the end of the statement, so order inside the batch does
    /// not matter). An event whose parent is missing is not inserted
    /// ([`StoreStatus::WaitingForParent`]) unless it is on its `last_receive`: then it is stored
    /// with `previous_event_id` NULL and the id in `unresolved_previous_event_id`
    /// ([`StoreStatus::InsertedUnlinked`]); its own children in the batch are linked to it. A
    /// missing parent never fails the statement. When a parent arrives, rows stored earlier
    /// without it are linked to it.
    ///
    /// Duplicate event ids inside the batch are stored once (the first one's content).
    pub async fn insert_batch(&self, items: &[NewEvent]) -> Result<InsertOutcome, StoreError> {
        self.insert_owned(items.to_vec(), Claim::default()).await
    }

    /// [`Store::insert_batch`] that also takes the publish lease of every row it inserts (not
    /// `on_bus`) for `lease`, in the same statement ([`InsertOutcome::is_claimed`]): a batch of
    /// new events costs one statement before `PutEvents` and [`Store::mark_published`] after.
    /// Rows that existed before are not claimed ([`Store::claim`] them). With `stale_after`, the
    /// same statement also checks whether the outbox has rows unpublished for that long with a
    /// free or expired lease ([`InsertOutcome::stale`]), so that the sweep runs only then.
    pub async fn insert_and_claim(
        &self,
        items: &[NewEvent],
        lease: Duration,
        stale_after: Option<Duration>,
    ) -> Result<InsertOutcome, StoreError> {
        let claim = Claim {
            lease: Some(lease.as_secs_f64()),
            stale_after: stale_after.map(|d| d.as_secs_f64()),
        };
        self.insert_owned(items.to_vec(), claim).await
    }

    async fn insert_owned(
        &self,
        items: Vec<NewEvent>,
        claim: Claim,
    ) -> Result<InsertOutcome, StoreError> {
        self.ensure_migrated().await?;
        let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(items.len());
        let mut unique: Vec<NewEvent> = Vec::with_capacity(items.len());
        for item in items {
            match seen.get(&item.event.event_id) {
                Some(&i) => {
                    unique[i].on_bus |= item.on_bus;
                    unique[i].last_receive |= item.last_receive;
                }
                None => {
                    seen.insert(item.event.event_id, unique.len());
                    unique.push(item);
                }
            }
        }
        if unique.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let unique = Arc::new(unique);
        self.run(move |c| store_batch(c, &unique, claim).map_err(StoreError::from_pg))
            .await
    }
}

/// The batch statement: inserts the accepted rows, links children stored earlier without one of
/// the inserted rows as parent (the foreign key is checked at the end of the whole statement, so
/// a child may point at a row inserted by the same statement), and reads the published state of
/// the rows that existed before it (the statement's snapshot; not looked up at all when every
/// row was new). One round trip, autocommit. Per new event it costs the bare insert's index
/// probes plus one per parent named from outside the batch (and, only while some row waits
/// unlinked, one of the small partial index of unlinked rows).
///
/// `$17` lists parents outside the batch that the caller assumed stored: the statement inserts
/// nothing unless every one of them exists, and then returns which do (so that the caller can
/// decide again without another lookup).
///
/// `$18` (seconds, or NULL): the rows it inserts (not `on_bus`) take the publish lease for the
/// caller, so that no claim statement follows. `$19` (seconds, or NULL): the cheap check of the
/// sweep, whether the outbox has rows unpublished that long with a free lease (an index range of
/// the small partial outbox index).
///
/// Rows: `(event_id, kind, flag, linked, stale)` with kind 0 = inserted now (flag: inserted with
/// the lease of `$18`), 1 = batch event that existed before (flag: needs nothing from the bus;
/// linked: 1 when the stored copy differs from this one), 3 = outside parent that exists (only
/// when one is missing; flag unused), 2 = one row: flag = whether the insert ran (all of `$17`
/// exist), linked = number of linked children, stale = the answer of `$19`'s check.
const INSERT_SQL: &str = include_str!("insert.sql");

const INSERT_TYPES: [Type; 19] = [
    Type::UUID_ARRAY,
    Type::TEXT_ARRAY,
    Type::UUID_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::JSONB_ARRAY,
    Type::JSONB_ARRAY,
    Type::UUID_ARRAY,
    Type::BOOL_ARRAY,
    Type::UUID_ARRAY,
    Type::FLOAT8,
    Type::FLOAT8,
];

/// The statement of the common batch, every event new and every parent stored or in the batch
/// (`insert_new.sql`): [`INSERT_SQL`] without `ON CONFLICT`, without its own parent check and
/// without a row per event in the answer, so that it costs what `COPY` costs plus the lease; a
/// duplicate (23505) or a missing parent (23503) fails it with nothing written, and the batch
/// goes through [`INSERT_SQL`]. Its parameters are those of [`INSERT_SQL`] (`$15`, the
/// unresolved parents, and `$17`, the parents to check, unused); one row: `(linked, stale)`.
const INSERT_NEW_SQL: &str = include_str!("insert_new.sql");

/// What one run of [`INSERT_SQL`] reported.
#[derive(Default)]
struct Ran {
    /// Every parent of `$17` exists, so the insert ran.
    ok: bool,
    inserted: HashSet<Uuid>,
    /// Rows that existed before the statement, with their published state.
    existing: HashMap<Uuid, bool>,
    /// Rows that existed with a different content than this batch's copy.
    differs: HashSet<Uuid>,
    linked: u64,
    /// Rows inserted with the caller's lease.
    claimed: HashSet<Uuid>,
    /// The stale check's answer (`None` when not asked).
    stale: Option<bool>,
}

/// What [`INSERT_SQL`] does beyond the insert: `lease` (seconds) takes the publish lease of the
/// rows it inserts; `stale_after` (seconds) checks the outbox for stale rows. `None`: neither.
#[derive(Debug, Clone, Copy, Default)]
struct Claim {
    lease: Option<f64>,
    stale_after: Option<f64>,
}

/// Stores the batch in as few round trips as possible, all autocommit (no explicit transaction):
///
/// - First, when every event looks new and linked, with [`INSERT_NEW_SQL`]: a plain insert that
///   the unique index and the foreign key check as they check `COPY`; it fails with nothing
///   written when one row exists already or one parent is missing, and the batch goes on below.
/// - Then, in ONE statement ([`INSERT_SQL`]): every event is decided as if each parent
///   named from outside the batch were stored (children of parents in the batch are linked
///   whatever their order); the statement checks those parents itself and inserts only if all
///   exist, then links late children and reports which rows existed already (and whether
///   published). This is every batch whose parents arrived first, the common case.
/// - When a parent outside the batch is missing (the statement then wrote nothing and said which
///   rows exist), or the batch has a cycle of parents, the events are decided on what is stored:
///   waiting for their parent, or stored unlinked on their last receive; a second statement
///   inserts those that can be. No statement takes a lock beforehand: the insert's own
///   foreign-key check locks the parents it needs (`FOR KEY SHARE`). If a parent disappeared in
///   between, the insert fails with a foreign-key violation and nothing is written: the handler
///   reports every record of the batch as a batch item failure and SQS retries them (rows of
///   `events` are never deleted by the consumer, so this race needs an outside delete).
/// - Only when an `on_bus` copy finds its row already stored, a last `UPDATE` marks it published
///   (idempotent: a failure there leaves the rows for the redelivery, which finds them and
///   updates them then).
///
/// Statements are prepared once per pooled connection (see `pool`).
fn store_batch(
    c: &mut Conn,
    items: &[NewEvent],
    claim: Claim,
) -> Result<InsertOutcome, postgres::Error> {
    let mut out = InsertOutcome::default();
    let batch_ids: HashSet<Uuid> = items.iter().map(|i| i.event.event_id).collect();
    let mut outside: Vec<Uuid> = items
        .iter()
        .filter_map(|i| i.event.previous_event_id)
        .filter(|p| !batch_ids.contains(p))
        .collect();
    outside.sort_unstable();
    outside.dedup();
    let all: Vec<usize> = (0..items.len()).collect();
    let (optimistic, optimistic_undecided) = decide(items, all, outside.iter().copied().collect());
    let mut existing: Option<HashMap<Uuid, bool>> = None;
    if optimistic_undecided.is_empty() && optimistic.iter().all(|&(_, m)| m.is_none()) {
        if let Some(ran) = run_insert_new(c, items, &optimistic, claim)? {
            return finish(c, items, out, &optimistic, ran);
        }
        let ran = run_insert(c, items, &optimistic, &outside, claim)?;
        if ran.ok {
            return finish(c, items, out, &optimistic, ran);
        }
        out.stale = ran.stale;
        existing = Some(ran.existing);
    }
    // Decide on what is stored.
    let existing = match existing {
        Some(e) => e,
        None => {
            let mut lookup: Vec<Uuid> = batch_ids.iter().copied().collect();
            lookup.extend(outside.iter().copied());
            let st = c.statement(LOOKUP_SQL, &[Type::UUID_ARRAY])?;
            c.client()
                .query(&st, &[&lookup])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        }
    };
    let mut candidates = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if existing.contains_key(&item.event.event_id) {
            out.statuses
                .insert(item.event.event_id, StoreStatus::AlreadyStored);
        } else {
            candidates.push(i);
        }
    }
    let (accepted, undecided) = decide(items, candidates, existing.keys().copied().collect());
    for &i in &undecided {
        let e = &items[i].event;
        out.statuses.insert(
            e.event_id,
            StoreStatus::WaitingForParent {
                missing_parent: e.previous_event_id.unwrap_or_default(),
            },
        );
    }
    let mut ran = if accepted.is_empty() {
        Ran {
            stale: out.stale,
            ..Ran::default()
        }
    } else {
        run_insert(c, items, &accepted, &[], claim)?
    };
    for (id, published) in existing {
        ran.existing.entry(id).or_insert(published);
    }
    finish(c, items, out, &accepted, ran)
}
/// Runs [`INSERT_NEW_SQL`] for the `accepted` events, none of them waiting for a parent:
/// `Ok(None)` when the statement found a row already stored (23505) or a parent missing (23503)
/// and so wrote nothing, for [`run_insert`] to decide again.
fn run_insert_new(
    c: &mut Conn,
    items: &[NewEvent],
    accepted: &[(usize, Option<Uuid>)],
    claim: Claim,
) -> Result<Option<Ran>, postgres::Error> {
    let mut accepted = accepted.to_vec();
    accepted.sort_unstable_by_key(|&(i, _)| items[i].event.event_id);
    let cols = Columns::of(items, &accepted, &HashMap::new());
    let st = c.statement(INSERT_NEW_SQL, &INSERT_TYPES)?;
    let row = match c.client().query_one(&st, &cols.params(&claim)) {
        Ok(row) => row,
        Err(e)
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                || e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let claimed = match claim.lease {
        Some(_) => accepted
            .iter()
            .filter(|&&(i, _)| !items[i].on_bus)
            .map(|&(i, _)| items[i].event.event_id)
            .collect(),
        None => HashSet::new(),
    };
    Ok(Some(Ran {
        ok: true,
        inserted: cols.event_id.iter().copied().collect(),
        linked: row.get::<_, i64>(0).max(0) as u64,
        claimed,
        stale: row.get(1),
        ..Ran::default()
    }))
}

/// Runs [`INSERT_SQL`] for the `accepted` events (as (index, unresolved parent)), checking that
/// the parents in `check` exist.
fn run_insert(
    c: &mut Conn,
    items: &[NewEvent],
    accepted: &[(usize, Option<Uuid>)],
    check: &[Uuid],
    claim: Claim,
) -> Result<Ran, postgres::Error> {
    // A consistent row order keeps concurrent inserts of overlapping batches from deadlocking.
    let mut accepted = accepted.to_vec();
    accepted.sort_unstable_by_key(|&(i, _)| items[i].event.event_id);
    let links = in_batch_links(items, &accepted);
    let mut cols = Columns::of(items, &accepted, &links);
    cols.check = check.to_vec();
    let st = c.statement(INSERT_SQL, &INSERT_TYPES)?;
    let rows = c.client().query(&st, &cols.params(&claim))?;
    let mut ran = Ran::default();
    for r in &rows {
        match r.get::<_, i32>(1) {
            0 => {
                ran.inserted.insert(r.get(0));
                if r.get::<_, bool>(2) {
                    ran.claimed.insert(r.get(0));
                }
            }
            1 => {
                ran.existing.insert(r.get(0), r.get(2));
                if r.get::<_, i64>(3) == 1 {
                    ran.differs.insert(r.get(0));
                }
            }
            3 => {
                ran.existing.insert(r.get(0), r.get(2));
            }
            _ => {
                ran.ok = r.get(2);
                ran.linked = r.get::<_, i64>(3).max(0) as u64;
                ran.stale = r.get(4);
            }
        }
    }
    Ok(ran)
}

/// The batch as one array per column (the parameters `$1 …` of both insert statements), in
/// the order of `accepted`.
struct Columns<'a> {
    event_id: Vec<Uuid>,
    client_id: Vec<&'a str>,
    previous: Vec<Option<Uuid>>,
    user_id: Vec<Option<&'a str>>,
    entity_id: Vec<Option<&'a str>>,
    entity_type: Vec<&'a str>,
    event_type: Vec<&'a str>,
    source: Vec<Option<&'a str>>,
    campaign_id: Vec<Option<&'a str>>,
    points: Vec<Option<i32>>,
    session_id: Vec<Option<&'a str>>,
    occurred_at: Vec<DateTime<Utc>>,
    metadata: Vec<Option<Json<&'a Map<String, Value>>>>,
    extra: Vec<Option<Json<&'a Map<String, Value>>>>,
    unresolved: Vec<Option<Uuid>>,
    on_bus: Vec<bool>,
    /// Parents named from outside the batch that must exist (`$17` of [`INSERT_SQL`]).
    check: Vec<Uuid>,
}

impl<'a> Columns<'a> {
    fn of(
        items: &'a [NewEvent],
        accepted: &[(usize, Option<Uuid>)],
        links: &HashMap<Uuid, Uuid>,
    ) -> Columns<'a> {
        let n = accepted.len();
        let mut c = Columns {
            event_id: Vec::with_capacity(n),
            client_id: Vec::with_capacity(n),
            previous: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            entity_id: Vec::with_capacity(n),
            entity_type: Vec::with_capacity(n),
            event_type: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            campaign_id: Vec::with_capacity(n),
            points: Vec::with_capacity(n),
            session_id: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            unresolved: Vec::with_capacity(n),
            on_bus: Vec::with_capacity(n),
            check: Vec::new(),
        };
        for &(i, missing) in accepted {
            let e = &items[i].event;
            c.event_id.push(e.event_id);
            c.client_id.push(e.client_id.as_str());
            // An event stored unlinked whose parent is stored by this same statement (both on their
            // last receive in one batch) is linked to it at once (see `finish`).
            let in_batch = missing.and_then(|_| links.get(&e.event_id).copied());
            c.previous.push(match missing {
                Some(_) => in_batch,
                None => e.previous_event_id,
            });
            c.user_id.push(e.user_id.as_deref());
            c.entity_id.push(e.entity_id.as_deref());
            c.entity_type.push(e.entity_type.as_str());
            c.event_type.push(e.event_type.as_str());
            c.source.push(e.source.as_deref());
            c.campaign_id.push(e.campaign_id.as_deref());
            c.points.push(e.points_awarded);
            c.session_id.push(e.session_id.as_deref());
            c.occurred_at.push(e.occurred_at);
            // Serialised straight from the event (no copy of the maps).
            c.metadata.push(e.metadata.as_ref().map(Json));
            c.extra
                .push((!e.extra.is_empty()).then_some(Json(&e.extra)));
            c.unresolved
                .push(if in_batch.is_some() { None } else { missing });
            c.on_bus.push(items[i].on_bus);
        }
        c
    }

    /// The parameters of [`INSERT_SQL`] (and [`INSERT_NEW_SQL`]): the columns, the outside
    /// parents to check, the lease and the stale check of `claim`.
    fn params<'p>(&'p self, claim: &'p Claim) -> [&'p (dyn ToSql + Sync); 19] {
        [
            &self.event_id,
            &self.client_id,
            &self.previous,
            &self.user_id,
            &self.entity_id,
            &self.entity_type,
            &self.event_type,
            &self.source,
            &self.campaign_id,
            &self.points,
            &self.session_id,
            &self.occurred_at,
            &self.metadata,
            &self.extra,
            &self.unresolved,
            &self.on_bus,
            &self.check,
            &claim.lease,
            &claim.stale_after,
        ]
    }
}

/// The statuses of the `accepted` events after [`INSERT_SQL`] ran, and the `on_bus` marking.
fn finish(
    c: &mut Conn,
    items: &[NewEvent],
    mut out: InsertOutcome,
    accepted: &[(usize, Option<Uuid>)],
    ran: Ran,
) -> Result<InsertOutcome, postgres::Error> {
    let Ran {
        inserted,
        existing,
        linked,
        differs,
        claimed,
        stale,
        ..
    } = ran;
    out.differs = differs;
    out.claimed = claimed;
    out.stale = stale;
    // A child stored unlinked whose parent was inserted by the same statement was linked to it
    // at once: it keeps its `InsertedUnlinked` status and counts as a linked child, as if stored
    // unlinked and linked by the late-parent update (which only sees rows that existed before
    // the statement). If that parent is inserted concurrently by another consumer in between,
    // the child is linked all the same (the foreign key holds).
    let links = in_batch_links(items, accepted);
    out.linked_children = linked
        + links
            .iter()
            .filter(|(child, parent)| inserted.contains(child) && inserted.contains(parent))
            .count() as u64;
    for &(i, missing) in accepted {
        let id = items[i].event.event_id;
        let status = match (inserted.contains(&id), missing) {
            // Stored before (the statement's snapshot saw it), or inserted concurrently by
            // another consumer after that snapshot.
            (false, _) => StoreStatus::AlreadyStored,
            (true, None) => StoreStatus::Inserted,
            (true, Some(p)) => StoreStatus::InsertedUnlinked { missing_parent: p },
        };
        out.statuses.insert(id, status);
    }

    // The producer already put these on the bus: a row stored earlier by a copy without the
    // attribute must not be put again.
    let on_bus_stored: Vec<Uuid> = items
        .iter()
        .filter(|i| i.on_bus && !inserted.contains(&i.event.event_id))
        .filter(|i| out.statuses[&i.event.event_id].is_stored())
        .map(|i| i.event.event_id)
        .collect();
    if !on_bus_stored.is_empty() {
        let st = c.statement(MARK_PUBLISHED_SQL, &[Type::UUID_ARRAY])?;
        c.client().execute(&st, &[&on_bus_stored])?;
    }
    for item in items {
        let id = item.event.event_id;
        if existing.get(&id).copied().unwrap_or(false)
            || (item.on_bus && out.statuses[&id].is_stored())
        {
            out.published.insert(id);
        }
    }
    Ok(out)
}
