//! Credential rotation: a password rotated in a real Secrets Manager secret (moto) is reread once.

use kx_events_consumer::{Config, DbSecret, DbSettings, Store, StoreError};
use kx_events_tests::{blocking, Moto, TestDb};
use serde_json::json;
use uuid::Uuid;

use crate::{event, migrated};

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
        "host, port and dbname from the TypeScript system's kind of secret"
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
