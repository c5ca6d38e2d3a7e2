//! Two consumers racing on the same duplicate batch: each event on the bus once.

use std::time::Duration;

use kx_events_consumer::{Consumer, ConsumerOptions};
use kx_events_tests::{sqs_event, sqs_record, Harness, HarnessOptions};

use crate::{bodies, ids_on_bus, sorted_ids};

#[tokio::test(flavor = "multi_thread")]
async fn two_consumers_on_the_same_duplicate_batch_put_each_event_once() {
    let h = Harness::new().await;
    let second: Consumer = Harness::consumer_for(
        &h.moto,
        &h.config,
        &HarnessOptions {
            consumer: ConsumerOptions {
                sweep_min_age: Duration::ZERO,
                ..ConsumerOptions::default()
            },
            ..HarnessOptions::default()
        },
    )
    .await;
    let events = bodies(10);
    let batch = |n: u32| {
        sqs_event(
            events
                .iter()
                .map(|b| sqs_record(&b.to_string(), n, &[]))
                .collect(),
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (a, b) = tokio::join!(
        h.consumer.handle_batch(batch(1), deadline),
        second.handle_batch(batch(1), deadline)
    );
    let (a, b) = (a.unwrap().1, b.unwrap().1);
    assert_eq!(a.stored + b.stored, 10, "{a:?} {b:?}");
    assert_eq!(
        a.published + b.published + a.swept + b.swept,
        10,
        "{a:?} {b:?}"
    );
    // Whatever one of them reported as not done is redelivered and finds it published.
    assert!(h.handle(batch(2).records).await.is_empty());
    assert_eq!(h.db.count_events("").await, 10);
    assert_eq!(
        ids_on_bus(&h.bus_events().await),
        sorted_ids(&events),
        "one bus event per event"
    );
}
