//! The audit trail across months. The current log (`audit.jsonl`) is moved
//! aside as `audit-YYYY-MM.jsonl` when the first record of a new month is
//! written, and the new file's chain continues from the old file's last
//! record, so the whole trail is one chain: a month removed from the middle
//! breaks it. Months older than the retention (13 by default) are deleted.
//!
//! The files alone cannot show everything an editor might do: whoever
//! deletes the newest records and rewrites the head, or deletes the current
//! log and its head, leaves a trail that is consistent as far as it goes.
//! So the desk keeps a [`TrailAnchor`] (the last record's place and hash,
//! and where the keyed chain starts) somewhere deleting files does not
//! reach, and [`verify_trail_keyed`] holds the trail to it (S22).

use crate::i18n::Text;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chain::{head_path, scan_file, Check, Head, HeadFile};
use super::key::AuditKey;
use super::ChainReport;

pub const DEFAULT_RETENTION_MONTHS: u32 = 13;

/// The current log's name in a data folder; the archived months sit beside
/// it (`audit-YYYY-MM.jsonl`).
pub const AUDIT_FILE: &str = "audit.jsonl";

/// A desk's whole trail, every kept month, as one value: what the screens
/// verify and search, so no caller joins the file names itself. Reads only;
/// [`super::AuditLog`] is the writer (and hands out its own trail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trail {
    current: PathBuf,
}

impl Trail {
    /// The trail whose current log is `current`.
    pub fn at(current: impl Into<PathBuf>) -> Self {
        Self {
            current: current.into(),
        }
    }

    /// The trail a desk keeps in its data folder.
    pub fn in_folder(data_dir: &Path) -> Self {
        Self::at(data_dir.join(AUDIT_FILE))
    }

    /// The current log (the month being written), for what needs the file
    /// itself: the writer, the pending store's check, branch forwarding.
    pub fn current(&self) -> &Path {
        &self.current
    }

    /// Every file of the trail, oldest first, the current one last.
    pub fn files(&self) -> io::Result<Vec<PathBuf>> {
        files(&self.current)
    }

    /// Verifies every kept month with the audit key, held to the desk's
    /// anchor when given ([`verify_trail_keyed`]).
    pub fn verify(&self, key: &AuditKey, anchor: Option<&TrailAnchor>) -> io::Result<TrailReport> {
        verify_trail_keyed(&self.current, key, anchor)
    }
}

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
        let scan = scan_file(&file, &mut Check::plain(), None)?;
        if let Some((line, reason)) = scan.broken {
            return Ok(ChainReport::Broken { line, reason });
        }
        if let Some(prev) = &last {
            if scan.records > 0 && scan.first != (prev.0.saturating_add(1), prev.1.clone()) {
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

/// What the desk keeps of its trail where deleting or rewriting the data
/// folder does not reach (the shell seals it into the credential store):
/// enough to tell a trail cut short, replaced or downgraded to the unkeyed
/// form. Holds hashes, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailAnchor {
    /// The first record hashed with the audit key.
    pub keyed_from: u64,
    /// The last record written (0 before the first).
    pub last_seq: u64,
    pub last_hash: String,
}

/// Where a trail breaks: the file (its name only) and the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailBreak {
    pub file: String,
    pub seq: u64,
    pub reason: String,
}

/// The result of [`verify_trail_keyed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrailReport {
    /// Files of the trail read (archived months and the current log).
    pub months: u64,
    /// Records verified, up to the break if there is one.
    pub records: u64,
    /// Of `records`, those written before the chain was keyed.
    pub unkeyed: u64,
    pub broken: Option<TrailBreak>,
}

impl TrailReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    /// What "Verify log" and the command-line verifier say: file names,
    /// record numbers and counts, never a hash or a key.
    /// The verdict for staff, in any language.
    pub fn text(&self) -> Text {
        if let Some(b) = &self.broken {
            return Text::new("audit.broken")
                .arg("file", b.file.to_string())
                .arg("seq", b.seq)
                .arg("reason", b.reason.to_string());
        }
        let legacy = match self.unkeyed {
            0 => Text::new("empty"),
            n => Text::new("audit.before_keyed").arg("count", n),
        };
        Text::new("audit.intact")
            .arg(
                "months",
                Text::new("audit.months").count("count", self.months),
            )
            .arg(
                "records",
                Text::new("audit.records").count("count", self.records),
            )
            .arg("legacy", legacy)
    }

    /// English, for IT's command-line tools.
    pub fn describe(&self) -> String {
        if let Some(b) = &self.broken {
            return format!("Broken in {} at record {}: {}", b.file, b.seq, b.reason);
        }
        let months = match self.months {
            1 => "1 month".to_owned(),
            n => format!("{} months", grouped(n)),
        };
        let records = match self.records {
            1 => "1 record".to_owned(),
            n => format!("{} records", grouped(n)),
        };
        let legacy = match self.unkeyed {
            0 => String::new(),
            n => format!(" ({} before the chain was keyed)", grouped(n)),
        };
        format!("Intact — {months}, {records} checked{legacy}")
    }
}

/// 1234567 → "1,234,567".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The head of the newest archived month, if any: where the current log
/// should start when its own head is gone.
pub(super) fn newest_archive_head(current: &Path) -> io::Result<Option<Head>> {
    match archives(current)?.last() {
        Some((_, path)) => Ok(HeadFile::read(path)?.head().cloned()),
        None => Ok(None),
    }
}

/// Verifies every kept month, the links between them and the current log
/// with the audit key, and holds the whole to the desk's anchor when given
/// (S22). Without an anchor, records cut from the newest end together with
/// their head cannot be told from a trail that ends there.
///
/// The chain is keyed from the anchor's `keyed_from`, else from the lowest
/// any head names, else from the first keyed record found: from there on an
/// unkeyed record is a rewrite, since the desk never goes back to that form.
pub fn verify_trail_keyed(
    current: &Path,
    key: &AuditKey,
    anchor: Option<&TrailAnchor>,
) -> io::Result<TrailReport> {
    let files = files(current)?;
    let keyed_from = match anchor {
        Some(a) => Some(a.keyed_from),
        None => {
            let mut lowest: Option<u64> = None;
            for file in &files {
                if let Some(k) = HeadFile::read(file)?.head().and_then(|h| h.keyed_from) {
                    lowest = Some(lowest.map_or(k, |l| l.min(k)));
                }
            }
            lowest
        }
    };
    let mut check = Check::keyed(key, keyed_from, anchor);
    let mut report = TrailReport::default();
    // The end of the verified chain so far.
    let mut last: Option<(u64, String)> = None;
    let broken = |mut report: TrailReport, file: &Path, seq: u64, reason: String| {
        report.broken = Some(TrailBreak {
            file: file_name(file),
            seq,
            reason,
        });
        Ok(report)
    };
    for (i, file) in files.iter().enumerate() {
        let is_current = i + 1 == files.len();
        let fallback = last
            .as_ref()
            .map(|(seq, hash)| (seq.saturating_add(1), hash.clone()));
        let scan = scan_file(file, &mut check, fallback)?;
        if scan.exists {
            report.months += 1;
        }
        if let Some((seq, reason)) = scan.broken {
            return broken(report, file, seq, reason);
        }
        let next = last.as_ref().map_or(1, |l| l.0.saturating_add(1));
        if is_current && !scan.exists && scan.head.is_none() {
            // After a rotation the current log always gets a record, so
            // archives without it, or an anchor past them, mean it was lost.
            if let Some(upto) = anchor.map(|a| a.last_seq).filter(|s| *s >= next) {
                let reason = format!("the log file is missing (records {next}–{upto} are gone)");
                return broken(report, file, next, reason);
            }
            if last.is_some() {
                let reason = "the log file is missing".to_owned();
                return broken(report, file, next, reason);
            }
        }
        if let Some(prev) = &last {
            if scan.records > 0 && scan.first != (prev.0.saturating_add(1), prev.1.clone()) {
                let reason = format!(
                    "does not continue from record {} (a month is missing or was replaced)",
                    prev.0
                );
                return broken(report, file, scan.first.0, reason);
            }
        }
        report.records += scan.records;
        report.unkeyed += scan.unkeyed;
        if scan.records > 0 {
            last = Some(scan.last);
        }
    }
    if let Some(a) = anchor {
        let end = last.as_ref().map_or(0, |l| l.0);
        if a.last_seq > end {
            let reason = format!(
                "records {}–{} are missing (the trail ends before the desk's sealed record of its last record)",
                end.saturating_add(1),
                a.last_seq
            );
            return broken(report, current, end.saturating_add(1), reason);
        }
        if !check.anchor_found {
            // The anchor's record is older than every kept record: the
            // months it was in were replaced by others.
            let first = files.first().map(PathBuf::as_path).unwrap_or(current);
            let reason = format!(
                "the trail does not contain record {}, the desk's sealed record of its end",
                a.last_seq
            );
            return broken(report, first, a.last_seq, reason);
        }
    }
    Ok(report)
}
