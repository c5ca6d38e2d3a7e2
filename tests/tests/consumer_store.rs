//! The consumer's store against a real PostgreSQL server: schema, migrations (also two cold
//! starts at once), TLS, the single-statement insert and its chains, the outbox claims, and
//! credential rotation through a real Secrets Manager secret in moto.

use std::time::Duration;

use kx_events::TrackedEvent;
use kx_events_consumer::{
    Config, DbSecret, DbSettings, NewEvent, SslMode, Store, StoreError, StoreStatus,
};
use kx_events_tests::{blocking, Moto, TestDb};
use serde_json::json;
use uuid::Uuid;

async fn migrated(db: &TestDb) -> Store {
    let store = Store::connect(db.settings.clone()).unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn migration_creates_the_seed_schema_and_the_outbox_columns() {
    let db = TestDb::create().await;
    let store = Store::connect(db.settings.clone()).unwrap();
    let report = store.migrate().await.unwrap();
    assert_eq!(report.applied, vec!["0001", "0002", "0003", "0004", "0005"]);
    assert!(!report.adopted);

    let columns = db
        .rows(
            "SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
             FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position",
        )
        .await;
    let expected = [
        ("event_id", "uuid", None, "NO"),
        ("client_id", "character varying", Some(128), "NO"),
        ("previous_event_id", "uuid", None, "YES"),
        ("user_id", "character varying", Some(128), "YES"),
        ("entity_id", "character varying", Some(128), "YES"),
        ("entity_type", "character varying", Some(48), "YES"),
        ("event_type", "character varying", Some(48), "NO"),
        ("source", "character varying", Some(32), "YES"),
        ("campaign_id", "character varying", Some(128), "YES"),
        ("points_awarded", "integer", None, "YES"),
        ("session_id", "character varying", Some(128), "YES"),
        ("occurred_at", "timestamp with time zone", None, "NO"),
        ("metadata", "jsonb", None, "YES"),
        ("created_at", "timestamp with time zone", None, "NO"),
        ("published_at", "timestamp with time zone", None, "YES"),
        ("publish_lease", "timestamp with time zone", None, "YES"),
        ("unresolved_previous_event_id", "uuid", None, "YES"),
        ("extra_fields", "jsonb", None, "YES"),
        ("publish_attempts", "integer", None, "YES"),
        ("publish_failed_at", "timestamp with time zone", None, "YES"),
        ("publish_error", "text", None, "YES"),
    ];
    assert_eq!(columns.len(), expected.len(), "{columns:#?}");
    for (c, (name, ty, len, nullable)) in columns.iter().zip(expected) {
        assert_eq!(c["column_name"], name);
        assert_eq!(c["data_type"], ty, "{name}");
        assert_eq!(c["len"].as_i64(), len, "{name}");
        assert_eq!(c["is_nullable"], nullable, "{name}");
    }
    assert_eq!(columns[13]["column_default"], "now()");

    let fk = db
        .rows(
            "SELECT conname, confdeltype::text AS on_delete, pg_get_constraintdef(oid) AS def
             FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'f'",
        )
        .await;
    assert_eq!(fk.len(), 1);
    assert_eq!(fk[0]["conname"], "fk_events_previous");
    assert_eq!(fk[0]["on_delete"], "n", "ON DELETE SET NULL");
    assert_eq!(
        fk[0]["def"],
        "FOREIGN KEY (previous_event_id) REFERENCES events(event_id) ON DELETE SET NULL"
    );

    let indexes: Vec<String> = db
        .rows("SELECT indexname FROM pg_indexes WHERE tablename = 'events' ORDER BY indexname")
        .await
        .iter()
        .map(|r| r["indexname"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "idx_events_client_time",
        "idx_events_user_time",
        "idx_events_type_time",
        "idx_events_campaign_time",
        "idx_events_prev",
        "idx_events_metadata_gin",
        "idx_events_outbox",
        "idx_events_unresolved_prev",
        "events_pkey",
    ] {
        assert!(
            indexes.contains(&name.to_owned()),
            "{name} missing: {indexes:?}"
        );
    }
    let gin = db
        .rows("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_events_metadata_gin'")
        .await;
    assert!(gin[0]["indexdef"]
        .as_str()
        .unwrap()
        .contains("USING gin (metadata)"));
    assert!(!indexes.contains(&"idx_events_unpublished".to_owned()));
    let outbox = db
        .rows("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_events_outbox'")
        .await;
    assert!(outbox[0]["indexdef"]
        .as_str()
        .unwrap()
        .ends_with("WHERE ((published_at IS NULL) AND (publish_failed_at IS NULL))"));
    // Rows of any other writer are not the outbox's.
    assert_eq!(
        columns[14]["column_default"],
        "'-infinity'::timestamp with time zone"
    );

    let recorded = db
        .rows("SELECT version, name, checksum FROM kx_schema_migrations ORDER BY version")
        .await;
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0]["name"], "0001_events.sql");
    assert_eq!(
        recorded[0]["checksum"],
        kx_events_consumer::migrate::MIGRATIONS[0].checksum()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_cold_starts_at_once_both_succeed_and_migrate_once() {
    let db = TestDb::create().await;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (settings, barrier) = (db.settings.clone(), barrier.clone());
            // Each thread is a cold start of its own: its own runtime, pool and connection.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let store = Store::connect(settings).unwrap();
                    store.ping().await.unwrap();
                    barrier.wait();
                    store.migrate().await
                })
            })
        })
        .collect();
    let reports: Vec<_> = threads
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .expect("each cold start migrates without error")
        })
        .collect();
    let applied: usize = reports.iter().map(|r| r.applied.len()).sum();
    let skipped: usize = reports.iter().map(|r| r.already_applied.len()).sum();
    assert_eq!((applied, skipped), (5, 5), "{reports:?}");
    assert_eq!(db.rows("SELECT * FROM kx_schema_migrations").await.len(), 5);

    // And again: idempotent.
    let again = Store::connect(db.settings.clone())
        .unwrap()
        .migrate()
        .await
        .unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(
        again.already_applied,
        vec!["0001", "0002", "0003", "0004", "0005"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_migration_stops_the_cold_start() {
    let db = TestDb::create().await;
    migrated(&db).await;
    db.execute("UPDATE kx_schema_migrations SET checksum = 'edited'")
        .await;
    let err = Store::connect(db.settings.clone())
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("migration 0001 was applied with checksum edited"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmode_require_encrypts_and_verify_full_verifies() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    store.ping().await.unwrap();
    let ssl = db
        .rows(&format!(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'kx-events-consumer' AND a.datname = '{}'",
            db.name
        ))
        .await;
    assert!(!ssl.is_empty(), "the consumer's connection is not visible");
    assert!(ssl.iter().all(|r| r["ssl"] == true), "{ssl:?}");

    // disable: plain TCP.
    let plain = Store::connect(DbSettings {
        sslmode: SslMode::Disable,
        ..db.settings.clone()
    })
    .unwrap();
    plain.ping().await.unwrap();

    // verify-full against the server's self-signed snakeoil certificate, reached as 127.0.0.1:
    // the certificate is checked, so the connection is refused.
    let snakeoil = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    assert!(
        snakeoil.is_file(),
        "the local PostgreSQL uses Debian's snakeoil certificate"
    );
    let strict = Store::connect(DbSettings {
        sslmode: SslMode::VerifyFull,
        ssl_root_cert: Some(snakeoil.into()),
        connect_timeout: Duration::from_secs(2),
        ..db.settings.clone()
    })
    .unwrap();
    let err = strict.ping().await.unwrap_err();
    // A certificate that does not verify is a configuration error: never retried per record.
    assert!(matches!(err, StoreError::Tls(_)), "{err}");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

fn event(id: Uuid, previous: Option<Uuid>) -> TrackedEvent {
    let mut e = TrackedEvent::new("client_123", "order", "order_created");
    e.event_id = id;
    e.previous_event_id = previous;
    e
}

fn item(event: TrackedEvent, last_receive: bool) -> NewEvent {
    NewEvent {
        event,
        on_bus: false,
        last_receive,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_key_is_checked_at_the_end_of_the_single_insert() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    // Rows go in sorted by event_id: this child precedes its parent inside the statement.
    let child = Uuid::parse_str("00000000-0000-4000-8000-000000000001").unwrap();
    let parent = Uuid::parse_str("ffffffff-ffff-4fff-bfff-ffffffffffff").unwrap();
    let grandchild = Uuid::new_v4();
    let out = store
        .insert_events(&[
            event(grandchild, Some(child)),
            event(child, Some(parent)),
            event(parent, None),
        ])
        .await
        .unwrap();
    for id in [child, parent, grandchild] {
        assert_eq!(out.status(&id), Some(StoreStatus::Inserted));
    }
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], parent.to_string());
    assert_eq!(db.count_events("").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_parent_waits_then_is_stored_unlinked_and_linked_when_the_parent_comes() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let (parent, child, grandchild) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let items = |last_receive| {
        vec![
            item(event(grandchild, Some(child)), false),
            item(event(child, Some(parent)), last_receive),
        ]
    };
    let out = store.insert_batch(&items(false)).await.unwrap();
    assert_eq!(
        out.status(&child),
        Some(StoreStatus::WaitingForParent {
            missing_parent: parent
        })
    );
    assert_eq!(
        out.status(&grandchild),
        Some(StoreStatus::WaitingForParent {
            missing_parent: child
        })
    );
    assert_eq!(db.count_events("").await, 0);

    // Last receive of the child: stored unlinked, and its own child links to it.
    let out = store.insert_batch(&items(true)).await.unwrap();
    assert_eq!(
        out.status(&child),
        Some(StoreStatus::InsertedUnlinked {
            missing_parent: parent
        })
    );
    assert_eq!(out.status(&grandchild), Some(StoreStatus::Inserted));
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], serde_json::Value::Null);
    assert_eq!(row["unresolved_previous_event_id"], parent.to_string());

    // The claim rebuilds the event as it was sent: previousEventId is still the parent.
    let claimed = store
        .claim(&[child], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed[0].previous_event_id, Some(parent));

    // The late parent arrives: the child is linked.
    let out = store.insert_events(&[event(parent, None)]).await.unwrap();
    assert_eq!(out.linked_children, 1);
    let row = db.event_row(child).await.unwrap();
    assert_eq!(row["previous_event_id"], parent.to_string());
    assert_eq!(row["unresolved_previous_event_id"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_outside_parent_does_not_hold_back_its_siblings() {
    // The store first tries the batch in one statement that assumes every parent named from
    // outside the batch is stored; here one is not, so that statement must write nothing and the
    // batch is decided again on what is stored.
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let (stored_parent, old, missing) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store
        .insert_events(&[event(stored_parent, None), event(old, None)])
        .await
        .unwrap();
    store.mark_published(&[old]).await.unwrap();
    let (linked, waiting, last, fresh, in_batch_child) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let out = store
        .insert_batch(&[
            item(event(in_batch_child, Some(waiting)), false),
            item(event(linked, Some(stored_parent)), false),
            item(event(waiting, Some(missing)), false),
            item(event(last, Some(missing)), true),
            item(event(old, None), false),
            item(event(fresh, None), false),
        ])
        .await
        .unwrap();
    assert_eq!(out.status(&linked), Some(StoreStatus::Inserted));
    assert_eq!(out.status(&fresh), Some(StoreStatus::Inserted));
    assert_eq!(
        out.status(&waiting),
        Some(StoreStatus::WaitingForParent {
            missing_parent: missing
        })
    );
    assert_eq!(
        out.status(&in_batch_child),
        Some(StoreStatus::WaitingForParent {
            missing_parent: waiting
        })
    );
    assert_eq!(
        out.status(&last),
        Some(StoreStatus::InsertedUnlinked {
            missing_parent: missing
        })
    );
    assert_eq!(out.status(&old), Some(StoreStatus::AlreadyStored));
    assert!(out.is_published(&old));
    assert!(!out.is_published(&linked));
    assert_eq!(out.inserted(), 3);
    assert_eq!(db.count_events("").await, 5);
    let row = db.event_row(linked).await.unwrap();
    assert_eq!(row["previous_event_id"], stored_parent.to_string());

    // The same batch again, now that `missing` is stored: the waiting ones link, nothing else
    // changes.
    store.insert_events(&[event(missing, None)]).await.unwrap();
    let again = store
        .insert_batch(&[
            item(event(in_batch_child, Some(waiting)), false),
            item(event(linked, Some(stored_parent)), false),
            item(event(waiting, Some(missing)), false),
            item(event(last, Some(missing)), false),
        ])
        .await
        .unwrap();
    assert_eq!(again.status(&waiting), Some(StoreStatus::Inserted));
    assert_eq!(again.status(&in_batch_child), Some(StoreStatus::Inserted));
    assert_eq!(again.status(&linked), Some(StoreStatus::AlreadyStored));
    assert_eq!(again.status(&last), Some(StoreStatus::AlreadyStored));
    assert_eq!(db.count_events("").await, 8);
    let row = db.event_row(last).await.unwrap();
    assert_eq!(
        row["previous_event_id"],
        missing.to_string(),
        "linked when the parent came"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_are_exclusive_and_published_rows_are_never_claimed() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let other = Store::connect(db.settings.clone()).unwrap();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let events: Vec<TrackedEvent> = ids.iter().map(|id| event(*id, None)).collect();
    store.insert_events(&events).await.unwrap();

    let first = store.claim(&ids, Duration::from_secs(60)).await.unwrap();
    assert_eq!(first.len(), 5);
    assert!(other
        .claim(&ids, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    assert!(other
        .claim_stale(10, Duration::ZERO, Duration::from_secs(60), &[])
        .await
        .unwrap()
        .is_empty());

    store.mark_published(&ids[..2]).await.unwrap();
    store.release(&ids[2..]).await.unwrap();
    let swept = other
        .claim_stale(10, Duration::ZERO, Duration::from_secs(60), &[ids[4]])
        .await
        .unwrap();
    let mut swept_ids: Vec<Uuid> = swept.iter().map(|e| e.event_id).collect();
    swept_ids.sort();
    let mut expected = ids[2..4].to_vec();
    expected.sort();
    assert_eq!(swept_ids, expected);
    // An expired lease can be claimed again.
    store.claim(&[ids[4]], Duration::ZERO).await.unwrap();
    assert_eq!(
        other
            .claim(&[ids[4]], Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_and_claim_leases_the_rows_it_inserts_and_checks_for_stale_rows() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let other = Store::connect(db.settings.clone()).unwrap();
    let lease = Duration::from_secs(60);
    let age = Some(Duration::from_secs(60));
    let old = Uuid::new_v4();
    store.insert_events(&[event(old, None)]).await.unwrap();

    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let items = vec![
        NewEvent::from(event(a, None)),
        NewEvent {
            on_bus: true,
            ..NewEvent::from(event(b, Some(a)))
        },
        NewEvent::from(event(old, None)),
    ];
    let out = store.insert_and_claim(&items, lease, age).await.unwrap();
    // Only the new row that is not on the bus is leased; the stored one is not claimed.
    assert!(out.is_claimed(&a));
    assert!(!out.is_claimed(&b) && out.is_published(&b));
    assert!(!out.is_claimed(&old));
    assert_eq!(out.status(&old), Some(StoreStatus::AlreadyStored));
    assert!(other.claim(&[a], lease).await.unwrap().is_empty(), "leased");
    assert_eq!(other.claim(&[old], lease).await.unwrap().len(), 1);
    assert_eq!(out.stale, Some(false), "nothing is a minute old");

    // A row unpublished for longer than the age with a free lease: the check says so.
    store.release(&[old]).await.unwrap();
    db.execute(&format!(
        "UPDATE events SET created_at = now() - interval '2 minutes' WHERE event_id = '{old}'"
    ))
    .await;
    let c = Uuid::new_v4();
    let out = store
        .insert_and_claim(&[NewEvent::from(event(c, None))], lease, age)
        .await
        .unwrap();
    assert!(out.is_claimed(&c));
    assert_eq!(out.stale, Some(true));
    // The same check on a batch whose outside parent is missing (two statements).
    let (d, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let out = store
        .insert_and_claim(&[NewEvent::from(event(d, Some(missing)))], lease, age)
        .await
        .unwrap();
    assert!(matches!(
        out.status(&d),
        Some(StoreStatus::WaitingForParent { .. })
    ));
    assert_eq!(out.stale, Some(true));
    // Not asked: no answer, and insert_batch takes no lease.
    let e = Uuid::new_v4();
    let out = store
        .insert_and_claim(&[NewEvent::from(event(e, None))], lease, None)
        .await
        .unwrap();
    assert_eq!(out.stale, None);
    let f = Uuid::new_v4();
    let out = store
        .insert_batch(&[NewEvent::from(event(f, None))])
        .await
        .unwrap();
    assert!(!out.is_claimed(&f) && out.stale.is_none());
    assert_eq!(other.claim(&[f], lease).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_and_metadata_round_trip_through_the_row() {
    let db = TestDb::create().await;
    let store = migrated(&db).await;
    let body = json!({
        "eventId": Uuid::new_v4().to_string(), "clientId": "c", "previousEventId": null,
        "entityType": "order", "eventType": "order_created", "occurredAt": "2024-01-15T12:30:00.123456+02:00",
        "metadata": {"b": 1, "a": {"nested": [1, "x"]}}, "tenantRegion": "eu"
    });
    let e = TrackedEvent::from_json(body.to_string().as_bytes()).unwrap();
    store.insert_events(std::slice::from_ref(&e)).await.unwrap();
    let row = db.event_row(e.event_id).await.unwrap();
    assert_eq!(row["extra_fields"], json!({"tenantRegion": "eu"}));
    let claimed = store
        .claim(&[e.event_id], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(claimed, vec![e]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_password_is_reread_from_the_secret_once() {
    let db = TestDb::create().await;
    migrated(&db).await;
    let moto = Moto::new().await;
    let role = format!("kx_rot_{}", &Uuid::new_v4().simple().to_string()[..10]);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'first'"
    ))
    .await;
    let arn = moto
        .create_secret(
            &json!({"username": role, "password": "first", "host": db.settings.host,
                                "port": db.settings.port, "dbname": db.name}),
        )
        .await;
    let config = Config::from_lookup(|k| match k {
        "DB_SECRET_ARN" => Some(arn.clone()),
        "DB_SSLMODE" => Some("require".into()),
        "EVENT_BUS_NAME" => Some("unused".into()),
        "DEAD_LETTER_QUEUE_URL" => Some("unused".into()),
        _ => None,
    })
    .unwrap();
    let secret = DbSecret::fetch(&moto.secrets, &arn).await.unwrap();
    let settings = DbSettings::resolve(&config, &secret).unwrap();
    assert_eq!(
        settings.dbname, db.name,
        "host, port and dbname from the seeds' kind of secret"
    );
    let store = Store::connect_with_secret(settings, moto.secrets.clone(), config).unwrap();
    store.ping().await.unwrap();

    // Rotation: new password in the database and in the secret, old sessions gone.
    db.execute(&format!("ALTER ROLE {role} PASSWORD 'second'"))
        .await;
    moto.secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(
            json!({"username": role, "password": "second", "host": db.settings.host,
                   "port": db.settings.port, "dbname": db.name})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
    ))
    .await;

    let out = store
        .insert_events(&[event(Uuid::new_v4(), None)])
        .await
        .unwrap();
    assert_eq!(out.inserted(), 1);
    assert_eq!(store.settings().password, "second");

    // A store without a secret to re-read reports the authentication failure as such.
    let stale = Store::connect(DbSettings {
        user: role.clone(),
        password: "first".into(),
        ..db.settings.clone()
    })
    .unwrap();
    let err = stale.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Auth(_)), "{err}");
    let admin = db.settings.clone();
    drop(store);
    drop(stale);
    drop(db);
    blocking(move || {
        let mut c = postgres::Config::new();
        c.host(&admin.host)
            .port(admin.port)
            .user(&admin.user)
            .password(&admin.password)
            .dbname("postgres");
        let mut c = c.connect(postgres::NoTls).unwrap();
        let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
    })
    .await;
}

/// Runs openssl in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian package openssl) is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate it signed for `localhost` (only), plus an unrelated CA:
/// (dir, ca.pem, other-ca.pem, server.crt text, server.key text).
fn test_pki() -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(kx_events_tests::unique("kx-pki"));
    std::fs::create_dir_all(&dir).unwrap();
    for ca in ["ca", "other-ca"] {
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=kx-events test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
    let cert = std::fs::read_to_string(dir.join("server.crt")).unwrap();
    let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
    (dir, cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_trusts_the_servers_ca_and_refuses_any_other() {
    let (dir, cert, key) = blocking(test_pki).await;
    let pg = blocking(move || kx_events_tests::e2e::PrivatePostgres::start_tls(&cert, &key)).await;
    let settings = DbSettings {
        host: "localhost".into(),
        port: pg.port,
        dbname: "kx".into(),
        user: "kx".into(),
        password: "kx".into(),
        sslmode: SslMode::VerifyFull,
        ssl_root_cert: Some(dir.join("ca.pem")),
        connect_timeout: Duration::from_secs(3),
        ..DbSettings::from_url("postgres://kx:kx@localhost/kx").unwrap()
    };
    // The right CA and host name: verified, encrypted, migrated.
    let store = Store::connect(settings.clone()).unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();

    // Another CA: a configuration error, not a retry.
    let wrong = Store::connect(DbSettings {
        ssl_root_cert: Some(dir.join("other-ca.pem")),
        ..settings.clone()
    })
    .unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Tls(_)), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("did not verify"), "{err}");
    // The built-in Amazon RDS bundle does not trust a test CA either.
    let rds = Store::connect(DbSettings {
        ssl_root_cert: None,
        ..settings.clone()
    })
    .unwrap();
    assert!(matches!(rds.ping().await.unwrap_err(), StoreError::Tls(_)));
    // Nor does the right CA for another host name.
    let other_host = Store::connect(DbSettings {
        host: "127.0.0.1".into(),
        ..settings
    })
    .unwrap();
    let err = other_host.ping().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    drop(pg);
}
