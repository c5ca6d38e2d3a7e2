//! A worker Lambda (invoked directly, by Step Functions or by a queue with a JSON payload such as
//! `{"clientId":"client_123","jobId":"job_1","recipient":"john@example.com"}`) that records
//! `notification.email_sent` each time the job succeeds — the TypeScript system's tracking
//! decorator's contract (record on success only), with `track_on_ok`. A failed job records
//! nothing.
//!
//! Environment: `EVENTS_QUEUE_URL` (required), `EVENT_BUS_NAME`, `EVENT_SOURCE` (optional).

use kx_events::{track_on_ok, EventBuilder};
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct EmailJob {
    #[serde(rename = "jobId")]
    job_id: String,
    recipient: String,
}

async fn process_email_job(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let job: EmailJob = serde_json::from_value(event.payload.clone())?;
    if !job.recipient.contains('@') {
        return Err(format!("job {}: invalid recipient {:?}", job.job_id, job.recipient).into());
    }
    // … send the email …
    Ok(json!({ "jobId": job.job_id, "status": "completed" }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    kx_events::run(track_on_ok(
        EventBuilder::new("notification", "email_sent")
            .source("worker")
            .points_awarded(10),
        process_email_job,
    ))
    .await
}
