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
//! The layout: `event.rs` (the kinds of event, the record, and a named
//! constructor for each event the desk writes), `sink.rs` (the engine's
//! seam), `chain.rs` (formats, hashes, the scan of one file), `log.rs` (the
//! writer), [`trail`] (months, the anchor, the trail-wide check, and
//! [`Trail`], the whole trail as one value), `key.rs` (the audit key),
//! `query.rs` (the activity screen's filter and what matches it), [`scan`]
//! (paging and streaming the matches), [`export`] (CSV).

mod chain;
mod copy;
mod event;
pub mod export;
mod key;
mod log;
mod query;
pub mod scan;
mod sink;
pub mod trail;

pub use chain::{verify_chain, AuditRecord, ChainForm, ChainReport};
pub use copy::verify_copy;
pub use event::{AuditEvent, AuditOutcome, EventKind, SettingsChange, Station};
pub use export::{to_csv, CsvWriter};
pub use key::{AuditKey, KeyFileError};
pub use log::{AnchorSink, AuditLog};
pub use query::{date_range, query, recent, Filter, RangeError, RawBound};
pub use sink::{AuditError, AuditSink, MemoryAudit};
pub use trail::{verify_trail_keyed, Trail, TrailAnchor, TrailBreak, TrailReport, AUDIT_FILE};
