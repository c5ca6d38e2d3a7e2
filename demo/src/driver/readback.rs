//! The story and its read-back, run as child processes so each keeps its own environment and
//! output: `kx-events-demo produce` (with the producer's environment), `kx-events-demo report`
//! (its summary kept in `report.txt`), and the `kx` CLI on the database.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use super::terraform::Outputs;
use super::{io_error, Demo, Error};

/// The directory of this binary, where cargo put `bootstrap`, `kx-events-local` and `kx` too.
pub(super) fn bin_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(io_error("locating kx-events-demo"))?;
    Ok(exe.parent().map(PathBuf::from).unwrap_or_default())
}

/// Runs `cmd`, handing each line of its stdout (and of its stderr when `merge_stderr`; otherwise
/// stderr goes to ours) to `each` as it comes.
fn stream(
    mut cmd: Command,
    merge_stderr: bool,
    each: &mut dyn FnMut(&str),
) -> std::io::Result<ExitStatus> {
    let (reader, writer) = std::io::pipe()?;
    if merge_stderr {
        cmd.stderr(writer.try_clone()?);
    }
    cmd.stdin(Stdio::null()).stdout(writer);
    let mut child = cmd.spawn()?;
    // The command holds the pipe's write ends: drop them, so reading ends with the child.
    drop(cmd);
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        each(line.trim_end_matches(['\n', '\r']));
    }
    child.wait()
}

fn demo_command(subcommand: &str) -> Result<Command, Error> {
    let mut cmd = Command::new(bin_dir()?.join("kx-events-demo"));
    cmd.arg(subcommand);
    Ok(cmd)
}

/// `kx-events-demo produce` with the producer's environment (`producer.env`), its lines
/// indented.
pub(super) fn produce(demo: &Demo) -> Result<(), Error> {
    let mut cmd = demo_command("produce")?;
    cmd.arg("--manifest").arg(demo.file("manifest.json"));
    let env = std::fs::read_to_string(demo.file("producer.env"))
        .map_err(io_error("reading producer.env"))?;
    for (k, v) in env.lines().filter_map(|l| l.split_once('=')) {
        cmd.env(k, v);
    }
    // The consumer is the outbox that puts events on the bus; the producer's direct (real-time)
    // put is left off so that the demo shows that path. KX_DEMO_REALTIME=1 keeps it.
    if std::env::var("KX_DEMO_REALTIME").as_deref() != Ok("1") {
        cmd.env_remove("EVENT_BUS_NAME");
    }
    let status = stream(cmd, false, &mut |line| println!("    {line}"))
        .map_err(io_error("running kx-events-demo produce"))?;
    if !status.success() {
        return Err(Error::Child {
            program: "kx-events-demo produce".into(),
            status,
        });
    }
    Ok(())
}

/// `kx-events-demo report` on the run's queues and database, its output also written to
/// `report.txt`; returns whether it found every event accounted for.
pub(super) fn report(demo: &Demo, outputs: &Outputs, database_url: &str) -> Result<bool, Error> {
    let timeout = std::env::var("KX_DEMO_TIMEOUT_S")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "120".into());
    let mut cmd = demo_command("report")?;
    cmd.arg("--manifest")
        .arg(demo.file("manifest.json"))
        .args(["--database-url", database_url])
        .args(["--subscriber-queue-url", &outputs.subscriber_queue_url])
        .args(["--dead-letter-queue-url", &outputs.dead_letter_queue_url])
        .args(["--events-queue-url", &outputs.queue_url])
        .arg("--runner-log")
        .arg(demo.file("runner.log"))
        .args(["--timeout-s", &timeout]);
    let path = demo.file("report.txt");
    let mut file =
        std::fs::File::create(&path).map_err(io_error(format!("writing {}", path.display())))?;
    let status = stream(cmd, false, &mut |line| {
        println!("{line}");
        let _ = writeln!(file, "{line}");
    })
    .map_err(io_error("running kx-events-demo report"))?;
    Ok(status.success())
}

/// The first root of a chain of events (an event without a parent that has a child).
const CHAIN_ROOT: &str = "SELECT p.event_id::text FROM events p WHERE p.previous_event_id IS NULL
    AND EXISTS (SELECT 1 FROM events c WHERE c.previous_event_id = p.event_id)
    ORDER BY p.occurred_at LIMIT 1";

/// `kx events --limit 5`, `kx chain ROOT`, `kx analytics` on the demo's database, their lines
/// indented; returns false (after `kx failed`) when one fails.
pub(super) fn kx_cli(database_url: &str) -> Result<bool, Error> {
    let mut client =
        postgres::Client::connect(database_url, postgres::NoTls).map_err(|source| {
            Error::Database {
                what: format!("connecting to {}", crate::observe::redact(database_url)),
                source,
            }
        })?;
    let root_id: Option<String> = client
        .query_opt(CHAIN_ROOT, &[])
        .map_err(|source| Error::Database {
            what: "finding the root of a chain".into(),
            source,
        })?
        .map(|row| row.get(0));
    let kx = bin_dir()?.join("kx");
    let mut commands: Vec<Vec<String>> = vec![vec!["events".into(), "--limit".into(), "5".into()]];
    if let Some(id) = root_id {
        commands.push(vec!["chain".into(), id]);
    }
    commands.push(vec!["analytics".into()]);
    for args in commands {
        println!("    $ kx {}", args.join(" "));
        let mut cmd = Command::new(&kx);
        cmd.args(&args).env("KX_DATABASE_URL", database_url);
        let status = stream(cmd, true, &mut |line| println!("    {line}"));
        if !status.is_ok_and(|s| s.success()) {
            println!("    kx failed");
            return Ok(false);
        }
    }
    Ok(true)
}

/// The report's verdict: its last line starting `ACCOUNTED` or `NOT ACCOUNTED`.
pub fn verdict(report: &str) -> Option<&str> {
    report
        .lines()
        .rfind(|l| l.starts_with("ACCOUNTED") || l.starts_with("NOT ACCOUNTED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_the_last_accounting_line() {
        let report = "SENT 9\nPROBLEM x\nNOT ACCOUNTED: 1 lost\nACCOUNTED every event\ntrailer\n";
        assert_eq!(verdict(report), Some("ACCOUNTED every event"));
        assert_eq!(verdict("SENT 9\n"), None);
    }

    #[test]
    fn stream_hands_over_stdout_and_stderr_lines() {
        let mut lines = Vec::new();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; exit 3"]);
        let status = stream(cmd, true, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(lines, ["one", "two"]);
    }
}
