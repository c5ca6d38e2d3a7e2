//! `analytics(filter)`: the TypeScript system's `getAnalytics`, plus unique users and a
//! breakdown by source.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::params::Filter;
use crate::sql::{explain, Sql};

/// How far back [`Analytics::events_per_day`] goes from the end of the range (or now).
pub const EVENTS_PER_DAY_WINDOW_DAYS: i64 = 30;

/// Counts over the events matching a [`Filter`] (usually a `clientId`, or none for all
/// clients, and an optional time range). Serialises camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Events that day.
    pub count: i64,
}

/// A count of [`Analytics::by_source`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    /// `source`
    pub source: Option<String>,
    /// Events from it.
    pub count: i64,
}

/// Counts over the events matching `filter`, computed by one statement (so from one snapshot:
/// the figures agree with each other even while events arrive, whatever `client` is, a
/// `Client` or an open `Transaction`).
///
/// Each count is an aggregate over the filtered rows: with a `clientId` (or another filter) the
/// rows come from that filter's index; over all clients it reads the whole table.
pub fn analytics(client: &mut impl GenericClient, filter: &Filter) -> Result<Analytics, Error> {
    analytics_at(client, filter, Utc::now())
}

/// [`analytics`] with "now" given (the end of the per-day window when the filter has none).
pub fn analytics_at(
    client: &mut impl GenericClient,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Analytics, Error> {
    let sql = analytics_sql(filter, now);
    let mut a = Analytics {
        client_id: filter.client_id.clone(),
        total_events: 0,
        events_by_type: Vec::new(),
        total_points: 0,
        events_per_day: Vec::new(),
        unique_users: 0,
        by_source: Vec::new(),
    };
    for r in client.query(sql.text.as_str(), &sql.params())? {
        let kind: &str = r.try_get(0)?;
        let count: i64 = r.try_get(3)?;
        match kind {
            "total" => {
                a.total_events = count;
                a.total_points = r.try_get(4)?;
                a.unique_users = r.try_get(5)?;
            }
            "type" => a.events_by_type.push(TypeCount {
                entity_type: r.try_get(1)?,
                event_type: r.try_get(2)?,
                count,
            }),
            "source" => a.by_source.push(SourceCount {
                source: r.try_get(1)?,
                count,
            }),
            _ => a.events_per_day.push(DayCount {
                date: r.try_get(6)?,
                count,
            }),
        }
    }
    // Most frequent first, ties by name (an absent name last); days newest first.
    a.events_by_type.sort_by(|x, y| {
        (
            y.count,
            x.entity_type.is_none(),
            &x.entity_type,
            &x.event_type,
        )
            .cmp(&(
                x.count,
                y.entity_type.is_none(),
                &y.entity_type,
                &y.event_type,
            ))
    });
    a.by_source.sort_by(|x, y| {
        (y.count, x.source.is_none(), &x.source).cmp(&(x.count, y.source.is_none(), &y.source))
    });
    a.events_per_day.sort_by_key(|d| std::cmp::Reverse(d.date));
    Ok(a)
}

/// The statement of [`analytics_at`]: the filtered rows once (`f`), then one row of kind
/// 'total' and one per type, per source and per day:
/// (kind, text a, text b, count, points, users, day).
fn analytics_sql(filter: &Filter, now: DateTime<Utc>) -> Sql {
    let end = filter.end.unwrap_or(now);
    let mut sql = Sql::new(
        "WITH f AS MATERIALIZED (SELECT e.entity_type, e.event_type, e.source, e.user_id, \
         e.points_awarded, e.occurred_at FROM events e WHERE TRUE",
    );
    sql.filter(filter);
    sql.push(
        ") SELECT 'total', NULL::text, NULL::text, count(*), \
         COALESCE(sum(points_awarded), 0)::int8, count(DISTINCT user_id), NULL::date FROM f \
         UNION ALL SELECT 'type', entity_type, event_type, count(*), NULL, NULL, NULL \
         FROM f GROUP BY entity_type, event_type \
         UNION ALL SELECT 'source', source, NULL, count(*), NULL, NULL, NULL FROM f GROUP BY source \
         UNION ALL SELECT 'day', NULL, NULL, count(*), NULL, NULL, \
         (occurred_at AT TIME ZONE 'UTC')::date FROM f WHERE occurred_at >= ",
    );
    sql.bind(end - Duration::days(EVENTS_PER_DAY_WINDOW_DAYS));
    sql.and(" AND occurred_at < ", end);
    sql.push(" GROUP BY 7");

    sql
}

/// The plan PostgreSQL chooses for [`analytics`] with `filter` (`EXPLAIN`, one line per
/// element).
pub fn explain_analytics(
    client: &mut impl GenericClient,
    filter: &Filter,
) -> Result<Vec<String>, Error> {
    explain(client, &analytics_sql(filter, Utc::now()))
}
