//! The audit trail across months. The current log (`audit.jsonl`) is moved
//! aside as `audit-YYYY-MM.jsonl` when the first record of a new month is
//! written, and the new file's chain continues from the old file's last
//! record, so the whole trail is one chain: a month removed from the middle
//! breaks it. Months older than the retention (13 by default) are deleted.

use std::io;
use std::path::{Path, PathBuf};

use super::chain::{head_path, scan_file};
use super::ChainReport;

pub const DEFAULT_RETENTION_MONTHS: u32 = 13;

fn stem(current: &Path) -> String {
    current
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `audit.jsonl` → `audit-2026-11.jsonl` for November 2026.
pub fn archive_path(current: &Path, (year, month): (i32, u32)) -> PathBuf {
    current.with_file_name(format!("{}-{year:04}-{month:02}.jsonl", stem(current)))
}

/// The archived months (oldest first) with their months.
fn archives(current: &Path) -> io::Result<Vec<((i32, u32), PathBuf)>> {
    let dir = current
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let prefix = format!("{}-", stem(current));
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(date) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".jsonl"))
        else {
            continue;
        };
        let mut parts = date.splitn(2, '-');
        let (Some(Ok(y)), Some(Ok(m))) =
            (parts.next().map(str::parse), parts.next().map(str::parse))
        else {
            continue;
        };
        found.push(((y, m), entry.path()));
    }
    found.sort();
    Ok(found)
}

/// Every file of the trail, oldest first, the current one last.
pub fn files(current: &Path) -> io::Result<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = archives(current)?.into_iter().map(|(_, p)| p).collect();
    all.push(current.to_owned());
    Ok(all)
}

/// Deletes archived months that fall outside the `months` most recent,
/// counting `newest` (the month now being written) as one of them.
pub(super) fn delete_older_than(current: &Path, newest: (i32, u32), months: u32) {
    let index = |(y, m): (i32, u32)| i64::from(y) * 12 + i64::from(m);
    if let Ok(list) = archives(current) {
        for (month, path) in list {
            if index(newest) - index(month) >= i64::from(months) {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(error = %e, path = %path.display(), "old audit month not deleted");
                }
                let _ = std::fs::remove_file(head_path(&path));
            }
        }
    }
}

/// Verifies every month and the links between them. The oldest kept month
/// is trusted to start where it says (earlier months were deleted by
/// retention); every later one must continue exactly where the previous
/// one ended.
pub fn verify_trail(current: &Path) -> io::Result<ChainReport> {
    let mut records = 0;
    let mut last: Option<(u64, String)> = None;
    for file in files(current)? {
        let scan = scan_file(&file)?;
        if let Some((line, reason)) = scan.broken {
            return Ok(ChainReport::Broken { line, reason });
        }
        if let Some(prev) = &last {
            if scan.records > 0 && scan.first != (prev.0 + 1, prev.1.clone()) {
                return Ok(ChainReport::Broken {
                    line: scan.first.0,
                    reason: format!(
                        "does not continue from record {} (a month is missing or was replaced)",
                        prev.0
                    ),
                });
            }
        }
        records += scan.records;
        if scan.records > 0 {
            last = Some(scan.last.clone());
        }
    }
    let last_hash = last.map(|l| l.1).unwrap_or_default();
    Ok(ChainReport::Intact { records, last_hash })
}
