//! How `kx` prints answers: aligned tables, CSV, JSON and trees.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use kx_events_query::{format_timestamp, Analytics, Chain, ChainEvent, Event, EventPage, Fields};
use serde_json::Value;
use uuid::Uuid;

/// The columns of `kx events --format table` when `--fields` is not given.
pub const TABLE_FIELDS: &str =
    "occurredAt,eventId,clientId,entityType,eventType,userId,source,pointsAwarded";

/// Longest cell of a table; longer values end with `…`.
const MAX_CELL: usize = 60;

/// Pretty JSON and a newline.
pub fn json(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short(s: String) -> String {
    if s.chars().count() <= MAX_CELL {
        return s;
    }
    let mut out: String = s.chars().take(MAX_CELL - 1).collect();
    out.push('…');
    out
}

/// Rows as aligned columns under a header of the selected fields.
pub fn events_table(page: &EventPage) -> String {
    let header: Vec<String> = page.fields.iter().map(|f| f.name().to_owned()).collect();
    let rows: Vec<Vec<String>> = page
        .events
        .iter()
        .map(|e| {
            page.fields
                .iter()
                .map(|f| short(cell(&e.field(f))))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// What the person at the terminal needs after a page: how many, and how to go on.
pub fn page_note(page: &EventPage) -> String {
    match page.next_cursor {
        Some(c) => format!(
            "{} events; next page: --cursor {}\n",
            page.events.len(),
            c.encode()
        ),
        None => format!("{} events (last page)\n", page.events.len()),
    }
}

/// RFC 4180 CSV: a header of the selected fields, then one line per event; `metadata` as JSON,
/// absent values empty.
pub fn events_csv(page: &EventPage) -> String {
    fn quote(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    let mut out = String::new();
    let header: Vec<&str> = page.fields.iter().map(|f| f.name()).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for e in &page.events {
        let line: Vec<String> = page
            .fields
            .iter()
            .map(|f| quote(&cell(&e.field(f))))
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One event as `name: value` lines (every field, then any unknown fields the producer sent).
pub fn event_lines(e: &Event) -> String {
    let mut out = String::new();
    for (k, v) in e.to_json(&Fields::default()) {
        let line = format!("{k:<16} {}", cell(&v));
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn label(e: &Event) -> String {
    let mut s = format!(
        "{}.{}  {}  {}",
        e.entity_type.as_deref().unwrap_or("?"),
        e.event_type,
        e.event_id,
        format_timestamp(&e.occurred_at)
    );
    if let Some(p) = e.points_awarded {
        let _ = write!(s, "  +{p} points");
    }
    if let Some(u) = &e.user_id {
        let _ = write!(s, "  {u}");
    }
    s
}

/// The events of a chain as a tree along `previousEventId`: from the event asked for down to
/// its descendants, or (`ancestors`) from the root down to the event asked for.
pub fn tree(chain: &Chain, ancestors: bool) -> String {
    let mut out = String::new();
    let by_id: HashMap<Uuid, &ChainEvent> =
        chain.events.iter().map(|c| (c.event.event_id, c)).collect();
    let mut children: HashMap<Uuid, Vec<&ChainEvent>> = HashMap::new();
    for c in &chain.events {
        if let Some(p) = c.event.previous_event_id {
            if by_id.contains_key(&p) {
                children.entry(p).or_default().push(c);
            }
        }
    }
    // The top of the drawing: the event asked for, or the farthest ancestor.
    let top = if ancestors {
        chain.events.iter().max_by_key(|c| c.level)
    } else {
        chain.events.iter().find(|c| c.level == 1)
    };
    fn walk(
        out: &mut String,
        node: &ChainEvent,
        prefix: &str,
        last: bool,
        is_top: bool,
        children: &HashMap<Uuid, Vec<&ChainEvent>>,
        seen: &mut HashSet<Uuid>,
    ) {
        // A cycle in the data: each event is drawn once.
        if !seen.insert(node.event.event_id) {
            return;
        }
        let (branch, next) = match (is_top, last) {
            (true, _) => ("", String::new()),
            (false, true) => ("└─ ", format!("{prefix}   ")),
            (false, false) => ("├─ ", format!("{prefix}│  ")),
        };
        let _ = writeln!(out, "{prefix}{branch}{}", label(&node.event));
        let kids: Vec<&&ChainEvent> = children
            .get(&node.event.event_id)
            .map(|v| {
                v.iter()
                    .filter(|c| !seen.contains(&c.event.event_id))
                    .collect()
            })
            .unwrap_or_default();
        for (i, k) in kids.iter().enumerate() {
            walk(out, k, &next, i + 1 == kids.len(), false, children, seen);
        }
    }
    let mut seen = HashSet::new();
    if let Some(top) = top {
        walk(&mut out, top, "", true, true, &children, &mut seen);
    }
    let _ = writeln!(out, "{} events", chain.events.len());
    if chain.truncated {
        let _ = writeln!(
            out,
            "truncated: the chain goes deeper than {} levels (--max-depth)",
            chain.max_depth
        );
    }
    if chain.cycle_detected {
        let _ = writeln!(
            out,
            "cycle detected: the previousEventId links loop back; each event is shown once"
        );
    }
    out
}

/// The figures of `kx analytics` as readable sections.
pub fn analytics(a: &Analytics) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "client:        {}",
        a.client_id.as_deref().unwrap_or("(all clients)")
    );
    let _ = writeln!(out, "total events:  {}", a.total_events);
    let _ = writeln!(out, "total points:  {}", a.total_points);
    let _ = writeln!(out, "unique users:  {}", a.unique_users);
    let _ = writeln!(out, "\nevents by type:");
    for t in &a.events_by_type {
        let name = format!(
            "{}.{}",
            t.entity_type.as_deref().unwrap_or("?"),
            t.event_type
        );
        let _ = writeln!(out, "  {name:<40} {:>10}", t.count);
    }
    let _ = writeln!(out, "\nby source:");
    for s in &a.by_source {
        let _ = writeln!(
            out,
            "  {:<40} {:>10}",
            s.source.as_deref().unwrap_or("(none)"),
            s.count
        );
    }
    let _ = writeln!(out, "\nevents per day (last 30 days):");
    if a.events_per_day.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for d in &a.events_per_day {
        let _ = writeln!(out, "  {:<40} {:>10}", d.date, d.count);
    }
    out
}
