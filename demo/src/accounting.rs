//! Accounting of every input: what went into the pipeline against what came out of it.
//!
//! The rule is the project's promise: for each valid event, exactly one row in PostgreSQL and
//! exactly one event on the bus (seen by a subscriber); for each message that can never be valid,
//! exactly one message in the dead-letter queue, with a reason; and nothing else.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A message that can never become a valid event (a "poison" message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// A short human name, e.g. `bad JSON`.
    pub label: String,
    /// The message body as sent.
    pub body: String,
    /// The SQS message id the send returned, when known (the consumer names it in the DLQ
    /// message's attributes).
    pub message_id: Option<String>,
}

/// What went into the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// The ids of the valid events, each expected exactly once however often it was sent.
    pub valid: Vec<Uuid>,
    /// The invalid messages, each expected exactly once in the DLQ.
    pub invalid: Vec<InvalidInput>,
}

/// One row of the `events` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `event_id`.
    pub event_id: Uuid,
    /// `previous_event_id` (the stored link).
    pub previous_event_id: Option<Uuid>,
    /// `unresolved_previous_event_id` (a parent that had not arrived by the last receive).
    pub unresolved_previous_event_id: Option<Uuid>,
    /// `client_id`.
    pub client_id: String,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `entity_id`.
    pub entity_id: Option<String>,
    /// `entity_type`.
    pub entity_type: Option<String>,
    /// `event_type`.
    pub event_type: String,
    /// `points_awarded`.
    pub points_awarded: Option<i32>,
    /// `occurred_at`.
    pub occurred_at: DateTime<Utc>,
    /// `metadata`.
    pub metadata: Option<Value>,
    /// Whether `published_at` is set (the outbox says the event is on the bus).
    pub published: bool,
}

/// One event as the subscriber rule's SQS target received it (the EventBridge envelope).
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    /// `detail.eventId`, when it is a UUID.
    pub event_id: Option<Uuid>,
    /// `detail-type`.
    pub detail_type: String,
    /// `source`.
    pub source: String,
    /// `time`.
    pub time: String,
    /// `detail`.
    pub detail: Value,
}

impl BusEvent {
    /// Parses the body of a message that an EventBridge rule put on an SQS target.
    pub fn from_envelope(body: &str) -> Option<BusEvent> {
        let v: Value = serde_json::from_str(body).ok()?;
        let detail = v.get("detail")?.clone();
        Some(BusEvent {
            event_id: detail
                .get("eventId")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
            detail_type: v.get("detail-type")?.as_str()?.to_string(),
            source: v.get("source")?.as_str()?.to_string(),
            time: v
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            detail,
        })
    }
}

/// One message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqMessage {
    /// Its SQS message id in the DLQ.
    pub message_id: String,
    /// Its body.
    pub body: String,
    /// Its string message attributes (name → value).
    pub attributes: BTreeMap<String, String>,
    /// `ApproximateReceiveCount` of the DLQ message, when read.
    pub receive_count: Option<u32>,
}

impl DlqMessage {
    /// The reason the consumer gave, from the first message attribute whose name contains
    /// `reason` or `error` (case-insensitive); `None` for a message that SQS redrove without one.
    pub fn reason(&self) -> Option<&str> {
        self.attribute_like(&["reason", "error"])
    }

    /// The failing field the consumer named, if any (an attribute whose name contains `field`).
    pub fn field(&self) -> Option<&str> {
        self.attribute_like(&["field"])
    }

    fn attribute_like(&self, needles: &[&str]) -> Option<&str> {
        needles.iter().find_map(|needle| {
            self.attributes
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().contains(needle))
                .map(|(_, v)| v.as_str())
        })
    }

    /// Whether this message is the dead letter of `input`: same body, or an attribute that names
    /// the original SQS message id.
    pub fn matches(&self, input: &InvalidInput) -> bool {
        self.body == input.body
            || input
                .message_id
                .as_deref()
                .is_some_and(|id| self.attributes.values().any(|v| v == id))
    }
}

/// What came out of the pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Every row of the `events` table.
    pub rows: Vec<Row>,
    /// Every event the subscriber received.
    pub bus: Vec<BusEvent>,
    /// Every message of the dead-letter queue.
    pub dlq: Vec<DlqMessage>,
}

impl Output {
    /// The row of `event_id`, if stored.
    pub fn row(&self, event_id: Uuid) -> Option<&Row> {
        self.rows.iter().find(|r| r.event_id == event_id)
    }
}

/// The verdict for one input set: counts, and every discrepancy named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Inputs: valid events plus invalid messages (each counted once, however often sent).
    pub events_in: usize,
    /// Valid events with a row.
    pub rows: usize,
    /// Bus events (as the subscriber saw them) of valid events, duplicates included.
    pub bus_events: usize,
    /// DLQ messages that belong to an invalid input and carry a reason.
    pub dlq: usize,
    /// Inputs missing from their destination, each with what is missing.
    pub lost: Vec<String>,
    /// Inputs that arrived more than once, each with how often.
    pub duplicated: Vec<String>,
    /// Output that no input explains (a stray row or bus event, a valid event in the DLQ, a DLQ
    /// message without a reason, …).
    pub unexpected: Vec<String>,
}

impl Accounting {
    /// Compares `input` with `output`.
    pub fn compute(input: &Input, output: &Output) -> Accounting {
        let mut acc = Accounting {
            events_in: input.valid.len() + input.invalid.len(),
            ..Accounting::default()
        };
        let valid: HashSet<Uuid> = input.valid.iter().copied().collect();
        let rows: HashMap<Uuid, &Row> = output.rows.iter().map(|r| (r.event_id, r)).collect();
        let mut bus: HashMap<Uuid, usize> = HashMap::new();
        for event in &output.bus {
            match event.event_id {
                Some(id) if valid.contains(&id) => *bus.entry(id).or_default() += 1,
                Some(id) => acc.unexpected.push(format!(
                    "bus event {id} ({}) was never sent",
                    event.detail_type
                )),
                None => acc.unexpected.push(format!(
                    "bus event without an eventId ({})",
                    event.detail_type
                )),
            }
        }
        for id in &input.valid {
            match rows.get(id) {
                Some(row) => {
                    acc.rows += 1;
                    if !row.published {
                        acc.lost.push(format!(
                            "{id}: stored but not marked published in the outbox"
                        ));
                    }
                }
                None => acc.lost.push(format!("{id}: no row in PostgreSQL")),
            }
            match bus.get(id).copied().unwrap_or(0) {
                0 => acc.lost.push(format!("{id}: never reached the subscriber")),
                1 => acc.bus_events += 1,
                n => {
                    acc.bus_events += n;
                    acc.duplicated
                        .push(format!("{id}: reached the subscriber {n} times"));
                }
            }
        }
        for row in &output.rows {
            if !valid.contains(&row.event_id) {
                acc.unexpected.push(format!(
                    "row {} ({}.{}) was never sent as a valid event",
                    row.event_id,
                    row.entity_type.as_deref().unwrap_or("?"),
                    row.event_type
                ));
            }
        }
        let mut claimed = vec![false; output.dlq.len()];
        for invalid in &input.invalid {
            let hits: Vec<usize> = output
                .dlq
                .iter()
                .enumerate()
                .filter(|(_, m)| m.matches(invalid))
                .map(|(i, _)| i)
                .collect();
            for &i in &hits {
                claimed[i] = true;
            }
            match hits.as_slice() {
                [] => acc
                    .lost
                    .push(format!("poison '{}': not in the DLQ", invalid.label)),
                [i] => {
                    if output.dlq[*i].reason().is_some() {
                        acc.dlq += 1;
                    } else {
                        acc.unexpected.push(format!(
                            "poison '{}': in the DLQ without a reason",
                            invalid.label
                        ));
                    }
                }
                more => {
                    acc.dlq += 1;
                    acc.duplicated.push(format!(
                        "poison '{}': {} times in the DLQ",
                        invalid.label,
                        more.len()
                    ));
                }
            }
        }
        for (message, claimed) in output.dlq.iter().zip(claimed) {
            if claimed {
                continue;
            }
            let what = match kx_events::TrackedEvent::from_json(message.body.as_bytes()) {
                Ok(event) if valid.contains(&event.event_id) => {
                    format!("valid event {} was dead-lettered", event.event_id)
                }
                _ => format!("DLQ message {} matches no input", message.message_id),
            };
            acc.unexpected.push(what);
        }
        acc
    }

    /// Whether every input is accounted for and nothing else came out.
    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.duplicated.is_empty() && self.unexpected.is_empty()
    }

    /// Every discrepancy, one per line.
    pub fn problems(&self) -> Vec<String> {
        let mut all = Vec::new();
        all.extend(self.lost.iter().map(|p| format!("lost: {p}")));
        all.extend(self.duplicated.iter().map(|p| format!("duplicated: {p}")));
        all.extend(self.unexpected.iter().map(|p| format!("unexpected: {p}")));
        all
    }
}

/// A fault-matrix table: one line per scenario, with the columns the issue asks for.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    lines: Vec<(String, Accounting)>,
}

impl Matrix {
    /// Adds a scenario's accounting.
    pub fn push(&mut self, fault: impl Into<String>, accounting: Accounting) {
        self.lines.push((fault.into(), accounting));
    }

    /// Whether every scenario is accounted for.
    pub fn ok(&self) -> bool {
        self.lines.iter().all(|(_, a)| a.ok())
    }

    /// The scenarios and their accounting.
    pub fn lines(&self) -> &[(String, Accounting)] {
        &self.lines
    }

    /// The table as text: fault, events in, rows, bus events, DLQ, lost, duplicated, unexpected.
    pub fn render(&self) -> String {
        let header = [
            "fault",
            "events in",
            "rows",
            "bus events",
            "DLQ",
            "lost",
            "duplicated",
            "unexpected",
        ];
        let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for (fault, a) in &self.lines {
            cells.push(vec![
                fault.clone(),
                a.events_in.to_string(),
                a.rows.to_string(),
                a.bus_events.to_string(),
                a.dlq.to_string(),
                a.lost.len().to_string(),
                a.duplicated.len().to_string(),
                a.unexpected.len().to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                cells
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (i, row) in cells.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    if c == 0 {
                        format!("{cell:<w$}", w = widths[c])
                    } else {
                        format!("{cell:>w$}", w = widths[c])
                    }
                })
                .collect();
            out.push_str(&format!("| {} |\n", line.join(" | ")));
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
            }
        }
        for (fault, a) in &self.lines {
            for p in a.problems() {
                out.push_str(&format!("  {fault}: {p}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: Uuid) -> Row {
        Row {
            event_id: id,
            previous_event_id: None,
            unresolved_previous_event_id: None,
            client_id: "c".into(),
            user_id: None,
            entity_id: None,
            entity_type: Some("order".into()),
            event_type: "order_created".into(),
            points_awarded: None,
            occurred_at: Utc::now(),
            metadata: None,
            published: true,
        }
    }

    fn bus(id: Uuid) -> BusEvent {
        BusEvent {
            event_id: Some(id),
            detail_type: "order.order_created".into(),
            source: "kx-event-tracking".into(),
            time: String::new(),
            detail: Value::Null,
        }
    }

    fn dlq(body: &str, reason: Option<&str>) -> DlqMessage {
        let mut attributes = BTreeMap::new();
        if let Some(r) = reason {
            attributes.insert("kx-reason".to_string(), r.to_string());
        }
        DlqMessage {
            message_id: "m".into(),
            body: body.into(),
            attributes,
            receive_count: None,
        }
    }

    #[test]
    fn everything_accounted_for() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let input = Input {
            valid: vec![a, b],
            invalid: vec![InvalidInput {
                label: "bad JSON".into(),
                body: "{".into(),
                message_id: None,
            }],
        };
        let output = Output {
            rows: vec![row(a), row(b)],
            bus: vec![bus(a), bus(b)],
            dlq: vec![dlq("{", Some("json"))],
        };
        let acc = Accounting::compute(&input, &output);
        assert!(acc.ok(), "{:?}", acc.problems());
        assert_eq!(
            (acc.events_in, acc.rows, acc.bus_events, acc.dlq),
            (3, 2, 2, 1)
        );
    }

    #[test]
    fn finds_lost_duplicated_and_unexpected() {
        let (a, b, stray) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let input = Input {
            valid: vec![a, b],
            invalid: vec![InvalidInput {
                label: "empty".into(),
                body: String::new(),
                message_id: Some("orig-1".into()),
            }],
        };
        let mut redriven = dlq("x", None);
        redriven.attributes.insert("src".into(), "orig-1".into());
        let output = Output {
            rows: vec![row(a), row(stray)],
            bus: vec![bus(a), bus(a)],
            dlq: vec![redriven],
        };
        let acc = Accounting::compute(&input, &output);
        assert!(!acc.ok());
        assert_eq!(acc.lost.len(), 2, "{:?}", acc.lost); // b: no row, no bus event
        assert_eq!(acc.duplicated.len(), 1);
        assert_eq!(acc.unexpected.len(), 2, "{:?}", acc.unexpected); // stray row, no reason
        let mut m = Matrix::default();
        m.push("demo", acc);
        assert!(m.render().contains("| demo"));
    }
}
