//! Support for the end-to-end tests `tests/tests/e2e_*.rs`: the whole pipeline with real parts.
//!
//! - [`bootstrap`]: the real consumer binary.
//! - [`Pipeline`]: an events queue with its DLQ, a bus, a subscriber rule with an SQS target and a
//!   database secret in moto (unique names, so tests run in parallel), and the database the
//!   consumer writes to: a fresh one on the shared server ([`TestDb`]) or a private PostgreSQL
//!   cluster ([`PrivatePostgres`]) that a test may stop and start.
//! - [`LocalConsumer`]: the local event-source-mapping runner of `kx-events-local` feeding the real
//!   `bootstrap` through the Lambda Runtime API, as `make demo` runs it.
//! - Accounting: [`Pipeline::observe`] waits for the pipeline and returns what came out; the
//!   verdict is `kx_events_demo::accounting::Accounting`, shared with `make demo`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kx_events_consumer::SslMode;
use kx_events_demo::accounting::{Input, Output};
use kx_events_demo::observe::{Collector, Progress, Sources};
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runner::{Runner, RunnerConfig, RunnerStats, StopHandle};
use kx_events_local::runtime_api::{RuntimeApi, RuntimeApiConfig};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::{required_env, unique, Moto, Queues, TestDb};

/// The real consumer binary: `KX_BOOTSTRAP` when set, otherwise the `bootstrap` that
/// `cargo build --workspace --bins` reports (the build `make test` runs first, so a no-op there;
/// run once per test process with the `cargo` and `CARGO_TARGET_DIR` that run the tests).
pub fn bootstrap() -> PathBuf {
    if let Ok(path) = std::env::var("KX_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    workspace_binary("bootstrap")
}

/// The query API Lambda's binary: `KX_QUERY_BOOTSTRAP` when set, otherwise the `query` that
/// `cargo build --workspace --bins` reports (see [`bootstrap`]).
pub fn query_bootstrap() -> PathBuf {
    if let Ok(path) = std::env::var("KX_QUERY_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    workspace_binary("query")
}

/// A binary of the workspace (`bootstrap`, `query`, `kx`, …), built once per test process by
/// `cargo build --workspace --bins` (a no-op after `make test`'s build), its path taken from
/// cargo's JSON messages.
pub fn workspace_binary(name: &str) -> PathBuf {
    static PATHS: OnceLock<std::collections::HashMap<String, PathBuf>> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(&cargo);
        // `cargo test` runs this binary with the tests package's CARGO_PKG_*, CARGO_MANIFEST_DIR,
        // … set; build scripts (ring's) rerun when those change, which would rebuild the TLS
        // stack here and again in the next ordinary build. Build as from a plain shell.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let set_by_cargo_test = key.starts_with("CARGO_PKG_")
                || matches!(
                    key.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if set_by_cargo_test {
                cmd.env_remove(&key);
            }
        }
        let out = cmd
            .current_dir(workspace_root())
            .args([
                "build",
                "--workspace",
                "--bins",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(
            out.status.success(),
            "cargo build of the workspace binaries failed"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .filter_map(|m| {
                let exe = m["executable"].as_str()?;
                Some((m["target"]["name"].as_str()?.to_owned(), PathBuf::from(exe)))
            })
            .collect()
    });
    paths
        .get(name)
        .unwrap_or_else(|| panic!("cargo reported no {name} executable"))
        .clone()
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

fn run(cmd: &mut Command) -> String {
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

/// The database of a [`Pipeline`]: kept alive as long as the pipeline.
#[derive(Debug)]
pub enum Database {
    /// A fresh database on the shared server.
    Shared(Box<TestDb>),
    /// A private cluster.
    Private(PrivatePostgres),
}

impl Database {
    /// Where the consumer finds it.
    pub fn target(&self) -> DbTarget {
        match self {
            Database::Shared(db) => DbTarget {
                host: db.settings.host.clone(),
                port: db.settings.port,
                user: db.settings.user.clone(),
                password: db.settings.password.clone(),
                dbname: db.name.clone(),
                sslmode: match db.settings.sslmode {
                    SslMode::Disable => "disable",
                    SslMode::Require => "require",
                    SslMode::VerifyFull => "verify-full",
                },
            },
            Database::Private(pg) => pg.target(),
        }
    }
}

/// Options of [`Pipeline::create`].
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The queue's `maxReceiveCount` and the consumer's `MAX_RECEIVE_COUNT` (default 3).
    pub max_receive_count: u32,
    /// Use a [`PrivatePostgres`] instead of a database on the shared server.
    pub private_postgres: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            max_receive_count: 3,
            private_postgres: false,
        }
    }
}

/// One isolated copy of the system's AWS resources in moto, and its database.
#[derive(Debug)]
pub struct Pipeline {
    /// The name stem of its resources.
    pub name: String,
    /// Clients for moto.
    pub moto: Moto,
    /// The events queue and its DLQ.
    pub queues: Queues,
    /// The bus.
    pub bus_name: String,
    /// The queue a rule on the bus (`source` = `kx-event-tracking`) delivers to.
    pub subscriber_url: String,
    /// The database secret (`username`, `password`).
    pub secret_arn: String,
    /// The database.
    pub db: Database,
    /// `MAX_RECEIVE_COUNT`.
    pub max_receive_count: u32,
}

impl Pipeline {
    /// Creates the resources, named after `name` plus a unique suffix.
    pub async fn create(name: &str, options: PipelineOptions) -> Pipeline {
        let moto = Moto::new().await;
        let stem = unique(name);
        let db = if options.private_postgres {
            Database::Private(
                tokio::task::spawn_blocking(PrivatePostgres::start)
                    .await
                    .expect("private PostgreSQL"),
            )
        } else {
            Database::Shared(Box::new(TestDb::create().await))
        };
        let target = db.target();
        let queues = moto.create_queues(&stem, options.max_receive_count).await;
        let bus_name = format!("{stem}-bus");
        moto.create_bus(&bus_name).await;
        let subscriber_url = moto
            .create_rule_target(&bus_name, kx_events::DEFAULT_EVENT_SOURCE)
            .await;
        let secret_arn = moto
            .create_secret(&json!({ "username": target.user, "password": target.password }))
            .await;
        Pipeline {
            name: stem,
            moto,
            queues,
            bus_name,
            subscriber_url,
            secret_arn,
            db,
            max_receive_count: options.max_receive_count,
        }
    }

    /// The consumer's environment, exactly the variables the module sets, plus the AWS endpoint
    /// (`endpoint`: moto, or a fault proxy in front of it).
    pub fn consumer_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let db = self.db.target();
        [
            ("DB_SECRET_ARN", self.secret_arn.clone()),
            ("DB_HOST", db.host),
            ("DB_PORT", db.port.to_string()),
            ("DB_NAME", db.dbname),
            ("DB_SSLMODE", db.sslmode.to_string()),
            ("EVENT_BUS_NAME", self.bus_name.clone()),
            ("EVENT_SOURCE", kx_events::DEFAULT_EVENT_SOURCE.to_string()),
            ("DEAD_LETTER_QUEUE_URL", self.queues.dlq_url.clone()),
            ("MAX_RECEIVE_COUNT", self.max_receive_count.to_string()),
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("RUST_LOG", "info".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Where the output is read.
    pub fn sources(&self) -> Sources {
        Sources {
            database_url: self.db.target().url(),
            subscriber_queue_url: self.subscriber_url.clone(),
            dead_letter_queue_url: self.queues.dlq_url.clone(),
            events_queue_url: Some(self.queues.queue_url.clone()),
        }
    }

    /// Starts the runner and the real `bootstrap` on the events queue, the consumer's AWS calls
    /// going to `endpoint` (default: moto).
    pub async fn start_consumer(
        &self,
        endpoint: Option<&str>,
        runner: RunnerOptions,
    ) -> LocalConsumer {
        let moto_url = required_env("AWS_ENDPOINT_URL");
        let env = self.consumer_env(endpoint.unwrap_or(&moto_url));
        LocalConsumer::start(&self.moto, &self.queues.queue_url, env, runner).await
    }

    /// Sends a raw body to the events queue; returns the message id.
    pub async fn send(&self, body: &str) -> String {
        self.moto.send(&self.queues.queue_url, body, &[]).await
    }

    /// Waits (at most `limit`, a safety bound) until every valid input reached the subscriber,
    /// the DLQ holds a message per invalid input and the events queue is empty; then reads
    /// everything that came out.
    pub async fn observe(&self, input: &Input, limit: Duration) -> (Progress, Output) {
        let mut collector = Collector::new(self.moto.sqs.clone(), self.sources());
        let progress = collector
            .wait(input, limit, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{}: watching the pipeline: {e}", self.name));
        let output = collector
            .finish(Duration::from_secs(1), false)
            .await
            .unwrap_or_else(|e| panic!("{}: reading the output: {e}", self.name));
        (progress, output)
    }

    /// Rows of the consumer's database as `(stored, published, leased)` counts.
    pub async fn outbox_counts(&self) -> (i64, i64, i64) {
        let url = self.db.target().url();
        tokio::task::spawn_blocking(move || {
            let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) else {
                return (0, 0, 0);
            };
            let exists: bool = c
                .query_one("SELECT to_regclass('public.events') IS NOT NULL", &[])
                .map(|r| r.get(0))
                .unwrap_or(false);
            if !exists {
                return (0, 0, 0);
            }
            c.query_one(
                "SELECT count(*), count(published_at),
                        count(*) FILTER (WHERE published_at IS NULL AND publish_lease > now())
                   FROM events",
                &[],
            )
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap_or((0, 0, 0))
        })
        .await
        .expect("outbox counts")
    }
}

/// Settings of the runner (the event-source mapping) for a test.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Records per invocation.
    pub batch_size: usize,
    /// Batching window.
    pub window: Duration,
    /// The function timeout (each invocation's deadline).
    pub function_timeout: Duration,
    /// Failed messages come back after this delay instead of the queue's visibility timeout.
    pub retry_delay: Option<Duration>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            batch_size: 10,
            window: Duration::from_millis(300),
            function_timeout: Duration::from_secs(30),
            retry_delay: Some(Duration::from_secs(2)),
        }
    }
}

/// The runner and the real `bootstrap`, running in the background until [`LocalConsumer::stop`].
pub struct LocalConsumer {
    api: RuntimeApi,
    runner: Arc<Runner>,
    stop: StopHandle,
    task: JoinHandle<(Result<RunnerStats, String>, String)>,
}

impl LocalConsumer {
    /// Starts the Runtime API, the function (waiting for its init phase) and the runner.
    pub async fn start(
        moto: &Moto,
        queue_url: &str,
        env: Vec<(String, String)>,
        options: RunnerOptions,
    ) -> LocalConsumer {
        let api = RuntimeApi::start_with(RuntimeApiConfig {
            init_timeout: Duration::from_secs(30),
            ..RuntimeApiConfig::default()
        })
        .await
        .expect("Runtime API");
        let mut config = FunctionConfig::new(bootstrap());
        config.env = env;
        let mut function = Function::spawn(&api, config)
            .await
            .expect("spawn bootstrap");
        if let Err(e) = function.wait_first_next(Duration::from_secs(30)).await {
            panic!("bootstrap did not start: {e}\n{}", function.output_text());
        }
        let mut rc = RunnerConfig::new(queue_url);
        rc.batch_size = options.batch_size;
        rc.batching_window = options.window;
        rc.function_timeout = options.function_timeout;
        rc.retry_delay = options.retry_delay;
        let runner = Arc::new(
            Runner::with_client(moto.sqs.clone(), "us-east-1", rc)
                .await
                .expect("runner"),
        );
        let stop = runner.stop_handle();
        let r = runner.clone();
        let task = tokio::spawn(async move {
            let result = r.run(&mut function).await.map_err(|e| e.to_string());
            let _ = function.shutdown().await;
            (result, function.output_text())
        });
        LocalConsumer {
            api,
            runner,
            stop,
            task,
        }
    }

    /// The runner's counters so far.
    pub fn stats(&self) -> RunnerStats {
        self.runner.stats()
    }

    /// Kills the function process with SIGKILL (found by its `AWS_LAMBDA_RUNTIME_API`, which is
    /// unique to this consumer). Returns whether a process was killed.
    pub fn kill_function(&self) -> bool {
        let needle = format!("AWS_LAMBDA_RUNTIME_API={}", self.api.host_port());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        let mut killed = false;
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            let found = environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes());
            if found && pid != std::process::id() {
                killed |= Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
            }
        }
        killed
    }

    /// Stops the runner after its current batch, shuts the function down; returns the counters
    /// and the function's output (its JSON log lines).
    pub async fn stop(self) -> (RunnerStats, String) {
        self.stop.stop();
        let (result, text) = self.task.await.expect("runner task");
        (
            result.unwrap_or_else(|e| panic!("runner failed: {e}\n{text}")),
            text,
        )
    }
}

/// Polls `condition` every 50 ms until it holds or `limit` passes (a safety bound); returns
/// whether it held.
pub async fn until<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if condition().await {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Terraform root configuration run in isolation: `terraform/` is copied into a temporary
/// directory (so no lock file, data directory or state is shared with other runs), initialised
/// from `/opt/tf-plugins` when that mirror exists, and applied with a local state file there.
/// The directory is removed on drop.
#[derive(Debug)]
pub struct Terraform {
    root: PathBuf,
    example: PathBuf,
    log: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform"
            || name_str == ".terraform.lock.hcl"
            || name_str.starts_with("terraform.tfstate")
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy file");
        }
    }
}

impl Terraform {
    /// Copies `terraform/` and runs `terraform init` in `terraform/<example>` (e.g.
    /// `examples/local`).
    pub fn init(example: &str) -> Terraform {
        let root = std::env::temp_dir().join(unique("kx-e2e-tf"));
        copy_tree(&workspace_root().join("terraform"), &root.join("terraform"));
        std::fs::write(root.join("terraformrc"), "").expect("CLI config");
        let tf = Terraform {
            example: root.join("terraform").join(example),
            log: root.join("terraform.log"),
            root,
        };
        let mut args = vec!["init", "-input=false", "-no-color"];
        if Path::new("/opt/tf-plugins").is_dir() {
            args.push("-plugin-dir=/opt/tf-plugins");
        }
        tf.run(&args);
        tf
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("terraform");
        cmd.arg(format!("-chdir={}", self.example.display()))
            .args(args)
            .env("TF_DATA_DIR", self.root.join("tf-data"))
            .env("TF_CLI_CONFIG_FILE", self.root.join("terraformrc"))
            .env("TF_IN_AUTOMATION", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("running terraform {args:?}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::write(&self.log, &text);
        assert!(
            out.status.success(),
            "terraform {} failed:\n{}",
            args.first().unwrap_or(&""),
            text
        );
        text
    }

    fn state(&self) -> String {
        format!("-state={}", self.root.join("terraform.tfstate").display())
    }

    fn var_args(vars: &[(&str, String)]) -> Vec<String> {
        vars.iter()
            .flat_map(|(k, v)| ["-var".to_string(), format!("{k}={v}")])
            .collect()
    }

    /// `terraform apply -auto-approve` with `vars`; returns the outputs as `{ name: value }`.
    pub fn apply(&self, vars: &[(&str, String)]) -> serde_json::Value {
        let state = self.state();
        let vars = Self::var_args(vars);
        let mut args = vec![
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            &state,
        ];
        args.extend(vars.iter().map(String::as_str));
        self.run(&args);
        let outputs: serde_json::Value =
            serde_json::from_str(&self.run(&["output", "-no-color", "-json", &state]))
                .expect("terraform output -json");
        let map = outputs
            .as_object()
            .expect("outputs object")
            .iter()
            .map(|(k, v)| (k.clone(), v["value"].clone()))
            .collect();
        serde_json::Value::Object(map)
    }

    /// `terraform destroy -auto-approve` with `vars`; returns what `terraform state list` still
    /// lists afterwards (nothing, when the destroy was complete).
    pub fn destroy(&self, vars: &[(&str, String)]) -> Vec<String> {
        let state = self.state();
        let vars = Self::var_args(vars);
        let mut args = vec![
            "destroy",
            "-input=false",
            "-no-color",
            "-auto-approve",
            &state,
        ];
        args.extend(vars.iter().map(String::as_str));
        self.run(&args);
        self.run(&["state", "list", &state])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning") && l.contains('.'))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Terraform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A zip that moto can store as the function's code (moto never runs it: the runner runs the
/// real `bootstrap`). Byte-for-byte stable, written to `path`.
pub fn placeholder_zip(path: &Path) {
    // A stored (uncompressed) zip with one file, built by hand: no zip crate needed.
    let name = b"bootstrap";
    let data = b"#!/bin/sh\nexit 1\n";
    let crc = crc32(data);
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, time, date (1980-01-01)
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    local.extend_from_slice(data);
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // made by unix, version, flags, stored, time, date
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name);
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(local.len() as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    let zip = [local, central, end].concat();
    std::fs::write(path, zip).expect("writing the placeholder zip");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
