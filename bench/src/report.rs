//! The figures' results: one row per measured quantity, printed as one table at the end and
//! written as JSON for the README.

use std::fmt::Write as _;

/// How a measured value compares with its target. Informational only: `make bench` never fails
/// on a time or a size, only when a benchmark itself cannot run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// The target is met.
    Pass,
    /// The target is missed.
    Miss,
    /// No target for this row (a reference figure).
    Info,
    /// The benchmark failed; the text says why.
    Error(String),
}

impl Verdict {
    /// `Pass` when `met`, else `Miss`.
    pub fn check(met: bool) -> Verdict {
        if met {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }

    fn label(&self) -> &str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "-",
            Verdict::Error(_) => "ERROR",
        }
    }
}

/// One line of the final table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// Figure number (1–8).
    pub figure: u8,
    /// What was measured, e.g. `store, batch 10, all new: real store / per-message`.
    pub what: String,
    /// The measured value, formatted with its unit.
    pub measured: String,
    /// The target, if the issue sets one for this row.
    pub target: String,
    /// Comparison with the target.
    pub verdict: Verdict,
}

impl Row {
    /// A row without a target.
    pub fn info(figure: u8, what: impl Into<String>, measured: impl Into<String>) -> Row {
        Row {
            figure,
            what: what.into(),
            measured: measured.into(),
            target: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// A row with a target and whether it was met.
    pub fn target(
        figure: u8,
        what: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) -> Row {
        Row {
            figure,
            what: what.into(),
            measured: measured.into(),
            target: target.into(),
            verdict: Verdict::check(met),
        }
    }

    /// A row for a benchmark that failed.
    pub fn error(figure: u8, what: impl Into<String>, error: impl Into<String>) -> Row {
        let error = error.into();
        Row {
            figure,
            what: what.into(),
            measured: "—".into(),
            target: String::new(),
            verdict: Verdict::Error(error),
        }
    }
}

/// The machine's state, for the record: cores and 1/5/15-minute load averages. Absolute times
/// drift with what else runs here; ratios within one run are what to compare.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores, load average {load}")
}

/// Prints a section header for a figure: its title and how it is measured.
pub fn section(figure: u8, title: &str, method: &str) {
    println!();
    println!("== Figure {figure}: {title}   [{}]", machine());
    for line in method.lines() {
        println!("   {line}");
    }
}

/// Renders rows as an aligned plain-text table (also valid Markdown). With `rough` (quick mode,
/// or a build that is not the release one), verdicts are shown in parentheses: the run only
/// shows that the benchmarks work.
pub fn table(rows: &[Row], rough: bool) -> String {
    let header = ["fig", "what", "measured", "target", "verdict"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.to_string(),
                r.what.clone(),
                r.measured.clone(),
                r.target.clone(),
                match (&r.verdict, rough) {
                    (Verdict::Pass | Verdict::Miss, true) => format!("({})", r.verdict.label()),
                    _ => r.verdict.label().to_string(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cols: &[String]| {
        out.push('|');
        for (c, w) in cols.iter().zip(widths) {
            let pad = w - c.chars().count();
            let _ = write!(out, " {c}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(&mut out, row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            Row::target(4, "zip size", "2.41 MB", "≤ 2.5 MB", true),
            Row::info(1, "COPY, batch 1000", "33,800 ev/s"),
            Row::error(3, "cold start", "boom"),
        ];
        let t = table(&rows, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{t}");
        assert!(t.contains("| PASS"));
        assert!(t.contains("| ERROR"));
    }
}
