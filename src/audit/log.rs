//! The log the desk appends to: one record per event, fsync'ed, rotated by
//! month, its chain keyed from the hand-over on (S22).
//!
//! [`AuditLog::open_keyed`] is the desk's way in. It holds the current file
//! to the desk's [`TrailAnchor`]: a log gone, cut short, rewritten or put
//! back into the unkeyed form shows as damage with its place. Damage is
//! never repaired: the file is kept as it is and new records continue from
//! the anchor when the file falls short of it, so the gap stays in the file
//! for every later check to see. A log whose records are all unkeyed (written
//! before S22) is handed over: the next record is the first keyed one, and an
//! `audit_chain_keyed` event says from which record on.
//!
//! [`AuditLog::open`] is the form from before S22 (plain SHA-256, no
//! anchor), kept until the shell moves to the keyed one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::chain::{
    chain_hash, head_path, keyed_hash, scan_file, AuditRecord, ChainForm, ChainReport, Check,
    FileScan, Head, HeadFile,
};
use super::key::AuditKey;
use super::trail::{self, TrailAnchor};
use super::{AuditError, AuditEvent, AuditSink, Station};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::persist::atomic_write;

/// Called with the new anchor after every record is durable.
pub type AnchorSink = Box<dyn FnMut(&TrailAnchor) -> io::Result<()> + Send>;

/// The hash-chained JSON Lines log, fsync'ed after every record, rotated
/// by month (see [`trail`]).
pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    prev: String,
    /// Where the current file's chain starts.
    first: (u64, String),
    /// The UTC month of the current file's first record.
    month: Option<(i32, u32)>,
    station: Station,
    retention_months: Option<u32>,
    damage: Option<String>,
    /// The audit key and the first record it keys; `None` for [`AuditLog::open`].
    keying: Option<(AuditKey, u64)>,
    anchor_sink: Option<AnchorSink>,
}

impl AuditLog {
    /// Opens (or creates) the log and continues its plain SHA-256 chain: the
    /// API from before S22, which the shell still calls.
    ///
    /// A damaged log is never rewritten: the damage stays where it is (so
    /// [`super::verify_chain`] keeps naming it, and [`AuditLog::damage`] says so at
    /// start), the chain continues from the last readable record, and a last
    /// line cut short by a crash is closed with a newline so new records stay
    /// readable. Refusing to open would stop the desk after any power cut
    /// during a write. A log that cannot be read, or is not a regular file,
    /// is an error.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let read = read_error(path);
        refuse_irregular(path)?;
        let scan = scan_file(path, &mut Check::plain(), None).map_err(read)?;
        let damage = scan.broken.as_ref().map(damage_text);
        let next = scan.last_readable.clone();
        Self::resume(path, scan, next, damage, None)
    }

    /// Opens (or creates) the log with its chain keyed (S22), holding it to
    /// the desk's `anchor`.
    ///
    /// What [`AuditLog::damage`] then reports, besides what [`AuditLog::open`]
    /// does: the log or its head missing, records cut from the end or
    /// replaced (against the anchor), records at or after `keyed_from` that
    /// are unkeyed or whose MAC fails. Without an anchor, a log that already
    /// has keyed records gets one rebuilt from it, and the damage says so:
    /// records cut before this start cannot be ruled out. A log with no
    /// keyed records is handed over (see the module docs).
    ///
    /// Store [`AuditLog::anchor`] after opening: the hand-over record is
    /// written before a sink can be attached.
    pub fn open_keyed(
        path: &Path,
        key: AuditKey,
        anchor: Option<TrailAnchor>,
    ) -> Result<Self, AuditError> {
        let read = read_error(path);
        refuse_irregular(path)?;
        let own_head = HeadFile::read(path).map_err(read)?;
        let archive_head = trail::newest_archive_head(path).map_err(read)?;
        // Where this file's chain should start if its head is gone: right
        // after the newest archived month.
        let fallback = archive_head
            .as_ref()
            .map(|h| (h.seq.saturating_add(1), h.hash.clone()));
        let keyed_from = match &anchor {
            Some(a) => Some(a.keyed_from),
            None => own_head
                .head()
                .or(archive_head.as_ref())
                .and_then(|h| h.keyed_from),
        };
        let mut check = Check::keyed(&key, keyed_from, anchor.as_ref());
        let scan = scan_file(path, &mut check, fallback).map_err(read)?;
        let mut damage = scan.broken.as_ref().map(damage_text);
        // New records continue from the furthest record anything vouches
        // for (the file, its head, the anchor), so records found missing
        // stay missing in the file for every later check, instead of being
        // numbered again and forgotten.
        let mut next = scan.last_readable.clone();
        if let Some(h) = scan.head.as_ref().filter(|h| h.seq > next.0) {
            next = (h.seq, h.hash.clone());
        }
        let keyed_from = match &anchor {
            Some(a) => {
                if a.last_seq > next.0 {
                    // Cut short, or gone, head and all: the records the
                    // anchor knows of are not all here.
                    if damage.is_none() {
                        let reason = if scan.exists {
                            format!(
                                "records {}–{} are missing (the log ends before the desk's sealed record of its last record)",
                                next.0.saturating_add(1),
                                a.last_seq
                            )
                        } else {
                            format!(
                                "the log file is missing (records {}–{} are gone)",
                                next.0.saturating_add(1),
                                a.last_seq
                            )
                        };
                        damage = Some(damage_text(&(next.0.saturating_add(1), reason)));
                    }
                    next = (a.last_seq, a.last_hash.clone());
                } else if a.last_seq == next.0 && a.last_hash != next.1 {
                    // The scan has already named this (a break before it,
                    // or the rewritten record itself); the next record
                    // links to what the desk sealed, not to the stand-in.
                    next = (a.last_seq, a.last_hash.clone());
                }
                a.keyed_from
            }
            None => match check.keyed_from {
                Some(k) => {
                    let missing = "The desk's sealed record of the audit trail was missing; \
                        it was rebuilt from the log, so records cut from the log's end before \
                        this start cannot be ruled out. Tell IT.";
                    damage = Some(match damage {
                        Some(d) => format!("{d} {missing}"),
                        None => missing.to_owned(),
                    });
                    k
                }
                // Nothing keyed yet: the hand-over (or a new log).
                None => next.0.saturating_add(1),
            },
        };
        let handover = anchor.is_none() && check.keyed_from.is_none() && next.0 > 0;
        let mut log = Self::resume(path, scan, next, damage, Some((key, keyed_from)))?;
        if handover {
            log.record(AuditEvent::chain_keyed(SystemClock.now(), keyed_from))?;
        }
        Ok(log)
    }

    /// The log after a scan: closes a line cut short by a crash, and carries
    /// on from `next` (the last record to continue from).
    fn resume(
        path: &Path,
        scan: FileScan,
        next: (u64, String),
        damage: Option<String>,
        keying: Option<(AuditKey, u64)>,
    ) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = crate::persist::open_append_owner_only(path).map_err(io)?;
        if scan.ends_mid_line {
            file.write_all(b"\n").map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            seq: next.0,
            prev: next.1,
            first: scan.first,
            month: scan.first_at.map(month_of),
            station: Station::default(),
            retention_months: None,
            damage,
            keying,
            anchor_sink: None,
        })
    }

    /// What the desk keeps of the trail where deleting files does not
    /// reach. For a log opened with [`AuditLog::open`] nothing is keyed, and
    /// `keyed_from` is `u64::MAX`.
    pub fn anchor(&self) -> TrailAnchor {
        TrailAnchor {
            keyed_from: self.keying.as_ref().map_or(u64::MAX, |k| k.1),
            last_seq: self.seq,
            last_hash: self.prev.clone(),
        }
    }

    /// Calls `sink` with the new anchor after every record, once the record
    /// and its head are on disk. Its error is the record's error
    /// ([`AuditError::Io`]); the record itself stays written.
    pub fn with_anchor_sink(mut self, sink: AnchorSink) -> Self {
        self.anchor_sink = Some(sink);
        self
    }

    /// What was wrong with the log when it was opened, for the operator.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Stamps every following record with this branch and workstation.
    pub fn with_station(mut self, station: Station) -> Self {
        self.station = station;
        self
    }

    /// Changes the stamp for what follows (IT renamed the branch, say).
    pub fn set_station(&mut self, station: Station) {
        self.station = station;
    }

    /// Deletes archived months older than this many months at each rotation.
    pub fn with_retention(mut self, months: u32) -> Self {
        self.retention_months = Some(months);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The trail this log writes, to read and verify it as a whole.
    pub fn trail(&self) -> trail::Trail {
        trail::Trail::at(&self.path)
    }

    /// Moves the current file aside as `<stem>-YYYY-MM.jsonl` and starts a
    /// new one whose chain continues from the old one's last record.
    fn rotate(&mut self, archive_month: (i32, u32), new_month: (i32, u32)) -> io::Result<()> {
        let archived = trail::archive_path(&self.path, archive_month);
        std::fs::rename(head_path(&self.path), head_path(&archived)).or_else(ignore_missing)?;
        std::fs::rename(&self.path, &archived)?;
        self.file = crate::persist::open_append_owner_only(&self.path)?;
        self.first = (self.seq.saturating_add(1), self.prev.clone());
        self.month = None;
        if let Some(months) = self.retention_months {
            trail::delete_older_than(&self.path, new_month, months);
        }
        Ok(())
    }
}

fn read_error(path: &Path) -> impl Fn(io::Error) -> AuditError + Copy + '_ {
    move |source| AuditError::Read {
        path: path.to_owned(),
        source,
    }
}

/// Opening a FIFO would block; a directory cannot be appended to.
fn refuse_irregular(path: &Path) -> Result<(), AuditError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            Err(read_error(path)(io::Error::other("not a regular file")))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(read_error(path)(e)),
    }
}

/// What [`AuditLog::damage`] says about the first break found at open.
fn damage_text((line, reason): &(u64, String)) -> String {
    let report = ChainReport::Broken {
        line: *line,
        reason: reason.clone(),
    };
    format!(
        "The audit log is damaged: {}. It was kept as it is; new records follow it. Tell IT.",
        report.describe()
    )
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

fn month_of(t: Timestamp) -> (i32, u32) {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map(|d| (d.year(), d.month()))
        .unwrap_or((1970, 1))
}

impl AuditSink for AuditLog {
    fn record(&mut self, mut event: AuditEvent) -> Result<(), AuditError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AuditError::Io { path, source }
        };
        let month = month_of(event.at);
        if let Some(current) = self.month {
            if month > current {
                self.rotate(current, month).map_err(io(&self.path))?;
            }
        }
        event.branch = Some(self.station.branch.clone()).filter(|b| !b.is_empty());
        event.workstation = Some(self.station.workstation.clone()).filter(|w| !w.is_empty());
        let seq = self.seq.saturating_add(1);
        let (hash, chain) = match &self.keying {
            Some((key, from)) if seq >= *from => (
                keyed_hash(key, seq, &self.prev, &event),
                Some(ChainForm::HmacSha256),
            ),
            _ => (chain_hash(seq, &self.prev, &event), None),
        };
        let line = AuditRecord {
            seq,
            time: event.at.to_rfc3339(),
            event,
            prev: self.prev.clone(),
            hash: hash.clone(),
            chain,
        };
        let mut bytes = serde_json::to_vec(&line).expect("an audit line always serialises");
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        // The record is durable: the chain goes on from it even if the head
        // or the anchor below cannot be written, or the next record would
        // reuse its number.
        self.seq = seq;
        self.prev = hash;
        self.month.get_or_insert(month);
        let head = Head {
            seq,
            hash: self.prev.clone(),
            first_seq: self.first.0,
            first_prev: self.first.1.clone(),
            keyed_from: self.keying.as_ref().map(|k| k.1),
        };
        let head = serde_json::to_vec(&head).expect("a head always serialises");
        atomic_write(&head_path(&self.path), &head).map_err(io(&self.path))?;
        let anchor = self.anchor();
        if let Some(sink) = self.anchor_sink.as_mut() {
            sink(&anchor).map_err(io(&self.path))?;
        }
        Ok(())
    }
}
