//! The audit trail: every event of a verification, append-only and
//! tamper-evident (S14).
//!
//! Events carry the masked number and a keyed digest of the number (so a
//! number can be looked up without being stored), never a code, a token or a
//! full number. [`AuditLog`] writes JSON Lines where each record holds the
//! SHA-256 of the previous one (`prev`) and of itself (`hash`); changing,
//! removing, reordering or truncating records breaks the chain, and
//! [`verify_chain`] names the first broken record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Sent,
    NotSent,
    Resent,
    DeliveryStatus,
    CheckFailed,
    Approved,
    Locked,
    Expired,
    Cancelled,
    NumberBlocked,
    StoreQuarantined,
    AppStarted,
    SettingsChanged,
}

/// One audited event. Every field is safe to show to an auditor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub event: EventKind,
    pub operator: Option<String>,
    pub verification: Option<String>,
    pub masked_number: Option<String>,
    pub number_id: Option<String>,
    pub reference: Option<String>,
    pub outcome: Option<String>,
    pub gateway_sid: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(at: Timestamp, event: EventKind) -> Self {
        Self {
            at,
            event,
            operator: None,
            verification: None,
            masked_number: None,
            number_id: None,
            reference: None,
            outcome: None,
            gateway_sid: None,
            detail: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("The audit log {path} cannot be written: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The existing log could not be read at start; it was left as it is.
    #[error("The audit log {path} cannot be read: {source}. It was left as it is; check that Countersign may read its data folder, or ask IT.")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where audit events go. Called after the change it records is durable.
pub trait AuditSink: Send {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError>;
}

/// Keeps events in memory: for tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryAudit {
    pub events: Vec<AuditEvent>,
}

impl AuditSink for MemoryAudit {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError> {
        self.events.push(event);
        Ok(())
    }
}

/// One line of the log file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Line {
    seq: u64,
    time: String,
    #[serde(flatten)]
    event: AuditEvent,
    prev: String,
    hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn chain_hash(seq: u64, prev: &str, event: &AuditEvent) -> String {
    let body = serde_json::to_vec(event).expect("an audit event always serialises");
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update(prev.as_bytes());
    h.update(&body);
    hex::encode(h.finalize())
}

/// The hash-chained JSON Lines log, fsync'ed after every record.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    prev: String,
}

impl AuditLog {
    /// Opens (or creates) the log and continues its chain.
    ///
    /// A damaged log is never rewritten: lines that do not parse are kept as
    /// they are (and [`verify_chain`] names the first of them), the chain
    /// continues from the last readable record, and a last line cut short by
    /// a crash is closed with a newline so that new records stay readable.
    /// A log that cannot be read, or is not a regular file, is an error.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let read = |source| AuditError::Read {
            path: path.to_owned(),
            source,
        };
        let (mut seq, mut prev) = (0, GENESIS.to_owned());
        let mut ends_mid_line = false;
        match fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                // Opening a FIFO would block; a directory cannot be appended to.
                return Err(read(io::Error::other("not a regular file")));
            }
            Ok(_) => {
                let mut reader = BufReader::new(File::open(path).map_err(read)?);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).map_err(read)? == 0 {
                        break;
                    }
                    ends_mid_line = line.last() != Some(&b'\n');
                    if let Ok(l) = serde_json::from_slice::<Line>(&line) {
                        seq = l.seq;
                        prev = l.hash;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read(e)),
        }
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        // Owner-only: the log names operators and masked numbers.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        if ends_mid_line {
            file.write_all(b"\n").map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            seq,
            prev,
        })
    }
}

impl AuditSink for AuditLog {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError> {
        let seq = self.seq + 1;
        let hash = chain_hash(seq, &self.prev, &event);
        let line = Line {
            seq,
            time: event.at.to_rfc3339(),
            event,
            prev: self.prev.clone(),
            hash: hash.clone(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("an audit line always serialises");
        bytes.push(b'\n');
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.seq = seq;
        self.prev = hash;
        Ok(())
    }
}

/// The result of checking a log's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainReport {
    Intact { records: u64 },
    Broken { line: u64, reason: String },
}

pub fn verify_chain(path: &Path) -> std::io::Result<ChainReport> {
    let reader = BufReader::new(File::open(path)?);
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    // Bytes, not `lines()`: a damaged (non-UTF-8) line is a broken record to
    // name, not an I/O error.
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i as u64 + 1;
        let line = line?;
        let broken = |reason: &str| {
            Ok(ChainReport::Broken {
                line: n,
                reason: reason.to_owned(),
            })
        };
        let Ok(l) = serde_json::from_slice::<Line>(&line) else {
            return broken("not a readable audit record");
        };
        if l.seq != n {
            return broken("sequence number out of order (a record was removed or moved)");
        }
        if l.prev != prev {
            return broken("does not follow the previous record");
        }
        if chain_hash(l.seq, &l.prev, &l.event) != l.hash {
            return broken("contents were altered");
        }
        prev = l.hash;
        count = n;
    }
    Ok(ChainReport::Intact { records: count })
}
