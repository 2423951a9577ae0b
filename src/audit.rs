//! The audit trail: every event of a verification, append-only and
//! tamper-evident (S14; PCI DSS v4.0 10.2.2).
//!
//! Events carry the operator, the branch and workstation, the masked number
//! and a keyed digest of the number (so a number can be looked up without
//! being stored), never a code, a token or a full number. [`AuditLog`]
//! writes JSON Lines where each record holds the SHA-256 of the previous one
//! (`prev`) and of itself (`hash`), fsync'ed before `record` returns. A small
//! `<log>.head` file, replaced atomically after every record, names the last
//! record, so cutting records off the end is detected too: changing,
//! removing, reordering or truncating records breaks the chain, and
//! [`verify_chain`] names the first broken record.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::persist::atomic_write;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    AppStopped,
    SettingsChanged,
    OperatorSignedIn,
    OperatorLocked,
}

/// One audited event. Every field is safe to show to an auditor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub event: EventKind,
    pub operator: Option<String>,
    pub staff_id: Option<String>,
    /// Stamped by the sink: where the desk stands.
    pub branch: Option<String>,
    pub workstation: Option<String>,
    pub verification: Option<String>,
    pub masked_number: Option<String>,
    pub number_id: Option<String>,
    pub reference: Option<String>,
    pub outcome: Option<String>,
    pub gateway_sid: Option<String>,
    pub delivery: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(at: Timestamp, event: EventKind) -> Self {
        Self {
            at,
            event,
            operator: None,
            staff_id: None,
            branch: None,
            workstation: None,
            verification: None,
            masked_number: None,
            number_id: None,
            reference: None,
            outcome: None,
            gateway_sid: None,
            delivery: None,
            detail: None,
        }
    }

    /// The event's name as written in the log (`check_failed`).
    pub fn name(&self) -> String {
        serde_json::to_value(self.event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("The audit log {path} cannot be written: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("The audit log {path} is damaged at line {line} ({reason}); it was left as it is. Ask IT to keep it as evidence and move it aside.")]
    Damaged {
        path: PathBuf,
        line: u64,
        reason: String,
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

/// Where this desk stands; stamped on every record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub branch: String,
    pub workstation: String,
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
}

/// The last record, kept beside the log so truncation shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
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

fn head_path(log: &Path) -> PathBuf {
    let mut name = log
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".head");
    log.with_file_name(name)
}

/// The hash-chained JSON Lines log, fsync'ed after every record.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    prev: String,
    station: Station,
}

impl AuditLog {
    /// Opens (or creates) the log and continues its chain. A log whose chain
    /// does not verify is refused, untouched: appending to it would bury the
    /// evidence under valid-looking records.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let (seq, prev) = match verify_chain(path) {
            Ok(ChainReport::Intact { records, last_hash }) => (records, last_hash),
            Ok(ChainReport::Broken { line, reason }) => {
                return Err(AuditError::Damaged {
                    path: path.to_owned(),
                    line,
                    reason,
                })
            }
            Err(e) => return Err(io(e)),
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        // Owner-only: the log names operators and masked numbers.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            seq,
            prev,
            station: Station::default(),
        })
    }

    /// Stamps every following record with this branch and workstation.
    pub fn with_station(mut self, station: Station) -> Self {
        self.station = station;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditSink for AuditLog {
    fn record(&mut self, mut event: AuditEvent) -> Result<(), AuditError> {
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
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        let head = serde_json::to_vec(&Head {
            seq,
            hash: hash.clone(),
        })
        .expect("a head always serialises");
        atomic_write(&head_path(&self.path), &head).map_err(io)?;
        self.seq = seq;
        self.prev = hash;
        Ok(())
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

/// Checks every link of the chain and the head. A missing log is an intact
/// empty one.
pub fn verify_chain(path: &Path) -> io::Result<ChainReport> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(ChainReport::Intact {
                records: 0,
                last_hash: GENESIS.to_owned(),
            })
        }
        Err(e) => return Err(e),
    };
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let n = i as u64 + 1;
        let line = line?;
        let broken = |reason: &str| {
            Ok(ChainReport::Broken {
                line: n,
                reason: reason.to_owned(),
            })
        };
        let Ok(record) = serde_json::from_slice::<AuditRecord>(&line) else {
            return broken("not a readable audit record");
        };
        if record.seq != n {
            return broken("sequence number out of order (a record was removed or moved)");
        }
        if record.prev != prev {
            return broken("does not follow the previous record");
        }
        if chain_hash(record.seq, &record.prev, &record.event) != record.hash {
            return broken("contents were altered");
        }
        prev = record.hash;
        count = n;
    }
    if let Ok(bytes) = std::fs::read(head_path(path)) {
        match serde_json::from_slice::<Head>(&bytes) {
            Ok(head) if head.seq > count => {
                return Ok(ChainReport::Broken {
                    line: count + 1,
                    reason: format!(
                        "records {}–{} are missing (the log was cut short)",
                        count + 1,
                        head.seq
                    ),
                })
            }
            Ok(head) if head.seq == count && head.hash != prev => {
                return Ok(ChainReport::Broken {
                    line: count,
                    reason: "the last record was replaced".to_owned(),
                })
            }
            Ok(_) => {}
            Err(_) => {
                return Ok(ChainReport::Broken {
                    line: count,
                    reason: "the head file is damaged".to_owned(),
                })
            }
        }
    }
    Ok(ChainReport::Intact {
        records: count,
        last_hash: prev,
    })
}

/// What the activity screen may ask for. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub operator: Option<String>,
    pub outcome: Option<String>,
    pub number_id: Option<String>,
}

impl Filter {
    fn matches(&self, e: &AuditEvent) -> bool {
        self.from.is_none_or(|f| e.at >= f)
            && self.to.is_none_or(|t| e.at <= t)
            && self.operator.as_ref().is_none_or(|o| {
                e.operator
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(o))
            })
            && self
                .outcome
                .as_ref()
                .is_none_or(|o| e.outcome.as_deref() == Some(o.as_str()))
            && self
                .number_id
                .as_ref()
                .is_none_or(|n| e.number_id.as_deref() == Some(n.as_str()))
    }
}

/// Records matching `filter`, newest first, at most `limit`. Unreadable
/// lines are skipped here; [`verify_chain`] is where damage is reported.
pub fn query(path: &Path, filter: &Filter, limit: usize) -> io::Result<Vec<AuditRecord>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<AuditRecord> = BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_slice::<AuditRecord>(&l).ok())
        .filter(|r| filter.matches(&r.event))
        .collect();
    out.reverse();
    out.truncate(limit);
    Ok(out)
}

/// The records as CSV for export, with a header row. Fields are quoted so a
/// reference with a comma or a leading `=` (spreadsheet formula) stays text.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut out = String::from(
        "seq,time,event,operator,staff_id,branch,workstation,verification,masked_number,number_id,reference,outcome,gateway_sid,delivery,detail,hash\n",
    );
    for r in records {
        let e = &r.event;
        let fields = [
            Some(r.seq.to_string()),
            Some(r.time.clone()),
            Some(e.name()),
            e.operator.clone(),
            e.staff_id.clone(),
            e.branch.clone(),
            e.workstation.clone(),
            e.verification.clone(),
            e.masked_number.clone(),
            e.number_id.clone(),
            e.reference.clone(),
            e.outcome.clone(),
            e.gateway_sid.clone(),
            e.delivery.clone(),
            e.detail.clone(),
            Some(r.hash.clone()),
        ];
        let row: Vec<String> = fields
            .iter()
            .map(|f| csv_field(f.as_deref().unwrap_or("")))
            .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}
