//! `kx-events-demo up` and `kx-events-demo down`: the driver of `make demo`, after
//! `scripts/demo.sh` has checked the tools, started the services (`scripts/services.sh up`) and
//! built the binaries.
//!
//! `up` creates the database `kx_demo`, applies `terraform/examples/local` against moto with
//! the testkit's [`Terraform`](kx_events_testkit::Terraform) (one progress line per resource; the
//! state is kept in `.state/demo`, so a re-run against the same moto reuses the resources), writes
//! the consumer's and the producer's environment files from its outputs, empties the queues,
//! starts `kx-events-local run` with the real `bootstrap`, runs `kx-events-demo produce` and
//! `kx-events-demo report`, reads the result back with the `kx` CLI, stops what it started and
//! ends with the verdict line: exit status 0 when every event is accounted for, 1 otherwise.
//! `down` stops whatever a demo left running, drops its database, removes its resources from a
//! moto server it did not start and forgets its state.
//!
//! Files, all in `.state/demo`: `name_prefix` (the resources' names carry a random suffix kept
//! with the Terraform state: should that state be lost while moto keeps its resources, the next
//! run creates fresh ones instead of colliding), `terraform.tfstate`, `tf-data/`, `terraformrc`,
//! `terraform-{init,apply}.log`, `outputs.json`, `{consumer,producer,bootstrap}.env`,
//! `runner.{pid,log}`, `manifest.json`, `report.txt`, `placeholder.zip`, and the moto markers:
//! `moto.identity` (the moto server the Terraform state describes) and `moto.started-by-demo`
//! (written by `scripts/demo.sh` when its `services.sh up` started moto: only then does the
//! demo stop moto when it is done).
//!
//! Settings (environment): `KX_DEMO_TIMEOUT_S` (how long the reporter waits, default 120),
//! `KX_DEMO_KEEP=1` (leave moto and its resources up after the summary), `KX_DEMO_REALTIME=1`
//! (keep the producer's direct put on the bus), `RUST_LOG` (the consumer's, default `info`).

mod readback;
mod runner;
mod terraform;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::operation::purge_queue::PurgeQueueError;
use kx_events_testkit::{unique, workspace_root, Services, TerraformError};

pub use readback::verdict;
pub use terraform::{parse_outputs, progress_line, Outputs};

/// The database the demo's consumer writes to, on the shared PostgreSQL server.
pub const DB_NAME: &str = "kx_demo";

/// Why the demo stopped before its verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `.state/env` is missing or unreadable.
    #[error("{0}")]
    Services(String),
    /// A Terraform command failed.
    #[error(transparent)]
    Terraform(#[from] TerraformError),
    /// A file or a process.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The PostgreSQL server.
    #[error("{what}")]
    Database {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// Emptying a queue before the run.
    #[error("purging {url}")]
    Purge {
        /// The queue.
        url: String,
        /// The cause.
        #[source]
        source: Box<aws_sdk_sqs::error::SdkError<PurgeQueueError>>,
    },
    /// The Terraform outputs lack something the demo needs.
    #[error("{}: {what}", path.display())]
    Outputs {
        /// `outputs.json`.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The runner exited before the story was told.
    #[error("the runner stopped (log: {})", .0.display())]
    RunnerStopped(PathBuf),
    /// A program the demo runs failed.
    #[error("{program} failed ({status})")]
    Child {
        /// Its name and subcommand.
        program: String,
        /// How it exited.
        status: ExitStatus,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// The terminal's colours, when stdout is one.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    bold: &'static str,
    dim: &'static str,
    red: &'static str,
    green: &'static str,
    off: &'static str,
}

impl Style {
    /// Colours when stdout is a terminal, none otherwise.
    pub fn detect() -> Style {
        if std::io::stdout().is_terminal() {
            Style {
                bold: "\x1b[1m",
                dim: "\x1b[2m",
                red: "\x1b[31m",
                green: "\x1b[32m",
                off: "\x1b[0m",
            }
        } else {
            Style {
                bold: "",
                dim: "",
                red: "",
                green: "",
                off: "",
            }
        }
    }

    /// Prints `demo: ERROR` (with its causes) in red on stderr, as the demo ends on an error.
    pub fn die(&self, error: &Error) {
        eprintln!(
            "{}demo: {}{}",
            self.red,
            kx_events::error_chain(error),
            self.off
        );
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Where the demo keeps its files, and the moto server it runs against.
struct Demo {
    root: PathBuf,
    state: PathBuf,
    style: Style,
    started_at: u64,
    name_prefix: String,
}

impl Demo {
    fn new(started_at: Option<u64>) -> Result<Demo, Error> {
        let root = workspace_root();
        let state = root.join(".state").join("demo");
        std::fs::create_dir_all(&state)
            .map_err(io_error(format!("creating {}", state.display())))?;
        let prefix_file = state.join("name_prefix");
        let name_prefix = match read_trimmed(&prefix_file) {
            Some(p) if !p.is_empty() => p,
            _ => {
                // kx-demo- and six hex digits.
                let p = unique("kx-demo")[.."kx-demo-".len() + 6].to_string();
                std::fs::write(&prefix_file, format!("{p}\n"))
                    .map_err(io_error(format!("writing {}", prefix_file.display())))?;
                p
            }
        };
        Ok(Demo {
            root,
            state,
            style: Style::detect(),
            started_at: started_at.unwrap_or_else(now_s),
            name_prefix,
        })
    }

    fn step(&self, text: &str) {
        let s = &self.style;
        println!(
            "\n{}==> {text}{} {}({}s){}",
            s.bold,
            s.off,
            s.dim,
            now_s().saturating_sub(self.started_at),
            s.off
        );
    }

    fn note(&self, text: &str) {
        println!("    {text}");
    }

    fn file(&self, name: &str) -> PathBuf {
        self.state.join(name)
    }

    fn moto_pid_file(&self) -> PathBuf {
        self.root.join(".state").join("moto.pid")
    }

    fn marker(&self) -> PathBuf {
        self.file("moto.started-by-demo")
    }

    /// The moto server now: its endpoint and the pid `scripts/services.sh` recorded.
    /// `scripts/demo.sh` writes the same text to the marker.
    fn moto_identity(&self, services: &Services) -> String {
        moto_identity(
            &services.aws_endpoint_url,
            read_trimmed(&self.moto_pid_file()).as_deref(),
        )
    }

    fn moto_is_ours(&self, services: &Services) -> bool {
        read_trimmed(&self.marker()).is_some_and(|m| m == self.moto_identity(services))
    }

    /// Stops the moto server if a demo started it; its resources vanish with it, so does the
    /// Terraform state.
    fn stop_moto_if_ours(&self, services: &Services, tf: &kx_events_testkit::Terraform) {
        if self.moto_is_ours(services) {
            let _ = std::process::Command::new(self.root.join("scripts").join("services.sh"))
                .arg("down")
                .current_dir(&self.root)
                .status();
            tf.forget_state();
            let _ = std::fs::remove_file(self.file("moto.identity"));
        }
        let _ = std::fs::remove_file(self.marker());
    }
}

/// The identity of a moto server as the demo's markers record it: `ENDPOINT pid PID`
/// (`?` and `-` for what is unknown), the format `scripts/demo.sh` writes.
pub fn moto_identity(endpoint: &str, pid: Option<&str>) -> String {
    let endpoint = if endpoint.is_empty() { "?" } else { endpoint };
    format!("{endpoint} pid {}", pid.unwrap_or("-"))
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn load_services() -> Result<Services, Error> {
    let services = Services::from_file(&Services::state_file()).map_err(Error::Services)?;
    // For the SDK's default chain and the child processes, as a shell that sourced it.
    services.export();
    Ok(services)
}

/// The superuser's server address: `(host, port, user, password)`.
fn database_parts(services: &Services) -> Result<(String, u16, String, String), Error> {
    services.database_parts().map_err(Error::Services)
}

fn database_url(services: &Services) -> Result<String, Error> {
    let (host, port, user, password) = database_parts(services)?;
    Ok(format!(
        "postgres://{user}:{password}@{host}:{port}/{DB_NAME}"
    ))
}

/// Drops the demo's database (its sessions closed), then creates it afresh when `create`.
fn drop_database(services: &Services, create: bool) -> Result<(), Error> {
    let mut config: postgres::Config =
        services
            .database_url
            .parse()
            .map_err(|source| Error::Database {
                what: "KX_TEST_DATABASE_URL".into(),
                source,
            })?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|source| Error::Database {
            what: format!(
                "connecting to {}",
                crate::observe::redact(&services.database_url)
            ),
            source,
        })?;
    let mut run = |sql: String| {
        client
            .batch_execute(&sql)
            .map_err(|source| Error::Database {
                what: sql.clone(),
                source,
            })
    };
    run(format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))?;
    if create {
        run(format!("CREATE DATABASE {DB_NAME}"))?;
    }
    Ok(())
}

/// `kx-events-demo up`: the demo from the database on; `started_at` (Unix seconds) is when
/// `scripts/demo.sh` started, for the elapsed times. Returns whether every event is accounted
/// for (the verdict line says so too).
pub fn up(started_at: Option<u64>) -> Result<bool, Error> {
    let demo = Demo::new(started_at)?;
    let services = load_services()?;
    let tf = terraform::in_place(&demo)?;
    // Terraform state describes resources in one moto process: a new moto means a fresh start.
    let identity = demo.moto_identity(&services);
    if read_trimmed(&demo.file("moto.identity")).as_deref() != Some(identity.as_str()) {
        tf.forget_state();
        std::fs::write(demo.file("moto.identity"), &identity)
            .map_err(io_error("writing moto.identity"))?;
    }

    let (host, port, user, _) = database_parts(&services)?;
    demo.step(&format!("Creating the demo database {DB_NAME}"));
    drop_database(&services, true)?;
    demo.note(&format!(
        "postgres://{user}@{host}:{port}/{DB_NAME} (the consumer creates its tables at cold start)"
    ));

    let outputs = terraform::apply(&demo, &services, &tf)?;

    demo.step(
        "Starting the local event-source-mapping runner (kx-events-local run) with the real bootstrap",
    );
    let mut runner = runner::Runner::start(&demo, &outputs)?;

    demo.step("Producing the story (kx-events-demo produce)");
    readback::produce(&demo)?;
    if !runner.alive() {
        println!("{}", runner::log_tail(&demo.file("runner.log"), 30));
        return Err(Error::RunnerStopped(demo.file("runner.log")));
    }

    demo.step("Watching the pipeline, then reading PostgreSQL, the subscriber's queue and the DLQ");
    let db_url = database_url(&services)?;
    let mut ok = readback::report(&demo, &outputs, &db_url)?;

    if ok {
        demo.step("Reading it back with the kx CLI (the query library the query API serves)");
        ok = readback::kx_cli(&db_url)?;
    }

    demo.step("Stopping what the demo started");
    runner.stop();
    demo.note(&format!(
        "the runner and its bootstrap: stopped (their log: {})",
        demo.file("runner.log").display()
    ));
    if let Some(stats) = runner::counters(&demo.file("runner.log")) {
        demo.note(&format!("runner counters: {stats}"));
    }
    if std::env::var("KX_DEMO_KEEP").as_deref() == Ok("1") {
        demo.note("KX_DEMO_KEEP=1: moto and its resources stay up; make demo-down stops them");
    } else {
        if demo.marker().exists() {
            demo.note("moto server: stopped (the demo started it; its resources went with it)");
        } else {
            demo.note(
                "moto server: left running (it was up before the demo); the demo's resources stay in it for a",
            );
            demo.note(&format!(
                "faster re-run (terraform state in {})",
                demo.state.display()
            ));
        }
        demo.stop_moto_if_ours(&services, &tf);
    }
    let (_, _, _, password) = database_parts(&services)?;
    demo.note(&format!(
        "database {DB_NAME} kept for a look: psql \"postgres://{user}:{password}@{host}:{port}/{DB_NAME}\" -c 'table events'"
    ));
    demo.note("make demo-down drops it and forgets the demo's state");
    demo.note(&format!(
        "demo took {} s",
        now_s().saturating_sub(demo.started_at)
    ));

    let report = std::fs::read_to_string(demo.file("report.txt")).unwrap_or_default();
    let s = &demo.style;
    println!();
    if ok {
        let line = verdict(&report).unwrap_or("every event is accounted for");
        println!("{}{line}{}", s.green, s.off);
    } else {
        let line =
            verdict(&report).unwrap_or("NOT ACCOUNTED: the report failed (status 1); see above");
        println!("{}{line}{}", s.red, s.off);
    }
    Ok(ok)
}

/// `kx-events-demo down`: stops whatever a demo left running (the runner; moto if a demo started
/// it, otherwise the demo's resources are destroyed in it), drops the database, removes
/// `.state/demo`.
pub fn down() -> Result<(), Error> {
    let demo = Demo::new(None)?;
    runner::stop_pid_file(&demo.file("runner.pid"));
    if Services::state_file().exists() {
        let services = load_services()?;
        // Only when the server answers; a stopped one has nothing to drop.
        let _ = drop_database(&services, false);
        let tf = terraform::in_place(&demo)?;
        // A moto server the demo did not start keeps running: remove the demo's resources from it.
        if !demo.marker().exists()
            && tf.has_state()
            && runner::pid_file_alive(&demo.moto_pid_file())
            && read_trimmed(&demo.file("moto.identity")).as_deref()
                == Some(demo.moto_identity(&services).as_str())
        {
            println!("demo: terraform destroy of the demo's resources in moto (the provider waits ~25 s per queue policy)");
            terraform::destroy(&demo, &services, &tf);
        }
        demo.stop_moto_if_ours(&services, &tf);
    }
    std::fs::remove_dir_all(&demo.state)
        .map_err(io_error(format!("removing {}", demo.state.display())))?;
    println!("demo: stopped; state removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_identity_is_what_demo_sh_writes() {
        assert_eq!(
            moto_identity("http://127.0.0.1:37557", Some("1234")),
            "http://127.0.0.1:37557 pid 1234"
        );
        assert_eq!(moto_identity("", None), "? pid -");
    }
}
