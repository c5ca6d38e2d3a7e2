//! Real parts for the delivery tests: the AWS SDK talking to a moto server over HTTP, and the
//! client's own log lines captured from a real `tracing` subscriber.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::Value;

/// The emulator's endpoint. Missing is a failure, not a skip: these tests need a moto server.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: these tests send to a real SQS/EventBridge emulator. \
             Start one with `scripts/services.sh up && source .state/env` (from the repository root), \
             then run the tests again."
        ),
    }
}

/// The SDK configuration the tests use: the environment's (endpoint, credentials, region), with
/// the same rustls/ring HTTPS client as the crate.
pub async fn sdk() -> aws_config::SdkConfig {
    endpoint();
    kx_events::aws::sdk_config().await
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue URL")
        .to_string()
}

/// Receives until `n` messages arrived or a bounded number of polls found nothing more.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    let mut empty_polls = 0;
    while out.len() < n && empty_polls < 10 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        let msgs = got.messages().to_vec();
        if msgs.is_empty() {
            empty_polls += 1;
        }
        for m in &msgs {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .expect("DeleteMessage");
        }
        out.extend(msgs);
    }
    out
}

/// How many messages a queue holds (visible or in flight).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    attrs
        .attributes()
        .map(|a| a.values().map(|v| v.parse::<usize>().unwrap_or(0)).sum())
        .unwrap_or(0)
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
