//! Every filter, alone and combined, against the same rows filtered in Rust; offset; field
//! selection; `event(id)` and the row's JSON.

use chrono::Duration;
use kx_events_query::{event, events, EventsRequest, Field, Fields};
use kx_events_testdb::TestDb;
use serde_json::json;

use crate::harness::{base_time, expected, ids, varied};

#[test]
fn every_filter_returns_exactly_the_matching_rows() {
    let db = TestDb::create();
    let rows = varied(300);
    db.insert(&rows);
    let mut c = db.client();
    let start = (base_time() - Duration::days(20)).to_rfc3339();
    let end = (base_time() - Duration::days(10)).to_rfc3339();
    let s = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
    type Keep = Box<dyn Fn(&kx_events_testdb::NewEvent) -> bool>;
    let cases: Vec<(Vec<(&str, &str)>, Keep)> = vec![
        (vec![], Box::new(|_| true)),
        (
            vec![("clientId", "client_1")],
            Box::new(|e| e.client_id == "client_1"),
        ),
        (
            vec![("userId", "user_3")],
            Box::new(move |e| s(&e.user_id, "user_3")),
        ),
        (
            vec![("entityId", "order_5")],
            Box::new(move |e| s(&e.entity_id, "order_5")),
        ),
        (
            vec![("entityType", "user")],
            Box::new(move |e| s(&e.entity_type, "user")),
        ),
        (
            vec![("eventType", "order_paid")],
            Box::new(|e| e.event_type == "order_paid"),
        ),
        (
            vec![("source", "web")],
            Box::new(move |e| s(&e.source, "web")),
        ),
        (
            vec![("campaignId", "campaign_2")],
            Box::new(move |e| s(&e.campaign_id, "campaign_2")),
        ),
        (
            vec![("sessionId", "session_4")],
            Box::new(move |e| s(&e.session_id, "session_4")),
        ),
        (
            vec![("startDate", start.as_str())],
            Box::new(|e| e.occurred_at >= base_time() - Duration::days(20)),
        ),
        (
            vec![("endDate", end.as_str())],
            Box::new(|e| e.occurred_at < base_time() - Duration::days(10)),
        ),
        (
            vec![("startDate", start.as_str()), ("endDate", end.as_str())],
            Box::new(|e| {
                e.occurred_at >= base_time() - Duration::days(20)
                    && e.occurred_at < base_time() - Duration::days(10)
            }),
        ),
        (
            vec![("metadata", r#"{"campaign":"k3"}"#)],
            Box::new(|e| e.metadata.as_ref().unwrap()["campaign"] == "k3"),
        ),
        (
            vec![("metadata", r#"{"tags":["t1"]}"#)],
            Box::new(|e| e.metadata.as_ref().unwrap()["tags"][1] == "t1"),
        ),
        (
            vec![
                ("clientId", "client_2"),
                ("eventType", "login"),
                ("source", "api"),
            ],
            Box::new(move |e| {
                e.client_id == "client_2" && e.event_type == "login" && s(&e.source, "api")
            }),
        ),
        (
            vec![
                ("clientId", "client_0"),
                ("metadata", r#"{"campaign":"k0"}"#),
                ("startDate", start.as_str()),
            ],
            Box::new(|e| {
                e.client_id == "client_0"
                    && e.metadata.as_ref().unwrap()["campaign"] == "k0"
                    && e.occurred_at >= base_time() - Duration::days(20)
            }),
        ),
        (vec![("clientId", "nobody")], Box::new(|_| false)),
    ];
    for (pairs, keep) in cases {
        let mut with_limit = pairs.clone();
        with_limit.push(("limit", "1000"));
        let want = expected(&rows, keep);
        assert!(
            want.len() < 300 || pairs.is_empty(),
            "{pairs:?} filters nothing"
        );
        assert_eq!(ids(&mut c, &with_limit), want, "{pairs:?}");
    }
    // The date-only form is midnight UTC, endDate exclusive.
    let day = base_time().date_naive().to_string();
    let got = ids(&mut c, &[("startDate", day.as_str()), ("limit", "1000")]);
    let midnight = base_time()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(got, expected(&rows, |e| e.occurred_at >= midnight));
}

#[test]
fn default_limit_offset_and_fields() {
    let db = TestDb::create();
    let rows = varied(120);
    db.insert(&rows);
    let mut c = db.client();
    let all = expected(&rows, |_| true);

    let page = events(&mut c, &EventsRequest::default()).unwrap();
    assert_eq!(page.events.len(), 50, "default limit");
    assert!(page.next_cursor.is_some());

    assert_eq!(
        ids(&mut c, &[("offset", "10"), ("limit", "5")]),
        all[10..15]
    );
    assert_eq!(
        ids(&mut c, &[("offset", "118"), ("limit", "5")]),
        all[118..]
    );
    assert!(ids(&mut c, &[("offset", "500")]).is_empty());
    let mut by_hand = EventsRequest::default();
    by_hand.page.limit = 5000;
    match events(&mut c, &by_hand) {
        Err(kx_events_query::Error::Param(e)) => {
            assert_eq!(e.to_string(), "limit: must be 1..1000, got 5000")
        }
        other => panic!("{other:?}"),
    }

    let req = EventsRequest::from_query_pairs(&[
        ("fields", "eventId,clientId,occurredAt"),
        ("limit", "3"),
    ])
    .unwrap();
    let page = events(&mut c, &req).unwrap();
    assert_eq!(
        page.fields,
        Fields::new([Field::EventId, Field::ClientId, Field::OccurredAt])
    );
    assert!(
        page.events.iter().all(|e| e.metadata.is_none()),
        "metadata not read"
    );
    let json = serde_json::to_value(&page).unwrap();
    assert_eq!(json["count"], 3);
    for row in json["data"].as_array().unwrap() {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["eventId", "clientId", "occurredAt"]);
    }
    assert_eq!(json["data"][0]["eventId"], all[0].to_string());
    // The TypeScript system's qkeys, with column names.
    let req = EventsRequest::from_query_pairs(&[("qkeys", "event_id,metadata")]).unwrap();
    let page = events(&mut c, &req).unwrap();
    assert!(page.events[0].metadata.is_some());
}

#[test]
fn one_event_reads_back_as_the_contract_plus_created_and_published() {
    let db = TestDb::create();
    let mut rows = varied(3);
    rows[1].previous_event_id = Some(rows[0].event_id);
    rows[1].published_at = Some(base_time());
    db.insert(&rows);
    db.execute(&format!(
        "UPDATE events SET extra_fields = '{{\"tenantRegion\":\"eu\",\"createdAt\":\"spoof\"}}',
           occurred_at = '2024-01-15T10:30:00.123456Z'
         WHERE event_id = '{}'",
        rows[1].event_id
    ));
    let mut c = db.client();
    let e = event(&mut c, rows[1].event_id).unwrap().unwrap();
    assert_eq!(e.previous_event_id, Some(rows[0].event_id));
    let json = serde_json::to_value(&e).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "eventId",
            "clientId",
            "previousEventId",
            "userId",
            "entityId",
            "entityType",
            "eventType",
            "source",
            "campaignId",
            "pointsAwarded",
            "sessionId",
            "occurredAt",
            "metadata",
            "tenantRegion",
            "createdAt",
            "publishedAt"
        ]
    );
    assert_eq!(json["occurredAt"], "2024-01-15T10:30:00.123456Z");
    assert_eq!(json["publishedAt"], "2024-03-01T12:00:00.000Z");
    assert_ne!(
        json["createdAt"], "spoof",
        "an unknown field never replaces a stored one"
    );
    assert_eq!(json["tenantRegion"], "eu");
    assert_eq!(json["metadata"]["n"], 1);
    assert_eq!(json["userId"], "user_1");
    assert_eq!(json["pointsAwarded"], json!(5));

    let first = serde_json::to_value(event(&mut c, rows[0].event_id).unwrap().unwrap()).unwrap();
    assert_eq!(first["previousEventId"], json!(null));
    assert_eq!(
        first["userId"],
        json!(null),
        "absent fields are null, not missing"
    );
    assert_eq!(first["publishedAt"], json!(null));

    assert!(event(&mut c, uuid::Uuid::new_v4()).unwrap().is_none());
}
