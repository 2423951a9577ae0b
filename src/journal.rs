//! The pending state on disk, sealed (S21): a snapshot and a journal.
//!
//! `pending.json` stays a JSON object (the shell opens it through
//! tauri-plugin-store): a snapshot of the state, version 2, with the journal
//! position it covers and a `seal`, an HMAC-SHA256 of its content under a
//! key derived from the desk key. Beside it, `pending.journal` (JSON Lines)
//! takes one record per change, appended and fdatasync'd before the change
//! is acknowledged:
//!
//! ```text
//! {"seq":42,"prev":"<mac of record 41>","change":[{"op":"put",...}],"mac":"<hex>"}
//! ```
//!
//! Each record's MAC covers its number, the previous record's MAC and the
//! change, so a record edited, deleted, reordered or cut from the middle
//! shows. The chain starts at a random value kept in the snapshot, so
//! records from another store cannot be spliced in. A torn last line (a
//! crash mid-append) was never acknowledged: it is dropped, as the audit log
//! does. Records cut from the end, or the whole store put back from an
//! older copy, seal correctly; the audit trail, written after each change,
//! shows what they lost ([`crate::recovery`]).
//!
//! [`JournalStore::compact`] writes a new snapshot (temp, fsync, rename,
//! folder fsync) and keeps only the records after it; the shell calls it
//! from its one-second timer. It is due when the journal has grown as large
//! as the snapshot (and at least [`COMPACT_MIN_BYTES`]): each byte appended
//! then costs at most one byte of snapshot written later, so a change stays
//! O(1) on average, and a start reads at most about twice the snapshot.
//!
//! Anything that does not open (a seal that fails, a broken chain, a file
//! missing, an unsealed file where a sealed one is expected, a state the
//! audit trail contradicts) is set aside: the files are moved to
//! `<name>.corrupt-<time>` with their bytes, the S4/S5/S8 windows are
//! rebuilt from the audit trail, the verifications it may have held are
//! ended, and a [`SetAside`] report says so for the screen and the trail.

use crate::i18n::Text;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions as FsOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::audit::{AuditEvent, AuditOutcome, EventKind};
use crate::clock::Timestamp;
use crate::keys::{DigestKey, NumberId};
use crate::persist::{
    self, apply_history, quarantine, Corruption, EndedRecord, NumberHistory, Op, PendingDocument,
    PendingStore, Quarantined, StagedWrite, StoreError, FORMAT,
};
use crate::policy::{FAILURE_WINDOW, SEND_WINDOW};
use crate::recovery::{AuditHistory, RECOVERY_WINDOW};
use crate::verification::{Status, VerificationId, VerificationRecord};

/// The snapshot's format version (version 1 is the unsealed document).
pub const SNAPSHOT_VERSION: u32 = 2;
/// Compaction is not due below this much journal.
pub const COMPACT_MIN_BYTES: u64 = 256 * 1024;
const LABEL: &[u8] = b"countersign/pending-journal/v1";

type HmacSha256 = Hmac<Sha256>;

/// The journal beside a snapshot: `pending.json` → `pending.journal`.
pub fn journal_path(snapshot: &Path) -> PathBuf {
    snapshot.with_extension("journal")
}

/// The journal position a snapshot covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    seq: u64,
    mac: String,
}

/// History the state may have forgotten (purge): the audit trail is only
/// compared with it after these times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Forgotten {
    failures: Timestamp,
    sends: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SnapshotBody {
    format: String,
    version: u32,
    journal: Position,
    forgotten: Forgotten,
    verifications: Vec<VerificationRecord>,
    numbers: BTreeMap<NumberId, NumberHistory>,
    ended: Vec<EndedRecord>,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    prev: &'a str,
    change: &'a [Op],
    mac: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    seq: u64,
    prev: String,
    change: Vec<Op>,
    mac: String,
}

/// The state as the store keeps it: records behind `Arc`, so the copy a
/// compaction takes under the lock is cheap.
#[derive(Clone, Debug)]
struct State {
    verifications: BTreeMap<VerificationId, Arc<VerificationRecord>>,
    numbers: BTreeMap<NumberId, NumberHistory>,
    ended: Vec<EndedRecord>,
    forgotten: Forgotten,
}

impl State {
    fn empty(forgotten: Forgotten) -> Self {
        Self {
            verifications: BTreeMap::new(),
            numbers: BTreeMap::new(),
            ended: Vec::new(),
            forgotten,
        }
    }

    fn from_document(doc: PendingDocument, forgotten: Forgotten) -> Self {
        Self {
            verifications: doc
                .verifications
                .into_iter()
                .map(|r| (r.id.clone(), Arc::new(r)))
                .collect(),
            numbers: doc.numbers,
            ended: doc.ended,
            forgotten,
        }
    }

    fn document(&self) -> PendingDocument {
        PendingDocument {
            verifications: self.verifications.values().map(|r| (**r).clone()).collect(),
            numbers: self.numbers.clone(),
            ended: self.ended.clone(),
            ..PendingDocument::default()
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put { record } => {
                self.verifications
                    .insert(record.id.clone(), Arc::new((**record).clone()));
            }
            Op::End { id, .. } => {
                self.verifications.remove(id);
            }
            Op::Forget {
                failures_upto,
                sends_upto,
                ..
            } => {
                self.forgotten.failures = self.forgotten.failures.max(*failures_upto);
                self.forgotten.sends = self.forgotten.sends.max(*sends_upto);
            }
            Op::Send { .. } | Op::Failure { .. } => {}
        }
        apply_history(&mut self.numbers, &mut self.ended, op);
    }

    fn body(&self, journal: Position) -> SnapshotBody {
        SnapshotBody {
            format: FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            journal,
            forgotten: self.forgotten,
            verifications: self.verifications.values().map(|r| (**r).clone()).collect(),
            numbers: self.numbers.clone(),
            ended: self.ended.clone(),
        }
    }
}

fn mac_hex(mac: HmacSha256) -> String {
    hex::encode(mac.finalize().into_bytes())
}

fn record_mac(key: &HmacSha256, seq: u64, prev: &str, change: &[u8]) -> HmacSha256 {
    let mut mac = key.clone();
    mac.update(b"record\0");
    mac.update(&seq.to_be_bytes());
    mac.update(prev.as_bytes());
    mac.update(change);
    mac
}

fn snapshot_mac(key: &HmacSha256, body: &[u8]) -> HmacSha256 {
    let mut mac = key.clone();
    mac.update(b"snapshot\0");
    mac.update(body);
    mac
}

fn verify(mac: HmacSha256, hex_tag: &str) -> bool {
    hex::decode(hex_tag).is_ok_and(|tag| mac.verify_slice(&tag).is_ok())
}

/// The snapshot's bytes: its body with the seal as one more field.
fn seal_snapshot(key: &HmacSha256, body: &SnapshotBody) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(body).expect("a snapshot always serialises");
    let seal = mac_hex(snapshot_mac(key, &bytes));
    bytes.pop(); // the closing brace
    bytes.extend_from_slice(format!(",\"seal\":\"{seal}\"}}").as_bytes());
    bytes
}

/// What a `pending.json` holds.
enum Snapshot {
    V1(PendingDocument),
    Sealed(SnapshotBody),
}

fn read_snapshot(key: &HmacSha256, bytes: &[u8]) -> Result<Snapshot, Corruption> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Corruption::Empty);
    }
    if bytes.contains(&0) {
        return Err(Corruption::NulBytes);
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Corruption::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
    let version = value.get("version").and_then(|v| v.as_u64());
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Corruption::WrongShape(
            "no countersign/pending header".to_owned(),
        ));
    }
    match version {
        Some(v) if v > u64::from(SNAPSHOT_VERSION) => Err(Corruption::NewerVersion(
            u32::try_from(v).unwrap_or(u32::MAX),
        )),
        Some(v) if v == u64::from(SNAPSHOT_VERSION) => {
            let seal = value
                .as_object_mut()
                .and_then(|o| o.remove("seal"))
                .and_then(|s| s.as_str().map(str::to_owned))
                .ok_or(Corruption::Unsealed)?;
            let body: SnapshotBody =
                serde_json::from_value(value).map_err(|e| Corruption::WrongShape(e.to_string()))?;
            let again =
                serde_json::to_vec(&body).map_err(|e| Corruption::WrongShape(e.to_string()))?;
            if !verify(snapshot_mac(key, &again), &seal) {
                return Err(Corruption::BadSeal);
            }
            Ok(Snapshot::Sealed(body))
        }
        _ => persist::parse(bytes).map(Snapshot::V1),
    }
}

/// The records of a journal after `from`, checked.
struct Replay {
    /// Changes after the snapshot's position, in order.
    changes: Vec<(u64, String, Vec<Op>)>,
    /// Bytes up to the end of the last whole line.
    good_len: u64,
    /// A torn last line was found (and is to be cut).
    torn: bool,
}

fn replay(key: &HmacSha256, bytes: &[u8], from: &Position) -> Result<Replay, Corruption> {
    let good_len = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let torn = good_len < bytes.len();
    let mut changes = Vec::new();
    let mut last: Option<(u64, String)> = None;
    let broken =
        |line: usize, why: &str| Corruption::Journal(format!("record on line {line}: {why}"));
    for (i, line) in bytes[..good_len].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let r: RecordIn = serde_json::from_slice(line).map_err(|_| broken(n, "unreadable"))?;
        let change = serde_json::to_vec(&r.change).map_err(|_| broken(n, "unreadable"))?;
        if !verify(record_mac(key, r.seq, &r.prev, &change), &r.mac) {
            return Err(broken(
                n,
                "its seal does not match (edited, or not this desk's)",
            ));
        }
        match &last {
            Some((seq, mac)) if r.seq != seq.saturating_add(1) || &r.prev != mac => {
                return Err(broken(n, "out of sequence (a record removed or moved)"));
            }
            // The first record: a journal that starts after the snapshot
            // has lost records.
            None if r.seq > from.seq.saturating_add(1) => {
                return Err(broken(n, "records before it are missing"));
            }
            _ => {}
        }
        if r.seq == from.seq && r.mac != from.mac {
            return Err(broken(n, "it is not the record the snapshot was taken at"));
        }
        if r.seq == from.seq.saturating_add(1) && r.prev != from.mac {
            return Err(broken(n, "it does not follow the snapshot"));
        }
        last = Some((r.seq, r.mac.clone()));
        if r.seq > from.seq {
            changes.push((r.seq, r.mac, r.change));
        }
    }
    if let Some((seq, _)) = &last {
        if *seq < from.seq {
            return Err(Corruption::Journal(
                "it ends before the snapshot's position (records removed from its end)".to_owned(),
            ));
        }
    }
    Ok(Replay {
        changes,
        good_len: good_len as u64,
        torn,
    })
}

/// How to open the store.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The desk's sealed facts say its pending store is sealed
    /// (`DeskFacts::pending_sealed`): an unsealed version-1 file is refused
    /// (a downgrade), and a missing store is damage, not a first start.
    pub sealed_expected: bool,
    /// The audit trail (`audit.jsonl`): its last hour is read to check the
    /// state against, and to rebuild the S4/S5/S8 windows from if the state
    /// is set aside. `None`: no check, nothing to rebuild from (tests).
    pub audit_trail: Option<PathBuf>,
}

/// The pending state set aside at open, for the screen and the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAside {
    pub reason: Corruption,
    /// The files moved aside, bytes kept.
    pub quarantined: Vec<Quarantined>,
    /// Verifications the trail shows as open, which the set-aside state may
    /// have held: they cannot be checked any more and were ended.
    pub ended: Vec<(VerificationId, crate::recovery::VerificationSeen)>,
}

impl SetAside {
    /// For the desk's warning banner (`data-testid="warning"`): what was
    /// set aside, where it went, what it cost, and what staff should do.
    /// The reason and the paths are IT's details and stay as written.
    pub fn text(&self) -> Text {
        let moved: Vec<String> = self
            .quarantined
            .iter()
            .map(|q| q.moved_to.display().to_string())
            .collect();
        let moved = if moved.is_empty() {
            Text::new("empty")
        } else {
            Text::new("warning.moved_to").arg("files", moved.join(" + "))
        };
        let ended = match self.ended.len() {
            0 => Text::new("empty"),
            n => Text::new("warning.ended").count("count", n as u64),
        };
        Text::new("warning.set_aside")
            .arg("reason", self.reason.to_string())
            .arg("moved", moved)
            .arg("ended", ended)
    }

    /// The same in English, for logs.
    pub fn message(&self) -> String {
        self.text().to_string()
    }

    /// What the caller appends to the audit trail: one `store_quarantined`
    /// event, then a `cancelled` event for each verification ended.
    pub fn audit_events(&self, now: Timestamp) -> Vec<AuditEvent> {
        let moved: Vec<String> = self
            .quarantined
            .iter()
            .map(|q| q.moved_to.display().to_string())
            .collect();
        let mut out = vec![AuditEvent::store_quarantined(now, &moved, &self.reason)];
        for (id, seen) in &self.ended {
            let mut e = AuditEvent::new(now, EventKind::Cancelled);
            e.verification = Some(id.to_string());
            e.number_id = seen.number_id.as_ref().map(|n| n.as_str().to_owned());
            e.masked_number.clone_from(&seen.masked_number);
            e.operator.clone_from(&seen.operator);
            e.staff_id.clone_from(&seen.staff_id);
            e.reference.clone_from(&seen.reference);
            e.outcome = Some(AuditOutcome::Cancelled.name().to_owned());
            e.detail = Some("the pending list was set aside".to_owned());
            out.push(e);
        }
        out
    }
}

/// What opening found.
#[derive(Debug)]
pub struct Opened {
    pub store: JournalStore,
    /// What the desk starts with (`Desk::new`).
    pub document: PendingDocument,
    pub set_aside: Option<SetAside>,
    /// An unsealed version-1 file was taken over: the caller now sets
    /// `DeskFacts::pending_sealed`.
    pub migrated: bool,
}

struct Inner {
    snapshot: PathBuf,
    journal: PathBuf,
    key: HmacSha256,
    /// Opened at the first append (a desk on a read-only folder still
    /// starts, and refuses changes), and again after a compaction replaced
    /// the file.
    file: Option<File>,
    /// A compaction failed midway: which journal is at the path, and its
    /// length, are read again at the next append.
    len_unknown: bool,
    seq: u64,
    prev: String,
    journal_len: u64,
    snapshot_len: u64,
    /// A failed append may have left bytes after `journal_len`.
    tail_dirty: bool,
    compacting: bool,
    state: State,
}

/// The sealed journal store. Cheap to clone: clones share one store, so the
/// shell can keep one to call [`JournalStore::compact`] from its timer
/// while the desk holds another.
#[derive(Clone)]
pub struct JournalStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for JournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalStore").finish_non_exhaustive()
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(StoreError::NotAFile {
                path: path.to_owned(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_owned(),
                source,
            })
        }
    }
    fs::read(path).map(Some).map_err(|source| StoreError::Read {
        path: path.to_owned(),
        source,
    })
}

fn write_error(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |source| StoreError::Write {
        path: path.to_owned(),
        source,
    }
}

/// A state read from disk, before the audit trail is asked.
struct Found {
    state: State,
    position: Position,
    snapshot_len: u64,
    journal_len: u64,
    /// Cut the journal to `journal_len` (a torn last line).
    cut_journal: bool,
    migrated: bool,
}

impl JournalStore {
    /// Opens the store at `snapshot` (`pending.json`; the journal is
    /// [`journal_path`]), checks it, and sets it aside if it does not hold.
    /// An error only for what cannot be read or written at all (permission,
    /// a directory at the path): then nothing is moved or created.
    pub fn open(
        snapshot: &Path,
        key: &DigestKey,
        options: &OpenOptions,
        now: Timestamp,
    ) -> Result<Opened, StoreError> {
        let journal = journal_path(snapshot);
        persist::remove_stale_temp_files(snapshot);
        persist::remove_stale_temp_files(&journal);
        let mac_key = key.labelled_hmac(LABEL);
        let snap_bytes = read_optional(snapshot)?;
        let journal_bytes = read_optional(&journal)?;
        let history = options.audit_trail.as_ref().map(|path| {
            let since = now.minus(RECOVERY_WINDOW);
            match crate::audit::recent(path, since) {
                Ok(records) => AuditHistory::from_records(&records),
                Err(e) => {
                    tracing::warn!(error = %e, "the audit trail could not be read to check the pending list");
                    AuditHistory::default()
                }
            }
        });
        let found = Self::read(
            &mac_key,
            snap_bytes.as_deref(),
            journal_bytes.as_deref(),
            options.sealed_expected,
            now,
        );
        let found = found.and_then(|f| {
            match (&history, f) {
            (Some(h), None) if !h.open_verifications().is_empty() => Err(Corruption::Missing(
                "the pending list is missing, and the audit trail shows verifications still pending"
                    .to_owned(),
            )),
            (Some(h), Some(f)) => match h.disagreement(
                f.state.verifications.values().map(|r| &**r),
                &f.state.numbers,
                f.state.forgotten.sends,
                f.state.forgotten.failures,
            ) {
                Some(why) => Err(Corruption::Inconsistent(why)),
                None => Ok(Some(f)),
            },
            (_, f) => Ok(f),
        }
        });
        let mut inner = Inner {
            snapshot: snapshot.to_owned(),
            journal: journal.clone(),
            key: mac_key,
            file: None,
            len_unknown: false,
            seq: 0,
            prev: String::new(),
            journal_len: 0,
            snapshot_len: 0,
            tail_dirty: false,
            compacting: false,
            state: State::empty(Forgotten {
                failures: now,
                sends: now,
            }),
        };
        match found {
            Ok(None) => {
                // A first start: nothing on disk. Sends and wrong codes the
                // trail shows (files deleted before this desk was sealed)
                // still count.
                let since = now.minus(RECOVERY_WINDOW);
                let mut state = State::empty(Forgotten {
                    failures: since,
                    sends: since,
                });
                if let Some(h) = &history {
                    state.numbers = h.numbers(since);
                }
                inner.create(state)?;
                Ok(inner.opened(None, false))
            }
            Ok(Some(f)) => {
                if f.migrated {
                    // Sealed from now on; the version-1 file is replaced.
                    inner.create(f.state)?;
                    return Ok(inner.opened(None, true));
                }
                if f.cut_journal {
                    let file = FsOptions::new()
                        .write(true)
                        .open(&journal)
                        .map_err(write_error(&journal))?;
                    file.set_len(f.journal_len)
                        .and_then(|()| file.sync_all())
                        .map_err(write_error(&journal))?;
                }
                inner.seq = f.position.seq;
                inner.prev = f.position.mac;
                inner.journal_len = f.journal_len;
                inner.snapshot_len = f.snapshot_len;
                inner.state = f.state;
                Ok(inner.opened(None, false))
            }
            Err(reason) => {
                let mut quarantined = Vec::new();
                for (path, bytes) in [(snapshot, &snap_bytes), (journal.as_path(), &journal_bytes)]
                {
                    if bytes.is_some() {
                        quarantined.push(quarantine(path, reason.clone(), now)?);
                    }
                }
                tracing::warn!(%reason, "pending state set aside");
                let history = history.unwrap_or_default();
                let since = now.minus(RECOVERY_WINDOW);
                let open = history.open_verifications();
                let mut state = State::empty(Forgotten {
                    failures: since,
                    sends: since,
                });
                state.numbers = history.numbers(since);
                state.ended = history.ended(now.minus(crate::desk::ENDED_MEMORY));
                for (id, _) in &open {
                    apply_history(
                        &mut state.numbers,
                        &mut state.ended,
                        &Op::End {
                            id: id.clone(),
                            status: Status::Cancelled,
                            at: now,
                        },
                    );
                }
                inner.create(state)?;
                let report = SetAside {
                    reason,
                    quarantined,
                    ended: open,
                };
                Ok(inner.opened(Some(report), false))
            }
        }
    }

    /// What the files hold: `Ok(None)` for a first start.
    fn read(
        key: &HmacSha256,
        snap: Option<&[u8]>,
        journal: Option<&[u8]>,
        sealed_expected: bool,
        now: Timestamp,
    ) -> Result<Option<Found>, Corruption> {
        let journal_has_records = journal.is_some_and(|j| j.contains(&b'\n'));
        let Some(snap) = snap else {
            return match (journal, sealed_expected) {
                (None, false) => Ok(None),
                // Created journal first, then the snapshot: a crash between
                // leaves an empty journal.
                (Some(_), false) if !journal_has_records => Ok(None),
                (None, true) => Err(Corruption::Missing(
                    "the pending list is missing, but this desk keeps one".to_owned(),
                )),
                (Some(_), _) => Err(Corruption::Missing(
                    "the snapshot (pending.json) is missing but its journal is there".to_owned(),
                )),
            };
        };
        match read_snapshot(key, snap)? {
            Snapshot::V1(doc) => {
                if sealed_expected {
                    return Err(Corruption::Unsealed);
                }
                if journal_has_records {
                    return Err(Corruption::Journal(
                        "a journal beside an unsealed pending list".to_owned(),
                    ));
                }
                // What a version-1 file may have forgotten is bounded by the
                // shortest windows the policy allows.
                let forgotten = Forgotten {
                    failures: now.minus(FAILURE_WINDOW),
                    sends: now.minus(std::time::Duration::from_secs(
                        u64::from(SEND_WINDOW.min) * 60,
                    )),
                };
                Ok(Some(Found {
                    state: State::from_document(doc, forgotten),
                    position: Position {
                        seq: 0,
                        mac: String::new(),
                    },
                    snapshot_len: snap.len() as u64,
                    journal_len: 0,
                    cut_journal: false,
                    migrated: true,
                }))
            }
            Snapshot::Sealed(body) => {
                let Some(journal) = journal else {
                    return Err(Corruption::Missing(
                        "the journal (pending.journal) is missing".to_owned(),
                    ));
                };
                let r = replay(key, journal, &body.journal)?;
                let mut state = State::from_document(
                    PendingDocument {
                        verifications: body.verifications,
                        numbers: body.numbers,
                        ended: body.ended,
                        ..PendingDocument::default()
                    },
                    body.forgotten,
                );
                let mut position = body.journal;
                for (seq, mac, change) in r.changes {
                    for op in &change {
                        state.apply(op);
                    }
                    position = Position { seq, mac };
                }
                Ok(Some(Found {
                    state,
                    position,
                    snapshot_len: snap.len() as u64,
                    journal_len: r.good_len,
                    cut_journal: r.torn,
                    migrated: false,
                }))
            }
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Write {
            path: PathBuf::from("pending store"),
            source: io::Error::other("the pending store's lock was poisoned"),
        })
    }

    /// Whether a compaction is due (see the module docs).
    pub fn compaction_due(&self) -> bool {
        self.lock().is_ok_and(|i| i.due())
    }

    /// Compacts if due: `Ok(false)` when not (cheap: a size comparison).
    pub fn compact(&self) -> Result<bool, StoreError> {
        if !self.compaction_due() {
            return Ok(false);
        }
        self.compact_now().map(|()| true)
    }

    /// Writes a new snapshot and keeps only the journal records after it.
    /// The store's lock is held to copy the state (pointers) and, at the
    /// end, to rewrite the journal's short tail; not while the snapshot is
    /// written, so appends go on meanwhile.
    pub fn compact_now(&self) -> Result<(), StoreError> {
        let (body, key, snapshot, from) = {
            let mut i = self.lock()?;
            if i.compacting {
                return Ok(());
            }
            i.compacting = true;
            let position = Position {
                seq: i.seq,
                mac: i.prev.clone(),
            };
            (
                i.state.clone(),
                i.key.clone(),
                i.snapshot.clone(),
                (position, i.journal_len),
            )
        };
        let written = (|| {
            let bytes = seal_snapshot(&key, &body.body(from.0.clone()));
            StagedWrite::stage(&snapshot, &bytes)?.commit()?;
            Ok(bytes.len() as u64)
        })();
        let mut i = self.lock()?;
        i.compacting = false;
        let len = written.map_err(write_error(&snapshot))?;
        i.snapshot_len = len;
        i.cut_journal_before(from.1)
    }

    /// The state as the store holds it (a full copy: for tests and tools).
    pub fn document(&self) -> Result<PendingDocument, StoreError> {
        Ok(self.lock()?.state.document())
    }

    /// Bytes in the journal and in the snapshot.
    pub fn sizes(&self) -> Result<(u64, u64), StoreError> {
        let i = self.lock()?;
        Ok((i.journal_len, i.snapshot_len))
    }
}

impl Inner {
    fn due(&self) -> bool {
        !self.compacting && self.journal_len >= COMPACT_MIN_BYTES.max(self.snapshot_len)
    }

    fn opened(self, set_aside: Option<SetAside>, migrated: bool) -> Opened {
        let document = self.state.document();
        Opened {
            store: JournalStore {
                inner: Arc::new(Mutex::new(self)),
            },
            document,
            set_aside,
            migrated,
        }
    }

    /// Writes a new store holding `state`: an empty journal first, then the
    /// snapshot that starts a new chain (a random first link).
    fn create(&mut self, state: State) -> Result<(), StoreError> {
        let mut start = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut start);
        let position = Position {
            seq: 0,
            mac: hex::encode(start),
        };
        persist::atomic_write(&self.journal, b"").map_err(write_error(&self.journal))?;
        let bytes = seal_snapshot(&self.key, &state.body(position.clone()));
        persist::atomic_write(&self.snapshot, &bytes).map_err(write_error(&self.snapshot))?;
        self.file = None;
        self.seq = position.seq;
        self.prev = position.mac;
        self.journal_len = 0;
        self.snapshot_len = bytes.len() as u64;
        self.tail_dirty = false;
        self.state = state;
        Ok(())
    }

    /// Replaces the journal with its bytes from `offset` on (what was
    /// appended while the snapshot was written).
    fn cut_journal_before(&mut self, offset: u64) -> Result<(), StoreError> {
        let err = write_error(&self.journal);
        let mut tail = Vec::new();
        let mut f = File::open(&self.journal).map_err(&err)?;
        f.seek(SeekFrom::Start(offset)).map_err(&err)?;
        f.take(self.journal_len.saturating_sub(offset))
            .read_to_end(&mut tail)
            .map_err(&err)?;
        let staged = StagedWrite::stage(&self.journal, &tail).map_err(&err)?;
        // From the rename on, the old handle writes to a file no longer
        // there: drop it; the next append opens the one at the path.
        self.file = None;
        self.len_unknown = true;
        staged.commit().map_err(&err)?;
        self.journal_len = tail.len() as u64;
        self.len_unknown = false;
        self.tail_dirty = false;
        Ok(())
    }

    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        let path = self.journal.clone();
        let err = write_error(&path);
        if self.file.is_none() {
            self.file = Some(crate::persist::open_append_owner_only(&self.journal).map_err(&err)?);
        }
        if self.len_unknown {
            self.journal_len = fs::metadata(&self.journal).map_err(&err)?.len();
            self.len_unknown = false;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(err(io::Error::other("the journal is not open")));
        };
        if self.tail_dirty {
            file.set_len(self.journal_len)
                .and_then(|()| file.sync_data())
                .map_err(&err)?;
            self.tail_dirty = false;
        }
        let seq = self.seq.saturating_add(1);
        let change_bytes = serde_json::to_vec(change).map_err(|e| err(io::Error::other(e)))?;
        let mac = mac_hex(record_mac(&self.key, seq, &self.prev, &change_bytes));
        let mut line = serde_json::to_vec(&RecordOut {
            seq,
            prev: &self.prev,
            change,
            mac: &mac,
        })
        .map_err(|e| err(io::Error::other(e)))?;
        line.push(b'\n');
        if let Err(e) = file.write_all(&line).and_then(|()| file.sync_data()) {
            // Take back whatever reached the file; if that fails too, the
            // next append tries again before writing.
            self.tail_dirty = file
                .set_len(self.journal_len)
                .and_then(|()| file.sync_data())
                .is_err();
            return Err(err(e));
        }
        self.seq = seq;
        self.prev = mac;
        self.journal_len += line.len() as u64;
        for op in change {
            self.state.apply(op);
        }
        Ok(())
    }
}

impl PendingStore for JournalStore {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        self.lock()?.append(change)
    }
}

/// The reader without files, for the fuzz targets (`tests/fuzz.rs`,
/// `fuzz/`). Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The key the fuzz seeds are sealed under.
    pub fn key() -> DigestKey {
        DigestKey::from_bytes(&[7u8; 32]).expect("32 bytes")
    }

    /// What [`JournalStore::open`] would start from, before the audit
    /// trail is asked: `Ok(None)` for a first start.
    pub fn read(
        key: &DigestKey,
        snapshot: Option<&[u8]>,
        journal: Option<&[u8]>,
        sealed_expected: bool,
    ) -> Result<Option<PendingDocument>, Corruption> {
        let found = JournalStore::read(
            &key.labelled_hmac(LABEL),
            snapshot,
            journal,
            sealed_expected,
            Timestamp::from_millis(0),
        )?;
        Ok(found.map(|f| f.state.document()))
    }
}
