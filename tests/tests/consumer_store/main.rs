//! The consumer's store against a real PostgreSQL server: schema, migrations (also two cold
//! starts at once), TLS, the single-statement insert and its chains, the outbox claims, and
//! credential rotation through a real Secrets Manager secret in moto.
//!
//! One binary, one file per part of the store: `schema` (migrations and cold starts), `tls`
//! (`DB_SSLMODE` against a server with a test CA), `insert` (the single-statement insert and its
//! chains), `outbox` (claims and leases) and `rotation` (a rotated password); this file holds the
//! helpers they share.

mod insert;
mod outbox;
mod rotation;
mod schema;
mod tls;

use kx_events::TrackedEvent;
use kx_events_consumer::{NewEvent, Store};
use kx_events_tests::TestDb;
use uuid::Uuid;

async fn migrated(db: &TestDb) -> Store {
    let store = Store::connect(db.settings.clone()).unwrap();
    store.migrate().await.unwrap();
    store
}

fn event(id: Uuid, previous: Option<Uuid>) -> TrackedEvent {
    let mut e = TrackedEvent::new("client_123", "order", "order_created");
    e.event_id = id;
    e.previous_event_id = previous;
    e
}

fn item(event: TrackedEvent, last_receive: bool) -> NewEvent {
    NewEvent {
        event,
        on_bus: false,
        last_receive,
    }
}
