//! `kx dlq`: the dead-letter queue, listed, moved back to the events queue, or purged of poison.
//!
//! Listing and the filtered moves receive the messages with a visibility timeout and give back
//! the ones they leave (visibility 0), so that nothing is lost when a call fails halfway: a
//! message is deleted from the DLQ only after its copy was sent (redrive) or when it was chosen
//! for deletion (purge).
//!
//! This module holds the command line and what each subcommand does; `sqs` holds the SQS
//! calls and the message view they share.

mod sqs;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sqs::{aws, Dead, Sqs};

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
