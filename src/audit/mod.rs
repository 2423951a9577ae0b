//! The audit trail: every event of a verification, append-only and
//! tamper-evident (S14, S22; PCI DSS v4.0 10.2.2).
//!
//! Events carry the operator, the branch and workstation, the masked number
//! and a keyed digest of the number (so a number can be looked up without
//! being stored), never a code, a token or a full number. [`AuditLog`]
//! writes JSON Lines where each record holds the hash of the previous one
//! (`prev`) and its own (`hash`), fsync'ed before `record` returns. A small
//! `<log>.head` file, replaced atomically after every record, names the last
//! record, so cutting records off the end is detected too: changing,
//! removing, reordering or truncating records breaks the chain, and the
//! verifiers name the first broken record.
//!
//! A plain hash only shows accidents: whoever can write the file can
//! recompute it. So the chain is keyed (S22): from the hand-over on, each
//! hash is an HMAC under the [`AuditKey`] (`chain.rs` has both forms), and
//! the desk keeps a [`TrailAnchor`] outside the data folder, which shows a
//! log deleted or cut short together with its head. [`trail`] verifies every
//! kept month against both; `countersign-verify-audit` does the same off the
//! desk for IT.
//!
//! The layout: `chain.rs` (formats, hashes, the scan of one file), `log.rs`
//! (the writer), [`trail`] (months, the anchor, the trail-wide check),
//! `key.rs` (the audit key), [`scan`] (paging and streaming the matches),
//! [`export`] (CSV); here, the events and the activity screen's filter.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

mod chain;
mod copy;
pub mod export;
mod key;
mod log;
pub mod scan;
pub mod trail;

pub use chain::{verify_chain, AuditRecord, ChainForm, ChainReport};
pub use copy::verify_copy;
pub use export::{to_csv, CsvWriter};
pub use key::AuditKey;
pub use log::{AnchorSink, AuditLog};
pub use trail::{verify_trail_keyed, TrailAnchor, TrailBreak, TrailReport};

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
    /// The hand-over: records from here on are keyed (S22).
    #[serde(rename = "audit_chain_keyed")]
    ChainKeyed,
    /// The audit key and the trail's anchor were exported (Activity,
    /// "Export audit key for IT") to verify the trail off the desk.
    AuditKeyExported,
    /// Branch mode: the local trail no longer matches the copy the branch
    /// already holds (rewritten or cut after its records were forwarded).
    BranchTrailMismatch,
}

impl EventKind {
    /// Every kind, for the catalogue test: each has its label
    /// (`event.<name>`) there, the one place the screens take it from.
    pub const ALL: [EventKind; 21] = [
        Self::Started,
        Self::Sent,
        Self::NotSent,
        Self::Resent,
        Self::DeliveryStatus,
        Self::CheckFailed,
        Self::Approved,
        Self::Locked,
        Self::Expired,
        Self::Cancelled,
        Self::NumberBlocked,
        Self::StoreQuarantined,
        Self::AppStarted,
        Self::AppStopped,
        Self::SettingsChanged,
        Self::OperatorSignedIn,
        Self::OperatorLocked,
        Self::TestSmsSent,
        Self::ChainKeyed,
        Self::AuditKeyExported,
        Self::BranchTrailMismatch,
    ];

    /// The name records carry (`check_failed`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
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

/// What the activity screen may ask for. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// The first instant shown (the start of the operator's local "from"
    /// day).
    pub from: Option<Timestamp>,
    /// The first instant no longer shown (the start of the local day after
    /// the "to" day): exclusive, so a day of 23 or 25 hours is whole.
    pub before: Option<Timestamp>,
    pub operator: Option<String>,
    pub outcome: Option<String>,
    pub number_id: Option<String>,
}

impl Filter {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.from.is_none_or(|f| e.at >= f)
            && self.before.is_none_or(|t| e.at < t)
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

/// Records at or after `since`, oldest first, read from the newest month
/// backwards and stopping at the first older record, so a start reads the
/// last hour rather than the whole month. Unreadable lines are skipped, as
/// in [`query`]. (Records are in time order; after the clock was set back,
/// records older than a later one's time may be missed.)
pub fn recent(path: &Path, since: Timestamp) -> io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    'files: for file in trail::files(path)?.iter().rev() {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in bytes.rsplit(|b| *b == b'\n') {
            let Ok(record) = serde_json::from_slice::<AuditRecord>(line) else {
                continue;
            };
            if record.event.at < since {
                break 'files;
            }
            out.push(record);
        }
    }
    out.reverse();
    Ok(out)
}
