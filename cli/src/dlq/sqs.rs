//! SQS for `kx dlq`: the messages as `kx dlq list` shows them, and the receive / give back /
//! delete / copy calls the subcommands are built from.
//!
//! Everything is done in batches of 10 (SQS's batch limit). A received message is hidden for
//! [`HOLD`]; the callers give back (visibility 0) every message they do not delete, so a failure
//! halfway only delays messages, never loses them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use kx_events_consumer::{
    FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
use serde_json::{json, Value};

use super::MOVED_BY_REDRIVE;
use crate::Failure;

/// How long received messages stay hidden while `kx` looks at them.
const HOLD: Duration = Duration::from_secs(60);

pub(super) fn aws<E>(op: &str, e: aws_sdk_sqs::error::SdkError<E>) -> Failure
where
    E: std::error::Error + std::fmt::Debug + 'static,
{
    let text = DisplayErrorContext(&e).to_string().replace('\n', " ");
    if matches!(
        e,
        aws_sdk_sqs::error::SdkError::DispatchFailure(_)
            | aws_sdk_sqs::error::SdkError::TimeoutError(_)
    ) {
        Failure::Unavailable(format!("{op}: SQS unavailable: {text}"))
    } else {
        Failure::Other(format!("{op} failed: {text}"))
    }
}

/// One message as `kx dlq list` shows it.
#[derive(Debug, Clone)]
pub(super) struct Dead {
    pub(super) message: Message,
}

impl Dead {
    pub(super) fn id(&self) -> &str {
        self.message.message_id().unwrap_or("")
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.message
            .message_attributes()
            .and_then(|m| m.get(name))
            .and_then(|a| a.string_value())
    }

    fn system(&self, name: MessageSystemAttributeName) -> Option<&str> {
        self.message
            .attributes()
            .and_then(|m| m.get(&name))
            .map(String::as_str)
    }

    /// The kx-rule, or `redrive` for a message SQS moved.
    pub(super) fn rule(&self) -> &str {
        self.attr(RULE_ATTRIBUTE).unwrap_or("redrive")
    }

    pub(super) fn to_json(&self, full: bool) -> Value {
        let ms = |v: Option<&str>| {
            v.and_then(|v| v.parse::<i64>().ok())
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| kx_events_query::format_timestamp(&t))
        };
        let body = self.message.body().unwrap_or("");
        json!({
            "messageId": self.id(),
            "sent": ms(self.system(MessageSystemAttributeName::SentTimestamp)),
            "firstReceive": ms(self.system(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp)),
            "receiveCount": self.system(MessageSystemAttributeName::ApproximateReceiveCount).and_then(|v| v.parse::<u64>().ok()),
            "reason": self.attr(REASON_ATTRIBUTE).unwrap_or(MOVED_BY_REDRIVE),
            "field": self.attr(FIELD_ATTRIBUTE),
            "rule": self.attr(RULE_ATTRIBUTE),
            "sourceMessageId": self.attr(SOURCE_MESSAGE_ID_ATTRIBUTE),
            "body": if full { body.to_owned() } else { truncate(body, 120) },
        })
    }
}

fn truncate(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A blocking SQS client: the SDK on its own current-thread runtime (`kx` is synchronous).
pub(super) struct Sqs {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) client: aws_sdk_sqs::Client,
}

impl Sqs {
    pub(super) fn new() -> Result<Self, Failure> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Other(format!("cannot start the async runtime: {e}")))?;
        let sdk = rt.block_on(kx_events_consumer::sdk_config());
        Ok(Self {
            client: aws_sdk_sqs::Client::new(&sdk),
            rt,
        })
    }

    /// Receives up to `max` distinct messages, holding each for [`HOLD`]. Stops at the first
    /// empty receive.
    pub(super) fn receive_all(&self, url: &str, max: usize) -> Result<Vec<Dead>, Failure> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while out.len() < max {
            let want = (max - out.len()).min(10) as i32;
            let got = self
                .rt
                .block_on(
                    self.client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(want)
                        .visibility_timeout(HOLD.as_secs() as i32)
                        .wait_time_seconds(0)
                        .message_system_attribute_names(MessageSystemAttributeName::All)
                        .message_attribute_names("All")
                        .send(),
                )
                .map_err(|e| aws("ReceiveMessage", e));
            let got = match got {
                Ok(g) => g,
                Err(f) => {
                    // Give back what is held before failing.
                    let _ = self.release(url, &out);
                    return Err(f);
                }
            };
            let messages = got.messages();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                if seen.insert(m.message_id().unwrap_or("").to_owned()) {
                    out.push(Dead { message: m.clone() });
                }
            }
        }
        Ok(out)
    }

    /// Makes `messages` visible again at once (a failure only delays them by [`HOLD`]).
    pub(super) fn release(&self, url: &str, messages: &[Dead]) -> Result<(), Failure> {
        for chunk in messages.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(d.message.receipt_handle().unwrap_or(""))
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            self.rt
                .block_on(
                    self.client
                        .change_message_visibility_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send(),
                )
                .map_err(|e| aws("ChangeMessageVisibilityBatch", e))?;
        }
        Ok(())
    }

    /// Deletes `messages`; returns how many SQS confirmed.
    pub(super) fn delete(&self, url: &str, messages: &[&Dead]) -> Result<usize, Failure> {
        let mut deleted = 0;
        for chunk in messages.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(d.message.receipt_handle().unwrap_or(""))
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .rt
                .block_on(
                    self.client
                        .delete_message_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send(),
                )
                .map_err(|e| aws("DeleteMessageBatch", e))?;
            deleted += out.successful().len();
        }
        Ok(deleted)
    }

    /// Sends copies of `messages` to `url` (body and message attributes, without the consumer's
    /// reason attributes); returns the ones SQS confirmed and the errors of the others.
    pub(super) fn send_copies<'a>(
        &self,
        url: &str,
        messages: &[&'a Dead],
    ) -> (Vec<&'a Dead>, Vec<(&'a Dead, String)>) {
        let reason_attributes = [
            REASON_ATTRIBUTE,
            FIELD_ATTRIBUTE,
            RULE_ATTRIBUTE,
            SOURCE_MESSAGE_ID_ATTRIBUTE,
        ];
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for chunk in messages.chunks(10) {
            let mut entries = Vec::new();
            for (i, d) in chunk.iter().enumerate() {
                let attributes: HashMap<String, MessageAttributeValue> = d
                    .message
                    .message_attributes()
                    .map(|m| {
                        m.iter()
                            .filter(|(k, _)| !reason_attributes.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                match SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(d.message.body().unwrap_or(""))
                    .set_message_attributes((!attributes.is_empty()).then_some(attributes))
                    .build()
                {
                    Ok(e) => entries.push(e),
                    Err(e) => failed.push((*d, e.to_string())),
                }
            }
            if entries.is_empty() {
                continue;
            }
            let ids: Vec<String> = entries.iter().map(|e| e.id().to_owned()).collect();
            let result = self.rt.block_on(
                self.client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send(),
            );
            let index = |id: &str| {
                id.strip_prefix('m')
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| chunk.get(i).copied())
            };
            match result {
                Err(e) => {
                    let why = DisplayErrorContext(&e).to_string().replace('\n', " ");
                    for id in &ids {
                        if let Some(d) = index(id) {
                            failed.push((d, format!("SendMessageBatch failed: {why}")));
                        }
                    }
                }
                Ok(out) => {
                    for s in out.successful() {
                        if let Some(d) = index(s.id()) {
                            sent.push(d);
                        }
                    }
                    for f in out.failed() {
                        if let Some(d) = index(f.id()) {
                            failed.push((
                                d,
                                format!("{}: {}", f.code(), f.message().unwrap_or("no message")),
                            ));
                        }
                    }
                }
            }
        }
        (sent, failed)
    }

    /// One attribute of a queue (`GetQueueAttributes`), if SQS returned it.
    fn attribute(&self, url: &str, name: QueueAttributeName) -> Result<Option<String>, Failure> {
        let out = self
            .rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(name.clone())
                    .send(),
            )
            .map_err(|e| aws("GetQueueAttributes", e))?;
        Ok(out.attributes().and_then(|a| a.get(&name)).cloned())
    }

    pub(super) fn arn(&self, url: &str) -> Result<String, Failure> {
        self.attribute(url, QueueAttributeName::QueueArn)?
            .ok_or_else(|| Failure::Other(format!("GetQueueAttributes: no QueueArn for {url}")))
    }

    pub(super) fn depth(&self, url: &str) -> Result<u64, Failure> {
        Ok(self
            .attribute(url, QueueAttributeName::ApproximateNumberOfMessages)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}
