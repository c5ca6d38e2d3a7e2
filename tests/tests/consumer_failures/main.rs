//! The consumer when its collaborators fail: the bus (missing, failing entries through a fault
//! proxy in front of moto), the DLQ, the database (a dead port, dropped connections), and two
//! consumers racing on the same batch. Nothing is lost and nothing is published twice.
//!
//! One binary, one file per collaborator: `bus`, `database`, `dlq`, and `race` (two consumers
//! on one batch); this file holds the helpers they share.

mod bus;
mod database;
mod dlq;
mod race;

use kx_events_tests::event_json;
use serde_json::{json, Value};

fn bodies(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| event_json(json!({"metadata": {"n": i}})))
        .collect()
}

fn ids_on_bus(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted_ids(bodies: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = bodies
        .iter()
        .map(|b| b["eventId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}
