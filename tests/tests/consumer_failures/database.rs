//! The database failing: unreachable, connections dropped, a statement timeout, a black-holed
//! network, an outage on a record's last receive.

use std::time::Duration;

use kx_events_consumer::DbSettings;
use kx_events_tests::{event_json, failures, sqs_event, sqs_record, Harness};
use serde_json::json;

use crate::{bodies, ids_on_bus, sorted_ids};

#[tokio::test(flavor = "multi_thread")]
async fn database_unreachable_every_record_fails_nothing_is_lost_and_it_recovers() {
    let h = Harness::new().await;
    let good = h.consumer.store().settings();
    // A port nobody listens on.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    h.consumer
        .store()
        .reconfigure(DbSettings {
            port: dead_port,
            connect_timeout: Duration::from_secs(1),
            ..good.clone()
        })
        .unwrap();
    let events = bodies(3);
    let mut records: Vec<_> = events
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    records.push(sqs_record("not json", 1, &[]));
    let (response, summary) = h
        .consumer
        .handle_batch(
            sqs_event(records.clone()),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    let mut failed = failures(&response);
    failed.sort();
    let mut valid_ids: Vec<String> = records[..3]
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    valid_ids.sort();
    assert_eq!(failed, valid_ids, "every valid record is reported failed");
    assert_eq!((summary.dlq, summary.stored, summary.retried), (1, 0, 3));
    assert_eq!(h.db.count_events("").await, 0);
    assert!(h.bus_events().await.is_empty());

    // The database is back: the redelivered records are stored and published.
    h.consumer.store().reconfigure(good).unwrap();
    assert!(h.handle(records[..3].to_vec()).await.is_empty());
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 3);
    assert_eq!(ids_on_bus(&h.bus_events().await), sorted_ids(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_are_replaced_by_the_next_invocation() {
    let h = Harness::new().await;
    assert!(h
        .handle(vec![sqs_record(&event_json(json!({})).to_string(), 1, &[])])
        .await
        .is_empty());
    // The server drops the pooled connections (failover, idle timeout, restart).
    h.db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'kx-events-consumer' AND datname = '{}'",
        h.db.name
    ))
    .await;
    let e = event_json(json!({}));
    assert!(h
        .handle(vec![sqs_record(&e.to_string(), 1, &[])])
        .await
        .is_empty());
    assert_eq!(h.db.count_events("published_at IS NOT NULL").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_timeout_fails_the_batch_and_the_redelivery_stores_it() {
    let h = Harness::new().await;
    let settings = h.consumer.store().settings();
    h.consumer
        .store()
        .reconfigure(DbSettings {
            statement_timeout: Duration::from_millis(500),
            ..settings.clone()
        })
        .unwrap();
    // Another session holds the table locked: the consumer's statement waits, then times out.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let lock_settings = h.db.settings.clone();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Config::new();
        c.host(&lock_settings.host)
            .port(lock_settings.port)
            .user(&lock_settings.user)
            .password(&lock_settings.password)
            .dbname(&lock_settings.dbname);
        let mut client = c.connect(postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.batch_execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let events = bodies(2);
    let records: Vec<_> = events
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    let failed = h.handle(records.clone()).await;
    assert_eq!(failed.len(), 2, "both records retried");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(h.db.count_events("").await, 0);

    h.consumer.store().reconfigure(settings).unwrap();
    assert!(h.handle(records).await.is_empty());
    assert_eq!(ids_on_bus(&h.bus_events().await), sorted_ids(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_database_ends_in_batch_item_failures_before_the_deadline() {
    let h = Harness::new().await;
    let good = h.consumer.store().settings();
    let upstream: std::net::SocketAddr = format!("{}:{}", good.host, good.port).parse().unwrap();
    let proxy = kx_events_tests::tcp_proxy::TcpProxy::start(upstream).await;
    h.consumer
        .store()
        .reconfigure(DbSettings {
            port: proxy.port(),
            ..good.clone()
        })
        .unwrap();
    // Through the proxy, it works.
    assert!(h
        .handle(vec![sqs_record(&event_json(json!({})).to_string(), 1, &[])])
        .await
        .is_empty());

    // The network stops answering; no socket closes. The invocation has 4 s left.
    proxy.blackhole(true);
    let records: Vec<_> = bodies(3)
        .iter()
        .map(|b| sqs_record(&b.to_string(), 1, &[]))
        .collect();
    let started = tokio::time::Instant::now();
    let (response, summary) = h
        .consumer
        .handle_batch(sqs_event(records.clone()), started + Duration::from_secs(4))
        .await
        .unwrap();
    let took = started.elapsed();
    // Every record is reported (retried later), and the handler answered by the deadline.
    assert_eq!(failures(&response).len(), 3, "{response:?}");
    assert_eq!(summary.stored, 0);
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The network is back: a fresh connection serves the redelivery.
    proxy.blackhole(false);
    h.consumer.store().reconfigure(good).unwrap();
    assert!(h.handle(records).await.is_empty());
    assert_eq!(h.db.count_events("").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_records_on_their_last_receive_during_an_outage_go_back_to_the_queue_not_the_dlq() {
    let h = Harness::new().await;
    let consumer = h.consumer.clone().with_requeue(
        h.moto.sqs.clone(),
        h.queues.queue_url.clone(),
        Duration::ZERO,
    );
    let good = consumer.store().settings();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    consumer
        .store()
        .reconfigure(DbSettings {
            port: dead_port,
            connect_timeout: Duration::from_secs(1),
            ..good.clone()
        })
        .unwrap();
    let events = bodies(3);
    let records = vec![
        sqs_record(&events[0].to_string(), 3, &[]),
        sqs_record(&events[1].to_string(), 3, &[("kx-on-bus", "true")]),
        // Not its last receive: retried by SQS as usual.
        sqs_record(&events[2].to_string(), 1, &[]),
    ];
    let (response, summary) = consumer
        .handle_batch(
            sqs_event(records.clone()),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        vec![records[2].message_id.clone().unwrap()]
    );
    assert_eq!(summary.requeued, 2);
    let copies = h.moto.drain(&h.queues.queue_url).await;
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert!(copies.iter().all(|c| c.attributes["kx-requeued"] == "1"));
    assert_eq!(
        copies
            .iter()
            .filter(|c| c.attributes.get("kx-on-bus").map(String::as_str) == Some("true"))
            .count(),
        1
    );
    let mut bodies_back: Vec<&str> = copies.iter().map(|c| c.body.as_str()).collect();
    bodies_back.sort_unstable();
    let mut sent = vec![
        records[0].body.as_deref().unwrap(),
        records[1].body.as_deref().unwrap(),
    ];
    sent.sort_unstable();
    assert_eq!(bodies_back, sent);
    assert!(h.dlq().await.is_empty());

    // The database is back: the copies are stored (the on-bus one is not put again).
    consumer.store().reconfigure(good).unwrap();
    let again: Vec<_> = copies
        .iter()
        .map(|c| {
            let attrs: Vec<(&str, &str)> = c
                .attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            sqs_record(&c.body, 1, &attrs)
        })
        .collect();
    let (response, summary) = consumer
        .handle_batch(
            sqs_event(again),
            tokio::time::Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!((summary.stored, summary.published), (2, 1));
}
