//! Sending records that can never become valid to the dead-letter queue, with their reason.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use kx_events::ValidationError;

/// Message attribute: the validation error's text (`field: what is wrong`).
pub const REASON_ATTRIBUTE: &str = "kx-reason";
/// Message attribute: the failing field (camelCase, `$` for the whole message).
pub const FIELD_ATTRIBUTE: &str = "kx-field";
/// Message attribute: the rule that was broken (`uuid`, `max_length`, …).
pub const RULE_ATTRIBUTE: &str = "kx-rule";
/// Message attribute: the id of the SQS message that carried the record.
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "kx-source-message-id";

/// Most entries of one `SendMessageBatch` (SQS's limit).
pub const MAX_ENTRIES_PER_SEND: usize = 10;
/// Most bytes of one `SendMessageBatch` (SQS's classic 256 KiB limit, which every emulator has).
pub const MAX_SEND_BYTES: usize = 256 * 1024;
/// Longest attribute value we send (a reason can quote a long value).
const MAX_ATTRIBUTE_CHARS: usize = 1024;

/// A record that can never become valid.
#[derive(Debug, Clone)]
pub struct Poison {
    /// The SQS message id.
    pub message_id: String,
    /// The message body, sent to the DLQ verbatim.
    pub body: String,
    /// Why it is invalid.
    pub error: ValidationError,
}

impl Poison {
    fn attributes(&self) -> [(&'static str, String); 4] {
        [
            (REASON_ATTRIBUTE, self.error.to_string()),
            (FIELD_ATTRIBUTE, self.error.field().to_owned()),
            (RULE_ATTRIBUTE, self.error.rule().as_str().to_owned()),
            (SOURCE_MESSAGE_ID_ATTRIBUTE, self.message_id.clone()),
        ]
    }

    fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes()
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len().min(MAX_ATTRIBUTE_CHARS * 4))
                .sum::<usize>()
    }
}

/// Makes a value acceptable to SQS: non-empty, only the characters SQS allows, bounded length.
fn attribute_value(v: &str) -> String {
    let mut s: String = v
        .chars()
        .take(MAX_ATTRIBUTE_CHARS)
        .map(|c| match c {
            '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' => c,
            c if c >= '\u{10000}' => c,
            _ => '\u{fffd}',
        })
        .collect();
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// The dead-letter queue of the events queue.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl DeadLetterQueue {
    /// The queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// Sends `poison` with `SendMessageBatch` (at most 10 entries and 256 KiB a call), the body
    /// verbatim and the reason in message attributes. Returns the message ids that could NOT be
    /// sent, with the error; those must be retried, never dropped.
    pub async fn send(&self, poison: &[Poison]) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        let mut start = 0;
        while start < poison.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < poison.len()
                && end - start < MAX_ENTRIES_PER_SEND
                && (end == start || bytes + poison[end].size() <= MAX_SEND_BYTES)
            {
                bytes += poison[end].size();
                end += 1;
            }
            failed.extend(self.send_chunk(&poison[start..end]).await);
            start = end;
        }
        failed
    }

    async fn send_chunk(&self, chunk: &[Poison]) -> Vec<(String, String)> {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, p) in chunk.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(&p.body);
            for (name, value) in p.attributes() {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(attribute_value(&value))
                    .build();
                match attr {
                    Ok(a) => entry = entry.message_attributes(name, a),
                    Err(e) => return all(chunk, &e.to_string()),
                }
            }
            match entry.build() {
                Ok(e) => entries.push(e),
                Err(e) => return all(chunk, &e.to_string()),
            }
        }
        let out = match self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let why = DisplayErrorContext(&e).to_string().replace('\n', " ");
                return all(chunk, &format!("SendMessageBatch failed: {why}"));
            }
        };
        let mut failed = Vec::new();
        for f in out.failed() {
            let index = f
                .id()
                .strip_prefix('m')
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(p) = index.and_then(|i| chunk.get(i)) {
                failed.push((
                    p.message_id.clone(),
                    format!("{}: {}", f.code(), f.message().unwrap_or("no message")),
                ));
            }
        }
        // An entry in neither list was not confirmed: count it as failed.
        for (i, p) in chunk.iter().enumerate() {
            let id = format!("m{i}");
            let confirmed = out.successful().iter().any(|s| s.id() == id);
            let reported = out.failed().iter().any(|f| f.id() == id);
            if !confirmed && !reported {
                failed.push((
                    p.message_id.clone(),
                    "not confirmed by SendMessageBatch".into(),
                ));
            }
        }
        failed
    }
}

fn all(chunk: &[Poison], why: &str) -> Vec<(String, String)> {
    chunk
        .iter()
        .map(|p| (p.message_id.clone(), why.to_owned()))
        .collect()
}
