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

pub mod trail;

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
    /// A plain test message from the settings screen (no code in it).
    TestSmsSent,
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
    /// `demo`, `restcomm` or `twilio`: which gateway the SMS went through.
    /// Left out when absent, so records written before it existed keep
    /// their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_mode: Option<String>,
    /// The OS account signed in to the desk PC, as the OS reports it
    /// (sign-in records); absent as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_account: Option<String>,
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
            gateway_mode: None,
            os_account: None,
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
    /// The existing log could not be read at start; it was left as it is.
    #[error("The audit log {path} cannot be read: {source}. It was left as it is; check that Countersign may read its data folder, or ask IT.")]
    Read { path: PathBuf, source: io::Error },
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

/// The first and last record of a log file, kept beside it so that records
/// cut off either end show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
    /// Where this file's chain starts: 1 and the genesis hash for the first
    /// file, the previous month's last record after a rotation.
    #[serde(default = "first_seq")]
    first_seq: u64,
    #[serde(default = "genesis")]
    first_prev: String,
}

fn first_seq() -> u64 {
    1
}

fn genesis() -> String {
    GENESIS.to_owned()
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
    /// [`verify_chain`] keeps naming it, and [`AuditLog::damage`] says so at
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
/// [`trail::verify_trail`].
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

/// Records matching `filter` across every month of the trail, newest
/// first, at most `limit`. Unreadable lines are skipped here;
/// [`trail::verify_trail`] is where damage is reported.
pub fn query(path: &Path, filter: &Filter, limit: usize) -> io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    for file in trail::files(path)?.iter().rev() {
        let lines = match File::open(file) {
            Ok(f) => BufReader::new(f).split(b'\n'),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut records: Vec<AuditRecord> = lines
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_slice::<AuditRecord>(&l).ok())
            .filter(|r| filter.matches(&r.event))
            .collect();
        records.reverse();
        out.extend(records);
        if out.len() >= limit {
            break;
        }
    }
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

/// Placeholder until the keyed chain lands: where the trail stood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailAnchor {
    pub keyed_from: u64,
    pub last_seq: u64,
    pub last_hash: String,
}
