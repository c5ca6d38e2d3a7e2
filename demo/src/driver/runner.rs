//! The local event-source-mapping runner, `kx-events-local run` with the real `bootstrap`, as a
//! child process with its pid in `.state/demo/runner.pid` (so `down` finds one a demo left) and
//! its output in `runner.log`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::terraform::Outputs;
use super::{io_error, Demo, Error};

/// The running runner; stopped by [`Runner::stop`] or on drop (an error on the way).
pub(super) struct Runner {
    child: Child,
    pid_file: PathBuf,
    stopped: bool,
}

fn signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) has no memory effects; a wrong pid only fails with ESRCH/EPERM.
    unsafe { libc::kill(pid, signal) == 0 }
}

fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether the process whose pid `pid_file` holds is alive.
pub(super) fn pid_file_alive(pid_file: &Path) -> bool {
    read_pid(pid_file).is_some_and(|pid| pid > 0 && signal(pid, 0))
}

/// Stops the runner a previous demo left (SIGTERM, SIGKILL after 5 s) and removes its pid file.
pub(super) fn stop_pid_file(pid_file: &Path) {
    if pid_file_alive(pid_file) {
        if let Some(pid) = read_pid(pid_file) {
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while signal(pid, 0) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            signal(pid, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

impl Runner {
    /// Writes `bootstrap.env` (the consumer's environment, the AWS settings, `RUST_LOG`) and
    /// starts `kx-events-local run` on the events queue.
    pub(super) fn start(demo: &Demo, outputs: &Outputs) -> Result<Runner, Error> {
        let pid_file = demo.file("runner.pid");
        stop_pid_file(&pid_file);
        let bin = super::readback::bin_dir()?;
        let mut env = super::terraform::env_file_text(&outputs.consumer_environment);
        for k in [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ] {
            env.push_str(&format!("{k}={}\n", std::env::var(k).unwrap_or_default()));
        }
        let rust_log = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "info".into());
        env.push_str(&format!("RUST_LOG={rust_log}\n"));
        let env_file = demo.file("bootstrap.env");
        std::fs::write(&env_file, env).map_err(io_error("writing bootstrap.env"))?;

        let mut args: Vec<String> = vec![
            "run".into(),
            "--queue-url".into(),
            outputs.queue_url.clone(),
            "--bootstrap".into(),
            bin.join("bootstrap").display().to_string(),
            "--env-file".into(),
            env_file.display().to_string(),
            "--idle-exit-s".into(),
            "600".into(),
        ];
        if !outputs.consumer_batch_size.is_empty() {
            args.extend(["--batch-size".into(), outputs.consumer_batch_size.clone()]);
        }
        let window = &outputs.consumer_maximum_batching_window_in_seconds;
        if !window.is_empty() {
            let seconds: u64 = window.parse().map_err(|_| Error::Outputs {
                path: demo.file("outputs.json"),
                what: format!("consumer_maximum_batching_window_in_seconds is {window:?}"),
            })?;
            args.extend(["--window-ms".into(), (seconds * 1000).to_string()]);
        }
        let log_path = demo.file("runner.log");
        let log = std::fs::File::create(&log_path).map_err(io_error("writing runner.log"))?;
        let log_err = log.try_clone().map_err(io_error("writing runner.log"))?;
        let child = Command::new(bin.join("kx-events-local"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_error("starting kx-events-local"))?;
        std::fs::write(&pid_file, format!("{}\n", child.id()))
            .map_err(io_error("writing runner.pid"))?;
        demo.note(&format!("kx-events-local {}", args.join(" ")));
        demo.note(&format!("pid {}, log {}", child.id(), log_path.display()));
        Ok(Runner {
            child,
            pid_file,
            stopped: false,
        })
    }

    /// Whether it still runs.
    pub(super) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM (the runner stops its bootstrap), SIGKILL after 5 s; removes the pid file.
    pub(super) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.alive() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                signal(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The runner's last counters line (`kx-events-local: …`, printed when it stops), without the
/// prefix.
pub(super) fn counters(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    last_counters(&text).map(str::to_string)
}

fn last_counters(log: &str) -> Option<&str> {
    log.lines()
        .filter_map(|l| l.strip_prefix("kx-events-local: "))
        .next_back()
}

/// The last `n` lines of a log.
pub(super) fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_the_last_summary_line() {
        let log = "kx-events-local: polling\n[bootstrap] {}\nkx-events-local: received 9 · invocations 2\n";
        assert_eq!(last_counters(log), Some("received 9 · invocations 2"));
        assert_eq!(last_counters("[bootstrap] x\n"), None);
    }
}
