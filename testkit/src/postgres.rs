//! PostgreSQL clusters of their own ([`PrivatePostgres`]: initdb in a temporary directory, run
//! as `postgres` with `runuser` or `sudo`, on a free port), so that a test can stop and start
//! its database without touching the shared server other tests use; and [`DbTarget`], where a
//! consumer finds its database.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::env::{free_port, unique};

/// Runs `cmd`; its stdout and stderr, or a panic with them when it failed.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// How the consumer reaches its database.
#[derive(Debug, Clone)]
pub struct DbTarget {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User (also written to the secret).
    pub user: String,
    /// Password (also written to the secret).
    pub password: String,
    /// Database name.
    pub dbname: String,
    /// `DB_SSLMODE` for the consumer.
    pub sslmode: &'static str,
}

impl DbTarget {
    /// A `postgres://` URL (no TLS) for the tests' own reads.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.user, self.password, self.host, self.port, self.dbname
        )
    }
}

/// A PostgreSQL cluster of its own (initdb in a temporary directory, run as `postgres` with
/// `runuser` or `sudo`, on a free port), so that a test can stop and start it without touching the shared
/// server other tests use. Stopped and removed on drop.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Extra `-c` settings of the server.
    options: String,
}

/// The PostgreSQL server binaries: `KX_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else the
/// newest `/usr/lib/postgresql/<version>/bin` (e.g. 16 on GitHub's Ubuntu runners).
fn pg_bin(tool: &str) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("KX_PG_BIN") {
            return PathBuf::from(dir);
        }
        let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
        if preferred.join("initdb").exists() {
            return preferred;
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .collect();
        found.sort();
        found
            .pop()
            .map(|(_, bin)| bin)
            .expect("no PostgreSQL server binaries under /usr/lib/postgresql (set KX_PG_BIN)")
    });
    dir.join(tool).display().to_string()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `args` as root: directly when this process is root, else with `sudo -n`.
fn as_root(args: &[&str]) -> Command {
    if is_root() {
        let mut cmd = Command::new(args[0]);
        cmd.args(&args[1..]);
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.arg("-n").args(args);
        cmd
    }
}

/// `args` as the `postgres` user (`runuser` as root, else `sudo -n -u postgres`).
fn as_postgres(args: &[&str]) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).args(args);
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", "-u", "postgres", "--"]).args(args);
        cmd
    }
}

impl PrivatePostgres {
    /// initdb + start; a role `kx`/`kx` (superuser, password over TCP) and a database `kx`.
    pub fn start() -> Self {
        Self::start_with_tls(None)
    }

    /// [`PrivatePostgres::start`] with TLS on, serving `cert_pem` with `key_pem` (both PEM
    /// text, copied into the server's directory).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_with_tls(Some((cert_pem, key_pem)))
    }

    fn start_with_tls(tls: Option<(&str, &str)>) -> Self {
        let dir = std::env::temp_dir().join(unique("kx-e2e-pg"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        run(&mut as_root(&[
            "chown",
            "postgres:postgres",
            dir.to_str().unwrap(),
        ]));
        let data = dir.join("data");
        let port = free_port();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, "kx\n").expect("password file");
        run(&mut as_root(&[
            "chown",
            "postgres:postgres",
            pwfile.to_str().unwrap(),
        ]));
        run(&mut as_postgres(&[
            &pg_bin("initdb"),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "kx",
            "--pwfile",
            pwfile.to_str().unwrap(),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_path, cert).expect("server certificate");
            std::fs::write(&key_path, key).expect("server key");
            for p in [&cert_path, &key_path] {
                run(&mut as_root(&[
                    "chown",
                    "postgres:postgres",
                    p.to_str().unwrap(),
                ]));
            }
            run(&mut as_root(&["chmod", "600", key_path.to_str().unwrap()]));
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_path.display(),
                key_path.display()
            );
        }
        let pg = Self { dir, port, options };
        pg.start_server();
        run(&mut as_postgres(&[
            &pg_bin("psql"),
            "-h",
            pg.dir.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-U",
            "kx",
            "-d",
            "postgres",
            "-q",
            "-c",
            "CREATE DATABASE kx",
        ]));
        pg
    }

    fn start_server(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off{}",
            self.port,
            self.dir.display(),
            self.options
        );
        run(&mut as_postgres(&[
            &pg_bin("pg_ctl"),
            "-D",
            self.dir.join("data").to_str().unwrap(),
            "-l",
            self.dir.join("log").to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "start",
        ]));
    }

    /// Stops the server (`pg_ctl stop -m fast`: connections are terminated).
    pub fn stop(&self) {
        run(&mut as_postgres(&[
            &pg_bin("pg_ctl"),
            "-D",
            self.dir.join("data").to_str().unwrap(),
            "-m",
            "fast",
            "-w",
            "stop",
        ]));
    }

    /// Starts it again after [`PrivatePostgres::stop`].
    pub fn restart(&self) {
        self.start_server();
    }

    /// Where the consumer finds it.
    pub fn target(&self) -> DbTarget {
        DbTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "kx".into(),
            password: "kx".into(),
            dbname: "kx".into(),
            sslmode: "disable",
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&[
            &pg_bin("pg_ctl"),
            "-D",
            self.dir.join("data").to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ])
        .output();
        let _ = as_root(&["rm", "-rf", self.dir.to_str().unwrap_or_default()]).output();
    }
}
