//! The AWS side of the benchmarks, in the moto server of `scripts/services.sh`: a Secrets
//! Manager secret for the database (as RDS keeps one: `username` and `password`), an EventBridge
//! bus, a dead-letter queue; and the SQS batches Lambda would hand the consumer.

use crate::db::{chain, BenchResult, Context, Server};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use kx_events::TrackedEvent;
use kx_events_testkit::unique;
use serde_json::Value;

/// The resources one benchmark run uses, and the consumer's environment that points at them.
#[derive(Debug, Clone)]
pub struct Resources {
    /// The SDK configuration (moto through `AWS_ENDPOINT_URL`).
    pub sdk: aws_config::SdkConfig,
    /// ARN of the database secret.
    pub secret_arn: String,
    /// Name of the bus.
    pub bus_name: String,
    /// URL of the dead-letter queue.
    pub dlq_url: String,
    /// The database server's host and port, as the consumer's environment names them.
    db_host: String,
    db_port: u16,
}

/// `"{operation}: {error and its causes}"`, for an SDK call that failed.
fn failed<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{operation}: {}", chain(&e))
}

impl Resources {
    /// Creates a secret, a bus and a DLQ with names unique to this run.
    pub async fn create(server: &Server) -> BenchResult<Resources> {
        let sdk = kx_events::aws::sdk_config().await;
        let (db_host, db_port, user, password) = server.parts()?;
        let secret = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(unique("kx-bench/db"))
            .secret_string(serde_json::json!({"username": user, "password": password}).to_string())
            .send()
            .await
            .map_err(failed("CreateSecret"))?;
        let bus_name = unique("kx-bench");
        aws_sdk_eventbridge::Client::new(&sdk)
            .create_event_bus()
            .name(&bus_name)
            .send()
            .await
            .map_err(failed("CreateEventBus"))?;
        let dlq = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name(unique("kx-bench-dlq"))
            .send()
            .await
            .map_err(failed("CreateQueue"))?;
        Ok(Resources {
            sdk,
            secret_arn: secret.arn().unwrap_or_default().to_string(),
            bus_name,
            dlq_url: dlq.queue_url().unwrap_or_default().to_string(),
            db_host,
            db_port,
        })
    }

    /// The consumer's configuration (its documented environment variables) for database `db`.
    pub fn consumer_env(&self, db: &str) -> Vec<(String, String)> {
        [
            ("DB_SECRET_ARN", self.secret_arn.clone()),
            ("DB_HOST", self.db_host.clone()),
            ("DB_PORT", self.db_port.to_string()),
            ("DB_NAME", db.to_string()),
            ("DB_SSLMODE", "disable".to_string()),
            ("EVENT_BUS_NAME", self.bus_name.clone()),
            ("DEAD_LETTER_QUEUE_URL", self.dlq_url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Messages in the DLQ (approximate, as SQS counts them).
    pub async fn dlq_depth(&self) -> BenchResult<i64> {
        let out = aws_sdk_sqs::Client::new(&self.sdk)
            .get_queue_attributes()
            .queue_url(&self.dlq_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(failed("GetQueueAttributes"))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .map(|n| n.parse::<i64>())
            .transpose()
            .context("ApproximateNumberOfMessages")
            .map(|n| n.unwrap_or(0))
    }
}

/// The queue the batches claim to come from.
pub const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:kx-events";

/// The `SqsEvent` JSON Lambda would deliver for `events` (first receive, as the local runner
/// builds it from received messages).
pub fn sqs_batch(events: &[TrackedEvent]) -> Value {
    let now = chrono::Utc::now().timestamp_millis().to_string();
    let messages: Vec<Message> = events
        .iter()
        .map(|e| {
            Message::builder()
                .message_id(uuid::Uuid::new_v4().to_string())
                .receipt_handle(format!("rh-{}", e.event_id))
                .body(e.to_json())
                .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
                .attributes(MessageSystemAttributeName::SentTimestamp, now.clone())
                .attributes(
                    MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                    now.clone(),
                )
                .attributes(MessageSystemAttributeName::SenderId, "AIDABENCH")
                .build()
        })
        .collect();
    kx_events_local::runner::sqs_event(&messages, QUEUE_ARN, "us-east-1")
}
