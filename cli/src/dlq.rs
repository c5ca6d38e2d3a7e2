//! `kx dlq`: the dead-letter queue, listed, moved back to the events queue, or purged of poison.
//!
//! Listing and the filtered moves receive the messages with a visibility timeout and give back
//! the ones they leave (visibility 0), so that nothing is lost when a call fails halfway: a
//! message is deleted from the DLQ only after its copy was sent (redrive) or when it was chosen
//! for deletion (purge).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use clap::{Args, Subcommand};
use kx_events_consumer::{
    FIELD_ATTRIBUTE, REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
use serde_json::{json, Value};

use crate::{Failure, OneFormat, Printed};

/// What `kx dlq list` shows for a message the consumer never saw on its last receive.
pub const MOVED_BY_REDRIVE: &str = "moved by SQS redrive";

/// The queues of `kx dlq`.
#[derive(Debug, Args)]
pub struct Queues {
    /// The dead-letter queue's URL (Terraform output dead_letter_queue_url).
    #[arg(long, env = "KX_DEAD_LETTER_QUEUE_URL", global = true)]
    dlq_url: Option<String>,
    /// The events queue's URL (Terraform output queue_url), where redrive moves messages.
    #[arg(long, env = "KX_EVENTS_QUEUE_URL", global = true)]
    queue_url: Option<String>,
}

/// `kx dlq …`
#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    queues: Queues,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Show each dead-lettered message: id, first receive, receive count, the consumer's reason
    /// (kx-reason / kx-field / kx-rule) or "moved by SQS redrive", and the body.
    List {
        /// Show whole bodies (default: the first 120 characters).
        #[arg(long)]
        full: bool,
        /// Look at most at this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OneFormat::Table)]
        format: OneFormat,
    },
    /// Move messages back to the events queue: all of them (SQS StartMessageMoveTask), or those
    /// with --reason / --message-id (received, sent, and deleted only once sent).
    Redrive {
        /// Only messages whose kx-rule is this rule (e.g. uuid, max_length); `redrive` for the
        /// ones SQS moved without a reason.
        #[arg(long)]
        reason: Option<String>,
        /// Only these messages (repeat the flag).
        #[arg(long)]
        message_id: Vec<String>,
        /// Show what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Move every message by receive / send / delete instead of StartMessageMoveTask (where
        /// the move task is not available, e.g. an emulator).
        #[arg(long)]
        copy: bool,
        /// Look at most at this many messages (filtered moves).
        #[arg(long, default_value_t = 10_000)]
        max: usize,
    },
    /// Delete the messages whose kx-rule is RULE: poison that can never be valid.
    Purge {
        /// The rule (kx-rule) of the messages to delete.
        #[arg(long)]
        reason: String,
        /// Confirm the deletion (required).
        #[arg(long)]
        yes: bool,
        /// Look at most at this many messages.
        #[arg(long, default_value_t = 10_000)]
        max: usize,
    },
}

/// How long received messages stay hidden while `kx` looks at them.
const HOLD: Duration = Duration::from_secs(60);

fn aws<E>(op: &str, e: aws_sdk_sqs::error::SdkError<E>) -> Failure
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
struct Dead {
    message: Message,
}

impl Dead {
    fn id(&self) -> &str {
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
    fn rule(&self) -> &str {
        self.attr(RULE_ATTRIBUTE).unwrap_or("redrive")
    }

    fn to_json(&self, full: bool) -> Value {
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

struct Sqs {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_sqs::Client,
}

impl Sqs {
    fn new() -> Result<Self, Failure> {
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
    fn receive_all(&self, url: &str, max: usize) -> Result<Vec<Dead>, Failure> {
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
    fn release(&self, url: &str, messages: &[Dead]) -> Result<(), Failure> {
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
    fn delete(&self, url: &str, messages: &[&Dead]) -> Result<usize, Failure> {
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
    fn send_copies<'a>(
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

    fn arn(&self, url: &str) -> Result<String, Failure> {
        let out = self
            .rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send(),
            )
            .map_err(|e| aws("GetQueueAttributes", e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| Failure::Other(format!("GetQueueAttributes: no QueueArn for {url}")))
    }

    fn depth(&self, url: &str) -> Result<u64, Failure> {
        let out = self
            .rt
            .block_on(
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send(),
            )
            .map_err(|e| aws("GetQueueAttributes", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}

fn required(v: &Option<String>, flag: &str, env: &str) -> Result<String, Failure> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Failure::Usage(format!("{flag}: required (or set {env})")))
}

/// Runs `kx dlq …`.
pub fn run(a: &DlqArgs) -> Result<Printed, Failure> {
    let dlq = required(&a.queues.dlq_url, "--dlq-url", "KX_DEAD_LETTER_QUEUE_URL")?;
    match &a.command {
        DlqCommand::List { full, max, format } => {
            let sqs = Sqs::new()?;
            let all = sqs.receive_all(&dlq, *max)?;
            sqs.release(&dlq, &all)?;
            let rows: Vec<Value> = all.iter().map(|d| d.to_json(*full)).collect();
            let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
            for d in &all {
                *by_rule.entry(d.rule()).or_default() += 1;
            }
            Ok(match format {
                OneFormat::Json => crate::output::json(&json!({
                    "count": rows.len(),
                    "byRule": by_rule,
                    "messages": rows,
                })),
                OneFormat::Table => list_table(&rows, &by_rule),
            }
            .into())
        }
        DlqCommand::Redrive {
            reason,
            message_id,
            dry_run,
            copy,
            max,
        } => {
            let queue = required(&a.queues.queue_url, "--queue-url", "KX_EVENTS_QUEUE_URL")?;
            let sqs = Sqs::new()?;
            if reason.is_none() && message_id.is_empty() && !copy {
                return redrive_all(&sqs, &dlq, &queue, *dry_run);
            }
            let all = sqs.receive_all(&dlq, *max)?;
            let (chosen, others): (Vec<&Dead>, Vec<&Dead>) = all.iter().partition(|d| {
                reason.as_deref().is_none_or(|r| d.rule() == r)
                    && (message_id.is_empty() || message_id.iter().any(|m| m == d.id()))
            });
            let give_back = |list: &[&Dead]| {
                let owned: Vec<Dead> = list.iter().map(|d| (*d).clone()).collect();
                sqs.release(&dlq, &owned)
            };
            give_back(&others)?;
            if *dry_run {
                give_back(&chosen)?;
                return Ok(format!(
                    "dry run: {} message(s) would be moved to the events queue ({} looked at)\n{}",
                    chosen.len(),
                    all.len(),
                    chosen
                        .iter()
                        .map(|d| format!("  {}  {}\n", d.id(), d.rule()))
                        .collect::<String>()
                )
                .into());
            }
            let (sent, failed) = sqs.send_copies(&queue, &chosen);
            // Never delete what was not sent: the failed ones go back to the DLQ as they were.
            let unsent: Vec<&Dead> = failed.iter().map(|(d, _)| *d).collect();
            give_back(&unsent)?;
            let deleted = sqs.delete(&dlq, &sent)?;
            let mut text = format!(
                "moved {} message(s) to the events queue; {} could not be sent and stay in the DLQ\n",
                sent.len(),
                failed.len()
            );
            if deleted < sent.len() {
                text.push_str(&format!(
                    "{} sent message(s) could not be deleted from the DLQ: they are in both \
                     queues (the consumer stores an event once)\n",
                    sent.len() - deleted
                ));
            }
            if let Some((d, why)) = failed.first() {
                print!("{text}");
                return Err(Failure::Other(format!(
                    "{} message(s) not moved (first: {}: {why}); run the command again",
                    failed.len(),
                    d.id()
                )));
            }
            Ok(text.into())
        }
        DlqCommand::Purge { reason, yes, max } => {
            if !yes {
                return Err(Failure::Usage(format!(
                    "--yes: required to delete the messages of rule {reason:?} for good (see \
                     them first with kx dlq list)"
                )));
            }
            let sqs = Sqs::new()?;
            let all = sqs.receive_all(&dlq, *max)?;
            let (chosen, others): (Vec<&Dead>, Vec<&Dead>) =
                all.iter().partition(|d| d.rule() == reason);
            let others: Vec<Dead> = others.into_iter().cloned().collect();
            sqs.release(&dlq, &others)?;
            let deleted = sqs.delete(&dlq, &chosen)?;
            Ok(format!(
                "purged {deleted} message(s) of rule {reason} from the DLQ ({} kept)\n",
                others.len()
            )
            .into())
        }
    }
}

fn list_table(rows: &[Value], by_rule: &BTreeMap<&str, usize>) -> String {
    let mut s = String::new();
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        s.push_str(&format!(
            "{}  first receive {}  receives {}\n  reason: {}{}\n  body: {}\n",
            text("messageId"),
            text("firstReceive"),
            r["receiveCount"],
            text("reason"),
            match (r["field"].as_str(), r["rule"].as_str()) {
                (Some(f), Some(rule)) => format!(" (field {f}, rule {rule})"),
                _ => String::new(),
            },
            text("body"),
        ));
    }
    let counts: Vec<String> = by_rule.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    s.push_str(&format!(
        "{} message(s){}\n",
        rows.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    ));
    s
}

/// Moves every message with `StartMessageMoveTask` and waits (up to a minute) for the task.
fn redrive_all(sqs: &Sqs, dlq: &str, queue: &str, dry_run: bool) -> Result<Printed, Failure> {
    let depth = sqs.depth(dlq)?;
    if dry_run {
        return Ok(format!(
            "dry run: about {depth} message(s) would be moved to the events queue (StartMessageMoveTask)\n"
        )
        .into());
    }
    let (source, destination) = (sqs.arn(dlq)?, sqs.arn(queue)?);
    let task = sqs
        .rt
        .block_on(
            sqs.client
                .start_message_move_task()
                .source_arn(&source)
                .destination_arn(&destination)
                .send(),
        )
        .map_err(|e| match aws("StartMessageMoveTask", e) {
            Failure::Other(m) => Failure::Other(format!(
                "{m} (where the move task is not available, move with --copy)"
            )),
            f => f,
        })?;
    let handle = task.task_handle().unwrap_or("").to_owned();
    for _ in 0..60 {
        let tasks = sqs
            .rt
            .block_on(
                sqs.client
                    .list_message_move_tasks()
                    .source_arn(&source)
                    .max_results(1)
                    .send(),
            )
            .map_err(|e| aws("ListMessageMoveTasks", e))?;
        if let Some(t) = tasks.results().first() {
            let status = t.status().unwrap_or("");
            if status == "COMPLETED" || status == "FAILED" || status == "CANCELLED" {
                let moved = t.approximate_number_of_messages_moved();
                let text = format!(
                    "message move task {status}: {moved} message(s) moved to the events queue{}\n",
                    t.failure_reason()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
                return if status == "COMPLETED" {
                    Ok(text.into())
                } else {
                    Err(Failure::Other(text.trim_end().to_owned()))
                };
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(format!(
        "message move task {handle} started (about {depth} message(s)); still running: watch it \
         with kx dlq list\n"
    )
    .into())
}
