//! Real parts for the delivery tests: the AWS SDK talking to a moto server over HTTP (the queue
//! helpers are `kx-events-testkit`'s), and the client's own log lines captured from a real
//! `tracing` subscriber.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

#[allow(unused_imports)] // each test binary uses some of them
pub use kx_events_testkit::sqs::{create_queue, queue_depth, receive};
#[allow(unused_imports)]
pub use kx_events_testkit::{endpoint, unique};

/// The SDK configuration the tests use: the environment's (endpoint, credentials, region), with
/// the crate's own rustls/ring HTTPS client ([`kx_events::aws::sdk_config`]).
pub async fn sdk() -> aws_config::SdkConfig {
    endpoint();
    kx_events::aws::sdk_config().await
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Buffer> = OnceLock::new();

/// Installs (once per test binary) a JSON `tracing` subscriber for the crate's target that
/// writes to memory.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Buffer::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("kx_events=trace"))
            .with_writer(move || writer.clone())
            .init();
        buf
    });
}

/// Every captured log line, parsed.
pub fn logs() -> Vec<Value> {
    let buf = LOGS.get().expect("capture_logs() first");
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The captured lines about one event.
pub fn logs_for(event_id: &uuid::Uuid) -> Vec<Value> {
    let id = event_id.to_string();
    logs()
        .into_iter()
        .filter(|l| l["fields"]["event_id"].as_str() == Some(id.as_str()))
        .collect()
}

/// Waits (bounded: about 30 s) until a captured line satisfies `pred`.
pub async fn wait_for_log(pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        if let Some(l) = logs().into_iter().find(|l| pred(l)) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such log line; captured: {:#?}", logs());
}
