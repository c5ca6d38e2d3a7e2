//! Helpers of the producer's end-to-end tests: the real AWS SDK against moto, and the client's
//! log lines recorded from a real `tracing` subscriber with the instant each was written.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[allow(unused_imports)] // each test binary uses some of them
pub use kx_events_testkit::sqs::{create_queue, take_all};
#[allow(unused_imports)]
pub use kx_events_testkit::{endpoint, sdk, unique};

/// A log line of the client: when it was written, its level and its fields.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub level: tracing::Level,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Line {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(|v| v.as_str())
    }
}

struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

struct Recorder(Arc<Mutex<Vec<Line>>>);

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "kx_events" {
            return;
        }
        let at = Instant::now();
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(Line {
            at,
            level: *event.metadata().level(),
            fields: fields.0,
        });
    }
}

static LINES: OnceLock<Arc<Mutex<Vec<Line>>>> = OnceLock::new();

/// Installs (once per test binary) a subscriber that records the client's lines.
pub fn record_logs() {
    LINES.get_or_init(|| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Recorder(lines.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        lines
    });
}

pub fn lines() -> Vec<Line> {
    LINES
        .get()
        .expect("record_logs() first")
        .lock()
        .unwrap()
        .clone()
}
