//! Schema ownership against a real PostgreSQL server: adopting the old system's database (with
//! 100,000 rows of history that must never reach the bus), the consumer under a DML-only role,
//! a schema that is behind, `lock_timeout`, a rollback to an older build, and the real
//! `bootstrap migrate` provisioning a role whose password it writes into a secret in moto.

use std::time::{Duration, Instant};

use kx_events::TrackedEvent;
use kx_events_consumer::migrate::MIGRATIONS;
use kx_events_consumer::roles::{grant_statements, RoleKind};
use kx_events_consumer::{DbSettings, MigrationError, NewEvent, SslMode, Store, StoreError};
use kx_events_tests::{blocking, bootstrap_path, unique, Moto, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

/// The old system's DDL and indexes, as its documentation gives them.
const OLD_SYSTEM_SCHEMA: &str = "
CREATE TABLE events (
  event_id          UUID PRIMARY KEY,
  client_id         VARCHAR(128) NOT NULL,
  previous_event_id UUID NULL,
  user_id           VARCHAR(128),
  entity_id         VARCHAR(128),
  entity_type       VARCHAR(48),
  event_type        VARCHAR(48) NOT NULL,
  source            VARCHAR(32),
  campaign_id       VARCHAR(128),
  points_awarded    INTEGER,
  session_id        VARCHAR(128),
  occurred_at       TIMESTAMPTZ NOT NULL,
  metadata          JSONB,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT fk_events_previous
    FOREIGN KEY (previous_event_id) REFERENCES events(event_id)
    ON DELETE SET NULL
);
CREATE INDEX idx_events_client_time   ON events (client_id, occurred_at);
CREATE INDEX idx_events_user_time     ON events (user_id, occurred_at);
CREATE INDEX idx_events_type_time     ON events (event_type, occurred_at);
CREATE INDEX idx_events_campaign_time ON events (campaign_id, occurred_at);
CREATE INDEX idx_events_prev          ON events (previous_event_id);
CREATE INDEX idx_events_metadata_gin  ON events USING GIN (metadata);
";

const OLD_ROWS: i64 = 100_000;

/// A database as the old system leaves it: its schema and `OLD_ROWS` rows (every tenth a child
/// of the row before it), written a while ago.
async fn old_system_database() -> TestDb {
    let db = TestDb::create().await;
    db.execute(OLD_SYSTEM_SCHEMA).await;
    db.execute(&format!(
        "INSERT INTO events (event_id, client_id, user_id, entity_type, event_type, source,
                             points_awarded, occurred_at, metadata, created_at)
         SELECT md5('old' || g)::uuid, 'client_' || (g % 100), 'user_' || (g % 1000), 'order',
                'order_created', 'web', g % 50, now() - make_interval(mins => g),
                jsonb_build_object('n', g), now() - interval '1 day'
         FROM generate_series(1, {OLD_ROWS}) g;
         UPDATE events c SET previous_event_id = md5('old' || (g - 1))::uuid
         FROM generate_series(2, {OLD_ROWS}, 10) g WHERE c.event_id = md5('old' || g)::uuid;
         ANALYZE events;"
    ))
    .await;
    db
}

fn event() -> NewEvent {
    NewEvent::from(TrackedEvent::new("client_new", "order", "order_created"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_old_systems_database_is_adopted_and_its_history_never_reaches_the_bus() {
    let db = old_system_database().await;
    let store = Store::connect(db.settings.clone()).unwrap();
    let started = Instant::now();
    let report = store.migrate().await.unwrap();
    let took = started.elapsed();
    println!("adopting a table of {OLD_ROWS} old rows took {took:?} (indexes built concurrently)");
    assert!(report.adopted, "{report:?}");
    assert_eq!(report.applied, ["0001", "0002", "0003", "0004", "0005"]);
    let recorded = db
        .rows("SELECT version, name, checksum FROM kx_schema_migrations ORDER BY version")
        .await;
    assert_eq!(recorded[0]["checksum"], MIGRATIONS[0].checksum());
    assert!(recorded[0]["name"].as_str().unwrap().contains("adopted"));
    // Every index is valid, the outbox's among them.
    let invalid = db
        .rows("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid")
        .await;
    assert!(invalid.is_empty(), "{invalid:?}");
    assert_eq!(
        db.rows("SELECT 1 FROM pg_indexes WHERE indexname = 'idx_events_outbox'")
            .await
            .len(),
        1
    );

    // History: no old row is the outbox's; the sweep finds nothing to put on the bus.
    assert_eq!(db.count_events("published_at IS NULL").await, 0);
    assert_eq!(
        db.count_events("published_at = '-infinity'").await,
        OLD_ROWS
    );
    let stale = store
        .claim_stale(1_000, Duration::ZERO, Duration::from_secs(30), &[])
        .await
        .unwrap();
    assert!(stale.is_empty(), "{} old rows claimed", stale.len());

    // A row written later by another writer (the old consumer still running) is not either.
    db.execute(
        "INSERT INTO events (event_id, client_id, event_type, entity_type, occurred_at)
         VALUES (gen_random_uuid(), 'client_old_writer', 'x', 'order', now() - interval '1 hour')",
    )
    .await;
    // What the consumer stores is, and links to old rows.
    let parent = db
        .rows("SELECT event_id FROM events WHERE client_id = 'client_7' LIMIT 1")
        .await[0]["event_id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let mut child = event();
    child.event.previous_event_id = Some(parent);
    let id = child.event.event_id;
    store.insert_batch(&[child]).await.unwrap();
    let stale = store
        .claim_stale(1_000, Duration::ZERO, Duration::from_secs(30), &[])
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![id]
    );
    assert_eq!(db.count_events("published_at IS NULL").await, 1);

    // Migrating again is a read-only no-op.
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty() && !again.adopted, "{again:?}");
}

/// An owner-migrated database and a store connected as a new role with exactly the consumer's
/// grants (and nothing else).
async fn dml_role_store(db: &TestDb) -> (Store, String) {
    let owner = Store::connect(db.settings.clone()).unwrap();
    owner.migrate().await.unwrap();
    let role = format!("kx_app_{}", &Uuid::new_v4().simple().to_string()[..10]);
    owner
        .ensure_role(RoleKind::Consumer, &role, "app-secret-1")
        .await
        .unwrap();
    let store = Store::connect(DbSettings {
        user: role.clone(),
        password: "app-secret-1".into(),
        ..db.settings.clone()
    })
    .unwrap();
    store.set_may_migrate(false);
    (store, role)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dml_only_role_runs_the_consumer_and_cannot_change_the_schema() {
    let db = TestDb::create().await;
    let (store, role) = dml_role_store(&db).await;
    // The role has exactly the documented grants.
    let grants = db
        .rows(&format!(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) AS p
             FROM information_schema.role_table_grants WHERE grantee = '{role}'
             GROUP BY table_name ORDER BY table_name"
        ))
        .await;
    assert_eq!(
        grants,
        vec![
            json!({"table_name": "events", "p": "INSERT,SELECT,UPDATE"}),
            json!({"table_name": "kx_schema_migrations", "p": "SELECT"}),
        ]
    );
    assert_eq!(
        grant_statements(RoleKind::Consumer, &role, &db.name).len(),
        4
    );

    // The cold start's check and every store statement work under it.
    let report = store.ensure_migrated().await.unwrap();
    assert_eq!(
        report.already_applied,
        ["0001", "0002", "0003", "0004", "0005"]
    );
    let (parent, mut child) = (event(), event());
    child.event.previous_event_id = Some(parent.event.event_id);
    let out = store
        .insert_batch(&[child.clone(), parent.clone()])
        .await
        .unwrap();
    assert_eq!(out.inserted(), 2);
    let ids = [parent.event.event_id, child.event.event_id];
    let claimed = store.claim(&ids, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    store.release(&ids[..1]).await.unwrap();
    store.mark_published(&ids[1..]).await.unwrap();
    let swept = store
        .claim_stale(10, Duration::ZERO, Duration::from_secs(30), &[])
        .await
        .unwrap();
    assert_eq!(swept.len(), 1);
    store
        .mark_rejected(&[(ids[0], "ValidationException: test".into())])
        .await
        .unwrap();

    // DDL is refused to it.
    let err = store.migrate().await;
    assert!(err.is_ok(), "nothing to apply: no DDL attempted: {err:?}");
    let ddl = blocking({
        let s = store.settings();
        move || {
            let mut c = postgres::Config::new();
            c.host(&s.host)
                .port(s.port)
                .user(&s.user)
                .password(&s.password)
                .dbname(&s.dbname);
            let mut c = c.connect(postgres::NoTls).unwrap();
            c.batch_execute("CREATE TABLE kx_probe (x int)")
        }
    })
    .await
    .unwrap_err();
    assert_eq!(
        ddl.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{ddl}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_behind_the_build_is_refused_with_the_missing_migration_named() {
    let db = TestDb::create().await;
    let (store, role) = dml_role_store(&db).await;
    // As if this build were newer than the last `bootstrap migrate`.
    db.execute("DELETE FROM kx_schema_migrations WHERE version = '0003'")
        .await;

    // KX_MIGRATE=off: never any DDL; the error names the migration and the command.
    let err = store.ensure_migrated().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        matches!(&err, StoreError::Migration(MigrationError::Behind { pending }) if pending == &["0003_outbox_index.sql"]),
        "{err}"
    );
    assert!(err.to_string().contains("bootstrap migrate"), "{err}");
    // And it stays refused: every batch checks again.
    assert!(store.insert_batch(&[event()]).await.is_err());

    // KX_MIGRATE=auto with a role that may not: the same, naming the role.
    store.set_may_migrate(true);
    let err = store.ensure_migrated().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    match &err {
        StoreError::Migration(MigrationError::NotPermitted {
            pending,
            role: r,
            cause,
        }) => {
            assert_eq!(pending, &["0003_outbox_index.sql"]);
            assert_eq!(r, &role);
            assert!(
                cause.contains("must be owner") || cause.contains("permission"),
                "{cause}"
            );
        }
        other => panic!("expected NotPermitted, got {other}"),
    }

    // The owner catches up; the consumer starts.
    Store::connect(db.settings.clone())
        .unwrap()
        .migrate()
        .await
        .unwrap();
    store.set_may_migrate(false);
    store.ensure_migrated().await.unwrap();
    store.insert_batch(&[event()]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_newer_migration_is_a_warning_and_a_queued_lock_times_out() {
    let db = TestDb::create().await;
    let owner = Store::connect(db.settings.clone()).unwrap();
    owner.migrate().await.unwrap();
    // A newer build ran, then this one was rolled back to.
    db.execute(
        "INSERT INTO kx_schema_migrations (version, name, checksum) VALUES ('9999', '9999_future.sql', 'x')",
    )
    .await;
    let store = Store::connect(db.settings.clone()).unwrap();
    let report = store.ensure_migrated().await.unwrap();
    assert_eq!(report.unknown, ["9999"]);
    store.insert_batch(&[event()]).await.unwrap();

    // A migration that needs the table's lock while a long read holds it gives up after the lock
    // timeout (retryable) instead of queueing every insert behind it.
    db.execute("DELETE FROM kx_schema_migrations WHERE version = '0002'")
        .await;
    let settings = db.settings.clone();
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut c = postgres::Config::new();
        c.host(&settings.host)
            .port(settings.port)
            .user(&settings.user)
            .password(&settings.password)
            .dbname(&settings.dbname);
        let mut c = c.connect(postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.query("SELECT count(*) FROM events", &[]).unwrap();
        ready_tx.send(()).unwrap();
        let _ = hold_rx.recv_timeout(Duration::from_secs(30));
        tx.commit().unwrap();
    });
    blocking(move || ready_rx.recv().unwrap()).await;
    let started = Instant::now();
    let err = Store::connect(db.settings.clone())
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    let waited = started.elapsed();
    hold_tx.send(()).unwrap();
    reader.join().unwrap();
    assert!(
        matches!(&err, StoreError::Statement { code, .. } if code == "55P03"),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    // Once the read is gone, it applies.
    let report = Store::connect(db.settings.clone())
        .unwrap()
        .migrate()
        .await
        .unwrap();
    assert_eq!(report.applied, ["0002"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_migrate_applies_and_provisions_the_consumer_role_into_its_secret() {
    let db = TestDb::create().await;
    let moto = Moto::new().await;
    // As the Terraform module creates it: a secret without a value.
    let app_secret = moto
        .secrets
        .create_secret()
        .name(unique("kx-app-role"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let owner = moto
        .create_secret(&json!({
            "username": db.settings.user, "password": db.settings.password,
            "host": db.settings.host, "port": db.settings.port, "dbname": db.name,
        }))
        .await;
    let role = format!("kx_app_{}", &Uuid::new_v4().simple().to_string()[..10]);
    let bootstrap = blocking(bootstrap_path).await;
    let env = vec![
        ("DB_SECRET_ARN", owner.clone()),
        ("DB_SSLMODE", "require".to_owned()),
        ("KX_APP_ROLE_SECRET_ARN", app_secret.clone()),
        ("KX_APP_ROLE_NAME", role.clone()),
    ];
    let out = migrate_command(bootstrap.clone(), env.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["applied"],
        json!(["0001", "0002", "0003", "0004", "0005"])
    );
    assert_eq!(printed["roles"], json!([role]));

    // The secret now holds the generated credentials, and they log in.
    let value: Value = serde_json::from_str(
        moto.secrets
            .get_secret_value()
            .secret_id(&app_secret)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(value["username"], role);
    let password = value["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 32);
    let store = Store::connect(DbSettings {
        user: role.clone(),
        password: password.clone(),
        sslmode: SslMode::Require,
        ..db.settings.clone()
    })
    .unwrap();
    store.set_may_migrate(false);
    store.ensure_migrated().await.unwrap();
    store.insert_batch(&[event()]).await.unwrap();

    // Run again: nothing to apply, the same password kept.
    let out = migrate_command(bootstrap.clone(), env).await;
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["applied"], json!([]));
    assert_eq!(
        printed["alreadyApplied"],
        json!(["0001", "0002", "0003", "0004", "0005"])
    );
    let again: Value = serde_json::from_str(
        moto.secrets
            .get_secret_value()
            .secret_id(&app_secret)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again["password"], password.as_str());

    // A bad setting fails with its name.
    let bad = migrate_command(
        bootstrap,
        vec![
            ("DB_SECRET_ARN", "x".to_owned()),
            ("KX_APP_ROLE_NAME", "Bad-Name".to_owned()),
        ],
    )
    .await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("KX_APP_ROLE_NAME: must be a lower-case identifier"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Runs `bootstrap migrate` with `env` (and the test process's AWS settings).
async fn migrate_command(
    bootstrap: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
) -> std::process::Output {
    blocking(move || {
        let mut cmd = std::process::Command::new(&bootstrap);
        cmd.arg("migrate");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
}
