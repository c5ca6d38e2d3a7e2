//! The function's `bootstrap` as a child process, in a Lambda-like environment.
//!
//! [`Function::spawn`] starts the binary (optionally under a wrapper command, e.g.
//! `qemu-aarch64 -L /usr/aarch64-linux-gnu` to run the arm64 release artifact on x86_64) with:
//!
//! 1. the parent's environment (unless [`FunctionConfig::inherit_env`] is off) — locally that is
//!    how `AWS_ENDPOINT_URL` and credentials reach the function;
//! 2. Lambda's standard variables: `AWS_LAMBDA_RUNTIME_API` (the [`RuntimeApi`]'s `host:port`),
//!    `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`,
//!    `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME`,
//!    `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`, `_HANDLER`,
//!    `AWS_REGION`, `AWS_DEFAULT_REGION`, `LAMBDA_TASK_ROOT` and `LAMBDA_RUNTIME_DIR` (the
//!    binary's directory), `TZ=:UTC`, `LANG=en_US.UTF-8`;
//! 3. the caller's variables ([`FunctionConfig::env`]), which win.
//!
//! Its stdout and stderr are captured line by line (and optionally echoed to this process's
//! stderr with a prefix, as CloudWatch would show them). Spawning a process starts a new
//! execution environment, so [`Function::spawn`] and [`Function::restart`] call
//! [`RuntimeApi::reset`].

use crate::runtime_api::{ProtocolEvent, RuntimeApi};
use crate::{Error, Result};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// At most this many captured lines are kept; beyond it the oldest half is dropped.
pub const OUTPUT_CAP: usize = 100_000;

/// How to start the function.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// Path of the `bootstrap` binary.
    pub bootstrap: PathBuf,
    /// A command (and its arguments) to run the binary under, e.g.
    /// `["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]`; empty to run it directly.
    pub wrapper: Vec<String>,
    /// Variables set last (they override Lambda's and the inherited ones).
    pub env: Vec<(String, String)>,
    /// Start from this process's environment (default `true`).
    pub inherit_env: bool,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (default 128).
    pub memory_mb: u32,
    /// Echo each output line to this process's stderr, prefixed with this string (e.g.
    /// `"[bootstrap] "`); `None` keeps the output silent (it is captured either way).
    pub echo_prefix: Option<String>,
}

impl FunctionConfig {
    /// Runs `bootstrap` directly, inheriting the environment, echoing nothing.
    pub fn new(bootstrap: impl Into<PathBuf>) -> Self {
        FunctionConfig {
            bootstrap: bootstrap.into(),
            wrapper: Vec::new(),
            env: Vec::new(),
            inherit_env: true,
            memory_mb: 128,
            echo_prefix: None,
        }
    }

    /// Adds a variable (builder style).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the wrapper from a shell-like string split on whitespace, e.g.
    /// `"qemu-aarch64 -L /usr/aarch64-linux-gnu"` (builder style).
    pub fn wrapper(mut self, command: &str) -> Self {
        self.wrapper = command.split_whitespace().map(str::to_string).collect();
        self
    }

    /// Echoes output lines with `prefix` (builder style).
    pub fn echo(mut self, prefix: impl Into<String>) -> Self {
        self.echo_prefix = Some(prefix.into());
        self
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One captured line of output.
#[derive(Debug, Clone)]
pub struct OutputLine {
    /// When it was read.
    pub at: Instant,
    /// Its stream.
    pub stream: OutputStream,
    /// The line, without its newline.
    pub text: String,
}

/// A running (or exited) function process.
#[derive(Debug)]
pub struct Function {
    api: RuntimeApi,
    config: FunctionConfig,
    child: Child,
    spawned_at: Instant,
    generation: u32,
    output: Arc<Mutex<Vec<OutputLine>>>,
}

impl Function {
    /// Resets `api` (a new execution environment) and starts the process.
    pub async fn spawn(api: &RuntimeApi, config: FunctionConfig) -> Result<Function> {
        let output = Arc::new(Mutex::new(Vec::new()));
        let (child, spawned_at) = start(api, &config, &output, 0)?;
        Ok(Function {
            api: api.clone(),
            config,
            child,
            spawned_at,
            generation: 0,
            output,
        })
    }

    /// The Runtime API the process talks to.
    pub fn api(&self) -> &RuntimeApi {
        &self.api
    }

    /// The OS process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// When the current process was spawned.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// How many times the process was restarted.
    pub fn restarts(&self) -> u32 {
        self.generation
    }

    /// Time from spawning the current process to its first `GET …/invocation/next`, once it has
    /// happened (the cold start, as far as the runtime is concerned).
    pub fn time_to_first_next(&self) -> Option<Duration> {
        self.api
            .find_event(self.spawned_at, |e| *e == ProtocolEvent::NextRequested)
            .map(|entry| entry.at - self.spawned_at)
    }

    /// Waits up to `timeout` for the current process's first `next`; returns the time from spawn.
    /// Fails early if the process exits first.
    pub async fn wait_first_next(&mut self, timeout: Duration) -> Result<Duration> {
        let spawned_at = self.spawned_at;
        let api = self.api.clone();
        let first = api.wait_for_event(spawned_at, timeout, |e| *e == ProtocolEvent::NextRequested);
        tokio::select! {
            entry = first => entry
                .map(|entry| entry.at - spawned_at)
                .ok_or_else(|| Error::Function(format!(
                    "no GET /2018-06-01/runtime/invocation/next within {timeout:?}; output:\n{}",
                    self.output_text()
                ))),
            status = self.child.wait() => Err(Error::Function(format!(
                "exited ({}) before asking for an invocation; output:\n{}",
                status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                self.output_text()
            ))),
        }
    }

    /// Every captured line so far (all processes since spawn, oldest first; the last
    /// [`OUTPUT_CAP`] at most).
    pub fn output(&self) -> Vec<OutputLine> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// The captured output as text, one line per line, stderr lines marked.
    pub fn output_text(&self) -> String {
        self.output()
            .iter()
            .map(|line| match line.stream {
                OutputStream::Stdout => format!("{}\n", line.text),
                OutputStream::Stderr => format!("[stderr] {}\n", line.text),
            })
            .collect()
    }

    /// Captured lines that contain `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.output()
            .into_iter()
            .filter(|line| line.text.contains(needle))
            .map(|line| line.text)
            .collect()
    }

    /// Waits up to `timeout` for a captured line containing `needle` (output is read
    /// asynchronously, so a line the process printed just before its last protocol call may
    /// arrive a moment after that call).
    pub async fn wait_for_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines_containing(needle).pop() {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The exit status, if the process has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit (cancel-safe, usable in `select!`).
    pub async fn exited(&mut self) -> Result<ExitStatus> {
        self.child
            .wait()
            .await
            .map_err(|e| Error::io("waiting for the function process", e))
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        if self.try_exit_status().is_none() {
            let _ = self.child.start_kill();
        }
        self.exited().await.map(|_| ())
    }

    /// Sends `SHUTDOWN` to the extensions that registered for it, then SIGTERM to the process,
    /// then SIGKILL if it has not exited within 500 ms, as Lambda ends an environment.
    pub async fn shutdown(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.try_exit_status() {
            return Ok(status);
        }
        let api = self.api.clone();
        tokio::select! {
            _ = api.shutdown() => {}
            status = self.child.wait() => {
                return status.map_err(|e| Error::io("waiting for the function process", e));
            }
        }
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(Duration::from_millis(500), self.child.wait()).await {
            Ok(status) => status.map_err(|e| Error::io("waiting for the function process", e)),
            Err(_) => {
                let _ = self.child.start_kill();
                self.exited().await
            }
        }
    }

    /// Kills the process, resets the Runtime API and starts a fresh process (a new execution
    /// environment, as Lambda does after a timeout or a crash).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.generation += 1;
        let (child, spawned_at) = start(&self.api, &self.config, &self.output, self.generation)?;
        self.child = child;
        self.spawned_at = spawned_at;
        Ok(())
    }
}

fn start(
    api: &RuntimeApi,
    config: &FunctionConfig,
    output: &Arc<Mutex<Vec<OutputLine>>>,
    generation: u32,
) -> Result<(Child, Instant)> {
    let bootstrap = &config.bootstrap;
    if !bootstrap.is_file() {
        return Err(Error::Function(format!(
            "bootstrap {} does not exist",
            bootstrap.display()
        )));
    }
    let mut command = match config.wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(bootstrap);
            command
        }
        None => Command::new(bootstrap),
    };
    if !config.inherit_env {
        command.env_clear();
    }
    let identity = &api.config().identity;
    let task_root = bootstrap
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("."));
    let log_stream = format!(
        "{}/[{}]{}",
        chrono::Utc::now().format("%Y/%m/%d"),
        identity.function_version,
        uuid::Uuid::new_v4().simple()
    );
    let lambda_env = [
        ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
        ("AWS_LAMBDA_FUNCTION_NAME", identity.function_name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_VERSION",
            identity.function_version.clone(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", identity.function_name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", identity.handler.clone()),
        ("AWS_REGION", identity.region.clone()),
        ("AWS_DEFAULT_REGION", identity.region.clone()),
        ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
        ("LAMBDA_RUNTIME_DIR", task_root.display().to_string()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
    ];
    command.envs(lambda_env);
    command.envs(config.env.iter().map(|(k, v)| (k, v)));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

    api.reset();
    let spawned_at = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("spawning {}", bootstrap.display()), e))?;
    let prefix = config.echo_prefix.clone().map(|p| {
        if generation == 0 {
            p
        } else {
            format!("{p}(restart {generation}) ")
        }
    });
    if let Some(stdout) = child.stdout.take() {
        capture(stdout, OutputStream::Stdout, output.clone(), prefix.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        capture(stderr, OutputStream::Stderr, output.clone(), prefix);
    }
    Ok((child, spawned_at))
}

fn capture(
    reader: impl AsyncRead + Unpin + Send + 'static,
    stream: OutputStream,
    output: Arc<Mutex<Vec<OutputLine>>>,
    echo_prefix: Option<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(text)) = lines.next_line().await {
            if let Some(prefix) = &echo_prefix {
                eprintln!("{prefix}{text}");
            }
            if let Ok(mut output) = output.lock() {
                if output.len() >= OUTPUT_CAP {
                    output.drain(..OUTPUT_CAP / 2);
                }
                output.push(OutputLine {
                    at: Instant::now(),
                    stream,
                    text,
                });
            }
        }
    });
}
