//! The Lambda side of the SQS event-source mapping's wire format: the `SqsEvent` a batch is
//! delivered as, and the `ReportBatchItemFailures` response read back.
//!
//! Both follow the AWS documentation of the SQS event source ("Using Lambda with Amazon SQS",
//! "Reporting batch item failures") field by field, since the consumer is deployed against the
//! real service: what works here must work there.

use aws_sdk_sqs::types::Message;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Reads a `ReportBatchItemFailures` response: the ids to retry, or why the whole batch failed.
///
/// As documented for Lambda: `null`, `{}`, a missing/`null`/empty `batchItemFailures` mean
/// complete success; anything that is not such an object, or an item whose `itemIdentifier` is
/// missing, `null`, empty or not a message of the batch, means complete failure.
pub fn batch_item_failures(
    response: &Value,
    batch_ids: &HashSet<&str>,
) -> std::result::Result<HashSet<String>, String> {
    let object = match response {
        Value::Null => return Ok(HashSet::new()),
        Value::Object(object) => object,
        other => return Err(format!("response is not a batch response: {other}")),
    };
    let items = match object.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(HashSet::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
    };
    let mut failed = HashSet::new();
    for item in items {
        match item.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() && batch_ids.contains(id.as_str()) => {
                failed.insert(id.clone());
            }
            _ => return Err(format!("invalid batch item failure {item}")),
        }
    }
    Ok(failed)
}

/// The `SqsEvent` Lambda builds for a batch: `{"Records": [...]}` with, per message,
/// `messageId`, `receiptHandle`, `body`, `attributes` (every system attribute received:
/// `ApproximateReceiveCount`, `SentTimestamp`, `SenderId`, `ApproximateFirstReceiveTimestamp`,
/// …), `messageAttributes` (`{name: {stringValue | binaryValue (base64), stringListValues,
/// binaryListValues, dataType}}`), `md5OfBody`, `md5OfMessageAttributes` (when there are
/// attributes), `eventSource` `aws:sqs`, `eventSourceARN` and `awsRegion`.
pub fn sqs_event(batch: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = batch
        .iter()
        .map(|m| sqs_record(m, queue_arn, region))
        .collect();
    json!({ "Records": records })
}

fn sqs_record(message: &Message, queue_arn: &str, region: &str) -> Value {
    let b64 = |blob: &aws_sdk_sqs::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
    };
    let mut attributes = Map::new();
    if let Some(system) = message.attributes() {
        for (name, value) in system {
            attributes.insert(name.as_str().to_string(), json!(value));
        }
    }
    let mut message_attributes = Map::new();
    if let Some(user) = message.message_attributes() {
        for (name, value) in user {
            let mut attribute = Map::new();
            if let Some(s) = value.string_value() {
                attribute.insert("stringValue".into(), json!(s));
            }
            if let Some(b) = value.binary_value() {
                attribute.insert("binaryValue".into(), json!(b64(b)));
            }
            attribute.insert("stringListValues".into(), json!(value.string_list_values()));
            attribute.insert(
                "binaryListValues".into(),
                json!(value
                    .binary_list_values()
                    .iter()
                    .map(b64)
                    .collect::<Vec<_>>()),
            );
            attribute.insert("dataType".into(), json!(value.data_type()));
            message_attributes.insert(name.clone(), Value::Object(attribute));
        }
    }
    let mut record = json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = message.md5_of_message_attributes() {
        record["md5OfMessageAttributes"] = json!(md5);
    }
    record
}

/// Approximate JSON size of a message's record.
pub(super) fn record_size(message: &Message) -> usize {
    let attributes: usize = message
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    k.len()
                        + v.string_value().map_or(0, str::len)
                        + v.binary_value().map_or(0, |b| b.as_ref().len() * 4 / 3 + 4)
                        + 96
                })
                .sum()
        })
        .unwrap_or(0);
    // The body is JSON-escaped: count escapes generously.
    let body = message.body().map_or(0, |b| {
        b.len()
            + b.chars()
                .filter(|c| matches!(c, '"' | '\\') || c.is_control())
                .count()
                * 5
    });
    body + attributes + message.receipt_handle().map_or(0, str::len) + 600
}
