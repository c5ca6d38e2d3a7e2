//! `POST /events`: the contract's validation, the event queued; a reader that cannot write; the
//! database down.

use kx_events_consumer::Store;
use kx_events_local::runtime_api::RuntimeApi;
use kx_events_tests::e2e;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{call, get, request, spawn, world};

#[tokio::test(flavor = "multi_thread")]
async fn post_validates_with_the_contract_and_queues_and_the_reader_cannot_write() {
    let w = world().await;
    let api = RuntimeApi::start().await.unwrap();
    let f = spawn(&api, &w.env()).await;

    // A valid event is on the queue, as the producer crate would have sent it.
    let id = Uuid::new_v4();
    let body = json!({"eventId": id, "clientId": "client_post", "entityType": "order",
        "eventType": "order_created", "occurredAt": "2024-01-15T10:30:00.000Z", "pointsAwarded": 5});
    let r = call(
        &api,
        &f,
        request("POST", "/events", Some(&body.to_string()), Value::Null),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, json!({"success": true, "eventId": id.to_string()}));
    // Without eventId and occurredAt: both assigned.
    let r = call(
        &api,
        &f,
        request(
            "POST",
            "/events",
            Some(r#"{"clientId":"client_post","entityType":"order","eventType":"order_paid"}"#),
            Value::Null,
        ),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let assigned: Uuid = r.body["eventId"].as_str().unwrap().parse().unwrap();
    let queued = w.moto.drain(&w.queue_url).await;
    assert_eq!(queued.len(), 2);
    let first = kx_events::TrackedEvent::from_json(queued[0].body.as_bytes()).unwrap();
    assert_eq!((first.event_id, first.points_awarded), (id, Some(5)));
    let second = kx_events::TrackedEvent::from_json(queued[1].body.as_bytes()).unwrap();
    assert_eq!(second.event_id, assigned);

    // Each kind of poison is a 400 naming the field and the rule; nothing is queued.
    let base = json!({"clientId": "c", "entityType": "order", "eventType": "order_created"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b.to_string()
    };
    for (body, field, rule) in [
        ("{not json".to_string(), "$", "json"),
        ("[1,2]".to_string(), "$", "json"),
        (with("clientId", json!("")), "clientId", "non_empty"),
        (
            with("clientId", json!("x".repeat(129))),
            "clientId",
            "max_length",
        ),
        (with("eventType", Value::Null), "eventType", "required"),
        (
            with("previousEventId", json!("nope")),
            "previousEventId",
            "uuid",
        ),
        (
            with("pointsAwarded", json!(1.5)),
            "pointsAwarded",
            "integer",
        ),
        (
            with("occurredAt", json!("yesterday")),
            "occurredAt",
            "timestamp",
        ),
        (with("metadata", json!("text")), "metadata", "type"),
        (with("userId", json!("a\u{0}b")), "userId", "nul"),
    ] {
        let r = call(
            &api,
            &f,
            request("POST", "/events", Some(&body), Value::Null),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(
            (r.body["field"].as_str(), r.body["rule"].as_str()),
            (Some(field), Some(rule)),
            "{body}: {}",
            r.body
        );
    }
    assert!(w.moto.drain(&w.queue_url).await.is_empty());
    let r = call(
        &api,
        &f,
        request("POST", "/events?x=1", Some(&base.to_string()), Value::Null),
    )
    .await;
    assert_eq!((r.status, r.body["param"].clone()), (400, json!("x")));

    // The reader's role may read and nothing else.
    let settings = kx_events_consumer::DbSettings {
        user: w.reader_role.clone(),
        password: "reader-pw".into(),
        ..w.db.settings.clone()
    };
    let reader = Store::connect(settings).unwrap();
    let refused = reader
        .with_client(|c| {
            c.execute(
                "INSERT INTO events (event_id, client_id, entity_type, event_type, occurred_at) \
                 VALUES (gen_random_uuid(), 'c', 'order', 'x', now())",
                &[],
            )
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("42501"), "{refused}");
    let refused = reader
        .with_client(|c| c.execute("DELETE FROM events", &[]))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("42501"), "{refused}");
    assert_eq!(
        reader
            .with_client(|c| c
                .query_one("SELECT count(*) FROM events", &[])
                .map(|r| r.get::<_, i64>(0)))
            .await
            .unwrap(),
        0
    );

    // A database outage is a 503 with Retry-After, and no internal text.
    let api2 = RuntimeApi::start().await.unwrap();
    let mut env = w.env();
    env.push(("DB_PORT".into(), e2e::free_port().to_string()));
    let f2 = spawn(&api2, &env).await;
    let r = get(&api2, &f2, "/events?limit=1").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "5");
    assert_eq!(r.body["success"], false);
    assert!(!r.body.to_string().contains("127.0.0.1"), "{}", r.body);
    assert!(r.body["requestId"].is_string());
}
