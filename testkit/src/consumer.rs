//! The consumer as Lambda runs it, locally: the event-source-mapping runner of
//! `kx-events-local` polling an events queue and feeding the real `bootstrap` through the Lambda
//! Runtime API ([`LocalConsumer`]), as `make demo` and the end-to-end tests run it.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runner::{Runner, RunnerConfig, RunnerStats, StopHandle};
use kx_events_local::runtime_api::{RuntimeApi, RuntimeApiConfig};
use tokio::task::JoinHandle;

use crate::binaries::bootstrap;
use crate::moto::Moto;

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
