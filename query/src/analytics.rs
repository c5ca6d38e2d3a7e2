//! `analytics(filter)`: the seed's `getAnalytics`, plus unique users and a breakdown by source.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use postgres::GenericClient;
use serde::Serialize;

use crate::error::Error;
use crate::params::Filter;
use crate::sql::Sql;

/// How far back [`Analytics::events_per_day`] goes from the end of the range (or now).
pub const EVENTS_PER_DAY_WINDOW_DAYS: i64 = 30;

/// Counts over the events matching a [`Filter`] (usually a `clientId`, or none for all
/// clients, and an optional time range). Serialises camelCase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    /// The `clientId` filter, if any (`null`: all clients).
    pub client_id: Option<String>,
    /// How many events.
    pub total_events: i64,
    /// Per `(entityType, eventType)`, most frequent first.
    pub events_by_type: Vec<TypeCount>,
    /// Sum of `pointsAwarded`.
    pub total_points: i64,
    /// Per UTC day, newest first, over the [`EVENTS_PER_DAY_WINDOW_DAYS`] days before the
    /// range's end (or now); days without events are absent.
    pub events_per_day: Vec<DayCount>,
    /// Distinct non-null `userId`s.
    pub unique_users: i64,
    /// Per `source` (`null`: none given), most frequent first.
    pub by_source: Vec<SourceCount>,
}

/// A count of [`Analytics::events_by_type`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeCount {
    /// `entityType`
    pub entity_type: Option<String>,
    /// `eventType`
    pub event_type: String,
    /// Events of that type.
    pub count: i64,
}

/// A count of [`Analytics::events_per_day`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Events that day.
    pub count: i64,
}

/// A count of [`Analytics::by_source`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCount {
    /// `source`
    pub source: Option<String>,
    /// Events from it.
    pub count: i64,
}

fn filtered(select: &'static str, filter: &Filter) -> Sql {
    let mut sql = Sql::new(select);
    sql.push(" FROM events e WHERE TRUE");
    sql.filter(filter);
    sql
}

/// Counts over the events matching `filter`, read in one read-only, repeatable-read
/// transaction so that the figures agree with each other.
pub fn analytics(client: &mut impl GenericClient, filter: &Filter) -> Result<Analytics, Error> {
    analytics_at(client, filter, Utc::now())
}

/// [`analytics`] with "now" given (the end of the per-day window when the filter has none).
pub fn analytics_at(
    client: &mut impl GenericClient,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Analytics, Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;

    let totals = filtered(
        "SELECT count(*), COALESCE(sum(e.points_awarded), 0)::int8, count(DISTINCT e.user_id)",
        filter,
    );
    let row = tx.query_one(totals.text.as_str(), &totals.params())?;
    let (total_events, total_points, unique_users) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);

    let mut by_type = filtered("SELECT e.entity_type, e.event_type, count(*)", filter);
    by_type.push(" GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2");
    let events_by_type = tx
        .query(by_type.text.as_str(), &by_type.params())?
        .iter()
        .map(|r| {
            Ok(TypeCount {
                entity_type: r.try_get(0)?,
                event_type: r.try_get(1)?,
                count: r.try_get(2)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;

    let end = filter.end.unwrap_or(now);
    let mut per_day = filtered(
        "SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, count(*)",
        filter,
    );
    per_day.and(
        " AND e.occurred_at >= ",
        end - Duration::days(EVENTS_PER_DAY_WINDOW_DAYS),
    );
    per_day.and(" AND e.occurred_at < ", end);
    per_day.push(" GROUP BY 1 ORDER BY 1 DESC");
    let events_per_day = tx
        .query(per_day.text.as_str(), &per_day.params())?
        .iter()
        .map(|r| {
            Ok(DayCount {
                date: r.try_get(0)?,
                count: r.try_get(1)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;

    let mut by_source = filtered("SELECT e.source, count(*)", filter);
    by_source.push(" GROUP BY 1 ORDER BY 2 DESC, 1");
    let by_source = tx
        .query(by_source.text.as_str(), &by_source.params())?
        .iter()
        .map(|r| {
            Ok(SourceCount {
                source: r.try_get(0)?,
                count: r.try_get(1)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;

    tx.commit()?;
    Ok(Analytics {
        client_id: filter.client_id.clone(),
        total_events,
        events_by_type,
        total_points,
        events_per_day,
        unique_users,
        by_source,
    })
}
