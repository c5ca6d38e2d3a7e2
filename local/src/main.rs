//! `kx-events-local`: run the kx-events consumer on one machine, the way Lambda runs it.
//!
//! ```text
//! kx-events-local run --queue-url URL --bootstrap PATH [options]
//! ```
//!
//! Starts the Lambda Runtime API on 127.0.0.1, the `bootstrap` as a child process pointed at it,
//! and the local SQS event-source mapping; logs progress to stderr and prints the counters on
//! stdout when it stops (after `--idle-exit-s`, on Ctrl-C or SIGTERM). See `local/README.md`.

use clap::{CommandFactory, Parser, Subcommand};
use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runner::{Runner, RunnerConfig, StopMode};
use kx_events_local::runtime_api::{RuntimeApi, RuntimeApiConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The command line. `kx-events-local --help` lists every flag of `run` as well.
#[derive(Debug, Parser)]
#[command(
    name = "kx-events-local",
    version,
    about = "kx-events-local: run the kx-events consumer locally (SQS → Lambda Runtime API → bootstrap)",
    flatten_help = true,
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
The function gets this process's environment, Lambda's standard variables
(AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, ...) and then --env-file and --env.
Log level: RUST_LOG (default info).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume an SQS queue with a function, the way Lambda's event-source mapping does.
    #[command(after_help = AFTER_HELP)]
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The SQS queue to consume (endpoint from AWS_ENDPOINT_URL etc.)
    #[arg(long, value_name = "URL")]
    queue_url: String,
    /// The function binary (e.g. target/lambda/consumer/bootstrap)
    #[arg(long, value_name = "PATH")]
    bootstrap: PathBuf,
    /// Records per invocation, 1-10000
    #[arg(long, value_name = "N", default_value_t = 100)]
    batch_size: usize,
    /// Batching window in milliseconds
    #[arg(long = "window-ms", value_name = "MS", default_value_t = 1000)]
    window_ms: u64,
    /// Function timeout in seconds
    #[arg(long = "timeout-s", value_name = "S", default_value_t = 30)]
    timeout_s: u64,
    /// How long the init phase may take, in seconds (raise it under qemu)
    #[arg(long = "init-timeout-s", value_name = "S", default_value_t = 10)]
    init_timeout_s: u64,
    /// Local convenience: failed messages come back after S seconds instead of the queue's
    /// visibility timeout [default: off]
    #[arg(long = "retry-delay-s", value_name = "S")]
    retry_delay_s: Option<u64>,
    /// Stop once the queue has been idle for S seconds [default: run until Ctrl-C / SIGTERM]
    #[arg(long = "idle-exit-s", value_name = "S")]
    idle_exit_s: Option<u64>,
    /// A variable for the function (repeatable; applied after --env-file)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_pair)]
    env: Vec<(String, String)>,
    /// Variables for the function, KEY=VALUE per line (# comments, optional `export ` and
    /// quotes; repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Run the bootstrap under COMMAND, e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu"
    #[arg(long, value_name = "COMMAND")]
    wrapper: Option<String>,
    /// AWS_LAMBDA_FUNCTION_NAME [default: kx-events-consumer]
    #[arg(long, value_name = "NAME")]
    function_name: Option<String>,
    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    #[arg(long = "memory-mb", value_name = "N", default_value_t = 128)]
    memory_mb: u32,
    /// Do not echo the function's output
    #[arg(long)]
    quiet_function: bool,
}

/// `--env KEY=VALUE`: split at the first `=` (the value may contain more).
fn parse_pair(pair: &str) -> Result<(String, String), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("{pair:?}: expected KEY=VALUE"))?;
    Ok((key.to_string(), value.to_string()))
}

impl RunArgs {
    /// The function's variables: every `--env-file` in order, then every `--env`.
    fn function_env(&self) -> Result<Vec<(String, String)>, String> {
        let mut env = Vec::new();
        for path in &self.env_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--env-file {}: {e}", path.display()))?;
            env.extend(parse_env_file(&text).map_err(|e| format!("{}: {e}", path.display()))?);
        }
        env.extend(self.env.iter().cloned());
        Ok(env)
    }
}

/// `KEY=VALUE` lines; blank lines and `#` comments skipped; `export ` and matching quotes
/// stripped.
fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=VALUE", number + 1))?;
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        pairs.push((key.trim().to_string(), value.to_string()));
    }
    Ok(pairs)
}

async fn run(args: RunArgs, env: Vec<(String, String)>) -> Result<(), String> {
    let init_timeout = Duration::from_secs(args.init_timeout_s);
    let window = Duration::from_millis(args.window_ms);
    let mut api_config = RuntimeApiConfig {
        init_timeout,
        ..RuntimeApiConfig::default()
    };
    if let Some(name) = &args.function_name {
        api_config.identity.function_name = name.clone();
    }
    let api = RuntimeApi::start_with(api_config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(runtime_api = %api.host_port(), "Lambda Runtime API listening");

    let mut function_config = FunctionConfig::new(&args.bootstrap);
    function_config.env = env;
    function_config.memory_mb = args.memory_mb;
    if let Some(wrapper) = &args.wrapper {
        function_config = function_config.wrapper(wrapper);
    }
    if !args.quiet_function {
        function_config = function_config.echo("[bootstrap] ");
    }
    let mut function = Function::spawn(&api, function_config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(bootstrap = %args.bootstrap.display(), pid = function.pid(), "function started");
    match function.wait_first_next(init_timeout).await {
        Ok(cold) => tracing::info!(
            ms = cold.as_millis() as u64,
            "runtime ready (spawn → first next)"
        ),
        Err(error) => return Err(format!("the function did not start: {error}")),
    }

    let mut runner_config = RunnerConfig::new(&args.queue_url);
    runner_config.batch_size = args.batch_size;
    runner_config.batching_window = window;
    runner_config.function_timeout = Duration::from_secs(args.timeout_s);
    runner_config.retry_delay = args.retry_delay_s.map(Duration::from_secs);
    runner_config.stop = args.idle_exit_s.map_or(StopMode::Forever, |s| {
        StopMode::WhenIdle(Duration::from_secs(s))
    });
    let runner = Runner::new(runner_config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        queue = %args.queue_url,
        batch_size = args.batch_size,
        window_ms = args.window_ms,
        "polling"
    );

    let stop = runner.stop_handle();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("stopping after the current batch");
        stop.stop();
    });
    let result = runner.run(&mut function).await;
    let _ = function.shutdown().await;
    let stats = result.map_err(|e| e.to_string())?;
    println!("kx-events-local: {stats}");
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // No arguments at all: the help, as a successful answer (as before clap).
    if std::env::args_os().len() <= 1 {
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    }
    // Bad flags: clap's message and usage on stderr, exit status 2.
    let Command::Run(args) = Cli::parse().command;
    let env = match args.function_env() {
        Ok(env) => env,
        Err(message) => Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kx-events-local: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kx-events-local: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<RunArgs, clap::Error> {
        let Command::Run(args) =
            Cli::try_parse_from(std::iter::once("kx-events-local").chain(list.iter().copied()))?
                .command;
        Ok(args)
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_command_line() {
        let a = args(&[
            "run",
            "--queue-url",
            "http://q",
            "--bootstrap",
            "/b",
            "--batch-size=10",
            "--window-ms",
            "0",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--retry-delay-s",
            "2",
            "--idle-exit-s",
            "5",
            "--wrapper",
            "qemu-aarch64 -L /usr/aarch64-linux-gnu",
        ])
        .unwrap();
        assert_eq!(a.queue_url, "http://q");
        assert_eq!(a.batch_size, 10);
        assert_eq!(a.window_ms, 0);
        assert_eq!(a.timeout_s, 30);
        assert_eq!(a.init_timeout_s, 10);
        assert_eq!(a.memory_mb, 128);
        assert_eq!(
            a.function_env().unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(a.retry_delay_s, Some(2));
        assert_eq!(a.idle_exit_s, Some(5));
        assert_eq!(
            a.wrapper.as_deref(),
            Some("qemu-aarch64 -L /usr/aarch64-linux-gnu")
        );
        let missing = args(&["run", "--bootstrap", "/b"]).unwrap_err();
        assert_eq!(
            missing.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(missing.to_string().contains("--queue-url"), "{missing}");
        let unknown = args(&["run", "--nope"]).unwrap_err();
        assert_eq!(unknown.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(unknown.to_string().contains("--nope"), "{unknown}");
        assert_eq!(unknown.exit_code(), 2);
        let bad_number = args(&[
            "run",
            "--queue-url",
            "q",
            "--bootstrap",
            "b",
            "--timeout-s",
            "x",
        ]);
        assert_eq!(
            bad_number.unwrap_err().kind(),
            clap::error::ErrorKind::ValueValidation
        );
        assert!(args(&["run", "--queue-url", "q", "--bootstrap", "b", "--env", "A"]).is_err());
        assert_eq!(
            args(&["--help"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
    }

    #[test]
    fn help_lists_every_flag_with_a_description() {
        let help = Cli::command().render_long_help().to_string();
        for flag in [
            "--queue-url",
            "--bootstrap",
            "--batch-size",
            "--window-ms",
            "--timeout-s",
            "--init-timeout-s",
            "--retry-delay-s",
            "--idle-exit-s",
            "--env ",
            "--env-file",
            "--wrapper",
            "--function-name",
            "--memory-mb",
            "--quiet-function",
        ] {
            assert!(help.contains(flag), "{flag} missing from:\n{help}");
        }
        assert!(help.contains("RUST_LOG"), "{help}");
    }

    #[test]
    fn env_files_come_before_env_flags() {
        let file = std::env::temp_dir().join(format!("kx-local-{}.env", std::process::id()));
        std::fs::write(&file, "A=file\nB=file\n").unwrap();
        let file_arg = file.to_str().unwrap();
        let a = args(&[
            "run",
            "--queue-url",
            "q",
            "--bootstrap",
            "b",
            "--env",
            "A=flag",
            "--env-file",
            file_arg,
        ])
        .unwrap();
        assert_eq!(
            a.function_env().unwrap(),
            vec![
                ("A".into(), "file".into()),
                ("B".into(), "file".into()),
                ("A".into(), "flag".into()),
            ]
        );
        let _ = std::fs::remove_file(&file);
        assert!(a.function_env().unwrap_err().contains("--env-file"));
    }

    #[test]
    fn env_files() {
        let pairs = parse_env_file("# c\n\nexport A=1\nB = \"two words\"\nC='q'\nD=\n").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "q".into()),
                ("D".into(), "".into()),
            ]
        );
        assert!(parse_env_file("nope").is_err());
    }
}
