//! One apply-moto run: the environment and the moto server, then every example on its own
//! thread (init, apply, checks, plan, destroy, checks; destroyed again after a failure), their
//! logs printed in order, and a summary line with the timings.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use super::example::{self, Example, ExampleTf, Output, VarInputs};
use super::moto::MotoServer;
use super::plan;
use super::verify::{self, Clients, Outputs, Phase};
use crate::env::{workspace_root, Services};
use crate::terraform::placeholder_zip;

/// A line on standard error, as the script's other commands print theirs.
pub(crate) fn log(msg: &str) {
    eprintln!("[terraform-checks] {msg}");
}

/// An example's `run.log`: what its thread says, printed once the thread is done.
#[derive(Debug, Clone)]
pub struct RunLog {
    path: PathBuf,
}

impl RunLog {
    /// Appends to `path`.
    pub fn new(path: PathBuf) -> RunLog {
        RunLog { path }
    }

    /// Appends one line (best effort: a log that cannot be written must not end the run).
    pub fn line(&self, text: &str) {
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            let _ = writeln!(file, "{text}");
        }
    }

    /// A `[terraform-checks] …` line.
    pub fn log(&self, msg: &str) {
        self.line(&format!("[terraform-checks] {msg}"));
    }

    /// The last `n` lines of `file`, copied into this log.
    pub fn tail(&self, file: &Path, n: usize) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(n)..] {
            self.line(line);
        }
    }
}

/// Sets `name` to `default` when it is unset or empty.
fn default_env(name: &str, default: &str) {
    if std::env::var(name).ok().is_none_or(|v| v.is_empty()) {
        std::env::set_var(name, default);
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// What every example of a run shares.
#[derive(Debug)]
struct Run {
    run_dir: PathBuf,
    run_id: String,
    tf_root: PathBuf,
    plugin_dir: Option<PathBuf>,
    tf_env: Vec<(String, String)>,
    endpoint: String,
    region: String,
    var_inputs: VarInputs,
    clients: Clients,
    runtime: tokio::runtime::Handle,
}

/// Runs `examples` (both when empty) against moto; the process's exit code.
///
/// Sets the environment's AWS defaults first (credentials `testing`, region `us-east-1`, and
/// `.state/env` when `AWS_ENDPOINT_URL` is unset): call it before starting other threads.
pub fn run(examples: &[Example]) -> ExitCode {
    let t0 = Instant::now();
    let root = workspace_root();
    let state_root = root.join(".state").join("terraform-checks");
    let run_id = example::new_run_id();
    let run_dir = state_root.join(&run_id);
    if let Err(e) = std::fs::create_dir_all(&run_dir)
        .and_then(|()| std::fs::write(state_root.join("terraformrc"), ""))
    {
        log(&format!("FAIL: creating {}: {e}", run_dir.display()));
        return ExitCode::FAILURE;
    }

    // The environment, before any thread starts.
    if std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .is_none_or(|v| v.is_empty())
        && Services::state_file().is_file()
    {
        match Services::from_file(&Services::state_file()) {
            Ok(services) => services.export(),
            Err(e) => log(&format!("ignoring .state/env: {e}")),
        }
    }
    default_env("AWS_ACCESS_KEY_ID", "testing");
    default_env("AWS_SECRET_ACCESS_KEY", "testing");
    default_env("AWS_REGION", "us-east-1");
    let region = env_or("AWS_REGION", "us-east-1");
    default_env("AWS_DEFAULT_REGION", &region);
    let given = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.is_empty());

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(&format!("FAIL: starting the tokio runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // Dropped (a private server stopped) when this function returns, failed or not.
    let moto = match runtime.block_on(MotoServer::choose(
        given.as_deref(),
        &region,
        &run_dir.join("moto.log"),
    )) {
        Ok(moto) => moto,
        Err(e) => {
            log(&format!("FAIL: {}", kx_events::error_chain(&e)));
            return ExitCode::FAILURE;
        }
    };

    // moto stores the function's zip but never runs it: any zip will do.
    let package = run_dir.join("bootstrap.zip");
    placeholder_zip(&package);

    let plugin_dir = std::env::var_os("KX_TF_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tf-plugins"));
    let run = Run {
        tf_root: root.join("terraform"),
        plugin_dir: plugin_dir.is_dir().then_some(plugin_dir),
        tf_env: vec![
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("TF_INPUT".into(), "0".into()),
            (
                "TF_CLI_CONFIG_FILE".into(),
                state_root.join("terraformrc").display().to_string(),
            ),
            ("AWS_ENDPOINT_URL".into(), moto.endpoint.clone()),
        ],
        var_inputs: VarInputs {
            package,
            region: region.clone(),
            endpoint: moto.endpoint.clone(),
            db_username: env_or("KX_PG_USER", "kx"),
            db_password: env_or("KX_PG_PASSWORD", "kx"),
        },
        clients: runtime.block_on(Clients::new(&moto.endpoint, &region)),
        endpoint: moto.endpoint.clone(),
        region,
        runtime: runtime.handle().clone(),
        run_dir,
        run_id,
    };

    let mut chosen: Vec<Example> = Vec::new();
    for &e in if examples.is_empty() {
        &Example::ALL[..]
    } else {
        examples
    } {
        if !chosen.contains(&e) {
            chosen.push(e);
        }
    }
    // The examples have distinct prefixes, state and data dirs: they run side by side (most of
    // an apply is the provider waiting on RDS and SQS). Each destroys its own resources on
    // failure.
    let failed: Vec<Example> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|&example| {
                let dir = run.run_dir.join(example.name());
                let _ = std::fs::create_dir_all(&dir);
                let run = &run;
                let handle = scope.spawn(move || run_example(run, example));
                log(&format!(
                    "{example}: running (log {})",
                    dir.join("run.log").display()
                ));
                (example, handle)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(example, handle)| {
                let ok = handle.join().unwrap_or(false);
                let run_log = run.run_dir.join(example.name()).join("run.log");
                eprint!("{}", std::fs::read_to_string(run_log).unwrap_or_default());
                (!ok).then_some(example)
            })
            .collect()
    });
    drop(moto);

    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|e| e.name()).collect();
        log(&format!("FAIL: apply-moto failed for: {}", names.join(" ")));
        return ExitCode::FAILURE;
    }
    let timings = std::fs::read_to_string(run.run_dir.join("timings")).unwrap_or_default();
    log(&format!(
        "apply-moto ok in {} s: {}",
        t0.elapsed().as_secs(),
        timings.replace('\n', ";")
    ));
    ExitCode::SUCCESS
}

/// Destroys an example whose apply started, unless disarmed: on failure and on panic alike.
struct PendingDestroy<'a> {
    example: Example,
    tf: &'a ExampleTf,
    vars: &'a [(String, String)],
    log: &'a RunLog,
    armed: bool,
}

impl Drop for PendingDestroy<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let example = self.example;
        self.log
            .log(&format!("cleanup: destroying {example} after a failure"));
        let cleanup_log = self.tf.dir.join("cleanup.log");
        let mut args = vec!["-auto-approve".to_string()];
        args.extend(self.tf.state_and_vars(self.vars));
        let ok = self
            .tf
            .run("destroy", &args, Output::File(&cleanup_log))
            .is_ok_and(|s| s.success());
        if !ok {
            self.log.log(&format!(
                "cleanup of {example} failed: see {}",
                cleanup_log.display()
            ));
        }
    }
}

/// Runs one example; whether it passed. Everything it says goes to its `run.log`.
fn run_example(run: &Run, example: Example) -> bool {
    let dir = run.run_dir.join(example.name());
    let log = RunLog::new(dir.join("run.log"));
    let prefix = example::prefix(&run.run_id, example);
    let tf = ExampleTf {
        source: run.tf_root.join("examples").join(example.name()),
        dir,
        env: run.tf_env.clone(),
    };
    let vars = example::vars(example, &prefix, &run.var_inputs);
    let mut pending = PendingDestroy {
        example,
        tf: &tf,
        vars: &vars,
        log: &log,
        armed: false,
    };
    match steps(run, example, &prefix, &mut pending) {
        Ok(()) => true,
        Err(msg) => {
            log.log(&format!("FAIL: {msg}"));
            false
        }
    }
}

/// Seconds since `t`.
fn secs(t: Instant) -> u64 {
    t.elapsed().as_secs()
}

/// Init, apply, checks, plan, destroy, checks. The error is the `FAIL:` line.
fn steps(
    run: &Run,
    example: Example,
    prefix: &str,
    pending: &mut PendingDestroy<'_>,
) -> Result<(), String> {
    let (tf, vars, log) = (pending.tf, pending.vars, pending.log);
    let dir = &tf.dir;
    let path = |name: &str| dir.join(name);
    let ran = |verb: &str, args: &[String], output: Output<'_>| {
        tf.run(verb, args, output)
            .map_err(|e| format!("{example}: running terraform {verb}: {e}"))
    };
    let with_state = |first: &str| {
        let mut args = vec![first.to_string()];
        args.extend(tf.state_and_vars(vars));
        args
    };

    log.log(&format!("{example}: init"));
    let mut init = vec!["-backend=false".to_string(), "-input=false".to_string()];
    if let Some(plugins) = &run.plugin_dir {
        init.push(format!("-plugin-dir={}", plugins.display()));
    }
    if !ran("init", &init, Output::StderrTo(&path("run.log")))?.success() {
        return Err(format!("{example}: init failed"));
    }

    log.log(&format!(
        "{example}: apply against {} (prefix {prefix})",
        run.endpoint
    ));
    pending.armed = true;
    let t = Instant::now();
    let apply_log = path("apply.log");
    if !ran(
        "apply",
        &with_state("-auto-approve"),
        Output::File(&apply_log),
    )?
    .success()
    {
        log.tail(&apply_log, 40);
        return Err(format!(
            "{example}: apply failed (log: {})",
            apply_log.display()
        ));
    }
    let apply_s = secs(t);
    log.log(&format!("{example}: applied in {apply_s} s"));

    let outputs_json = path("outputs.json");
    let state = format!("-state={}", tf.state().display());
    let output_args = ["-json".to_string(), state];
    let run_log = path("run.log");
    let output = Output::Split {
        stdout: &outputs_json,
        stderr: &run_log,
    };
    if !ran("output", &output_args, output)?.success() {
        return Err(format!("{example}: terraform output failed"));
    }
    let outputs = Outputs::read(&outputs_json);
    if !check(run, Phase::Applied, example, prefix, &outputs, log) {
        return Err(format!("{example}: checks after apply failed"));
    }

    log.log(&format!("{example}: plan after apply (expect no changes)"));
    let plan_log = path("plan.log");
    let status = ran(
        "plan",
        &with_state("-detailed-exitcode"),
        Output::File(&plan_log),
    )?;
    match status.code() {
        Some(0) => log.log(&format!("{example}: plan after apply is clean")),
        Some(2) => {
            let changes = plan::changes(&std::fs::read_to_string(&plan_log).unwrap_or_default());
            if example == Example::Complete && plan::unexplained(&changes).is_empty() {
                log.log(&format!(
                    "{example}: plan after apply shows only moto's known gaps: {}",
                    changes.join(" ")
                ));
            } else {
                for change in &changes {
                    log.line(&format!("  {change}"));
                }
                return Err(format!(
                    "{example}: plan after apply wants changes (log: {})",
                    plan_log.display()
                ));
            }
        }
        _ => {
            log.tail(&plan_log, 20);
            return Err(format!(
                "{example}: plan failed (log: {})",
                plan_log.display()
            ));
        }
    }

    log.log(&format!("{example}: destroy"));
    let t = Instant::now();
    let destroy_log = path("destroy.log");
    if !ran(
        "destroy",
        &with_state("-auto-approve"),
        Output::File(&destroy_log),
    )?
    .success()
    {
        log.tail(&destroy_log, 40);
        return Err(format!(
            "{example}: destroy failed (log: {})",
            destroy_log.display()
        ));
    }
    let destroy_s = secs(t);
    pending.armed = false;
    log.log(&format!("{example}: destroyed in {destroy_s} s"));

    if !check(run, Phase::Destroyed, example, prefix, &outputs, log) {
        return Err(format!("{example}: resources left behind after destroy"));
    }
    let timings = RunLog::new(run.run_dir.join("timings"));
    timings.line(&format!(
        "{example} apply_s={apply_s} destroy_s={destroy_s}"
    ));
    Ok(())
}

/// The checks of `phase`; an unreadable `outputs.json` is one failed check.
fn check(
    run: &Run,
    phase: Phase,
    example: Example,
    prefix: &str,
    outputs: &Result<Outputs, verify::Unexpected>,
    log: &RunLog,
) -> bool {
    match outputs {
        Ok(outputs) => run.runtime.block_on(verify::verify(
            phase,
            example,
            prefix,
            outputs,
            &run.clients,
            &run.region,
            log,
        )),
        Err(e) => {
            log.line(&format!("  FAIL unexpected: {}", kx_events::error_chain(e)));
            false
        }
    }
}
