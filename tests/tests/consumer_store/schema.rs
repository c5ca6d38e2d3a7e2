//! The schema the migrations create, two cold starts at once, and an edited migration.

use kx_events_consumer::{Store, StoreError};
use kx_events_tests::TestDb;

use crate::migrated;

#[tokio::test(flavor = "multi_thread")]
async fn migration_creates_the_typescript_schema_and_the_outbox_columns() {
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
