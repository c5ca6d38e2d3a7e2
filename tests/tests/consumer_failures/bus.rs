//! The bus failing: down, failing or refusing entries, too slow for the invocation's deadline.

use std::time::Duration;

use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS};
use kx_events_tests::{event_json, failures, sqs_event, sqs_record, Harness, HarnessOptions};
use serde_json::json;

use crate::{bodies, ids_on_bus, sorted_ids};

#[tokio::test(flavor = "multi_thread")]
async fn bus_down_rows_are_stored_and_published_on_a_later_delivery_once() {
    // The bus does not exist yet: every PutEvents fails.
    let h = Harness::build(HarnessOptions {
        create_bus: false,
        bus_attempts: 2,
        ..HarnessOptions::default()
    })
    .await;
    let events = bodies(3);
    let records: Vec<_> = events
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    let failed = h.handle(records.clone()).await;
    assert_eq!(failed.len(), 3, "stored but not on the bus: retried");
    assert_eq!(h.db.count_events("").await, 3);
    assert_eq!(
        h.db.count_events("published_at IS NULL AND publish_lease IS NULL")
            .await,
        3,
        "leases released"
    );

    // The bus appears; SQS delivers the failed records again.
    h.moto.create_bus(&h.bus_name).await;
    let target = h.moto.create_rule_target(&h.bus_name, &h.source).await;
    let redelivered: Vec<_> = records
        .iter()
        .map(|r| sqs_record(r.body.as_deref().unwrap(), 2, &[]))
        .collect();
    assert!(h.handle(redelivered.clone()).await.is_empty());
    assert_eq!(h.db.count_events("").await, 3, "no second row");
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 3);
    // And once more (a duplicate delivery): nothing new on the bus.
    assert!(h.handle(redelivered).await.is_empty());
    let on_bus = h.moto.bus_events(&target).await;
    assert_eq!(
        ids_on_bus(&on_bus),
        sorted_ids(&events),
        "each event exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_last_receive_a_stored_but_unpublished_event_is_left_to_the_sweep() {
    let h = Harness::build(HarnessOptions {
        create_bus: false,
        bus_attempts: 1,
        ..HarnessOptions::default()
    })
    .await;
    let e = event_json(json!({}));
    // Last receive (3 of 3): failing it would send a stored event to the DLQ unpublished.
    assert!(h
        .handle(vec![sqs_record(&e.to_string(), 3, &[])])
        .await
        .is_empty());
    assert_eq!(h.db.count_events("published_at IS NULL").await, 1);

    h.moto.create_bus(&h.bus_name).await;
    let target = h.moto.create_rule_target(&h.bus_name, &h.source).await;
    // Any later invocation sweeps the outbox, even an empty one (e.g. a schedule).
    let (_, summary) = h
        .consumer
        .handle_batch(
            sqs_event(vec![]),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(summary.swept, 1);
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 1);
    let (_, summary) = h
        .consumer
        .handle_batch(
            sqs_event(vec![]),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(summary.swept, 0);
    let on_bus = h.moto.bus_events(&target).await;
    assert_eq!(on_bus.len(), 1);
    assert_eq!(on_bus[0]["detail"], e);
    assert!(h.dlq().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_putevents_entries_are_retried_in_the_invocation_or_on_redelivery_never_twice() {
    let moto_url = kx_events_tests::required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto_url).await.expect("fault proxy");
    let h = Harness::build(HarnessOptions {
        events_endpoint: Some(proxy.url()),
        bus_attempts: 3,
        ..HarnessOptions::default()
    })
    .await;

    // Transient: two entries fail once; the consumer retries them within the invocation.
    let transient = proxy
        .fail_entries(PUT_EVENTS, EntrySelector::EveryNth(5), Some(2))
        .unwrap();
    let first = bodies(12); // two PutEvents calls: 10 + 2 entries
    let records: Vec<_> = first
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    assert!(h.handle(records).await.is_empty());
    assert_eq!(
        proxy.remaining(transient),
        None,
        "the faults were used: {:?}",
        proxy.stats()
    );
    assert_eq!(ids_on_bus(&h.bus_events().await), sorted_ids(&first));

    // Persistent: entries whose Detail names one event keep failing; only that record is retried.
    let second = bodies(4);
    let doomed = second[2]["eventId"].as_str().unwrap().to_owned();
    let fault = proxy
        .fail_entries(
            PUT_EVENTS,
            EntrySelector::PayloadContains(doomed.clone()),
            None,
        )
        .unwrap();
    let records: Vec<_> = second
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    let failed = h.handle(records.clone()).await;
    assert_eq!(failed, vec![records[2].message_id.clone().unwrap()]);
    assert_eq!(h.db.count_events("").await, 16);
    assert_eq!(h.db.count_events("published_at IS NULL").await, 1);
    let on_bus = h.bus_events().await;
    assert_eq!(on_bus.len(), 3);
    assert!(!ids_on_bus(&on_bus).contains(&doomed));

    // The bus recovers; the redelivery publishes the stored row, without a second row.
    proxy.remove(fault);
    assert!(h
        .handle(vec![sqs_record(&second[2].to_string(), 2, &[])])
        .await
        .is_empty());
    assert_eq!(ids_on_bus(&h.bus_events().await), vec![doomed]);
    assert_eq!(h.db.count_events("").await, 16);
    assert_eq!(h.db.count_events("published_at IS NULL").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_the_bus_refuses_for_good_is_recorded_and_never_starves_the_sweep() {
    let moto_url = kx_events_tests::required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto_url).await.expect("fault proxy");
    let h = Harness::build(HarnessOptions {
        events_endpoint: Some(proxy.url()),
        bus_attempts: 3,
        ..HarnessOptions::default()
    })
    .await;
    let batch = bodies(3);
    let doomed = batch[1]["eventId"].as_str().unwrap().to_owned();
    proxy
        .fail_entries_with_code(
            PUT_EVENTS,
            EntrySelector::PayloadContains(doomed.clone()),
            None,
            Some("NotAuthorizedForDetailTypeException"),
        )
        .unwrap();
    // Beside it, an event the bus cannot carry at all (an integer beyond EventBridge's range):
    // stored, flagged without a call, not dead-lettered.
    let huge = event_json(json!({"metadata": {"count": 18446744073709551615u64}}));
    let huge_id = huge["eventId"].as_str().unwrap().to_owned();
    let mut records: Vec<_> = batch
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    records.push(sqs_record(&huge.to_string(), 1, &[]));
    let (response, summary) = h
        .consumer
        .handle_batch(
            sqs_event(records),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    // Nothing to retry: a retry cannot fix either; both are stored and flagged.
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(
        (summary.stored, summary.published, summary.rejected),
        (4, 2, 2)
    );
    let puts_after_first = proxy.stats().target(PUT_EVENTS).requests;
    let row = h.db.event_row(doomed.parse().unwrap()).await.unwrap();
    assert!(row["published_at"].is_null());
    assert!(!row["publish_failed_at"].is_null());
    assert!(
        row["publish_error"]
            .as_str()
            .unwrap()
            .starts_with("NotAuthorizedForDetailTypeException: "),
        "{row}"
    );
    assert_eq!(row["publish_attempts"], 1);
    let row = h.db.event_row(huge_id.parse().unwrap()).await.unwrap();
    assert!(
        row["publish_error"]
            .as_str()
            .unwrap()
            .starts_with("kx.Unpublishable: metadata.count: the integer 18446744073709551615"),
        "{row}"
    );
    assert_eq!(row["metadata"]["count"], json!(18446744073709551615u64));
    assert!(h.dlq().await.is_empty());

    // The sweep skips them: it has nothing to put, and newer rows behind them are not starved.
    let newer = bodies(2);
    let stored_only: Vec<_> = newer
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    // Stored while the bus is unreachable for these two, so they wait in the outbox.
    let down = proxy.fail_requests(PUT_EVENTS, 500, None);
    assert_eq!(h.handle(stored_only).await.len(), 2);
    proxy.remove(down);
    let (_, summary) = h
        .consumer
        .handle_batch(
            sqs_event(vec![]),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!((summary.swept, summary.rejected), (2, 0));
    let on_bus = ids_on_bus(&h.bus_events().await);
    assert!(!on_bus.contains(&doomed) && !on_bus.contains(&huge_id));
    assert_eq!(on_bus.len(), 4);
    // The rejected rows were not put again.
    assert_eq!(
        h.db.count_events("publish_failed_at IS NOT NULL AND publish_attempts = 1")
            .await,
        2
    );
    assert!(proxy.stats().target(PUT_EVENTS).requests > puts_after_first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_out_of_time_keeps_what_it_put_and_never_puts_it_again() {
    let moto_url = kx_events_tests::required_env("AWS_ENDPOINT_URL");
    let proxy = FaultProxy::start(&moto_url).await.expect("fault proxy");
    let h = Harness::build(HarnessOptions {
        events_endpoint: Some(proxy.url()),
        ..HarnessOptions::default()
    })
    .await;
    // The first PutEvents call is answered as usual, every later one takes a minute: of three
    // chunks, only the first fits the 8 s left.
    proxy.delay_requests(PUT_EVENTS, Duration::ZERO, Some(1));
    proxy.delay_requests(PUT_EVENTS, Duration::from_secs(60), None);
    let events = bodies(25);
    let records: Vec<_> = events
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    let (response, summary) = h
        .consumer
        .handle_batch(
            sqs_event(records.clone()),
            tokio::time::Instant::now() + Duration::from_secs(8),
        )
        .await
        .unwrap();
    assert_eq!(summary.stored, 25);
    assert_eq!(summary.published, 10, "{summary:?} {:?}", proxy.stats());
    // The first chunk is marked at once; the rest is retried, its leases released.
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 10);
    assert_eq!(failures(&response).len(), 15);
    assert_eq!(
        h.db.count_events("published_at IS NULL AND publish_lease IS NOT NULL")
            .await,
        0
    );
    proxy.clear();
    // The redelivery puts only the other 15: every event on the bus exactly once.
    let again: Vec<_> = records
        .iter()
        .filter(|r| failures(&response).contains(r.message_id.as_ref().unwrap()))
        .cloned()
        .collect();
    assert!(h.handle(again).await.is_empty());
    assert_eq!(ids_on_bus(&h.bus_events().await), sorted_ids(&events));
}
