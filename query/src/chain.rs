//! `chain(id)` (the event and its descendants) and `ancestors(id)` (up to the root).

use postgres::GenericClient;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, ParamError};
use crate::event::Event;
use crate::params::Fields;

/// How many levels [`chain`] and [`ancestors`] follow unless told otherwise.
pub const DEFAULT_MAX_DEPTH: u32 = 1000;
/// The largest depth cap accepted.
pub const MAX_DEPTH_LIMIT: u32 = 100_000;

const CHAIN_SQL: &str = include_str!("chain.sql");
const ANCESTORS_SQL: &str = include_str!("ancestors.sql");

/// An event of a [`Chain`] with its level (1: the event asked for; 2: its children, or its
/// parent for [`ancestors`]; …).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEvent {
    /// 1 for the event asked for, growing by one a step.
    pub level: u32,
    /// The event.
    pub event: Event,
}

/// The answer of [`chain`] or [`ancestors`].
///
/// Serialises as `{"data": [{...event, "level": n}], "count": n, "truncated": bool,
/// "cycleDetected": bool, "maxDepth": n}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Ordered by level (then time, for [`chain`]).
    pub events: Vec<ChainEvent>,
    /// `true` when the walk went on past `max_depth` levels and was cut there.
    pub truncated: bool,
    /// `true` when the links loop (an event is its own ancestor); each event is still returned
    /// once and the walk stops at the repeat.
    pub cycle_detected: bool,
    /// The depth cap applied.
    pub max_depth: u32,
}

impl Serialize for Chain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let all = Fields::default();
        let rows: Vec<_> = self
            .events
            .iter()
            .map(|c| {
                let mut m = c.event.to_json(&all);
                m.insert("level".into(), Value::from(c.level));
                m
            })
            .collect();
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("data", &rows)?;
        m.serialize_entry("count", &rows.len())?;
        m.serialize_entry("truncated", &self.truncated)?;
        m.serialize_entry("cycleDetected", &self.cycle_detected)?;
        m.serialize_entry("maxDepth", &self.max_depth)?;
        m.end()
    }
}

/// The event `id` and all its descendants (the TypeScript system's `getEventChain` query), at
/// most `max_depth` levels ([`DEFAULT_MAX_DEPTH`] is the usual cap); `None` when `id` does not
/// exist.
pub fn chain(
    client: &mut impl GenericClient,
    id: Uuid,
    max_depth: u32,
) -> Result<Option<Chain>, Error> {
    walk(client, CHAIN_SQL, id, max_depth)
}

/// The event `id`, its parent, and so on up to the root (level 1 is the event itself), at most
/// `max_depth` levels; `None` when `id` does not exist.
pub fn ancestors(
    client: &mut impl GenericClient,
    id: Uuid,
    max_depth: u32,
) -> Result<Option<Chain>, Error> {
    walk(client, ANCESTORS_SQL, id, max_depth)
}

/// The plan PostgreSQL chooses for [`chain`] (or [`ancestors`] when `up`) from `id` with the
/// default depth cap (`EXPLAIN`, one line per element).
pub fn explain_chain(
    client: &mut impl GenericClient,
    id: Uuid,
    up: bool,
) -> Result<Vec<String>, Error> {
    let sql = format!("EXPLAIN {}", if up { ANCESTORS_SQL } else { CHAIN_SQL });
    let depth = DEFAULT_MAX_DEPTH as i32;
    let rows = client.query(sql.as_str(), &[&id, &depth])?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<_, _>>()?)
}

/// Checks a `maxDepth` parameter (`1..=MAX_DEPTH_LIMIT`).
pub fn parse_max_depth(value: &str) -> Result<u32, ParamError> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_DEPTH_LIMIT).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            "maxDepth",
            format!("must be 1..{MAX_DEPTH_LIMIT}, got {value:?}"),
        )),
    }
}

fn walk(
    client: &mut impl GenericClient,
    sql: &str,
    id: Uuid,
    max_depth: u32,
) -> Result<Option<Chain>, Error> {
    if !(1..=MAX_DEPTH_LIMIT).contains(&max_depth) {
        return Err(ParamError::new(
            "maxDepth",
            format!("must be 1..{MAX_DEPTH_LIMIT}, got {max_depth}"),
        )
        .into());
    }
    let depth = i32::try_from(max_depth).unwrap_or(i32::MAX);
    let rows = client.query(sql, &[&id, &depth])?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut chain = Chain {
        events: Vec::with_capacity(rows.len()),
        truncated: false,
        cycle_detected: false,
        max_depth,
    };
    for r in &rows {
        let level: i32 = r.try_get(16)?;
        let is_cycle: bool = r.try_get(17)?;
        if is_cycle {
            // The repeat of an event already returned.
            chain.cycle_detected = true;
        } else if level > depth {
            chain.truncated = true;
        } else {
            chain.events.push(ChainEvent {
                level: level.unsigned_abs(),
                event: Event::from_row(r)?,
            });
        }
    }
    Ok(Some(chain))
}
