//! Figure 1's table: the median rate of every method per batch size and case, the ratios with
//! their targets, the sequential scans seen.

use super::{Case, Key, Samples, StoreSettings, BARE, COPY, PER_MESSAGE, REAL};
use crate::report::Row;
use crate::stats::{thousands, Summary};
use std::collections::BTreeMap;

pub(crate) fn summarise(samples: &BTreeMap<Key, Samples>, settings: &StoreSettings) -> Vec<Row> {
    println!();
    println!(
        "   {:<6} {:<14} {:<26} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "batch", "case", "method", "min ev/s", "median", "max", "seqscan", "idxscan"
    );
    for ((batch, case, name), s) in samples {
        if let Some(sum) = Summary::of(&s.rates) {
            let (seq, idx) = (s.seq_scans, s.idx_scans);
            println!(
                "   {:<6} {:<14} {:<26} {:>10} {:>10} {:>10} {:>8} {:>8}",
                batch,
                case.label(),
                name,
                thousands(sum.min),
                thousands(sum.median),
                thousands(sum.max),
                seq,
                idx
            );
        }
    }
    let median = |batch: usize, case: Case, name: &str| {
        samples
            .iter()
            .find(|((b, c, n), _)| *b == batch && *c == case && *n == name)
            .and_then(|(_, s)| Summary::of(&s.rates))
    };
    let mut rows = Vec::new();
    for &(batch, _) in &settings.batches {
        for case in [Case::AllNew, Case::AllDuplicate] {
            let rates: Vec<String> = [
                (REAL, "real"),
                (PER_MESSAGE, "per-message"),
                (COPY, "COPY"),
                (BARE, "bare unnest"),
            ]
            .iter()
            .filter_map(|(name, short)| {
                median(batch, case, name).map(|s| format!("{short} {}", thousands(s.median)))
            })
            .collect();
            if !rates.is_empty() {
                rows.push(Row::info(
                    1,
                    format!("store, batch {batch}, {}: ev/s (median)", case.label()),
                    rates.join(" · "),
                ));
            }
            let real = median(batch, case, REAL);
            if let (Some(r), Some(p)) = (real, median(batch, case, PER_MESSAGE)) {
                let ratio = r.median / p.median;
                let what = format!("store, batch {batch}, {}: real / per-message", case.label());
                // What the table itself allows at this batch size: COPY / per-message.
                let limit = median(batch, case, COPY)
                    .map(|c| format!(" (COPY: {:.1}×)", c.median / p.median))
                    .unwrap_or_default();
                let measured = format!("{ratio:.1}×{limit}");
                rows.push(if batch == 10 && case == Case::AllNew {
                    Row::target(1, what, measured, "≥ 5×", ratio >= 5.0)
                } else {
                    Row::info(1, what, measured)
                });
            }
            if let (Some(r), Some(c)) = (real, median(batch, case, COPY)) {
                let ratio = r.median / c.median;
                let what = format!("store, batch {batch}, {}: real / COPY", case.label());
                let measured = format!("{:.0}%", ratio * 100.0);
                rows.push(if case == Case::AllNew {
                    Row::target(1, what, measured, "≥ 95%", ratio >= 0.95)
                } else {
                    Row::info(1, what, measured)
                });
            }
        }
    }
    println!(
        "   seqscan/idxscan: pg_stat_user_tables deltas of table events over each method's timed runs, all\n   \
         rounds (the harness's own statements run with enable_seqscan off and report before each run)."
    );
    let seq = |name: &str| -> i64 {
        samples
            .iter()
            .filter(|((_, _, n), _)| *n == name)
            .map(|(_, s)| s.seq_scans)
            .sum()
    };
    rows.push(Row::info(
        1,
        "store: seq scans of events in timed runs (real / per-message / COPY / bare)",
        format!(
            "{} / {} / {} / {}",
            seq(REAL),
            seq(PER_MESSAGE),
            seq(COPY),
            seq(BARE)
        ),
    ));
    rows
}
