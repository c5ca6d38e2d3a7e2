//! Reading what came out of the pipeline: rows, subscriber events, dead letters.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use postgres::NoTls;
use uuid::Uuid;

use crate::accounting::{BusEvent, DlqMessage, Input, Output, Row};
use crate::aws::error_chain;

/// Errors of this crate: every one carries its cause chain in its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the pipeline's output lives.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `postgres://…` URL of the consumer's database.
    pub database_url: String,
    /// URL of the SQS queue the subscriber rule targets.
    pub subscriber_queue_url: String,
    /// URL of the consumer's dead-letter queue.
    pub dead_letter_queue_url: String,
    /// URL of the events queue, when known: the pipeline is then complete only once it is empty
    /// (so that late duplicates and retries have been handled too).
    pub events_queue_url: Option<String>,
}

/// Counts of the valid inputs seen at each stage, and the DLQ's depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Valid events with a row.
    pub stored: usize,
    /// Valid events whose row is marked published.
    pub published: usize,
    /// Valid events the subscriber has received (at least once).
    pub delivered: usize,
    /// Messages in the DLQ (visible plus in flight).
    pub dead_lettered: usize,
    /// Valid events expected.
    pub valid: usize,
    /// Invalid messages expected.
    pub invalid: usize,
    /// Messages still on the events queue (visible plus in flight); 0 when it is not watched.
    pub queued: usize,
}

impl Progress {
    /// Whether every valid event reached the subscriber and the DLQ holds at least one message
    /// per invalid input.
    pub fn complete(&self) -> bool {
        self.delivered >= self.valid && self.dead_lettered >= self.invalid && self.queued == 0
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "queued {} · stored {}/{} · published {}/{} · at the subscriber {}/{} · in the DLQ {}/{}",
            self.queued,
            self.stored,
            self.valid,
            self.published,
            self.valid,
            self.delivered,
            self.valid,
            self.dead_lettered,
            self.invalid
        )
    }
}

/// Reads every row of the `events` table (sync client: call it off the async runtime, e.g. with
/// `tokio::task::spawn_blocking`).
pub fn read_rows(database_url: &str) -> Result<Vec<Row>, Error> {
    let mut client = postgres::Client::connect(database_url, NoTls).map_err(|e| {
        format!(
            "connecting to {}: {}",
            redact(database_url),
            error_chain(&e)
        )
    })?;
    let exists: bool = client
        .query_one("SELECT to_regclass('public.events') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client.query(
        "SELECT event_id, previous_event_id, unresolved_previous_event_id, client_id, user_id,
                entity_id, entity_type, event_type, points_awarded, occurred_at, metadata,
                published_at IS NOT NULL
           FROM events ORDER BY occurred_at, created_at, event_id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| Row {
            event_id: r.get(0),
            previous_event_id: r.get(1),
            unresolved_previous_event_id: r.get(2),
            client_id: r.get(3),
            user_id: r.get(4),
            entity_id: r.get(5),
            entity_type: r.get(6),
            event_type: r.get(7),
            points_awarded: r.get(8),
            occurred_at: r.get(9),
            metadata: r.get(10),
            published: r.get(11),
        })
        .collect())
}

/// `postgres://user:secret@host/db` without the password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Receives (and deletes) up to 10 messages of a subscriber queue, waiting up to `wait`.
/// Messages that are not EventBridge envelopes are returned as `Err` strings.
pub async fn receive_bus_events(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
) -> Result<Vec<BusEvent>, Error> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .send()
        .await
        .map_err(|e| format!("ReceiveMessage on {queue_url}: {}", error_chain(&e)))?;
    let mut events = Vec::new();
    for message in out.messages() {
        let body = message.body().unwrap_or_default();
        match BusEvent::from_envelope(body) {
            Some(event) => events.push(event),
            None => {
                return Err(
                    format!("subscriber message is not an EventBridge event: {body}").into(),
                )
            }
        }
        if let Some(handle) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| format!("DeleteMessage on {queue_url}: {}", error_chain(&e)))?;
        }
    }
    Ok(events)
}

/// Messages in a queue: visible plus in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<usize, Error> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes on {queue_url}: {}", error_chain(&e)))?;
    let attrs = out.attributes();
    let get = |name: QueueAttributeName| -> usize {
        attrs
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
        + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Reads every message of a dead-letter queue with its attributes. With `delete` they are
/// deleted; otherwise they stay (invisible for `visibility` and then visible again).
pub async fn read_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    delete: bool,
    visibility: Duration,
) -> Result<Vec<DlqMessage>, Error> {
    let mut all = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| format!("ReceiveMessage on {queue_url}: {}", error_chain(&e)))?;
        if out.messages().is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for m in out.messages() {
            let mut attributes = BTreeMap::new();
            if let Some(attrs) = m.message_attributes() {
                for (k, v) in attrs {
                    if let Some(s) = v.string_value() {
                        attributes.insert(k.clone(), s.to_string());
                    }
                }
            }
            all.push(DlqMessage {
                message_id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                attributes,
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok()),
            });
            if delete {
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| {
                            format!("DeleteMessage on {queue_url}: {}", error_chain(&e))
                        })?;
                }
            }
        }
    }
    Ok(all)
}

/// Watches the pipeline's output for one input set: accumulates subscriber events, counts rows
/// and dead letters, and finally reads everything into an [`Output`].
pub struct Collector {
    sqs: aws_sdk_sqs::Client,
    sources: Sources,
    bus: Vec<BusEvent>,
}

impl Collector {
    /// A collector over `sources`.
    pub fn new(sqs: aws_sdk_sqs::Client, sources: Sources) -> Self {
        Self {
            sqs,
            sources,
            bus: Vec::new(),
        }
    }

    /// One round: receives what the subscriber queue holds (waiting up to one second), counts the
    /// rows of `input`'s valid events and the DLQ's messages.
    pub async fn poll(&mut self, input: &Input) -> Result<Progress, Error> {
        let received = receive_bus_events(
            &self.sqs,
            &self.sources.subscriber_queue_url,
            Duration::from_secs(1),
        )
        .await?;
        self.bus.extend(received);
        let url = self.sources.database_url.clone();
        let rows = tokio::task::spawn_blocking(move || read_rows(&url)).await??;
        let valid: HashSet<Uuid> = input.valid.iter().copied().collect();
        let delivered: HashSet<Uuid> = self
            .bus
            .iter()
            .filter_map(|e| e.event_id)
            .filter(|id| valid.contains(id))
            .collect();
        let ours = rows.iter().filter(|r| valid.contains(&r.event_id));
        Ok(Progress {
            stored: ours.clone().count(),
            published: ours.filter(|r| r.published).count(),
            delivered: delivered.len(),
            dead_lettered: queue_depth(&self.sqs, &self.sources.dead_letter_queue_url).await?,
            valid: valid.len(),
            invalid: input.invalid.len(),
            queued: match &self.sources.events_queue_url {
                Some(url) => queue_depth(&self.sqs, url).await?,
                None => 0,
            },
        })
    }

    /// Polls until [`Progress::complete`] or until `limit` has passed (a safety bound, not a
    /// speed check), calling `on_change` whenever the counts change. Returns the last progress.
    pub async fn wait(
        &mut self,
        input: &Input,
        limit: Duration,
        mut on_change: impl FnMut(&Progress),
    ) -> Result<Progress, Error> {
        let start = Instant::now();
        let mut last: Option<Progress> = None;
        loop {
            let progress = self.poll(input).await?;
            if last != Some(progress) {
                on_change(&progress);
                last = Some(progress);
            }
            if progress.complete() || start.elapsed() >= limit {
                return Ok(progress);
            }
        }
    }

    /// Drains the subscriber queue (until it stays empty for `settle`), then reads every row and
    /// every dead letter (deleting them when `delete_dead_letters`).
    pub async fn finish(
        mut self,
        settle: Duration,
        delete_dead_letters: bool,
    ) -> Result<Output, Error> {
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < settle {
            let received = receive_bus_events(
                &self.sqs,
                &self.sources.subscriber_queue_url,
                Duration::from_secs(1),
            )
            .await?;
            if !received.is_empty() {
                quiet_since = Instant::now();
                self.bus.extend(received);
            }
        }
        let url = self.sources.database_url.clone();
        let rows = tokio::task::spawn_blocking(move || read_rows(&url)).await??;
        let dlq = read_dead_letters(
            &self.sqs,
            &self.sources.dead_letter_queue_url,
            delete_dead_letters,
            Duration::from_secs(60),
        )
        .await?;
        Ok(Output {
            rows,
            bus: self.bus,
            dlq,
        })
    }
}
