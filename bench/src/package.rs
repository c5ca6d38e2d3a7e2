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
    let bytes_read = std::fs::read(zip).context(format!("reading {}", zip.display()))?;
    let entries = zip_entries(&bytes_read)?;
    if !entries.iter().any(|(name, _)| name == "bootstrap") {
        return Err(format!(
            "{} has no `bootstrap` entry: {entries:?}",
            zip.display()
        ));
    }
    let unpacked: u64 = entries.iter().map(|(_, size)| size).sum();
    let unpacked = format!(", {} unpacked", megabytes(unpacked));
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

/// The entries of a zip archive (name, uncompressed size), from its central directory.
pub fn zip_entries(zip: &[u8]) -> BenchResult<Vec<(String, u64)>> {
    let u16_at = |at: usize| -> BenchResult<usize> {
        zip.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| "truncated zip".to_string())
    };
    let u32_at = |at: usize| -> BenchResult<u64> {
        zip.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
            .ok_or_else(|| "truncated zip".to_string())
    };
    // End of central directory: signature PK\x05\x06, within the last 64 KiB + 22 bytes.
    let eocd = (0..zip.len().saturating_sub(21))
        .rev()
        .take(65_557)
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
        .ok_or("not a zip file (no end of central directory)")?;
    let count = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if !zip.get(at..).is_some_and(|r| r.starts_with(b"PK\x01\x02")) {
            return Err("corrupt zip central directory".into());
        }
        let size = u32_at(at + 24)?;
        let (name_len, extra_len, comment_len) =
            (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or("truncated zip")?;
        entries.push((name, size));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A central directory of one entry and its end record (no file data: the reader skips it).
    fn archive(name: &str, size: u32) -> Vec<u8> {
        let mut zip = b"local file data".to_vec();
        let offset = zip.len() as u32;
        let mut entry = vec![0u8; 46];
        entry[..4].copy_from_slice(b"PK\x01\x02");
        entry[24..28].copy_from_slice(&size.to_le_bytes());
        entry[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
        entry.extend_from_slice(name.as_bytes());
        let length = entry.len() as u32;
        zip.extend_from_slice(&entry);
        let mut end = vec![0u8; 22];
        end[..4].copy_from_slice(b"PK\x05\x06");
        end[10..12].copy_from_slice(&1u16.to_le_bytes());
        end[12..16].copy_from_slice(&length.to_le_bytes());
        end[16..20].copy_from_slice(&offset.to_le_bytes());
        zip.extend_from_slice(&end);
        zip
    }

    #[test]
    fn reads_the_central_directory() {
        let entries = zip_entries(&archive("bootstrap", 6_109_168)).unwrap();
        assert_eq!(entries, vec![("bootstrap".to_string(), 6_109_168)]);
        assert!(zip_entries(b"not a zip").is_err());
    }
}
