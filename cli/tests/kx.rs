//! The `kx` binary run as a process against a real PostgreSQL: output and exit codes.

use std::process::{Command, Output};

use chrono::{Duration, TimeZone, Utc};
use kx_events_testdb::{NewEvent, TestDb};
use serde_json::Value;

fn kx(url: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kx"));
    c.args(args).env_remove("KX_DATABASE_URL");
    if let Some(u) = url {
        c.env("KX_DATABASE_URL", u);
    }
    c.output().expect("run kx")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// A small story: an order chain (created → paid → shipped, and a refund under paid) and two
/// other events.
fn story(db: &TestDb) -> Vec<NewEvent> {
    let t = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
    let mut created = NewEvent::new("shop_1", "order", "order_created", t);
    created.user_id = Some("u1".into());
    created.source = Some("api".into());
    created.metadata =
        Some(serde_json::json!({"campaign": "spring", "note": "a, \"quoted\" note"}));
    let mut paid = NewEvent::new("shop_1", "order", "order_paid", t + Duration::minutes(1));
    paid.previous_event_id = Some(created.event_id);
    paid.points_awarded = Some(50);
    paid.source = Some("api".into());
    let mut shipped = NewEvent::new("shop_1", "order", "order_shipped", t + Duration::minutes(2));
    shipped.previous_event_id = Some(paid.event_id);
    let mut refund = NewEvent::new(
        "shop_1",
        "order",
        "order_refunded",
        t + Duration::minutes(3),
    );
    refund.previous_event_id = Some(paid.event_id);
    let login = NewEvent::new("shop_2", "user", "login", t - Duration::days(1));
    let mut other = NewEvent::new("shop_1", "user", "login", t - Duration::days(2));
    other.source = Some("web".into());
    let all = vec![created, paid, shipped, refund, login, other];
    db.insert(&all);
    all
}

#[test]
fn events_in_every_format_with_filters_and_pages() {
    let db = TestDb::create();
    let ev = story(&db);
    let url = Some(db.url.as_str());

    let o = kx(url, &["events", "--client-id", "shop_1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("occurredAt"), "{out}");
    assert!(lines[0].contains("eventType") && lines[0].ends_with("pointsAwarded"));
    assert_eq!(lines.len(), 6, "header + 5 events of shop_1:\n{out}");
    assert!(lines[1].contains("order_refunded"), "newest first:\n{out}");
    assert!(lines[5].contains("login"));
    assert_eq!(stderr(&o), "5 events (last page)\n");

    // Filters and a page: json is the API's page.
    let o = kx(
        url,
        &[
            "events",
            "--client-id",
            "shop_1",
            "--source",
            "api",
            "--format",
            "json",
            "--limit",
            "1",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(page["count"], 1);
    assert_eq!(page["data"][0]["eventId"], ev[1].event_id.to_string());
    assert_eq!(page["data"][0]["pointsAwarded"], 50);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    assert!(stderr(&o).contains(&format!("next page: --cursor {cursor}")));
    let o = kx(
        url,
        &[
            "events",
            "--client-id",
            "shop_1",
            "--source",
            "api",
            "--format",
            "json",
            "--limit",
            "1",
            "--cursor",
            &cursor,
        ],
    );
    let page: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(page["data"][0]["eventId"], ev[0].event_id.to_string());
    assert_eq!(page["nextCursor"], Value::Null);

    // Every other flag reaches its filter.
    for (flag, value, want) in [
        ("--user-id", "u1", 1),
        ("--entity-type", "user", 2),
        ("--event-type", "login", 2),
        ("--since", "2024-03-01", 4),
        ("--until", "2024-03-01", 2),
        ("--metadata", r#"{"campaign":"spring"}"#, 1),
        ("--entity-id", "none", 0),
        ("--campaign-id", "none", 0),
        ("--session-id", "none", 0),
    ] {
        let o = kx(url, &["events", flag, value, "--format", "json"]);
        assert_eq!(code(&o), 0, "{flag}: {}", stderr(&o));
        let page: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(page["count"], want, "{flag} {value}");
    }

    // CSV: quoted as RFC 4180, metadata as JSON, the chosen fields only.
    let o = kx(
        url,
        &[
            "events",
            "--metadata",
            r#"{"campaign":"spring"}"#,
            "--format",
            "csv",
            "--fields",
            "eventId,metadata,userId",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let csv = stdout(&o);
    assert_eq!(
        csv,
        format!(
            // (jsonb orders keys by length, then bytes)
            "eventId,metadata,userId\r\n{},\"{{\"\"note\"\":\"\"a, \\\"\"quoted\\\"\" note\"\",\"\"campaign\"\":\"\"spring\"\"}}\",u1\r\n",
            ev[0].event_id
        )
    );
    // Offset.
    let o = kx(
        url,
        &[
            "events", "--offset", "4", "--format", "json", "--fields", "eventId",
        ],
    );
    let page: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        page["data"][0],
        serde_json::json!({"eventId": ev[4].event_id.to_string()})
    );
}

#[test]
fn event_chain_ancestors_and_analytics() {
    let db = TestDb::create();
    let ev = story(&db);
    let url = Some(db.url.as_str());

    let o = kx(url, &["event", &ev[1].event_id.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(e["previousEventId"], ev[0].event_id.to_string());
    assert_eq!(e["eventType"], "order_paid");
    let o = kx(
        url,
        &["event", &ev[1].event_id.to_string(), "--format", "table"],
    );
    assert!(
        stdout(&o).contains("eventType        order_paid\n"),
        "{}",
        stdout(&o)
    );

    let o = kx(url, &["chain", &ev[0].event_id.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let tree = stdout(&o);
    let id = |i: usize| ev[i].event_id.to_string();
    let want = [
        format!(
            "order.order_created  {}  2024-03-01T12:00:00.000Z  u1",
            id(0)
        ),
        format!(
            "└─ order.order_paid  {}  2024-03-01T12:01:00.000Z  +50 points",
            id(1)
        ),
        format!(
            "   ├─ order.order_shipped  {}  2024-03-01T12:02:00.000Z",
            id(2)
        ),
        format!(
            "   └─ order.order_refunded  {}  2024-03-01T12:03:00.000Z",
            id(3)
        ),
        "4 events".to_owned(),
    ];
    assert_eq!(tree.lines().collect::<Vec<_>>(), want, "\n{tree}");

    let o = kx(
        url,
        &["chain", &ev[0].event_id.to_string(), "--max-depth", "2"],
    );
    assert!(
        stdout(&o)
            .ends_with("2 events\ntruncated: the chain goes deeper than 2 levels (--max-depth)\n"),
        "{}",
        stdout(&o)
    );
    let o = kx(
        url,
        &["chain", &ev[0].event_id.to_string(), "--format", "json"],
    );
    let c: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (c["count"].as_u64(), c["data"][3]["level"].as_u64()),
        (Some(4), Some(3))
    );

    let o = kx(url, &["ancestors", &ev[3].event_id.to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert!(
        lines[0].starts_with("order.order_created"),
        "root first: {lines:?}"
    );
    assert!(lines[1].starts_with("└─ order.order_paid"));
    assert!(lines[2].starts_with("   └─ order.order_refunded"));
    assert_eq!(lines[3], "3 events");

    let o = kx(url, &["analytics", "--client-id", "shop_1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(
            "client:        shop_1\ntotal events:  5\ntotal points:  50\nunique users:  1\n"
        ),
        "{text}"
    );
    assert!(text.contains("  order.order_created"));
    let o = kx(
        url,
        &["analytics", "--format", "json", "--since", "2024-02-01"],
    );
    let a: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (a["clientId"].clone(), a["totalEvents"].as_i64()),
        (Value::Null, Some(6))
    );
}

#[test]
fn exit_codes() {
    let db = TestDb::create();
    story(&db);
    let url = Some(db.url.as_str());
    let missing = uuid::Uuid::new_v4().to_string();

    for args in [
        vec!["--help"],
        vec!["events", "--help"],
        vec!["event", "--help"],
        vec!["chain", "--help"],
        vec!["ancestors", "--help"],
        vec!["analytics", "--help"],
    ] {
        let o = kx(None, &args);
        assert_eq!(code(&o), 0, "{args:?}");
        assert!(stdout(&o).contains("Exit codes:\n  0  success"), "{args:?}");
    }

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["events", "--limit", "0"],
            2,
            "kx: --limit: must be 1..1000, got \"0\"\n",
        ),
        (
            vec!["events", "--since", "soon"],
            2,
            "kx: --since: must be an ISO 8601 date or timestamp",
        ),
        (
            vec!["events", "--metadata", "[1]"],
            2,
            "kx: --metadata: must be a JSON object",
        ),
        (
            vec!["events", "--cursor", "garbage"],
            2,
            "kx: --cursor: must be the nextCursor of a previous page",
        ),
        (
            vec!["events", "--fields", "eventId,colour"],
            2,
            "kx: --fields: unknown field \"colour\"",
        ),
        (
            vec![
                "events",
                "--offset",
                "1",
                "--cursor",
                "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ],
            2,
            "kx: --offset: cannot be combined with cursor",
        ),
        (
            vec!["events", "--colour", "red"],
            2,
            "error: unexpected argument '--colour'",
        ),
        (
            vec!["event", "not-a-uuid"],
            2,
            "kx: ID: must be a UUID, got \"not-a-uuid\"\n",
        ),
        (
            vec!["chain", &missing, "--max-depth", "0"],
            2,
            "kx: --max-depth: must be 1..100000, got \"0\"\n",
        ),
        (vec!["event", &missing], 3, "kx: no event "),
        (vec!["chain", &missing], 3, "kx: no event "),
        (vec!["ancestors", &missing], 3, "kx: no event "),
    ];
    for (args, want_code, want_err) in cases {
        let o = kx(url, &args);
        assert_eq!(code(&o), want_code, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with(want_err), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
    }

    let o = kx(None, &["events"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("kx: --database-url: required (or set KX_DATABASE_URL)"),
        "{}",
        stderr(&o)
    );
    let o = kx(
        Some("postgres://kx@127.0.0.1:1/kx?connect_timeout=2"),
        &["events"],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("kx: database unavailable: "),
        "{}",
        stderr(&o)
    );
    let o = kx(Some("mysql://x"), &["events"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = kx(Some(&format!("{}?sslmode=require", db.url)), &["events"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("sslmode=require needs TLS"));
    // Wrong password: the server answered, it is not an outage.
    let bad = db.url.replacen("kx:kx@", "kx:wrong@", 1);
    let o = kx(Some(&bad), &["events"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
fn a_read_only_role_is_enough() {
    let mut db = TestDb::create();
    let ev = story(&db);
    let url = db.read_only_role();
    for args in [
        vec!["events".to_owned()],
        vec!["event".to_owned(), ev[0].event_id.to_string()],
        vec!["chain".to_owned(), ev[0].event_id.to_string()],
        vec!["ancestors".to_owned(), ev[3].event_id.to_string()],
        vec!["analytics".to_owned()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = kx(Some(&url), &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
}
