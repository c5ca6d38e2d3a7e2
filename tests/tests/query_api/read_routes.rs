//! Every read route: filters, keyset pagination to the end while events arrive, one event, chains
//! and cycles, analytics, the OpenAPI document, bad parameters, unknown routes and methods. The
//! arm64 smoke test (`scripts/smoke-arm64.sh`) runs this scenario against the arm64 `query`.

use std::collections::HashSet;

use kx_events_local::runtime_api::RuntimeApi;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{call, get, ids, request, row, spawn, world, Row};

#[tokio::test(flavor = "multi_thread")]
async fn every_read_route_answers_through_the_real_binary() {
    let w = world().await;
    // A chain root → a → b, another client's events, and a cycle c ⇄ d in old data.
    let root = row("client_a", 0, None);
    let a = row("client_a", 1, Some(root.id));
    let b = Row {
        user: Some("user_2"),
        event_type: "order_shipped",
        ..row("client_a", 2, Some(a.id))
    };
    let mut rows = vec![root.clone(), a.clone(), b.clone()];
    for m in 3..23 {
        rows.push(row("client_a", m, None));
    }
    for m in 0..5 {
        rows.push(row("client_b", m, None));
    }
    let c = row("client_c", 0, None);
    let d = row("client_c", 1, Some(c.id));
    rows.push(c.clone());
    rows.push(d.clone());
    w.insert(&rows).await;
    w.db.execute(&format!(
        "UPDATE events SET previous_event_id = '{}' WHERE event_id = '{}'",
        d.id, c.id
    ))
    .await;

    let api = RuntimeApi::start().await.unwrap();
    let f = spawn(&api, &w.env()).await;

    // GET /events with a filter, keyset pages to the end without gaps or repeats while newer
    // events arrive between pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/events?clientId=client_a&limit=7&cursor={c}"),
            None => "/events?clientId=client_a&limit=7".to_string(),
        };
        let r = get(&api, &f, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["success"], true);
        assert_eq!(
            r.body["count"].as_u64().unwrap() as usize,
            ids(&r.body).len()
        );
        seen.extend(ids(&r.body));
        // Newer events arrive while paging: they are not on later pages.
        w.insert(&[row("client_a", 59, None)]).await;
        added += 1;
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23, "{seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23);
    assert_eq!(seen.last().unwrap(), &root.id.to_string());
    assert!(added >= 4);

    // Every documented filter narrows as it should.
    for (query, expected) in [
        ("clientId=client_b", 5),
        ("clientId=client_a&eventType=order_shipped", 1),
        ("clientId=client_a&userId=user_2", 1),
        ("entityType=order&clientId=client_b", 5),
        ("source=api&clientId=client_b", 5),
        (
            "clientId=client_a&startDate=2024-01-15T10:01:00Z&endDate=2024-01-15T10:03:00Z",
            2,
        ),
        ("clientId=client_b&metadata=%7B%22n%22%3A10%7D", 5),
        ("clientId=client_b&metadata=%7B%22n%22%3A11%7D", 0),
        ("campaignId=none", 0),
        ("sessionId=none", 0),
        ("entityId=none", 0),
    ] {
        let r = get(&api, &f, &format!("/events?{query}&limit=1000")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(ids(&r.body).len(), expected, "{query}: {}", r.body);
    }
    // Field selection, and the old API's offset.
    let r = get(
        &api,
        &f,
        "/events?clientId=client_b&fields=eventId,occurredAt&limit=2",
    )
    .await;
    assert_eq!(
        r.body["data"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["eventId", "occurredAt"]
    );
    let r = get(&api, &f, "/events?clientId=client_b&offset=4&limit=10").await;
    assert_eq!(ids(&r.body).len(), 1);

    // One event, with the contract's camelCase fields plus createdAt and publishedAt.
    let r = get(&api, &f, &format!("/events/{}", a.id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["eventId"], a.id.to_string());
    assert_eq!(r.body["data"]["previousEventId"], root.id.to_string());
    assert_eq!(r.body["data"]["clientId"], "client_a");
    assert!(r.body["data"]["createdAt"].is_string());
    assert!(r.body["data"]["publishedAt"].is_null(), "{}", r.body);
    let r = get(&api, &f, &format!("/events/{}", Uuid::new_v4())).await;
    assert_eq!((r.status, r.body["success"].clone()), (404, json!(false)));

    // Chains: both paths, ancestors, depth cap, cycles.
    for path in [
        format!("/events/{}/chain", root.id),
        format!("/events/chain/{}", root.id),
    ] {
        let r = get(&api, &f, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["count"], 3);
        let levels: Vec<_> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["eventId"].as_str().unwrap().to_owned(),
                    e["level"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            levels,
            vec![
                (root.id.to_string(), 1),
                (a.id.to_string(), 2),
                (b.id.to_string(), 3)
            ]
        );
    }
    let r = get(&api, &f, &format!("/events/{}/ancestors", b.id)).await;
    assert_eq!(r.body["count"], 3, "{}", r.body);
    assert_eq!(r.body["data"][2]["eventId"], root.id.to_string());
    let r = get(&api, &f, &format!("/events/{}/chain?maxDepth=1", root.id)).await;
    assert_eq!(r.body["truncated"], true, "{}", r.body);
    let r = get(&api, &f, &format!("/events/{}/chain", c.id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["cycleDetected"], true, "{}", r.body);
    assert_eq!(r.body["count"], 2);

    // Analytics for one client.
    let r = get(&api, &f, "/analytics?clientId=client_b").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["clientId"], "client_b");
    assert_eq!(r.body["data"]["totalEvents"], 5);
    assert_eq!(r.body["data"]["totalPoints"], 50);
    assert_eq!(r.body["data"]["uniqueUsers"], 1);

    // The OpenAPI document is the repository's file.
    let r = get(&api, &f, "/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        serde_json::from_str::<Value>(kx_events_query_api::OPENAPI).unwrap()
    );

    // Bad parameters name the parameter and the rule; nothing internal leaks.
    for (path, param) in [
        ("/events?limit=5000", "limit"),
        ("/events?limit=0", "limit"),
        ("/events?client=x", "client"),
        ("/events?startDate=yesterday", "startDate"),
        ("/events?cursor=garbage", "cursor"),
        ("/events?metadata=%5B1%5D", "metadata"),
        ("/events?clientId=a&clientId=b", "clientId"),
        ("/events/not-a-uuid", "eventId"),
        ("/events/chain/not-a-uuid", "eventId"),
        (&format!("/events/{}/chain?maxDepth=0", root.id), "maxDepth"),
        (&format!("/events/{}/chain?depth=3", root.id), "depth"),
        ("/analytics?limit=3", "limit"),
    ] {
        let r = get(&api, &f, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.body["param"], param, "{path}: {}", r.body);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{param}: ")),
            "{path}: {}",
            r.body
        );
        assert!(!r.body.to_string().contains("SELECT"), "{}", r.body);
    }
    let r = get(&api, &f, "/nowhere").await;
    assert_eq!(r.status, 404);
    let r = call(&api, &f, request("PUT", "/events", None, Value::Null)).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST, DELETE");
}
