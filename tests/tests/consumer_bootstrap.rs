//! The real `bootstrap` binary driven through the Lambda Runtime API (kx-events-local's server):
//! its cold start (configuration, secret from moto, TLS pool, migrations on a fresh database)
//! and one SQS invocation; and a bad setting failing the cold start with one line naming it.

use std::time::Duration;

use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use kx_events_tests::{bootstrap_path, event_json, sqs_event, sqs_record, unique, Moto, TestDb};
use serde_json::{json, Value};

struct World {
    db: TestDb,
    moto: Moto,
    env: Vec<(String, String)>,
    bus_target: String,
    dlq_url: String,
}

async fn world() -> World {
    let db = TestDb::create().await;
    let moto = Moto::new().await;
    let prefix = unique("kx-boot");
    let queues = moto.create_queues(&prefix, 3).await;
    let bus = format!("{prefix}-bus");
    moto.create_bus(&bus).await;
    let bus_target = moto.create_rule_target(&bus, "kx-event-tracking").await;
    // The TypeScript system's kind of secret: credentials and location.
    let secret = moto
        .create_secret(&json!({
            "username": db.settings.user, "password": db.settings.password,
            "host": db.settings.host, "port": db.settings.port, "dbname": db.name,
        }))
        .await;
    let env = [
        ("DB_SECRET_ARN", secret),
        ("DB_SSLMODE", "require".into()),
        ("EVENT_BUS_NAME", bus),
        ("DEAD_LETTER_QUEUE_URL", queues.dlq_url.clone()),
        ("MAX_RECEIVE_COUNT", "3".into()),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    World {
        db,
        moto,
        env,
        bus_target,
        dlq_url: queues.dlq_url,
    }
}

async fn spawn(api: &RuntimeApi, env: &[(String, String)]) -> Function {
    let path = kx_events_tests::blocking(bootstrap_path).await;
    let mut config = FunctionConfig::new(path).echo("[bootstrap] ");
    for (k, v) in env {
        config = config.env(k, v);
    }
    Function::spawn(api, config).await.expect("spawn bootstrap")
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_cold_starts_and_handles_an_sqs_batch() {
    let w = world().await;
    let api = RuntimeApi::start().await.unwrap();
    let mut function = spawn(&api, &w.env).await;

    let a = event_json(json!({"metadata": {"via": "bootstrap"}}));
    let b = event_json(json!({"previousEventId": a["eventId"]}));
    let records = vec![
        sqs_record(&b.to_string(), 1, &[]),
        sqs_record("{not json", 1, &[]),
        sqs_record(&a.to_string(), 1, &[]),
    ];
    let payload = serde_json::to_value(sqs_event(records)).unwrap();
    let outcome = api.invoke(payload, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        outcome,
        InvocationOutcome::Response(json!({"batchItemFailures": []})),
        "{}",
        function.output_text()
    );
    function
        .wait_first_next(Duration::from_secs(1))
        .await
        .unwrap();

    // The cold start migrated the fresh database.
    assert_eq!(
        w.db.rows("SELECT version FROM kx_schema_migrations ORDER BY version")
            .await,
        vec![
            json!({"version": "0001"}),
            json!({"version": "0002"}),
            json!({"version": "0003"}),
            json!({"version": "0004"}),
            json!({"version": "0005"})
        ]
    );
    assert_eq!(w.db.count_events("published_at IS NOT NULL").await, 2);
    let child =
        w.db.event_row(b["eventId"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap();
    assert_eq!(child["previous_event_id"], a["eventId"]);
    let bus = w.moto.bus_events(&w.bus_target).await;
    assert_eq!(bus.len(), 2);
    let dlq = w.moto.drain(&w.dlq_url).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body, "{not json");

    // JSON logs: every line parses; one summary line with the counts; spans carry message ids.
    let lines: Vec<Value> = function
        .output()
        .iter()
        .map(|l| serde_json::from_str(&l.text).unwrap_or_else(|_| panic!("not JSON: {}", l.text)))
        .collect();
    let summaries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "batch done")
        .collect();
    assert_eq!(summaries.len(), 1, "{lines:#?}");
    let s = &summaries[0]["fields"];
    assert_eq!(
        (
            s["received"].as_u64(),
            s["stored"].as_u64(),
            s["duplicates"].as_u64(),
            s["published"].as_u64(),
            s["dlq"].as_u64(),
            s["retried"].as_u64()
        ),
        (Some(3), Some(2), Some(0), Some(2), Some(1), Some(0))
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "sqs_message" && l["span"]["message_id"].is_string()),
        "{lines:#?}"
    );

    function.kill().await.unwrap();
}

async fn assert_cold_start_fails(env: Vec<(String, String)>, setting: &str) {
    let api = RuntimeApi::start().await.unwrap();
    let mut function = spawn(&api, &env).await;
    let status = tokio::time::timeout(Duration::from_secs(30), function.exited())
        .await
        .expect("bootstrap exits")
        .unwrap();
    assert!(!status.success());
    let output = function.output();
    assert_eq!(output.len(), 1, "one line: {:#?}", output);
    let line: Value = serde_json::from_str(&output[0].text).expect("a JSON log line");
    assert_eq!(line["level"], "ERROR");
    let message = line["fields"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("cold start failed: {setting}: ")),
        "{message}"
    );
    // Lambda gets the same reason as the init error.
    match api
        .invoke(json!({"Records": []}), Duration::from_secs(5))
        .await
        .unwrap()
    {
        InvocationOutcome::InitError(e) => {
            assert!(
                e.body["errorMessage"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{setting}: ")),
                "{e:?}"
            )
        }
        other => panic!("expected an init error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_setting_fails_the_cold_start_with_one_line_naming_it() {
    let w = world().await;
    let with = |k: &str, v: &str| {
        let mut env: Vec<(String, String)> =
            w.env.iter().filter(|(n, _)| n != k).cloned().collect();
        if !v.is_empty() {
            env.push((k.to_owned(), v.to_owned()));
        }
        env
    };
    assert_cold_start_fails(with("MAX_RECEIVE_COUNT", "three"), "MAX_RECEIVE_COUNT").await;
    assert_cold_start_fails(with("EVENT_BUS_NAME", ""), "EVENT_BUS_NAME").await;
    assert_cold_start_fails(with("DB_SSLMODE", "prefer"), "DB_SSLMODE").await;
    assert_cold_start_fails(
        with(
            "DB_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:kx-missing-AbCdEf",
        ),
        "DB_SECRET_ARN",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_does_not_verify_fails_the_cold_start() {
    let w = world().await;
    // verify-full (the default) trusts the built-in Amazon RDS CAs, which did not sign the local
    // server's certificate: an init error, not a consumer that dead-letters every event.
    let env: Vec<(String, String)> = w
        .env
        .iter()
        .filter(|(k, _)| k != "DB_SSLMODE")
        .cloned()
        .collect();
    assert_cold_start_fails(env, "database").await;
}
