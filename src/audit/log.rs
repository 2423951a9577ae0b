//! The log the desk appends to: one record per event, fsync'ed, rotated by
//! month.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::chain::{chain_hash, head_path, scan_file, AuditRecord, ChainReport, Head};
use super::{trail, AuditError, AuditEvent, AuditSink, Station};
use crate::clock::Timestamp;
use crate::persist::atomic_write;

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
}

impl AuditLog {
    /// Opens (or creates) the log and continues its chain.
    ///
    /// A damaged log is never rewritten: the damage stays where it is (so
    /// [`super::verify_chain`] keeps naming it, and [`AuditLog::damage`] says so at
    /// start), the chain continues from the last readable record, and a last
    /// line cut short by a crash is closed with a newline so new records stay
    /// readable. Refusing to open would stop the desk after any power cut
    /// during a write. A log that cannot be read, or is not a regular file,
    /// is an error.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let read = |source| AuditError::Read {
            path: path.to_owned(),
            source,
        };
        match std::fs::metadata(path) {
            // Opening a FIFO would block; a directory cannot be appended to.
            Ok(meta) if !meta.is_file() => {
                return Err(read(io::Error::other("not a regular file")))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read(e)),
        }
        let scan = scan_file(path).map_err(read)?;
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = open_append(path).map_err(io)?;
        if scan.ends_mid_line {
            file.write_all(b"\n").map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let damage = scan.broken.as_ref().map(|(line, reason)| {
            let report = ChainReport::Broken { line: *line, reason: reason.clone() };
            format!("The audit log is damaged: {}. It was kept as it is; new records follow it. Tell IT.", report.describe())
        });
        Ok(Self {
            path: path.to_owned(),
            file,
            seq: scan.last_readable.0,
            prev: scan.last_readable.1,
            first: scan.first,
            month: scan.first_at.map(month_of),
            station: Station::default(),
            retention_months: None,
            damage,
        })
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

    /// Moves the current file aside as `<stem>-YYYY-MM.jsonl` and starts a
    /// new one whose chain continues from the old one's last record.
    fn rotate(&mut self, archive_month: (i32, u32), new_month: (i32, u32)) -> io::Result<()> {
        let archived = trail::archive_path(&self.path, archive_month);
        std::fs::rename(head_path(&self.path), head_path(&archived)).or_else(ignore_missing)?;
        std::fs::rename(&self.path, &archived)?;
        self.file = open_append(&self.path)?;
        self.first = (self.seq + 1, self.prev.clone());
        self.month = None;
        if let Some(months) = self.retention_months {
            trail::delete_older_than(&self.path, new_month, months);
        }
        Ok(())
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    // Owner-only: the log names operators and masked numbers.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
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
        let seq = self.seq + 1;
        let hash = chain_hash(seq, &self.prev, &event);
        let line = AuditRecord {
            seq,
            time: event.at.to_rfc3339(),
            event,
            prev: self.prev.clone(),
            hash: hash.clone(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("an audit line always serialises");
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        let head = Head {
            seq,
            hash: hash.clone(),
            first_seq: self.first.0,
            first_prev: self.first.1.clone(),
        };
        let head = serde_json::to_vec(&head).expect("a head always serialises");
        atomic_write(&head_path(&self.path), &head).map_err(io(&self.path))?;
        self.seq = seq;
        self.prev = hash;
        self.month.get_or_insert(month);
        Ok(())
    }
}
