//! One file of the chain: the record and head formats, the two hashes that
//! link records, and the scan that finds the first broken link.
//!
//! Records written before the chain was keyed carry the plain SHA-256 of
//! their framing (`seq` big-endian, `prev`, the event's JSON). From
//! `keyed_from` on, the same framing is MAC'd with the [`AuditKey`]
//! (HMAC-SHA256) and the record says so (`"chain": "hmac-sha256"`), so old
//! records read and verify unchanged. The marker is not what makes a record
//! trusted: stripping it and recomputing a plain hash is exactly the rewrite
//! S22 is about, so at or after `keyed_from` a record without a valid MAC is
//! broken, whatever it claims.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::AuditKey;
use super::trail::TrailAnchor;
use super::AuditEvent;
use crate::clock::Timestamp;

/// How a record's `hash` was made, when not the plain SHA-256 of before S22.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainForm {
    /// HMAC-SHA256 under the [`AuditKey`].
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

/// One line of the log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev: String,
    pub hash: String,
    /// `None` for a record written before the chain was keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainForm>,
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
    /// The trail's first keyed record; absent in heads written before S22.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) keyed_from: Option<u64>,
}

fn first_seq() -> u64 {
    1
}

fn genesis() -> String {
    GENESIS.to_owned()
}

pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Feeds the bytes both hashes cover, so the two forms cannot drift apart.
fn frame(seq: u64, prev: &str, event: &AuditEvent, mut feed: impl FnMut(&[u8])) {
    let body = serde_json::to_vec(event).expect("an audit event always serialises");
    feed(&seq.to_be_bytes());
    feed(prev.as_bytes());
    feed(&body);
}

/// The plain SHA-256 of records written before the chain was keyed.
pub(super) fn chain_hash(seq: u64, prev: &str, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    frame(seq, prev, event, |b| h.update(b));
    hex::encode(h.finalize())
}

/// The HMAC-SHA256 of a keyed record.
pub(super) fn keyed_hash(key: &AuditKey, seq: u64, prev: &str, event: &AuditEvent) -> String {
    let mut mac = key.mac();
    frame(seq, prev, event, |b| mac.update(b));
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a keyed record's MAC is right, compared in constant time.
fn keyed_hash_ok(key: &AuditKey, r: &AuditRecord) -> bool {
    let Ok(tag) = hex::decode(&r.hash) else {
        return false;
    };
    let mut mac = key.mac();
    frame(r.seq, &r.prev, &r.event, |b| mac.update(b));
    mac.verify_slice(&tag).is_ok()
}

pub(super) fn head_path(log: &Path) -> PathBuf {
    let mut name = log
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".head");
    log.with_file_name(name)
}

/// A log's head file: missing, unreadable as a head, or read.
pub(super) enum HeadFile {
    Missing,
    Damaged,
    Found(Head),
}

impl HeadFile {
    pub(super) fn read(log: &Path) -> io::Result<Self> {
        match std::fs::read(head_path(log)) {
            Ok(bytes) => Ok(serde_json::from_slice::<Head>(&bytes)
                .map(Self::Found)
                .unwrap_or(Self::Damaged)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::Missing),
            Err(e) => Err(e),
        }
    }

    pub(super) fn head(&self) -> Option<&Head> {
        match self {
            Self::Found(h) => Some(h),
            _ => None,
        }
    }
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

/// How a scan judges each record. One value is carried across all the files
/// of a trail, because what it learns in one month (that the chain is keyed
/// from some record on) holds for every later one.
pub(super) struct Check<'a> {
    /// `None`: the SHA-256-only check of the API from before S22.
    key: Option<&'a AuditKey>,
    /// Every record from here on must be keyed. Given by the caller (the
    /// anchor, else the heads) and lowered to the first keyed record seen:
    /// once the chain is keyed it never goes back.
    pub(super) keyed_from: Option<u64>,
    anchor: Option<&'a TrailAnchor>,
    /// The anchor's record (or the link just after it) was found as sealed.
    pub(super) anchor_found: bool,
}

impl<'a> Check<'a> {
    pub(super) fn plain() -> Self {
        Self {
            key: None,
            keyed_from: None,
            anchor: None,
            anchor_found: false,
        }
    }

    pub(super) fn keyed(
        key: &'a AuditKey,
        keyed_from: Option<u64>,
        anchor: Option<&'a TrailAnchor>,
    ) -> Self {
        Self {
            key: Some(key),
            keyed_from,
            anchor,
            anchor_found: anchor.is_some_and(|a| a.last_seq == 0),
        }
    }

    fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// Judges one record whose place in the chain (seq, prev) is already
    /// checked. `Ok(true)` for a keyed record, `Ok(false)` for a legacy one.
    fn record(&mut self, r: &AuditRecord) -> Result<bool, String> {
        let Some(key) = self.key else {
            return match r.chain {
                Some(_) => Err("a keyed record: verify it with the audit key".to_owned()),
                None if chain_hash(r.seq, &r.prev, &r.event) == r.hash => Ok(false),
                None => Err("contents were altered".to_owned()),
            };
        };
        let keyed = match r.chain {
            Some(ChainForm::HmacSha256) => {
                if !keyed_hash_ok(key, r) {
                    return Err("contents were altered".to_owned());
                }
                self.keyed_from = Some(self.keyed_from.map_or(r.seq, |k| k.min(r.seq)));
                true
            }
            None => {
                if let Some(from) = self.keyed_from.filter(|from| r.seq >= *from) {
                    return Err(format!(
                        "not keyed, though the chain is keyed from record {from} on (rewritten in the unkeyed form)"
                    ));
                }
                if chain_hash(r.seq, &r.prev, &r.event) != r.hash {
                    return Err("contents were altered".to_owned());
                }
                false
            }
        };
        if let Some(a) = self.anchor.filter(|a| a.last_seq == r.seq) {
            if a.last_hash != r.hash {
                return Err("differs from the desk's sealed record of it (rewritten)".to_owned());
            }
            self.anchor_found = true;
        }
        Ok(keyed)
    }

    /// Judges where a file says its chain starts against the anchor, when the
    /// anchor's record is the one just before it (in an earlier month).
    fn start(&mut self, first: &(u64, String)) -> Result<(), String> {
        if let Some(a) = self
            .anchor
            .filter(|a| a.last_seq.checked_add(1) == Some(first.0))
        {
            if a.last_hash != first.1 {
                return Err(format!(
                    "does not continue from record {}, the desk's sealed record of it (records were replaced)",
                    a.last_seq
                ));
            }
            self.anchor_found = true;
        }
        Ok(())
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
    /// Of `records`, those in the unkeyed form of before S22.
    pub(crate) unkeyed: u64,
    /// `(seq, reason)` of the first bad record.
    pub(crate) broken: Option<(u64, String)>,
    /// The file ends in the middle of a line (a write cut short).
    pub(crate) ends_mid_line: bool,
    /// The log file itself exists.
    pub(crate) exists: bool,
    pub(super) head: Option<Head>,
}

/// Reads one file of the trail. Its head says where its chain starts (1 and
/// the genesis hash unless the file continues an archived month) and ends;
/// without a head, `fallback_start` is taken (the previous month's end) when
/// given. Lines are read as bytes: a damaged (non-UTF-8) line is a broken
/// record to name, not an I/O error.
///
/// A keyed check also reports what only an editor (or a lost file) does: a
/// log gone from beside its head, a head gone from beside its log, and
/// anything that disagrees with the anchor.
pub(super) fn scan_file(
    path: &Path,
    check: &mut Check<'_>,
    fallback_start: Option<(u64, String)>,
) -> io::Result<FileScan> {
    let head = HeadFile::read(path)?;
    let first = match &head {
        HeadFile::Found(h) => (h.first_seq, h.first_prev.clone()),
        _ => fallback_start.unwrap_or_else(|| (1, GENESIS.to_owned())),
    };
    let start = (first.0.saturating_sub(1), first.1.clone());
    let mut scan = FileScan {
        last: start.clone(),
        last_readable: start,
        first,
        first_at: None,
        records: 0,
        unkeyed: 0,
        broken: None,
        ends_mid_line: false,
        exists: true,
        head: head.head().cloned(),
    };
    if let HeadFile::Damaged = head {
        scan.broken = Some((scan.first.0, "the head file is damaged".to_owned()));
    }
    if check.is_keyed() && scan.broken.is_none() {
        if let Err(reason) = check.start(&scan.first) {
            scan.broken = Some((scan.first.0, reason));
        }
    }
    let mut reader = match File::open(path) {
        Ok(f) => BufReader::new(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            scan.exists = false;
            if let (true, None, HeadFile::Found(h)) = (check.is_keyed(), &scan.broken, &head) {
                let reason = format!(
                    "the log file is missing, though its head names records {}–{}",
                    h.first_seq, h.seq
                );
                scan.broken = Some((h.first_seq, reason));
            }
            return Ok(scan);
        }
        Err(e) => return Err(e),
    };
    let mut lines = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lines += 1;
        scan.ends_mid_line = line.last() != Some(&b'\n');
        let record =
            serde_json::from_slice::<AuditRecord>(line.strip_suffix(b"\n").unwrap_or(&line)).ok();
        if let Some(r) = &record {
            scan.last_readable = (r.seq, r.hash.clone());
        }
        if scan.broken.is_some() {
            continue;
        }
        // Saturating: a hostile file may claim any number; a verifier must
        // report it, not overflow.
        let expected = scan.last.0.saturating_add(1);
        let reason = match record {
            None => Some("not a readable audit record".to_owned()),
            Some(r) if r.seq != expected => {
                Some("sequence number out of order (a record was removed or moved)".to_owned())
            }
            Some(r) if r.prev != scan.last.1 => {
                Some("does not follow the previous record".to_owned())
            }
            Some(r) => match check.record(&r) {
                Err(reason) => Some(reason),
                Ok(keyed) => {
                    scan.first_at.get_or_insert(r.event.at);
                    scan.last = (r.seq, r.hash);
                    scan.records += 1;
                    scan.unkeyed += u64::from(!keyed);
                    None
                }
            },
        };
        if let Some(reason) = reason {
            scan.broken = Some((expected, reason));
        }
    }
    // Without its head, cutting records off this file's end cannot be told
    // from its end, so a lost head is reported. One line and no head is
    // what a crash between a file's first record and its first head leaves.
    if let (true, None, HeadFile::Missing) = (check.is_keyed(), &scan.broken, &head) {
        if lines > 1 {
            let reason = "the head file beside the log is missing".to_owned();
            scan.broken = Some((scan.first.0, reason));
        }
    }
    if let (None, HeadFile::Found(h)) = (&scan.broken, head) {
        if h.seq > scan.last.0 {
            let reason = format!(
                "records {}–{} are missing (the log was cut short)",
                scan.last.0.saturating_add(1),
                h.seq
            );
            scan.broken = Some((scan.last.0.saturating_add(1), reason));
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
    let scan = scan_file(path, &mut Check::plain(), None)?;
    Ok(match scan.broken {
        Some((line, reason)) => ChainReport::Broken { line, reason },
        None => ChainReport::Intact {
            records: scan.records,
            last_hash: scan.last.1,
        },
    })
}
