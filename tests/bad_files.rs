//! Bad files at start, beyond what `tests/persistence.rs` already covers
//! (empty, truncated, NUL-filled, wrong shape, newer version and a directory
//! for `pending.json`): a FIFO, every truncation of a real document, more
//! wrong shapes, a file the desk may not read, and the same for the audit
//! log.
//!
//! Decisions, for the audit log (`AuditLog::open`):
//! - a log with damaged lines (garbage, NULs, invalid UTF-8, a last line cut
//!   by a crash) opens: its bytes are never rewritten, the chain continues
//!   from the last readable record, a cut last line is closed with a newline
//!   so new records stay readable, and `verify_chain` names the first damaged
//!   line for the auditor;
//! - a log that cannot be read (no permission, a directory, a FIFO) is a
//!   clear `AuditError::Read` and nothing at the path changes.
//!
//! "No permission to read": tests run as root in CI, and root reads through
//! permission bits. So when the test runs as root it re-executes itself as
//! `nobody` with `setpriv` (no capabilities, no groups), which is the honest
//! case of a desk account that may not read the file. As a normal user it
//! simply removes its own read permission.
// Unreadable files and FIFOs are made with Unix modes and mkfifo; Windows
// has neither (Windows CI runs the portable selection).
#![cfg(unix)]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use countersign::audit::{
    verify_chain, AuditError, AuditEvent, AuditLog, AuditSink, ChainReport, EventKind,
};
use countersign::persist::{self, load_or_quarantine, Corruption, StoreError};
use support::{Harness, A, B, T0};

fn valid_bytes_with_entries() -> Vec<u8> {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.desk.check(&id, &support::wrong(&code)).unwrap();
    h.start_and_send(B);
    persist::to_bytes(&h.saved())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

// ------------------------------------------------------------ pending.json --

#[test]
fn every_truncation_of_a_real_document_is_refused_never_half_read() {
    let valid = valid_bytes_with_entries();
    assert!(persist::parse(&valid).is_ok());
    println!("truncations checked: {}", valid.len());
    for cut in 0..valid.len() {
        let got = persist::parse(&valid[..cut]);
        assert!(
            matches!(got, Err(Corruption::Empty | Corruption::NotJson { .. })),
            "a cut at byte {cut} of {} gave {got:?}",
            valid.len()
        );
    }
}

#[test]
fn more_wrong_shapes_are_quarantined_with_their_bytes() {
    let big = format!(
        "{{\"format\":\"countersign/pending\",\"version\":{},\"verifications\":[],\"numbers\":{{}},\"ended\":[]}}",
        u64::MAX
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(valid_bytes_with_entries());
    type Case = (&'static str, Vec<u8>, fn(&Corruption) -> bool);
    let cases: Vec<Case> = vec![
        ("null", b"null".to_vec(), |r| matches!(r, Corruption::WrongShape(_))),
        ("number", b"42".to_vec(), |r| matches!(r, Corruption::WrongShape(_))),
        (
            "header only",
            br#"{"format":"countersign/pending","version":1}"#.to_vec(),
            |r| matches!(r, Corruption::WrongShape(_)),
        ),
        (
            "version as text",
            br#"{"format":"countersign/pending","version":"1","verifications":[],"numbers":{},"ended":[]}"#.to_vec(),
            |r| matches!(r, Corruption::WrongShape(_)),
        ),
        (
            "another format",
            br#"{"format":"countersign/settings","version":1,"verifications":[],"numbers":{},"ended":[]}"#.to_vec(),
            |r| matches!(r, Corruption::WrongShape(_)),
        ),
        (
            "a verification missing its digest",
            br#"{"format":"countersign/pending","version":1,"verifications":[{"id":"x"}],"numbers":{},"ended":[]}"#.to_vec(),
            |r| matches!(r, Corruption::WrongShape(_)),
        ),
        ("huge version", big.into_bytes(), |r| {
            *r == Corruption::NewerVersion(u32::MAX)
        }),
        ("byte order mark", bom, |r| matches!(r, Corruption::NotJson { .. })),
        ("invalid UTF-8", b"{\"format\":\"\xff\xfe\"}".to_vec(), |r| {
            matches!(r, Corruption::NotJson { .. })
        }),
    ];
    for (name, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pending.json");
        fs::write(&path, &bytes).unwrap();
        let loaded = load_or_quarantine(&path, T0).unwrap();
        let q = loaded
            .quarantined
            .unwrap_or_else(|| panic!("{name}: not quarantined"));
        assert!(expected(&q.reason), "{name}: {:?}", q.reason);
        assert_eq!(fs::read(&q.moved_to).unwrap(), bytes, "{name}: bytes kept");
        assert!(loaded.document.verifications.is_empty(), "{name}");
        let message = q.message();
        assert!(
            message.contains("moved aside, unchanged"),
            "{name}: {message}"
        );
    }
}

#[test]
fn a_fifo_at_the_pending_path_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.json");
    mkfifo(&path);
    // Opening a FIFO for reading would wait for a writer forever; the store
    // must look before it opens.
    match load_or_quarantine(&path, T0) {
        Err(e @ StoreError::NotAFile { .. }) => {
            assert!(e.to_string().contains("is not a regular file"), "{e}")
        }
        other => panic!("expected NotAFile, got {other:?}"),
    }
    assert!(fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_fifo_like());
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

// --------------------------------------------------------------- audit log --

fn event(n: i64) -> AuditEvent {
    let mut e = AuditEvent::new(
        T0.plus(std::time::Duration::from_secs(n as u64)),
        EventKind::AppStarted,
    );
    e.detail = Some(format!("event {n}"));
    e
}

/// A log with `n` intact records.
fn log_with(path: &Path, n: i64) -> Vec<u8> {
    let mut log = AuditLog::open(path).unwrap();
    for i in 0..n {
        log.record(event(i)).unwrap();
    }
    fs::read(path).unwrap()
}

fn last_line(path: &Path) -> serde_json::Value {
    let text = fs::read(path).unwrap();
    let last = text
        .split(|b| *b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap()
        .to_vec();
    serde_json::from_slice(&last).expect("the newest record is readable")
}

#[test]
fn audit_log_with_damaged_lines_opens_keeps_every_byte_and_names_the_damage() {
    for (name, damage) in [
        ("garbage line", b"this is not a record\n".to_vec()),
        ("NUL block", vec![0u8; 512]),
        ("invalid UTF-8", b"\xff\xfe\xfd{\"seq\":\n".to_vec()),
        (
            "last line cut by a crash",
            b"{\"seq\":3,\"time\":\"2026-01-0".to_vec(),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut original = log_with(&path, 2);
        original.extend(&damage);
        fs::write(&path, &original).unwrap();

        let mut log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        log.record(event(10)).unwrap();
        let after = fs::read(&path).unwrap();
        assert!(
            after.starts_with(&original),
            "{name}: original bytes rewritten"
        );
        // The new record continues the chain from the last readable one and
        // is readable on its own line.
        let newest = last_line(&path);
        assert_eq!(newest["seq"], 3, "{name}");
        assert_eq!(newest["detail"], "event 10", "{name}");
        // The auditor is told where the damage starts.
        match verify_chain(&path).unwrap() {
            ChainReport::Broken { line, reason } => {
                assert_eq!(line, 3, "{name}: {reason}");
                assert_eq!(reason, "not a readable audit record", "{name}");
            }
            other => panic!("{name}: damage not reported: {other:?}"),
        }
    }
}

#[test]
fn audit_log_empty_or_intact_continues_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    fs::write(&path, b"").unwrap();
    log_with(&path, 3);
    let mut log = AuditLog::open(&path).unwrap();
    log.record(event(3)).unwrap();
    assert!(matches!(
        verify_chain(&path).unwrap(),
        ChainReport::Intact { records: 4, .. }
    ));
}

fn assert_read_refused(got: Result<AuditLog, AuditError>, path: &Path) {
    match got {
        Err(e @ AuditError::Read { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("cannot be read"), "{shown}");
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains("left as it is"), "{shown}");
        }
        Err(other) => panic!("expected a read error, got {other:?}"),
        Ok(_) => panic!("a log that cannot be read was opened"),
    }
}

#[test]
fn audit_log_that_is_a_directory_or_fifo_is_a_clear_error_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"keep").unwrap();
    assert_read_refused(AuditLog::open(&path), &path);
    assert_eq!(fs::read(path.join("inside")).unwrap(), b"keep");

    let fifo = dir.path().join("fifo.log");
    mkfifo(&fifo);
    // Would block forever if the log were opened for reading.
    assert_read_refused(AuditLog::open(&fifo), &fifo);
    assert!(fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo_like());
}

// ------------------------------------------------- files the desk may not read --

const UNPRIV_ENV: &str = "COUNTERSIGN_UNREADABLE_DIR";

/// What opening each file gives, as `<file> <error kind>: <message>` lines.
fn open_unreadable_files(dir: &Path) -> String {
    let pending = match load_or_quarantine(&dir.join("pending.json"), T0) {
        Err(e @ StoreError::Read { .. }) => format!("pending read-error: {e}"),
        other => format!("pending unexpected: {other:?}"),
    };
    let audit = match AuditLog::open(&dir.join("audit.log")) {
        Err(e @ AuditError::Read { .. }) => format!("audit read-error: {e}"),
        Err(e) => format!("audit unexpected: {e:?}"),
        Ok(_) => "audit unexpected: opened".to_owned(),
    };
    format!("{pending}\n{audit}\n")
}

/// Printed by the child once it has opened both files, so the parent knows
/// the child ran rather than matched no test.
const CHILD_DONE: &str = "UNREADABLE FILES CHILD DONE";

/// The child's side, run unprivileged by the test below. Ignored, so a
/// normal run does not count it as a pass: without the variable it has
/// nothing to check.
#[test]
#[ignore = "child process entry: run only by files_the_desk_may_not_read_are_clear_errors_and_are_left_alone"]
fn unreadable_files_child_process() {
    if let Ok(dir) = std::env::var(UNPRIV_ENV) {
        print!("{}", open_unreadable_files(Path::new(&dir)));
        println!("{CHILD_DONE}");
    }
}

#[test]
fn files_the_desk_may_not_read_are_clear_errors_and_are_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let dir: PathBuf = root.path().to_owned();
    let pending = valid_bytes_with_entries();
    let audit = log_with(&dir.join("audit.log"), 2);
    fs::write(dir.join("pending.json"), &pending).unwrap();
    for f in ["pending.json", "audit.log"] {
        fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o000)).unwrap();
    }

    let report = if is_root() {
        // Root reads through permission bits: ask as `nobody`, who may enter
        // the folder but may not read the files.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "unreadable_files_child_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(UNPRIV_ENV, &dir)
            .output()
            .expect("setpriv (util-linux) runs the test as nobody");
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        assert!(
            out.status.success()
                && stdout.contains(CHILD_DONE)
                && stdout.contains("test result: ok. 1 passed"),
            "the child did not run through: {out:?}"
        );
        stdout
    } else {
        open_unreadable_files(&dir)
    };
    assert!(
        report.contains("pending read-error: Could not read"),
        "{report}"
    );
    assert!(report.contains("Permission denied"), "{report}");
    assert!(
        report.contains("audit read-error: The audit log"),
        "{report}"
    );
    assert!(!report.contains("unexpected"), "{report}");

    // Nothing was moved, created or changed.
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The head beside the log was written by `log_with`, before the test.
    assert_eq!(names, ["audit.log", "audit.log.head", "pending.json"]);
    for f in ["pending.json", "audit.log"] {
        fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(fs::read(dir.join("pending.json")).unwrap(), pending);
    assert_eq!(fs::read(dir.join("audit.log")).unwrap(), audit);
}

// ------------------------------------------------- parseable but damaged --

/// Found by `tests/fuzz.rs` (pending_file): a try count at `u32::MAX` in
/// the file made the next wrong code overflow (a panic in debug; in release
/// the count wrapped to zero and every try came back). It must lock.
#[test]
fn an_entry_with_an_extreme_try_count_locks_on_the_next_wrong_code() {
    use countersign::audit::MemoryAudit;
    use countersign::clock::ManualClock;
    use countersign::desk::{Desk, OutcomeKind, Parts};
    use countersign::persist::MemoryStore;
    use countersign::policy::Policy;
    use rand::SeedableRng;

    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    let mut doc = h.saved();
    doc.verifications[0].failed_attempts = u32::MAX;
    let doc = persist::parse(&persist::to_bytes(&doc)).expect("still a well-formed file");
    let mut desk = Desk::new(
        Parts {
            policy: Policy::default(),
            templates: countersign::templates::MessageTemplates::default(),
            key: h.key.clone(),
            store: MemoryStore::default(),
            audit: MemoryAudit::default(),
            clock: ManualClock::at(T0),
            rng: rand::rngs::StdRng::seed_from_u64(3),
        },
        doc,
    )
    .map_err(|(e, _)| e)
    .unwrap();
    assert_eq!(desk.get(&id).unwrap().tries_left, 0);
    let outcome = desk.check(&id, &support::wrong(&code)).unwrap();
    assert_eq!(outcome.outcome, OutcomeKind::Locked);
    assert!(desk.get(&id).is_none(), "locked and its digest destroyed");
    assert!(
        desk.check(&id, &code).is_err(),
        "the right code no longer works"
    );
}
