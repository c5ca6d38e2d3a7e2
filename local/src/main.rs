//! `kx-events-local`: run the kx-events consumer on one machine, the way Lambda runs it.
//!
//! ```text
//! kx-events-local run --queue-url URL --bootstrap PATH [options]
//! ```
//!
//! Starts the Lambda Runtime API on 127.0.0.1, the `bootstrap` as a child process pointed at it,
//! and the local SQS event-source mapping; logs progress to stderr and prints the counters on
//! stdout when it stops (after `--idle-exit-s`, on Ctrl-C or SIGTERM). See `local/README.md`.

use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runner::{Runner, RunnerConfig, StopMode};
use kx_events_local::runtime_api::{RuntimeApi, RuntimeApiConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
kx-events-local: run the kx-events consumer locally (SQS → Lambda Runtime API → bootstrap)

USAGE:
    kx-events-local run --queue-url URL --bootstrap PATH [OPTIONS]

OPTIONS:
    --queue-url URL          the SQS queue to consume (endpoint from AWS_ENDPOINT_URL etc.)
    --bootstrap PATH         the function binary (e.g. target/lambda/consumer/bootstrap)
    --batch-size N           records per invocation, 1-10000 (default 100)
    --window-ms MS           batching window (default 1000)
    --timeout-s S            function timeout (default 30)
    --init-timeout-s S       how long the init phase may take (default 10; raise it under qemu)
    --retry-delay-s S        local convenience: failed messages come back after S seconds
                             instead of the queue's visibility timeout (default: off)
    --idle-exit-s S          stop once the queue has been idle for S seconds (default: run
                             until Ctrl-C / SIGTERM)
    --env KEY=VALUE          a variable for the function (repeatable)
    --env-file FILE          variables for the function, KEY=VALUE per line (# comments,
                             optional `export ` and quotes)
    --wrapper COMMAND        run the bootstrap under COMMAND, e.g.
                             \"qemu-aarch64-static -L /usr/aarch64-linux-gnu\"
    --function-name NAME     AWS_LAMBDA_FUNCTION_NAME (default kx-events-consumer)
    --memory-mb N            AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
    --quiet-function         do not echo the function's output
    -h, --help               this text

The function gets this process's environment, Lambda's standard variables
(AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, ...) and then --env-file and --env.
Log level: RUST_LOG (default info).";

#[derive(Debug)]
struct Args {
    queue_url: String,
    bootstrap: PathBuf,
    batch_size: usize,
    window: Duration,
    timeout: Duration,
    init_timeout: Duration,
    retry_delay: Option<Duration>,
    idle_exit: Option<Duration>,
    env: Vec<(String, String)>,
    wrapper: Option<String>,
    function_name: Option<String>,
    memory_mb: u32,
    quiet_function: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    match args.next().as_deref() {
        Some("run") => {}
        Some("-h" | "--help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut queue_url = None;
    let mut bootstrap = None;
    let mut parsed = Args {
        queue_url: String::new(),
        bootstrap: PathBuf::new(),
        batch_size: 100,
        window: Duration::from_millis(1000),
        timeout: Duration::from_secs(30),
        init_timeout: Duration::from_secs(10),
        retry_delay: None,
        idle_exit: None,
        env: Vec::new(),
        wrapper: None,
        function_name: None,
        memory_mb: 128,
        quiet_function: false,
    };
    let mut file_env = Vec::new();
    let mut flag_env = Vec::new();
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, text: String| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("{name}: {text:?} is not a whole number"))
        };
        match flag.as_str() {
            "--queue-url" => queue_url = Some(value("--queue-url")?),
            "--bootstrap" => bootstrap = Some(PathBuf::from(value("--bootstrap")?)),
            "--batch-size" => {
                parsed.batch_size = number("--batch-size", value("--batch-size")?)? as usize
            }
            "--window-ms" => {
                parsed.window = Duration::from_millis(number("--window-ms", value("--window-ms")?)?)
            }
            "--timeout-s" => {
                parsed.timeout = Duration::from_secs(number("--timeout-s", value("--timeout-s")?)?)
            }
            "--init-timeout-s" => {
                parsed.init_timeout =
                    Duration::from_secs(number("--init-timeout-s", value("--init-timeout-s")?)?)
            }
            "--retry-delay-s" => {
                parsed.retry_delay = Some(Duration::from_secs(number(
                    "--retry-delay-s",
                    value("--retry-delay-s")?,
                )?))
            }
            "--idle-exit-s" => {
                parsed.idle_exit = Some(Duration::from_secs(number(
                    "--idle-exit-s",
                    value("--idle-exit-s")?,
                )?))
            }
            "--env" => {
                let pair = value("--env")?;
                let (key, val) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--env {pair:?}: expected KEY=VALUE"))?;
                flag_env.push((key.to_string(), val.to_string()));
            }
            "--env-file" => {
                let path = value("--env-file")?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--env-file {path}: {e}"))?;
                file_env.extend(parse_env_file(&text).map_err(|e| format!("{path}: {e}"))?);
            }
            "--wrapper" => parsed.wrapper = Some(value("--wrapper")?),
            "--function-name" => parsed.function_name = Some(value("--function-name")?),
            "--memory-mb" => {
                parsed.memory_mb = number("--memory-mb", value("--memory-mb")?)? as u32
            }
            "--quiet-function" => parsed.quiet_function = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    parsed.queue_url = queue_url.ok_or("--queue-url is required")?;
    parsed.bootstrap = bootstrap.ok_or("--bootstrap is required")?;
    parsed.env = file_env.into_iter().chain(flag_env).collect();
    Ok(parsed)
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

async fn run(args: Args) -> Result<(), String> {
    let mut api_config = RuntimeApiConfig {
        init_timeout: args.init_timeout,
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
    function_config.env = args.env.clone();
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
    match function.wait_first_next(args.init_timeout).await {
        Ok(cold) => tracing::info!(
            ms = cold.as_millis() as u64,
            "runtime ready (spawn → first next)"
        ),
        Err(error) => return Err(format!("the function did not start: {error}")),
    }

    let mut runner_config = RunnerConfig::new(&args.queue_url);
    runner_config.batch_size = args.batch_size;
    runner_config.batching_window = args.window;
    runner_config.function_timeout = args.timeout;
    runner_config.retry_delay = args.retry_delay;
    runner_config.stop = args.idle_exit.map_or(StopMode::Forever, StopMode::WhenIdle);
    let runner = Runner::new(runner_config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        queue = %args.queue_url,
        batch_size = args.batch_size,
        window_ms = args.window.as_millis() as u64,
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
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("kx-events-local: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
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
    match runtime.block_on(run(args)) {
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

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()))
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
        assert_eq!(a.window, Duration::ZERO);
        assert_eq!(
            a.env,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(a.retry_delay, Some(Duration::from_secs(2)));
        assert_eq!(a.idle_exit, Some(Duration::from_secs(5)));
        assert_eq!(
            a.wrapper.as_deref(),
            Some("qemu-aarch64 -L /usr/aarch64-linux-gnu")
        );
        assert!(args(&["run", "--bootstrap", "/b"])
            .unwrap_err()
            .contains("--queue-url"));
        assert!(args(&["run", "--nope"]).unwrap_err().contains("--nope"));
        assert_eq!(args(&["--help"]).unwrap_err(), "");
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
