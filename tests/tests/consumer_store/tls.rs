//! `DB_SSLMODE`: `require` encrypts, `verify-full` checks the server's certificate against a
//! test CA made with openssl.

use std::time::Duration;

use kx_events_consumer::{DbSettings, SslMode, Store, StoreError};
use kx_events_tests::{blocking, TestDb};

use crate::migrated;

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
