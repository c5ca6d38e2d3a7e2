//! SQS helpers on a plain `aws_sdk_sqs::Client`: create a uniquely named queue, take what a
//! queue holds, count it. Free of kx-events types (kx-events' own tests use them).

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

use crate::env::unique;

/// Creates a standard queue named `prefix` plus a unique suffix; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateQueue {prefix}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })
        .queue_url()
        .expect("queue URL")
        .to_string()
}

/// Receives (and deletes) until `n` messages arrived or ten 1-second polls in a row found
/// nothing more.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    let mut empty_polls = 0;
    while out.len() < n && empty_polls < 10 {
        let msgs = receive_once(sqs, url, 1).await;
        if msgs.is_empty() {
            empty_polls += 1;
        }
        out.extend(msgs);
    }
    out
}

/// Every message the queue holds now, without waiting for more (short polls until empty),
/// deleted.
pub async fn take_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        let msgs = receive_once(sqs, url, 0).await;
        if msgs.is_empty() {
            return out;
        }
        out.extend(msgs);
    }
}

async fn receive_once(sqs: &aws_sdk_sqs::Client, url: &str, wait_seconds: i32) -> Vec<Message> {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage");
    let msgs = got.messages().to_vec();
    for m in &msgs {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .expect("DeleteMessage");
    }
    msgs
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
