//! The query API Lambda (`query`), the real binary under the local Runtime API, answering API
//! Gateway HTTP API (payload v2) events, against the real PostgreSQL server and moto.

use std::collections::HashSet;
use std::time::Duration;

use kx_events_consumer::roles::RoleKind;
use kx_events_consumer::Store;
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use kx_events_tests::{blocking, e2e, unique, Moto, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

struct World {
    db: TestDb,
    moto: Moto,
    reader_secret: String,
    eraser_secret: String,
    reader_role: String,
    queue_url: String,
}

async fn world() -> World {
    let db = TestDb::create().await;
    let store = Store::connect(db.settings.clone()).unwrap();
    store.migrate().await.unwrap();
    let moto = Moto::new().await;
    let reader_role = unique("kx_q_reader").replace('-', "_").to_lowercase();
    let eraser_role = unique("kx_q_eraser").replace('-', "_").to_lowercase();
    store
        .ensure_role(RoleKind::ReadOnly, &reader_role, "reader-pw")
        .await
        .unwrap();
    store
        .ensure_role(RoleKind::Eraser, &eraser_role, "eraser-pw")
        .await
        .unwrap();
    let secret = |user: &str, password: &str| {
        json!({"username": user, "password": password, "host": db.settings.host,
               "port": db.settings.port, "dbname": db.name})
    };
    let reader_secret = moto.create_secret(&secret(&reader_role, "reader-pw")).await;
    let eraser_secret = moto.create_secret(&secret(&eraser_role, "eraser-pw")).await;
    let (queue_url, _) = moto.create_queue(&unique("kx-q-events"), &[]).await;
    World {
        db,
        moto,
        reader_secret,
        eraser_secret,
        reader_role,
        queue_url,
    }
}

impl World {
    fn env(&self) -> Vec<(String, String)> {
        [
            ("DB_SECRET_ARN", self.reader_secret.clone()),
            ("DB_SSLMODE", "require".into()),
            ("KX_ERASER_SECRET_ARN", self.eraser_secret.clone()),
            ("EVENTS_QUEUE_URL", self.queue_url.clone()),
            ("RUST_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Inserts events as the owner: (id, client, user, parent, type, occurredAt, points).
    async fn insert(&self, rows: &[Row]) {
        let values: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "('{}', '{}', {}, {}, 'order', '{}', 'api', {}, timestamptz '{}', '{{\"n\": {}}}'::jsonb, '-infinity')",
                    r.id,
                    r.client,
                    r.user.map_or("NULL".into(), |u| format!("'{u}'")),
                    r.parent.map_or("NULL".into(), |p| format!("'{p}'")),
                    r.event_type,
                    r.points,
                    r.at,
                    r.points,
                )
            })
            .collect();
        self.db
            .execute(&format!(
                "INSERT INTO events (event_id, client_id, user_id, previous_event_id, entity_type, \
                 event_type, source, points_awarded, occurred_at, metadata, published_at) VALUES {}",
                values.join(", ")
            ))
            .await;
    }
}

#[derive(Clone)]
struct Row {
    id: Uuid,
    client: &'static str,
    user: Option<&'static str>,
    parent: Option<Uuid>,
    event_type: &'static str,
    at: String,
    points: i32,
}

fn row(client: &'static str, minute: u32, parent: Option<Uuid>) -> Row {
    Row {
        id: Uuid::new_v4(),
        client,
        user: Some("user_1"),
        parent,
        event_type: "order_created",
        at: format!("2024-01-15T10:{:02}:00Z", minute % 60),
        points: 10,
    }
}

async fn spawn(api: &RuntimeApi, env: &[(String, String)]) -> Function {
    let path = blocking(e2e::query_bootstrap).await;
    let mut config = FunctionConfig::new(path).echo("[query] ");
    // scripts/smoke-arm64.sh runs the arm64 artifact under qemu: KX_QUERY_BOOTSTRAP and this.
    if let Ok(wrapper) = std::env::var("KX_QUERY_WRAPPER") {
        config = config.wrapper(&wrapper);
    }
    for (k, v) in env {
        config = config.env(k, v);
    }
    Function::spawn(api, config).await.expect("spawn query")
}

/// An API Gateway HTTP API (payload v2) request event.
fn request(method: &str, path_and_query: &str, body: Option<&str>, authorizer: Value) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params = serde_json::Map::new();
    for (k, v) in form_pairs(query) {
        params.insert(k, json!(v));
    }
    let mut context = json!({
        "accountId": "123456789012", "apiId": "kxapi", "domainName": "kxapi.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "kxapi",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "kx-tests"},
        "requestId": unique("req"), "routeKey": "$default", "stage": "$default",
        "time": "02/Dec/2026:03:00:00 +0000", "timeEpoch": 1796180400000u64
    });
    if !authorizer.is_null() {
        context["authorizer"] = authorizer;
    }
    let mut event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "kxapi.execute-api.us-east-1.amazonaws.com"},
        "requestContext": context, "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(b) = body {
        event["body"] = json!(b);
    }
    event
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

struct Answer {
    status: u64,
    headers: Value,
    body: Value,
}

async fn call(api: &RuntimeApi, f: &Function, event: Value) -> Answer {
    let outcome = api.invoke(event, Duration::from_secs(30)).await.unwrap();
    let InvocationOutcome::Response(r) = outcome else {
        panic!("{outcome:?}\n{}", f.output_text());
    };
    let text = r["body"].as_str().unwrap_or("null");
    Answer {
        status: r["statusCode"].as_u64().unwrap(),
        headers: r["headers"].clone(),
        body: serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
    }
}

async fn get(api: &RuntimeApi, f: &Function, path: &str) -> Answer {
    call(api, f, request("GET", path, None, Value::Null)).await
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventId"].as_str().unwrap().to_owned())
        .collect()
}

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

#[tokio::test(flavor = "multi_thread")]
async fn erasure_deletes_a_users_events_keeps_children_and_needs_an_authorized_caller() {
    let w = world().await;
    // user_x's chain root ← user_y's child; plus user_y's own events.
    let parent = Row {
        user: Some("user_x"),
        ..row("client_e", 0, None)
    };
    let other = Row {
        user: Some("user_x"),
        ..row("client_e", 1, None)
    };
    let child = Row {
        user: Some("user_y"),
        ..row("client_e", 2, Some(parent.id))
    };
    let keep = Row {
        user: Some("user_y"),
        ..row("client_e", 3, None)
    };
    w.insert(&[parent.clone(), other, child.clone(), keep])
        .await;
    let api = RuntimeApi::start().await.unwrap();
    let f = spawn(&api, &w.env()).await;

    // No authorizer identity, or a JWT without the scope: refused, nothing deleted.
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?userId=user_x", None, Value::Null),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let jwt =
        |scopes: Value| json!({"jwt": {"claims": {"sub": "dpo@example.com"}, "scopes": scopes}});
    let r = call(
        &api,
        &f,
        request(
            "DELETE",
            "/events?userId=user_x",
            None,
            jwt(json!(["kx-events/read"])),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(w.db.count_events("true").await, 4);
    // Bad parameters.
    let iam = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
        "userArn": "arn:aws:iam::123456789012:user/dpo", "userId": "AIDA"}});
    let r = call(&api, &f, request("DELETE", "/events", None, iam.clone())).await;
    assert_eq!((r.status, r.body["param"].clone()), (400, json!("userId")));
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?eventType=x", None, iam.clone()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["param"].clone()),
        (400, json!("eventType"))
    );

    // An IAM caller erases user_x: the child of user_y stays, unlinked.
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?userId=user_x", None, iam),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "deleted": 2, "childrenUnlinked": 1})
    );
    assert_eq!(w.db.count_events("user_id = 'user_x'").await, 0);
    let kept = w.db.event_row(child.id).await.expect("child kept");
    assert!(kept["previous_event_id"].is_null(), "{kept}");
    assert_eq!(w.db.count_events("true").await, 2);
    // Logged with who and how many, never with the erased id itself.
    let line = f
        .wait_for_line("erasure done", Duration::from_secs(5))
        .await
        .unwrap();
    let log: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        log["fields"]["erased_by"],
        "arn:aws:iam::123456789012:user/dpo"
    );
    assert_eq!(log["fields"]["deleted"], 2);
    assert!(!line.contains("user_x"), "{line}");

    // A JWT with the scope erases by client; a repeat deletes nothing.
    for expected in [2, 0] {
        let r = call(
            &api,
            &f,
            request(
                "DELETE",
                "/events?clientId=client_e",
                None,
                jwt(json!(["kx-events/erase"])),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["deleted"], expected);
    }
    assert_eq!(w.db.count_events("true").await, 0);

    // Without the erasure secret the route is off.
    let api2 = RuntimeApi::start().await.unwrap();
    let env: Vec<_> = w
        .env()
        .into_iter()
        .filter(|(k, _)| k != "KX_ERASER_SECRET_ARN")
        .collect();
    let f2 = spawn(&api2, &env).await;
    let r = call(
        &api2,
        &f2,
        request(
            "DELETE",
            "/events?userId=u",
            None,
            jwt(json!(["kx-events/erase"])),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A stand-in for API Gateway in front of the real `query` binary: it refuses a request without
/// a SigV4 `Authorization` for `execute-api` (as IAM authorization would), turns the rest into
/// payload v2 events with an IAM authorizer context, and answers with the function's response.
async fn gateway(
    api: std::sync::Arc<RuntimeApi>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (api, log) = (api.clone(), log.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (api, log) = (api.clone(), log.clone());
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        log.lock().unwrap().push(auth.clone());
                        let signed = auth.starts_with("AWS4-HMAC-SHA256 Credential=")
                            && auth.contains("/us-east-1/execute-api/aws4_request")
                            && req.headers().contains_key("x-amz-date");
                        let (status, body) = if !signed {
                            (403, r#"{"message":"Forbidden"}"#.to_string())
                        } else {
                            let path_and_query =
                                req.uri().path_and_query().unwrap().as_str().to_owned();
                            let method = req.method().as_str().to_owned();
                            let _ = req.into_body().collect().await;
                            let iam = json!({"iam": {"accessKey": "testing", "accountId": "123456789012",
                                "callerId": "AIDA", "userArn": "arn:aws:iam::123456789012:user/reader", "userId": "AIDA"}});
                            let event = request(&method, &path_and_query, None, iam);
                            match api.invoke(event, Duration::from_secs(30)).await.unwrap() {
                                InvocationOutcome::Response(r) => (
                                    r["statusCode"].as_u64().unwrap() as u16,
                                    r["body"].as_str().unwrap_or("").to_owned(),
                                ),
                                other => (502, format!("{other:?}")),
                            }
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

fn kx(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(e2e::workspace_binary("kx"));
    cmd.args(args).env_remove("KX_DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kx_reads_a_deployed_api_with_sigv4_signed_requests() {
    let w = world().await;
    let root = row("client_k", 0, None);
    let child = row("client_k", 1, Some(root.id));
    w.insert(&[root.clone(), child.clone(), row("client_k", 2, None)])
        .await;
    let api = std::sync::Arc::new(RuntimeApi::start().await.unwrap());
    let _f = spawn(&api, &w.env()).await;
    let (url, seen) = gateway(api.clone()).await;
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move {
            blocking(move || {
                let mut all = vec!["--api-url".to_string(), url];
                all.extend(args);
                let refs: Vec<&str> = all.iter().map(String::as_str).collect();
                kx(&refs, &creds)
            })
            .await
        }
    };

    let (code, out, err) = run(vec![
        "events".into(),
        "--client-id".into(),
        "client_k".into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["count"], 3, "{out}");
    let (code, out, err) = run(vec![
        "events".into(),
        "--client-id".into(),
        "client_k".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "header and three rows: {out}");
    let (code, out, err) = run(vec!["chain".into(), root.id.to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&child.id.to_string()[..8]) || out.contains(&child.id.to_string()),
        "{out}"
    );
    let (code, out, _) = run(vec!["event".into(), child.id.to_string()]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["previousEventId"],
        root.id.to_string()
    );
    let (code, out, err) = run(vec![
        "analytics".into(),
        "--client-id".into(),
        "client_k".into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["totalEvents"],
        3,
        "{out}"
    );
    // Exit codes carry over: not found 3, a bad parameter 2 naming the flag.
    let (code, _, err) = run(vec!["event".into(), Uuid::new_v4().to_string()]).await;
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run(vec!["events".into(), "--since".into(), "yesterday".into()]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since"), "{err}");
    // Every request was signed for execute-api.
    let auths = seen.lock().unwrap().clone();
    assert!(
        auths.len() >= 6
            && auths
                .iter()
                .all(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=testing/")),
        "{auths:?}"
    );
}
