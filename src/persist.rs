//! The pending state's data: the document (digests, never codes; sealed
//! numbers, never clear ones; the per-number counters the rate limits need
//! across restarts), the [`Op`]s a change is made of, and the stores the
//! engine appends changes to.
//!
//! The app's store is [`crate::journal::JournalStore`] (sealed snapshot and
//! journal). Here: the version-1 form, one unsealed JSON document rewritten
//! atomically at every change ([`FileStore`]; read at a take-over,
//! [`parse`], [`load_or_quarantine`]), the in-memory store for tests, and
//! the file helpers both use. Writes are atomic: a temp file in the same
//! directory, fsync, rename over the old file, fsync the directory. A file
//! that does not open is moved aside as `<name>.corrupt-<UTC time>` with its
//! bytes untouched, and reported; it is never overwritten or silently
//! emptied.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::keys::{DigestKey, NumberId};
use crate::verification::{Status, VerificationId, VerificationRecord};

pub const FORMAT: &str = "countersign/pending";
pub const VERSION: u32 = 1;

/// Rate-limit history of one number, keyed by its [`NumberId`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumberHistory {
    /// Wrong codes, across verifications (S5).
    pub failures: Vec<Timestamp>,
    /// Messages the gateway accepted (S8).
    pub sends: Vec<Timestamp>,
}

/// A verification that ended recently, so a late click on it gets a precise
/// answer ("already approved") rather than "not found".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndedRecord {
    pub id: VerificationId,
    pub status: Status,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingDocument {
    pub format: String,
    pub version: u32,
    pub verifications: Vec<VerificationRecord>,
    pub numbers: BTreeMap<NumberId, NumberHistory>,
    pub ended: Vec<EndedRecord>,
}

impl Default for PendingDocument {
    fn default() -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            verifications: Vec::new(),
            numbers: BTreeMap::new(),
            ended: Vec::new(),
        }
    }
}

/// Ended verifications remembered for precise late answers, at most.
pub const ENDED_KEEP: usize = 200;

/// One step of a change to the pending state. The engine decides a change
/// as a list of these, the store makes the list durable as one unit (all or
/// nothing), and only then does the engine apply it to its own state: a
/// failed save needs no rollback, and a change costs the same whatever the
/// number of pending verifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum Op {
    /// A verification, new or changed, as it now stands.
    Put { record: Box<VerificationRecord> },
    /// A verification ended: its entry (and digest) goes, a short record of
    /// how it ended stays (at most [`ENDED_KEEP`]).
    End {
        id: VerificationId,
        status: Status,
        at: Timestamp,
    },
    /// A send to a number (S8).
    Send { number: NumberId, at: Timestamp },
    /// A wrong code for a number (S5).
    Failure { number: NumberId, at: Timestamp },
    /// History no rule looks at any more: failures and sends at or before
    /// their cutoff, ended records at or before theirs.
    #[serde(rename_all = "camelCase")]
    Forget {
        failures_upto: Timestamp,
        sends_upto: Timestamp,
        ended_upto: Timestamp,
    },
}

impl Op {
    /// A verification as it now stands.
    pub fn put(record: VerificationRecord) -> Self {
        Self::Put {
            record: Box::new(record),
        }
    }
}

/// What an [`Op`] does to the per-number histories and the ended records;
/// the pending entries themselves are the caller's (each keeps its own map).
/// One function, so the engine, the stores and a replay agree exactly.
pub(crate) fn apply_history(
    numbers: &mut BTreeMap<NumberId, NumberHistory>,
    ended: &mut Vec<EndedRecord>,
    op: &Op,
) {
    match op {
        Op::Put { .. } => {}
        Op::End { id, status, at } => {
            ended.push(EndedRecord {
                id: id.clone(),
                status: *status,
                at: *at,
            });
            let excess = ended.len().saturating_sub(ENDED_KEEP);
            ended.drain(..excess);
        }
        Op::Send { number, at } => numbers.entry(number.clone()).or_default().sends.push(*at),
        Op::Failure { number, at } => numbers
            .entry(number.clone())
            .or_default()
            .failures
            .push(*at),
        Op::Forget {
            failures_upto,
            sends_upto,
            ended_upto,
        } => {
            for h in numbers.values_mut() {
                h.failures.retain(|t| t > failures_upto);
                h.sends.retain(|t| t > sends_upto);
            }
            numbers.retain(|_, h| !h.failures.is_empty() || !h.sends.is_empty());
            ended.retain(|e| e.at > *ended_upto);
        }
    }
}

impl PendingDocument {
    /// Applies one step. Entries stay sorted by id, as the engine lists
    /// them in [`crate::desk::Desk::document`]. Linear in the entries: for
    /// tests and the one-file store, not for the journal.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Put { record } => {
                match self
                    .verifications
                    .binary_search_by(|v| v.id.cmp(&record.id))
                {
                    Ok(i) => self.verifications[i] = (**record).clone(),
                    Err(i) => self.verifications.insert(i, (**record).clone()),
                }
            }
            Op::End { id, .. } => self.verifications.retain(|v| &v.id != id),
            _ => {}
        }
        apply_history(&mut self.numbers, &mut self.ended, op);
    }
}

/// Why a pending file could not be used as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("the file is empty")]
    Empty,
    #[error("the file contains NUL bytes (an interrupted write or a disk fault)")]
    NulBytes,
    #[error("the file is not valid JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the file is JSON but not a Countersign pending list ({0})")]
    WrongShape(String),
    #[error("the file was written by a newer Countersign (format version {0})")]
    NewerVersion(u32),
    /// A version-1 (unsealed) file where the desk keeps a sealed one: a
    /// downgrade, or a seal stripped off.
    #[error("the file is not sealed, but this desk keeps its pending list sealed")]
    Unsealed,
    #[error(
        "the file's seal does not match its content (edited, damaged, or sealed under another key)"
    )]
    BadSeal,
    #[error("the journal is damaged: {0}")]
    Journal(String),
    #[error("{0}")]
    Missing(String),
    /// Seals hold, but the audit trail shows changes the state has lost (a
    /// journal cut at its end, or files put back from an older copy).
    #[error("the pending list has lost changes the audit trail shows: {0}")]
    Inconsistent(String),
}

/// Reads a pending document, refusing anything not exactly our format.
pub fn parse(bytes: &[u8]) -> Result<PendingDocument, Corruption> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Corruption::Empty);
    }
    if bytes.contains(&0) {
        return Err(Corruption::NulBytes);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Corruption::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
    let header = (
        value.get("format").and_then(|f| f.as_str()),
        value.get("version").and_then(|v| v.as_u64()),
    );
    match header {
        (Some(FORMAT), Some(v)) if v > u64::from(VERSION) => {
            return Err(Corruption::NewerVersion(
                u32::try_from(v).unwrap_or(u32::MAX),
            ))
        }
        (Some(FORMAT), Some(_)) => {}
        _ => {
            return Err(Corruption::WrongShape(
                "no countersign/pending header".to_owned(),
            ))
        }
    }
    let doc: PendingDocument =
        serde_json::from_value(value).map_err(|e| Corruption::WrongShape(e.to_string()))?;
    if doc.version != VERSION {
        return Err(Corruption::WrongShape(format!(
            "unsupported version {}",
            doc.version
        )));
    }
    Ok(doc)
}

pub fn to_bytes(doc: &PendingDocument) -> Vec<u8> {
    serde_json::to_vec(doc).expect("a pending document always serialises")
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Could not save to {path}: {source}. Nothing was changed; free disk space or check permissions, then try again.")]
    Write { path: PathBuf, source: io::Error },
    #[error("Could not read {path}: {source}. Check that Countersign may read its data folder.")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a regular file. Move it away so Countersign can keep its pending list there.")]
    NotAFile { path: PathBuf },
    #[error("{path} could not be opened ({reason}) and could not be moved aside: {source}")]
    Quarantine {
        path: PathBuf,
        reason: Corruption,
        source: io::Error,
    },
}

/// A corrupt file that was moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    pub original: PathBuf,
    pub moved_to: PathBuf,
    pub reason: Corruption,
}

impl Quarantined {
    pub fn message(&self) -> String {
        format!(
            "The pending list could not be read ({}). It was moved aside, unchanged, to {}; pending verifications in it must be started again. Tell IT.",
            self.reason,
            self.moved_to.display()
        )
    }
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub document: PendingDocument,
    pub quarantined: Option<Quarantined>,
}

/// Loads the pending file. Missing: empty. Corrupt: moved aside, empty, and
/// reported. Unreadable: an error (nothing is moved or created).
pub fn load_or_quarantine(path: &Path, now: Timestamp) -> Result<Loaded, StoreError> {
    remove_stale_temp_files(path);
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Loaded {
                document: PendingDocument::default(),
                quarantined: None,
            })
        }
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    if !meta.is_file() {
        return Err(StoreError::NotAFile {
            path: path.to_owned(),
        });
    }
    let bytes = fs::read(path).map_err(|source| StoreError::Read {
        path: path.to_owned(),
        source,
    })?;
    match parse(&bytes) {
        Ok(document) => Ok(Loaded {
            document,
            quarantined: None,
        }),
        Err(reason) => {
            let q = quarantine(path, reason, now)?;
            Ok(Loaded {
                document: PendingDocument::default(),
                quarantined: Some(q),
            })
        }
    }
}

/// Moves a bad file aside under a name that no earlier quarantine used.
pub fn quarantine(
    path: &Path,
    reason: Corruption,
    now: Timestamp,
) -> Result<Quarantined, StoreError> {
    let stamp = now.to_rfc3339().replace([':', '.'], "-");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = path.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    fs::rename(path, &target)
        .and_then(|()| sync_dir(path))
        .map_err(|source| StoreError::Quarantine {
            path: path.to_owned(),
            reason: reason.clone(),
            source,
        })?;
    tracing::warn!(moved_to = %target.display(), %reason, "pending file quarantined");
    Ok(Quarantined {
        original: path.to_owned(),
        moved_to: target,
        reason,
    })
}

fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

/// Temp files left by a crash mid-write hold nothing acknowledged: the
/// rename that would have acknowledged them never happened.
pub(crate) fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), prefix) = (path.parent(), temp_prefix(path)) else {
        return;
    };
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// A fresh name beside `target`, in its folder (so the rename that puts it
/// in place stays on one file system), unique to this process and try.
fn temp_beside(target: &Path) -> PathBuf {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(
        "{}{}-{}",
        temp_prefix(target),
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Opens `path` with `options`, owner-only (0600) on Unix when it is
/// created: every file the desk writes names staff, numbers or keys.
pub(crate) fn open_owner_only(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options.open(path)
}

/// Opens `path` to append to, creating it owner-only: the journal, the
/// audit log and the log files are all written this way.
pub(crate) fn open_append_owner_only(path: &Path) -> io::Result<File> {
    open_owner_only(path, OpenOptions::new().create(true).append(true))
}

/// A fully written, fsync'ed temp file, not yet in place.
pub struct StagedWrite {
    temp: PathBuf,
    target: PathBuf,
}

impl StagedWrite {
    /// Writes and fsyncs `bytes` beside `target`.
    pub fn stage(target: &Path, bytes: &[u8]) -> io::Result<Self> {
        let temp = temp_beside(target);
        let result = (|| {
            // Owner-only from the first byte: these files hold digests, sealed
            // numbers and keys.
            let mut f = open_owner_only(&temp, OpenOptions::new().write(true).create_new(true))?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        Ok(Self {
            temp,
            target: target.to_owned(),
        })
    }

    /// Renames into place and fsyncs the directory: the write is durable
    /// once this returns.
    pub fn commit(self) -> io::Result<()> {
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::remove_file(&self.temp);
            return Err(e);
        }
        sync_dir(&self.target)
    }
}

/// A file written piece by piece beside its target and put in place only
/// when complete: [`StagedWrite`] for output too big to hold in memory (an
/// audit export). Readers see the old file or the whole new one, never a
/// part; dropped without [`StagedFile::commit`], the temp file is removed.
pub struct StagedFile {
    out: Option<io::BufWriter<File>>,
    temp: PathBuf,
    target: PathBuf,
}

impl StagedFile {
    pub fn create(target: &Path) -> io::Result<Self> {
        let temp = temp_beside(target);
        // Owner-only, as StagedWrite: an export holds digests and names.
        let file = open_owner_only(&temp, OpenOptions::new().write(true).create_new(true))?;
        Ok(Self {
            out: Some(io::BufWriter::with_capacity(64 * 1024, file)),
            temp,
            target: target.to_owned(),
        })
    }

    /// Flushes, fsyncs, renames into place and fsyncs the directory: the
    /// file is durable once this returns.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("staged file already committed"))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temp, &self.target)?;
        sync_dir(&self.target)
    }

    fn out(&mut self) -> io::Result<&mut io::BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("staged file already committed"))
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out()?.flush()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Not committed, or the rename failed: nothing of it is kept. After a
        // commit the temp name is gone and this does nothing.
        let _ = fs::remove_file(&self.temp);
    }
}

pub fn atomic_write(target: &Path, bytes: &[u8]) -> io::Result<()> {
    StagedWrite::stage(target, bytes)?.commit()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory for fsync; NTFS journals the rename.
        let _ = path;
        Ok(())
    }
}

/// Where the engine saves its changes. `append` must make the whole
/// change durable (all of it or none of it) before it returns `Ok`, so that
/// an acknowledged change survives a crash.
pub trait PendingStore: Send {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError>;
}

/// The version-1 form: the whole document in one file, rewritten atomically
/// at every change. Kept to write and read files from before the journal
/// (migration, tests); a change costs a copy and a write of everything.
pub struct FileStore {
    path: PathBuf,
    /// The document as last written; read from the file at the first change.
    doc: Option<PendingDocument>,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            doc: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_error(&self, source: io::Error) -> StoreError {
        StoreError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

impl PendingStore for FileStore {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        let mut doc = match &self.doc {
            Some(doc) => doc.clone(),
            None => match fs::read(&self.path) {
                Ok(bytes) => parse(&bytes).map_err(|e| self.write_error(io::Error::other(e)))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => PendingDocument::default(),
                Err(e) => return Err(self.write_error(e)),
            },
        };
        for op in change {
            doc.apply(op);
        }
        atomic_write(&self.path, &to_bytes(&doc)).map_err(|e| self.write_error(e))?;
        self.doc = Some(doc);
        Ok(())
    }
}

/// Keeps the document its changes make in memory, and can be told to fail:
/// for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub saved: Option<PendingDocument>,
    pub saves: usize,
    pub fail_next: bool,
}

impl MemoryStore {
    /// A store that already holds `doc`, as a desk built from it does.
    pub fn holding(doc: PendingDocument) -> Self {
        Self {
            saved: Some(doc),
            ..Self::default()
        }
    }
}

impl PendingStore for MemoryStore {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        if std::mem::take(&mut self.fail_next) {
            return Err(StoreError::Write {
                path: PathBuf::from("memory"),
                source: io::Error::other("injected failure"),
            });
        }
        let doc = self.saved.get_or_insert_with(PendingDocument::default);
        for op in change {
            doc.apply(op);
        }
        self.saves += 1;
        Ok(())
    }
}

/// Loads the desk key from an owner-only file, creating it on first use.
/// Used where no OS credential store is available (S10).
pub fn load_or_create_key_file<R: RngCore + CryptoRng>(
    path: &Path,
    rng: &mut R,
) -> Result<DigestKey, KeyFileError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let bytes =
                hex::decode(text.trim()).map_err(|_| KeyFileError::Malformed(path.to_owned()))?;
            DigestKey::from_bytes(&bytes).ok_or_else(|| KeyFileError::Malformed(path.to_owned()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = DigestKey::generate(rng);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| KeyFileError::Io(path.to_owned(), e))?;
            }
            atomic_write(path, hex::encode(key.as_bytes()).as_bytes())
                .map_err(|e| KeyFileError::Io(path.to_owned(), e))?;
            Ok(key)
        }
        Err(e) => Err(KeyFileError::Io(path.to_owned(), e)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("The key file {0} is damaged. Pending verifications cannot be checked without it; ask IT to restore it from backup.")]
    Malformed(PathBuf),
    #[error("The key file {0} cannot be read or written: {1}")]
    Io(PathBuf, io::Error),
}
