//! Figure 5: `track!` on the handler's path, from the producer's own criterion bench
//! (`client/benches/track.rs`, run by `scripts/bench.sh` with `cargo bench`): the median time per
//! call from criterion's `estimates.json` of each benchmark, and the figures the bench prints
//! itself (allocations per call, SQS requests per 1,000 events).

use crate::db::{BenchResult, Context};
use crate::report::{section, Row};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One criterion benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The benchmark id (its folder under `target/criterion`, e.g. `track/enqueue`).
    pub id: String,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
}

/// Reads every `*/new/estimates.json` under `criterion_dir` written after `since`.
pub fn estimates(criterion_dir: &Path, since: SystemTime) -> BenchResult<Vec<Estimate>> {
    let mut found = Vec::new();
    walk(criterion_dir, &mut |path| {
        if !path.ends_with("new/estimates.json") {
            return;
        }
        let fresh = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if !fresh {
            return;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let Some(median_ns) = json["median"]["point_estimate"].as_f64() else {
            return;
        };
        let id = path
            .parent()
            .and_then(Path::parent)
            .and_then(|p| p.strip_prefix(criterion_dir).ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        found.push(Estimate { id, median_ns });
    });
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        if path.is_dir() {
            walk(&path, visit);
        } else {
            visit(&path);
        }
    }
}

/// Formats nanoseconds as ns/µs/ms.
pub fn duration_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// The figures the bench prints itself besides criterion's times (allocations per call, SQS
/// requests per 1,000 events), as `(label, value)` pairs. Recognised lines: `kx-bench: <label>:
/// <value>`, and any `<label>: <number…>` line whose label mentions allocations or requests.
pub fn reported_figures(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|line| {
            let line = line.trim();
            let tagged = line.strip_prefix("kx-bench:");
            let rest = tagged.unwrap_or(line);
            let (label, value) = rest.rsplit_once(':')?;
            let (label, value) = (label.trim(), value.trim());
            let lower = label.to_lowercase();
            let relevant = tagged.is_some()
                || ((lower.contains("alloc") || lower.contains("request"))
                    && value.starts_with(|c: char| c.is_ascii_digit()));
            relevant.then(|| (label.to_string(), value.to_string()))
        })
        .collect()
}

/// Runs figure 5 from the output of `cargo bench` (`log`) and criterion's folder.
pub fn run(
    log_path: &Path,
    criterion_dir: &Path,
    since: SystemTime,
    build: &str,
) -> BenchResult<Vec<Row>> {
    section(
        5,
        "track! on the handler's path (criterion, client/benches/track.rs)",
        &format!(
            "cargo bench -p kx-events --bench track ({build}); median per call from criterion's\n\
             {}/<bench>/new/estimates.json; allocations and SQS requests as the bench reports them.\n\
             Full log: {}",
            criterion_dir.display(),
            log_path.display()
        ),
    );
    let log =
        std::fs::read_to_string(log_path).context(format!("reading {}", log_path.display()))?;
    let mut rows = Vec::new();
    let estimates = estimates(criterion_dir, since)?;
    if estimates.is_empty() {
        return Err(format!(
            "no criterion results under {} from this run",
            criterion_dir.display()
        ));
    }
    for e in &estimates {
        println!("   {:<40} median {}", e.id, duration_ns(e.median_ns));
        let what = format!("{}: median per call ({build})", e.id);
        rows.push(Row::target(
            5,
            what,
            duration_ns(e.median_ns),
            "a few µs (≤ 3 µs)",
            e.median_ns <= 3_000.0,
        ));
    }
    for (label, value) in reported_figures(&log) {
        println!("   {label}: {value}");
        let lower = label.to_lowercase();
        let row = if lower.contains("sqs") && (lower.contains("1000") || lower.contains("1,000")) {
            let met = value
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .is_some_and(|n| n <= 100.0);
            Row::target(5, label, value, "≤ 100", met)
        } else {
            Row::info(5, label, value)
        };
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reported_figures() {
        let log = "noise\ntrack/enqueue  time: [1.0 µs 1.1 µs 1.2 µs]\nkx-bench: allocations per track! call: 3\n  SQS requests per 1,000 events: 100\n";
        assert_eq!(
            reported_figures(log),
            vec![
                ("allocations per track! call".to_string(), "3".to_string()),
                (
                    "SQS requests per 1,000 events".to_string(),
                    "100".to_string()
                )
            ]
        );
    }
}
