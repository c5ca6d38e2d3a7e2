//! The DLQ failing: poison that cannot be dead-lettered is a batch item failure.

use kx_events_tests::{event_json, sqs_record, Harness, HarnessOptions};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn a_dlq_that_cannot_be_reached_makes_the_poison_a_batch_item_failure() {
    let h = Harness::build(HarnessOptions {
        dlq_url: Some(format!(
            "{}/123456789012/kx-no-such-dlq-{}",
            kx_events_tests::required_env("AWS_ENDPOINT_URL"),
            Uuid::new_v4().simple()
        )),
        ..HarnessOptions::default()
    })
    .await;
    let poison = sqs_record("{}", 1, &[]);
    let good = event_json(json!({}));
    let failed = h
        .handle(vec![poison.clone(), sqs_record(&good.to_string(), 1, &[])])
        .await;
    assert_eq!(
        failed,
        vec![poison.message_id.unwrap()],
        "never lost: SQS keeps it"
    );
    assert_eq!(h.db.count_events("").await, 1);
}
