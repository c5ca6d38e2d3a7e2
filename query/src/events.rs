//! `events(filter, page)` and `event(id)`.

use postgres::GenericClient;
use serde::ser::{Serialize, SerializeMap, Serializer};
use uuid::Uuid;

use crate::cursor::Cursor;
use crate::error::{Error, ParamError};
use crate::event::{columns, Event, COLUMNS};
use crate::params::{EventsRequest, Fields, Start, MAX_LIMIT};
use crate::sql::{explain, Sql};

/// One page of [`events`], newest first.
///
/// Serialises as `{"data": [...], "count": n, "nextCursor": "..." | null}`, each row with the
/// requested fields only.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The rows, `occurred_at DESC, event_id DESC`.
    pub events: Vec<Event>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
    /// The fields each row carries in its JSON.
    pub fields: Fields,
}

impl Serialize for EventPage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        let rows: Vec<_> = self
            .events
            .iter()
            .map(|e| e.to_json(&self.fields))
            .collect();
        m.serialize_entry("data", &rows)?;
        m.serialize_entry("count", &rows.len())?;
        m.serialize_entry("nextCursor", &self.next_cursor.map(|c| c.encode()))?;
        m.end()
    }
}

/// The statement of [`events`]: the filter, the keyset condition, newest first, `limit + 1`
/// rows (the extra row only tells whether there is a next page).
fn events_sql(req: &EventsRequest) -> Sql {
    let mut sql = Sql::new("SELECT ");
    sql.push(columns(&req.page.fields));
    sql.push(" FROM events e WHERE TRUE");
    sql.filter(&req.filter);
    if let Start::After(c) = &req.page.start {
        // The row comparison is the exact keyset condition; the redundant bound on occurred_at
        // alone lets every (…, occurred_at) index stop its backward scan there.
        sql.and(" AND e.occurred_at <= ", c.occurred_at());
        sql.and(" AND (e.occurred_at, e.event_id) < (", c.occurred_at());
        sql.and(", ", c.event_id());
        sql.push(")");
    }
    sql.push(" ORDER BY e.occurred_at DESC, e.event_id DESC");
    sql.and(" LIMIT ", i64::from(req.page.limit) + 1);
    if let Start::Offset(n) = req.page.start {
        sql.and(" OFFSET ", i64::try_from(n).unwrap_or(i64::MAX));
    }
    sql
}

/// The events matching `req.filter`, one page of `req.page`, newest first.
///
/// Follow [`EventPage::next_cursor`] (as [`Start::After`], or `cursor=` on the wire) to read on:
/// pages never overlap or skip a row, even while events are being inserted.
///
/// `req.page.limit` must be 1..=[`MAX_LIMIT`] (the parser guarantees it; a request built by hand
/// is checked here too).
pub fn events(client: &mut impl GenericClient, req: &EventsRequest) -> Result<EventPage, Error> {
    if !(1..=MAX_LIMIT).contains(&req.page.limit) {
        return Err(ParamError::new(
            "limit",
            format!("must be 1..{MAX_LIMIT}, got {}", req.page.limit),
        )
        .into());
    }
    let sql = events_sql(req);
    let rows = client.query(sql.text.as_str(), &sql.params())?;
    let mut events = rows
        .iter()
        .map(Event::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let limit = req.page.limit as usize;
    let next_cursor = if events.len() > limit {
        events.truncate(limit);
        events
            .last()
            .map(|e| Cursor::new(e.occurred_at, e.event_id))
    } else {
        None
    };
    Ok(EventPage {
        events,
        next_cursor,
        fields: req.page.fields.clone(),
    })
}

/// The plan PostgreSQL chooses for [`events`] with `req` (`EXPLAIN`, one line per element), to
/// check that a filter is served by an index.
pub fn explain_events(
    client: &mut impl GenericClient,
    req: &EventsRequest,
) -> Result<Vec<String>, Error> {
    explain(client, &events_sql(req))
}

/// The event `id`, or `None` when there is none.
pub fn event(client: &mut impl GenericClient, id: Uuid) -> Result<Option<Event>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM events e WHERE e.event_id = $1");
    let row = client.query_opt(sql.as_str(), &[&id])?;
    Ok(row.as_ref().map(Event::from_row).transpose()?)
}
