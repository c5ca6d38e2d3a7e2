//! Figure 4: size of the arm64 Lambda zip that `make package` (`scripts/package.sh`,
//! `cargo lambda build --release --arm64 --output-format zip`) leaves at
//! `target/lambda/bootstrap/bootstrap.zip`.

use crate::db::{BenchResult, Context};
use crate::report::{section, Row};
use crate::stats::megabytes;
use std::path::Path;

/// Target of the issue: at most 2.5 MB.
pub const TARGET_BYTES: u64 = 2_500_000;

/// Reads the zip (and the unpacked `bootstrap` beside it, if there) and returns the rows.
/// `how` says whether `make package` ran in this run or an earlier one.
pub fn run(zip: &Path, how: &str) -> BenchResult<Vec<Row>> {
    section(
        4,
        "size of the arm64 zip",
        &format!(
            "{} from `make package` ({how}); MB = 10^6 bytes.",
            zip.display()
        ),
    );
    let bytes = std::fs::metadata(zip)
        .context(format!("{} (run `make package` first)", zip.display()))?
        .len();
    let modified = std::fs::metadata(zip)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|age| format!(", built {} min ago", age.as_secs() / 60))
        .unwrap_or_default();
    let unpacked = zip
        .parent()
        .map(|d| d.join("bootstrap"))
        .and_then(|b| std::fs::metadata(b).ok())
        .map(|m| format!(", bootstrap {} unpacked", megabytes(m.len())))
        .unwrap_or_default();
    println!(
        "   zip {} ({bytes} bytes){unpacked}{modified}",
        megabytes(bytes)
    );
    Ok(vec![Row::target(
        4,
        "arm64 zip (make package)",
        format!("{}{unpacked}", megabytes(bytes)),
        "≤ 2.5 MB",
        bytes <= TARGET_BYTES,
    )])
}
