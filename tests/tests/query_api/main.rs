//! The query API Lambda (`query`), the real binary under the local Runtime API, answering API
//! Gateway HTTP API (payload v2) events, against the real PostgreSQL server and moto.
//!
//! One binary, one file per scenario: `read_routes` (every read route and filter, the OpenAPI
//! document), `post` (the write route's contract validation and queueing, a reader's role that
//! cannot write, the database down), `erasure` (a user's events deleted by an authorized
//! caller) and `kx_cli` (the `kx` CLI against the deployed API through a SigV4-checking
//! stand-in for API Gateway). This file is the harness they share: a database with the reader
//! and eraser roles, their secrets and a queue in moto ([`World`]), the function under the local
//! Runtime API, and API Gateway request events.

mod erasure;
mod kx_cli;
mod post;
mod read_routes;

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
