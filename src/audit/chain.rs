//! One file of the chain: the record and head formats, the hash that links
//! records, and the scan that finds the first broken link.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuditEvent;
use crate::clock::Timestamp;

/// One line of the log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev: String,
    pub hash: String,
}

/// The first and last record of a log file, kept beside it so that records
/// cut off either end show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) hash: String,
    /// Where this file's chain starts: 1 and the genesis hash for the first
    /// file, the previous month's last record after a rotation.
    #[serde(default = "first_seq")]
    pub(super) first_seq: u64,
    #[serde(default = "genesis")]
    pub(super) first_prev: String,
}

fn first_seq() -> u64 {
    1
}

fn genesis() -> String {
    GENESIS.to_owned()
}

pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(super) fn chain_hash(seq: u64, prev: &str, event: &AuditEvent) -> String {
    let body = serde_json::to_vec(event).expect("an audit event always serialises");
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update(prev.as_bytes());
    h.update(&body);
    hex::encode(h.finalize())
}

pub(super) fn head_path(log: &Path) -> PathBuf {
    let mut name = log
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".head");
    log.with_file_name(name)
}

/// The result of checking a log's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainReport {
    Intact { records: u64, last_hash: String },
    Broken { line: u64, reason: String },
}

impl ChainReport {
    /// What "Verify log" tells the operator.
    pub fn describe(&self) -> String {
        match self {
            Self::Intact { records, .. } => format!("Intact — {records} records"),
            Self::Broken { line, reason } => format!("Broken at record {line}: {reason}"),
        }
    }
}

/// What one file holds: where its chain starts and ends, and the first break.
pub(crate) struct FileScan {
    pub(crate) first: (u64, String),
    /// The end of the unbroken part of the chain.
    pub(crate) last: (u64, String),
    /// The last record that parses at all, even after a break: where new
    /// records continue from.
    pub(crate) last_readable: (u64, String),
    pub(crate) first_at: Option<Timestamp>,
    pub(crate) records: u64,
    /// `(seq, reason)` of the first bad record.
    pub(crate) broken: Option<(u64, String)>,
    /// The file ends in the middle of a line (a write cut short).
    pub(crate) ends_mid_line: bool,
}

/// Reads one file of the trail. Its head says where its chain starts (1 and
/// the genesis hash unless the file continues an archived month) and ends.
/// Lines are read as bytes: a damaged (non-UTF-8) line is a broken record to
/// name, not an I/O error.
pub(crate) fn scan_file(path: &Path) -> io::Result<FileScan> {
    let head = match std::fs::read(head_path(path)) {
        Ok(bytes) => Some(serde_json::from_slice::<Head>(&bytes).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let first = match &head {
        Some(Some(h)) => (h.first_seq, h.first_prev.clone()),
        _ => (1, GENESIS.to_owned()),
    };
    let start = (first.0.saturating_sub(1), first.1.clone());
    let mut scan = FileScan {
        last: start.clone(),
        last_readable: start,
        first,
        first_at: None,
        records: 0,
        broken: None,
        ends_mid_line: false,
    };
    if let Some(None) = head {
        scan.broken = Some((scan.first.0, "the head file is damaged".to_owned()));
    }
    let mut reader = match File::open(path) {
        Ok(f) => BufReader::new(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(scan),
        Err(e) => return Err(e),
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        scan.ends_mid_line = line.last() != Some(&b'\n');
        let record =
            serde_json::from_slice::<AuditRecord>(line.strip_suffix(b"\n").unwrap_or(&line)).ok();
        if let Some(r) = &record {
            scan.last_readable = (r.seq, r.hash.clone());
        }
        if scan.broken.is_some() {
            continue;
        }
        let expected = scan.last.0 + 1;
        let reason = match record {
            None => Some("not a readable audit record"),
            Some(r) if r.seq != expected => {
                Some("sequence number out of order (a record was removed or moved)")
            }
            Some(r) if r.prev != scan.last.1 => Some("does not follow the previous record"),
            Some(r) if chain_hash(r.seq, &r.prev, &r.event) != r.hash => {
                Some("contents were altered")
            }
            Some(r) => {
                scan.first_at.get_or_insert(r.event.at);
                scan.last = (r.seq, r.hash);
                scan.records += 1;
                None
            }
        };
        if let Some(reason) = reason {
            scan.broken = Some((expected, reason.to_owned()));
        }
    }
    if let (None, Some(Some(h))) = (&scan.broken, head) {
        if h.seq > scan.last.0 {
            let reason = format!(
                "records {}–{} are missing (the log was cut short)",
                scan.last.0 + 1,
                h.seq
            );
            scan.broken = Some((scan.last.0 + 1, reason));
        } else if h.seq == scan.last.0 && h.hash != scan.last.1 {
            scan.broken = Some((h.seq, "the last record was replaced".to_owned()));
        }
    }
    Ok(scan)
}

/// Checks every link of one file's chain and its head. A missing log is an
/// intact empty one. For the whole trail across months, see
/// [`super::trail::verify_trail`].
pub fn verify_chain(path: &Path) -> io::Result<ChainReport> {
    let scan = scan_file(path)?;
    Ok(match scan.broken {
        Some((line, reason)) => ChainReport::Broken { line, reason },
        None => ChainReport::Intact {
            records: scan.records,
            last_hash: scan.last.1,
        },
    })
}
