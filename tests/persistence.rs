//! The pending store on real files: restarts, interrupted writes, corrupt
//! files moved aside byte for byte, and the key file.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use countersign::audit::MemoryAudit;
use countersign::clock::{Clock, ManualClock};
use countersign::desk::{Desk, DeskError, OutcomeKind, Parts, Started};
use countersign::gateway::{DeliveryStatus, MessageSid, SendReceipt};
use countersign::keys::DigestKey;
use countersign::persist::{
    self, load_or_create_key_file, load_or_quarantine, Corruption, FileStore, KeyFileError,
    PendingDocument, StagedWrite, StoreError,
};
use countersign::phone::PhoneNumber;
use countersign::policy::Policy;
use countersign::purpose::Purpose;
use countersign::verification::VerificationId;
use rand::rngs::StdRng;
use rand::SeedableRng;
use support::{code_of, wrong, Harness, A, A_DIGITS, T0};

type FileDesk = Desk<FileStore, MemoryAudit, ManualClock, StdRng>;

fn desk(
    path: &Path,
    key: &DigestKey,
    clock: &ManualClock,
    doc: PendingDocument,
) -> Result<FileDesk, DeskError> {
    Desk::new(
        Parts {
            policy: Policy::default(),
            templates: countersign::templates::MessageTemplates::default(),
            key: key.clone(),
            store: FileStore::new(path),
            audit: MemoryAudit::default(),
            clock: clock.clone(),
            rng: StdRng::seed_from_u64(clock.now().millis() as u64),
        },
        doc,
    )
    .map_err(|(error, _parts)| error)
}

fn a() -> PhoneNumber {
    PhoneNumber::parse_any(A, "GB".parse().unwrap()).unwrap()
}

/// Starts a verification on `d` and has the gateway accept it.
fn start_and_send(d: &mut FileDesk) -> (VerificationId, String) {
    let Started::New { view, sms } = d
        .start(a(), Purpose::Unspecified, Harness::operator())
        .unwrap()
    else {
        panic!("expected a new verification");
    };
    d.record_send(
        &view.id,
        Ok(SendReceipt {
            sid: MessageSid::parse("SM0123456789abcdef").unwrap(),
            status: DeliveryStatus::Sending,
        }),
    )
    .unwrap();
    (view.id, code_of(&sms))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn setup() -> (tempfile::TempDir, PathBuf, DigestKey, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.json");
    let key = load_or_create_key_file(
        &dir.path().join("keys").join("desk.key"),
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap();
    (dir, path, key, ManualClock::at(T0))
}

#[test]
fn pending_verification_survives_a_restart_with_its_try_count() {
    let (_dir, path, key, clock) = setup();
    let (id, code) = {
        let mut d = desk(&path, &key, &clock, PendingDocument::default()).unwrap();
        let (id, code) = start_and_send(&mut d);
        assert_eq!(
            d.check(&id, &wrong(&code)).unwrap().outcome,
            OutcomeKind::WrongCode
        );
        (id, code)
    }; // "crash": the desk is gone, only the file remains

    let on_disk = fs::read_to_string(&path).unwrap();
    assert!(!on_disk.contains(&code) && !on_disk.contains(A_DIGITS));

    clock.advance(std::time::Duration::from_secs(60));
    let loaded = load_or_quarantine(&path, clock.now()).unwrap();
    assert!(loaded.quarantined.is_none());
    let mut d = desk(&path, &key, &clock, loaded.document).unwrap();
    let view = d.get(&id).expect("still pending after restart");
    assert_eq!(view.tries_left, 4);
    assert_eq!(view.masked_number, "+44 •••• 456");
    assert_eq!(d.tracked_messages().len(), 1);
    // S6 holds across the restart too.
    assert!(matches!(
        d.start(a(), Purpose::Unspecified, Harness::operator())
            .unwrap(),
        Started::AlreadyPending { .. }
    ));
    assert_eq!(d.check(&id, &code).unwrap().outcome, OutcomeKind::Approved);
    let after = persist::parse(&fs::read(&path).unwrap()).unwrap();
    assert!(after.verifications.is_empty());
    assert_eq!(after.ended.len(), 1);
}

#[test]
fn interrupted_write_leaves_the_old_file_and_the_temp_is_cleaned() {
    let (dir, path, key, clock) = setup();
    let mut d = desk(&path, &key, &clock, PendingDocument::default()).unwrap();
    let (id, _) = start_and_send(&mut d);
    let old = fs::read(&path).unwrap();

    // The next write gets as far as its temp file, then the process dies.
    let staged = StagedWrite::stage(&path, b"{\"half\": \"written").unwrap();
    std::mem::forget(staged);
    let temps: Vec<_> = entries(dir.path())
        .into_iter()
        .filter(|n| n.starts_with(".pending.json.tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "{:?}", entries(dir.path()));
    assert_eq!(fs::read(&path).unwrap(), old, "old file intact");

    let loaded = load_or_quarantine(&path, T0).unwrap();
    assert!(loaded.quarantined.is_none());
    assert_eq!(loaded.document.verifications.len(), 1);
    assert_eq!(loaded.document.verifications[0].id, id);
    assert_eq!(
        entries(dir.path()),
        vec!["keys".to_owned(), "pending.json".to_owned()],
        "temp file removed"
    );
}

#[test]
fn a_committed_staged_write_replaces_the_file_owner_only() {
    let (dir, path, _, _) = setup();
    persist::atomic_write(&path, b"old").unwrap();
    StagedWrite::stage(&path, b"new").unwrap().commit().unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new");
    assert_eq!(entries(dir.path()), vec!["keys", "pending.json"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

fn valid_bytes() -> Vec<u8> {
    let mut h = Harness::new();
    h.start_and_send(A);
    persist::to_bytes(&h.saved())
}

fn assert_quarantined(name: &str, bytes: &[u8], expected: impl Fn(&Corruption) -> bool) {
    let (dir, path, _, _) = setup();
    fs::write(&path, bytes).unwrap();
    let loaded = load_or_quarantine(&path, T0).unwrap();
    let q = loaded
        .quarantined
        .unwrap_or_else(|| panic!("{name}: not quarantined"));
    assert!(expected(&q.reason), "{name}: reason {:?}", q.reason);
    assert_eq!(loaded.document, PendingDocument::default(), "{name}");
    assert_eq!(q.original, path);
    assert_eq!(
        q.moved_to,
        dir.path()
            .join("pending.json.corrupt-2026-01-01T00-00-00-000Z"),
        "{name}"
    );
    assert_eq!(fs::read(&q.moved_to).unwrap(), bytes, "{name}: bytes kept");
    assert!(!path.exists(), "{name}: original moved, not copied");
    assert!(q.message().contains(&q.reason.to_string()));
    // A second bad file at the same instant does not overwrite the first.
    fs::write(&path, bytes).unwrap();
    let q2 = load_or_quarantine(&path, T0).unwrap().quarantined.unwrap();
    assert_ne!(q2.moved_to, q.moved_to);
    assert_eq!(fs::read(&q.moved_to).unwrap(), bytes);
    assert_eq!(fs::read(&q2.moved_to).unwrap(), bytes);
}

#[test]
fn empty_file_is_quarantined() {
    assert_quarantined("empty", b"", |r| *r == Corruption::Empty);
    assert_quarantined("whitespace", b" \n\t", |r| *r == Corruption::Empty);
}

#[test]
fn truncated_file_is_quarantined() {
    let valid = valid_bytes();
    let cut = &valid[..valid.len() / 2];
    assert_quarantined("truncated", cut, |r| {
        matches!(r, Corruption::NotJson { line: 1, .. })
    });
}

#[test]
fn nul_filled_file_is_quarantined() {
    assert_quarantined("nul", &[0u8; 4096], |r| *r == Corruption::NulBytes);
    let mut tail = valid_bytes();
    tail.extend([0u8; 16]);
    assert_quarantined("nul tail", &tail, |r| *r == Corruption::NulBytes);
}

#[test]
fn wrong_shape_json_is_quarantined() {
    for (name, bytes) in [
        ("array", &b"[1, 2, 3]"[..]),
        ("other object", b"{\"hello\": 1}"),
        ("string", b"\"countersign/pending\""),
        (
            "bad field",
            b"{\"format\":\"countersign/pending\",\"version\":1,\"verifications\":\"x\",\"numbers\":{},\"ended\":[]}",
        ),
        (
            "unknown field",
            b"{\"format\":\"countersign/pending\",\"version\":1,\"verifications\":[],\"numbers\":{},\"ended\":[],\"codes\":[]}",
        ),
        (
            "older version",
            b"{\"format\":\"countersign/pending\",\"version\":0,\"verifications\":[],\"numbers\":{},\"ended\":[]}",
        ),
    ] {
        assert_quarantined(name, bytes, |r| matches!(r, Corruption::WrongShape(_)));
    }
}

#[test]
fn newer_version_file_is_quarantined() {
    let text = String::from_utf8(valid_bytes())
        .unwrap()
        .replace("\"version\":1", "\"version\":2");
    assert!(text.contains("\"version\":2"));
    assert_quarantined("newer", text.as_bytes(), |r| {
        *r == Corruption::NewerVersion(2)
    });
}

#[test]
fn a_valid_file_loads_unchanged() {
    let (_dir, path, _, _) = setup();
    let bytes = valid_bytes();
    fs::write(&path, &bytes).unwrap();
    let loaded = load_or_quarantine(&path, T0).unwrap();
    assert!(loaded.quarantined.is_none());
    assert_eq!(persist::to_bytes(&loaded.document), bytes);
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn missing_file_is_an_empty_list_and_creates_nothing() {
    let (dir, path, _, _) = setup();
    let loaded = load_or_quarantine(&path, T0).unwrap();
    assert!(loaded.quarantined.is_none());
    assert_eq!(loaded.document, PendingDocument::default());
    assert_eq!(entries(dir.path()), vec!["keys"]);
}

#[test]
fn a_directory_at_the_path_is_not_a_file_and_nothing_changes() {
    let (dir, path, key, clock) = setup();
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"keep").unwrap();
    let before = entries(dir.path());
    match load_or_quarantine(&path, T0) {
        Err(StoreError::NotAFile { path: p }) => assert_eq!(p, path),
        other => panic!("expected NotAFile, got {other:?}"),
    }
    assert_eq!(entries(dir.path()), before);
    assert_eq!(entries(&path), vec!["inside"]);
    assert_eq!(fs::read(path.join("inside")).unwrap(), b"keep");
    // Saving there fails too, and leaves the directory and no temp behind.
    let mut d = desk(&path, &key, &clock, PendingDocument::default()).unwrap();
    let e = d
        .start(a(), Purpose::Unspecified, Harness::operator())
        .unwrap_err();
    assert!(
        matches!(e, DeskError::Storage(StoreError::Write { .. })),
        "{e:?}"
    );
    assert!(d.list().is_empty());
    assert_eq!(entries(dir.path()), before);
    assert!(path.is_dir());
}

#[test]
fn key_file_is_created_owner_only_and_reloads_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("desk.key");
    let k1 = load_or_create_key_file(&path, &mut StdRng::seed_from_u64(5)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64, "256 bits as hex");
    // A different rng proves the second call reads rather than regenerates.
    let k2 = load_or_create_key_file(&path, &mut StdRng::seed_from_u64(6)).unwrap();
    assert_eq!(k1.as_bytes(), k2.as_bytes());
    // A damaged key file is an error, never silently replaced.
    fs::write(&path, "not hex").unwrap();
    assert!(matches!(
        load_or_create_key_file(&path, &mut StdRng::seed_from_u64(7)),
        Err(KeyFileError::Malformed(_))
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), "not hex");
    fs::write(&path, "abcd").unwrap();
    assert!(matches!(
        load_or_create_key_file(&path, &mut StdRng::seed_from_u64(7)),
        Err(KeyFileError::Malformed(_))
    ));
}

#[test]
fn entries_sealed_under_another_key_are_refused() {
    let (dir, path, key, clock) = setup();
    {
        let mut d = desk(&path, &key, &clock, PendingDocument::default()).unwrap();
        start_and_send(&mut d);
    }
    let doc = load_or_quarantine(&path, T0).unwrap().document;
    let other = load_or_create_key_file(
        &dir.path().join("other.key"),
        &mut StdRng::seed_from_u64(99),
    )
    .unwrap();
    assert_ne!(other.as_bytes(), key.as_bytes());
    let e = match desk(&path, &other, &clock, doc.clone()) {
        Err(e) => e,
        Ok(_) => panic!("a desk opened entries sealed under another key"),
    };
    assert!(matches!(e, DeskError::UnreadableEntry(_)), "{e:?}");
    assert_eq!(e.kind(), "unreadable_entry");
    assert!(!e.to_string().contains(A_DIGITS), "{e}");
    // The right key still opens them.
    assert!(desk(&path, &key, &clock, doc).is_ok());
}

/// A crash between handing out an SMS and recording the gateway's answer
/// leaves the entry "awaiting the gateway". After a restart that send is no
/// longer in flight, so staff can resend instead of waiting for expiry.
#[test]
fn an_entry_left_awaiting_the_gateway_by_a_crash_can_be_resent_after_restart() {
    use countersign::verification::Operator;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.json");
    let key = DigestKey::generate(&mut StdRng::seed_from_u64(9));
    let clock = ManualClock::at(T0);
    let mut first = desk(&path, &key, &clock, PendingDocument::default()).unwrap();
    let number = PhoneNumber::parse_any("+447400123456", "GB".parse().unwrap()).unwrap();
    let Started::New { view, .. } = first
        .start(
            number,
            Purpose::Unspecified,
            Operator::parse("Sam").unwrap(),
        )
        .unwrap()
    else {
        panic!("a new verification")
    };
    assert!(matches!(
        first.resend(&view.id),
        Err(DeskError::StillSending)
    ));
    drop(first); // the crash: no record_send

    clock.advance(std::time::Duration::from_secs(31));
    let loaded = countersign::persist::load_or_quarantine(&path, clock.now()).unwrap();
    let mut restarted = desk(&path, &key, &clock, loaded.document).unwrap();
    assert!(restarted.resend(&view.id).is_ok());
}
