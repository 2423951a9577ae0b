//! The sealed journal store on real files (S21): restarts, compaction, a
//! torn last line, and every way of damaging or editing the pending state,
//! each of which must set the state aside without handing a number back its
//! tries or its sends. The desk writes the real audit log, which is what the
//! counts are rebuilt from.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use countersign::audit::{AuditEvent, AuditLog, AuditRecord, EventKind};
use countersign::clock::{Clock, ManualClock, Timestamp};
use countersign::desk::{Desk, DeskError, OutcomeKind, Parts, Started};
use countersign::gateway::{DeliveryStatus, MessageSid, SendReceipt};
use countersign::journal::{journal_path, JournalStore, OpenOptions, SetAside};
use countersign::keys::DigestKey;
use countersign::persist::{self, Corruption, FileStore, PendingDocument};
use countersign::phone::PhoneNumber;
use countersign::policy::{Policy, PolicySettings};
use countersign::purpose::Purpose;
use countersign::recovery::AuditHistory;
use countersign::verification::{Status, VerificationId};
use rand::rngs::StdRng;
use rand::SeedableRng;
use support::{code_of, wrong_n, Harness, A, A_DIGITS, B, T0};

type JDesk = Desk<JournalStore, AuditLog, ManualClock, StdRng>;

/// Three wrong codes a number may have in an hour: two are left after the
/// scenario below, so a third locks.
fn policy() -> Policy {
    Policy::from_settings(&PolicySettings {
        number_failures_per_hour: 3,
        ..Default::default()
    })
    .unwrap()
}

struct Site {
    dir: tempfile::TempDir,
    key: DigestKey,
    clock: ManualClock,
    seed: u64,
}

struct Open {
    desk: JDesk,
    set_aside: Option<SetAside>,
    migrated: bool,
}

impl Site {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            key: DigestKey::generate(&mut StdRng::seed_from_u64(11)),
            clock: ManualClock::at(T0),
            seed: 0,
        }
    }

    fn pending(&self) -> PathBuf {
        self.dir.path().join("pending.json")
    }

    fn journal(&self) -> PathBuf {
        journal_path(&self.pending())
    }

    fn audit(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn open(&mut self, sealed_expected: bool) -> Open {
        let options = OpenOptions {
            sealed_expected,
            audit_trail: Some(self.audit()),
        };
        let opened =
            JournalStore::open(&self.pending(), &self.key, &options, self.clock.now()).unwrap();
        self.seed += 1;
        let mut desk = Desk::new(
            Parts {
                policy: policy(),
                templates: countersign::templates::MessageTemplates::default(),
                key: self.key.clone(),
                store: opened.store,
                audit: AuditLog::open(&self.audit()).unwrap(),
                clock: self.clock.clone(),
                rng: StdRng::seed_from_u64(self.seed),
            },
            opened.document,
        )
        .map_err(|(e, _)| e)
        .unwrap();
        if let Some(report) = &opened.set_aside {
            for e in report.audit_events(self.clock.now()) {
                desk.audit_event(e);
            }
        }
        Open {
            desk,
            set_aside: opened.set_aside,
            migrated: opened.migrated,
        }
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Names in the data folder, sorted.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn journal_lines(&self) -> Vec<String> {
        fs::read_to_string(self.journal())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_journal_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        fs::write(self.journal(), text).unwrap();
    }
}

fn a() -> PhoneNumber {
    PhoneNumber::parse_any(A, "GB".parse().unwrap()).unwrap()
}

fn receipt(n: u32) -> SendReceipt {
    SendReceipt {
        sid: MessageSid::parse(&format!("SM{n:032x}")).unwrap(),
        status: DeliveryStatus::Sending,
    }
}

fn start_and_send(d: &mut JDesk, number: PhoneNumber) -> (VerificationId, String) {
    let Started::New { view, sms } = d
        .start(number, Purpose::Unspecified, Harness::operator())
        .unwrap()
    else {
        panic!("expected a new verification");
    };
    d.record_send(&view.id, Ok(receipt(1))).unwrap();
    (view.id, code_of(&sms))
}

/// The scenario every damage test starts from: A started and sent, two
/// wrong codes (three tries left of five; two of the number's three
/// failures used), and ten seconds later the desk stops.
fn two_wrong_codes(site: &mut Site) -> (VerificationId, String) {
    let mut o = site.open(false);
    let (id, code) = start_and_send(&mut o.desk, a());
    for n in 1..=2 {
        let out = o.desk.check(&id, &wrong_n(&code, n)).unwrap();
        assert_eq!(out.outcome, OutcomeKind::WrongCode);
    }
    assert_eq!(o.desk.get(&id).unwrap().tries_left, 3);
    site.advance(10);
    (id, code)
}

/// After the state was set aside: the verification is ended and its code
/// dead, and the number still has its send and its two wrong codes.
fn assert_nothing_handed_back(site: &mut Site, o: &mut Open, id: &VerificationId, code: &str) {
    let report = o.set_aside.as_ref().expect("the state was set aside");
    assert!(
        report.message().contains("set aside"),
        "{}",
        report.message()
    );
    assert!(!report.message().contains(A_DIGITS));
    assert_eq!(report.ended.len(), 1, "{report:?}");
    assert_eq!(&report.ended[0].0, id);
    assert!(
        o.desk.get(id).is_none(),
        "a set-aside verification is ended"
    );
    assert!(matches!(
        o.desk.check(id, code),
        Err(DeskError::AlreadyEnded(Status::Cancelled))
    ));
    let doc = o.desk.document();
    let history = doc
        .numbers
        .get(&o.desk.number_id(&a()))
        .expect("history kept");
    assert_eq!(history.sends.len(), 1, "the send was handed back");
    assert_eq!(history.failures.len(), 2, "wrong codes were handed back");
    // And the rules see them: the pause after a send, then the number's
    // third wrong code of the hour locks the next verification at once.
    assert!(matches!(
        o.desk.start(a(), Purpose::Unspecified, Harness::operator()),
        Err(DeskError::Cooldown { .. })
    ));
    site.advance(30);
    let (id2, code2) = start_and_send(&mut o.desk, a());
    let out = o.desk.check(&id2, &wrong_n(&code2, 1)).unwrap();
    assert_eq!(out.outcome, OutcomeKind::Locked, "the S5 count was reset");
    // The set-aside was audited, and the verification's end with it.
    let trail = countersign::audit::recent(&site.audit(), T0).unwrap();
    let kinds: Vec<EventKind> = trail.iter().map(|r| r.event.event).collect();
    assert!(kinds.contains(&EventKind::StoreQuarantined), "{kinds:?}");
    assert!(trail.iter().any(|r| r.event.event == EventKind::Cancelled
        && r.event.verification.as_deref() == Some(id.as_str())));
}

/// Every quarantined file kept its bytes.
fn assert_kept(report: &SetAside, originals: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in originals {
        let q = report
            .quarantined
            .iter()
            .find(|q| &q.original == path)
            .unwrap_or_else(|| panic!("{} not quarantined: {report:?}", path.display()));
        assert_eq!(&fs::read(&q.moved_to).unwrap(), bytes, "{}", path.display());
    }
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}

// ------------------------------------------------------------ normal use --

#[test]
fn changes_survive_restarts_through_the_journal_and_nothing_is_in_clear() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    for file in [site.pending(), site.journal()] {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(A_DIGITS) && !text.contains(&code),
            "{}",
            file.display()
        );
    }
    let mut o = site.open(true);
    assert!(o.set_aside.is_none(), "{:?}", o.set_aside);
    assert_eq!(o.desk.get(&id).unwrap().tries_left, 3);
    assert_eq!(
        o.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
    drop(o);
    let o = site.open(true);
    assert!(o.set_aside.is_none());
    assert!(o.desk.list().is_empty());
    assert_eq!(o.desk.document().ended.len(), 1);
    // The snapshot is still a JSON object with a seal; the journal has one
    // line per change.
    let snapshot: serde_json::Value = serde_json::from_slice(&read(&site.pending())).unwrap();
    assert_eq!(snapshot["version"], 2);
    assert!(snapshot["seal"].as_str().is_some_and(|s| s.len() == 64));
    assert_eq!(
        site.journal_lines().len(),
        5,
        "start, send, 2 wrong codes, approval"
    );
}

#[test]
fn compaction_writes_the_state_into_the_snapshot_and_empties_the_journal() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    let mut o = site.open(true);
    let store = o.desk.store().clone();
    assert!(
        !store.compaction_due(),
        "a few records are not worth a rewrite"
    );
    assert!(!store.compact().unwrap());
    store.compact_now().unwrap();
    assert_eq!(read(&site.journal()), b"");
    assert_eq!(store.document().unwrap(), o.desk.document());
    // Changes after the compaction go on in the journal.
    o.desk
        .record_delivery(&id, &receipt(1).sid, DeliveryStatus::Delivered)
        .unwrap();
    assert_eq!(site.journal_lines().len(), 1);
    drop(o);
    let o = site.open(true);
    assert!(o.set_aside.is_none(), "{:?}", o.set_aside);
    let view = o.desk.get(&id).unwrap();
    assert_eq!((view.tries_left, view.delivery.state), (3, "delivered"));
    assert_eq!(o.desk.document(), o.desk.store().document().unwrap());
    let mut o = o;
    assert_eq!(
        o.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn compaction_is_due_once_the_journal_outgrows_the_snapshot() {
    let mut site = Site::new();
    let mut o = site.open(false);
    let store = o.desk.store().clone();
    let mut n = 0;
    while !store.compaction_due() {
        let number =
            PhoneNumber::parse_any(&format!("+447400{:06}", 200_000 + n), "GB".parse().unwrap())
                .unwrap();
        let (id, code) = start_and_send(&mut o.desk, number);
        o.desk.check(&id, &code).unwrap();
        n += 1;
        assert!(n < 10_000, "never due");
    }
    let (journal, snapshot) = store.sizes().unwrap();
    assert!(journal >= countersign::journal::COMPACT_MIN_BYTES && journal >= snapshot);
    assert!(store.compact().unwrap());
    let (journal, _) = store.sizes().unwrap();
    assert_eq!(journal, 0);
    assert!(!store.compaction_due());
    drop(o);
    assert!(site.open(true).set_aside.is_none());
}

#[test]
fn a_crash_between_the_new_snapshot_and_the_journal_cut_loses_nothing() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    let o = site.open(true);
    let old_journal = read(&site.journal());
    o.desk.store().compact_now().unwrap();
    drop(o);
    // As if the process had died after the snapshot's rename: the old
    // journal, whose records the snapshot already holds, is still there.
    fs::write(site.journal(), &old_journal).unwrap();
    let mut o = site.open(true);
    assert!(o.set_aside.is_none(), "{:?}", o.set_aside);
    assert_eq!(o.desk.get(&id).unwrap().tries_left, 3);
    o.desk
        .record_delivery(&id, &receipt(1).sid, DeliveryStatus::Delivered)
        .unwrap();
    drop(o);
    let mut o = site.open(true);
    assert!(o.set_aside.is_none(), "{:?}", o.set_aside);
    assert_eq!(o.desk.get(&id).unwrap().delivery.state, "delivered");
    assert_eq!(
        o.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn a_torn_last_line_is_a_crash_not_tampering_and_is_cut() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    let whole = read(&site.journal());
    for torn in [&b"{\"seq\":6,\"prev\":\"ab"[..], b"\0\0\0\0\0\0\0\0"] {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(torn);
        fs::write(site.journal(), &bytes).unwrap();
        let o = site.open(true);
        assert!(o.set_aside.is_none(), "{:?}", o.set_aside);
        assert_eq!(o.desk.get(&id).unwrap().tries_left, 3);
        assert_eq!(read(&site.journal()), whole, "the torn bytes are cut");
    }
    let mut o = site.open(true);
    assert_eq!(
        o.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
    drop(o);
    assert!(site.open(true).set_aside.is_none());
}

#[test]
fn a_first_start_creates_a_sealed_store_and_a_missing_one_is_then_damage() {
    let mut site = Site::new();
    let o = site.open(false);
    assert!(o.set_aside.is_none() && !o.migrated);
    drop(o);
    assert_eq!(
        site.entries(),
        vec!["audit.jsonl", "pending.journal", "pending.json"]
    );
    fs::remove_file(site.pending()).unwrap();
    fs::remove_file(site.journal()).unwrap();
    // Without the fact, an empty folder is a new desk...
    assert!(site.open(false).set_aside.is_none());
    fs::remove_file(site.pending()).unwrap();
    fs::remove_file(site.journal()).unwrap();
    // ...with it, the store is missing.
    let o = site.open(true);
    let report = o.set_aside.expect("missing while the facts say sealed");
    assert!(
        matches!(report.reason, Corruption::Missing(_)),
        "{report:?}"
    );
}

// -------------------------------------------------- damage and tampering --

#[test]
fn an_edited_try_count_in_the_journal_is_set_aside() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    let mut lines = site.journal_lines();
    let edited = lines
        .iter()
        .rposition(|l| l.contains("\"failedAttempts\":2"))
        .unwrap();
    lines[edited] = lines[edited].replace("\"failedAttempts\":2", "\"failedAttempts\":0");
    site.write_journal_lines(&lines);
    let originals = [
        (site.pending(), read(&site.pending())),
        (site.journal(), read(&site.journal())),
    ];
    let mut o = site.open(true);
    let report = o.set_aside.clone().unwrap();
    assert!(
        matches!(&report.reason, Corruption::Journal(why) if why.contains("seal")),
        "{report:?}"
    );
    assert_kept(&report, &originals);
    assert_nothing_handed_back(&mut site, &mut o, &id, &code);
}

#[test]
fn an_edited_expiry_or_seal_in_the_snapshot_is_set_aside() {
    for edit in ["expiry", "seal", "failures"] {
        let mut site = Site::new();
        let (id, code) = two_wrong_codes(&mut site);
        site.open(true).desk.store().compact_now().unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&read(&site.pending())).unwrap();
        match edit {
            "expiry" => {
                let e = v["verifications"][0]["expiresAt"].as_i64().unwrap();
                v["verifications"][0]["expiresAt"] = (e + 3_600_000).into();
            }
            "seal" => {
                let s = v["seal"].as_str().unwrap().to_owned();
                let flipped = if s.starts_with('0') { "1" } else { "0" };
                v["seal"] = format!("{flipped}{}", &s[1..]).into();
            }
            _ => {
                let numbers = v["numbers"].as_object_mut().unwrap();
                let h = numbers.values_mut().next().unwrap();
                h["failures"] = serde_json::json!([]);
            }
        }
        fs::write(site.pending(), serde_json::to_vec(&v).unwrap()).unwrap();
        let originals = [(site.pending(), read(&site.pending()))];
        let mut o = site.open(true);
        let report = o
            .set_aside
            .clone()
            .unwrap_or_else(|| panic!("{edit}: accepted"));
        assert_eq!(report.reason, Corruption::BadSeal, "{edit}");
        assert_kept(&report, &originals);
        assert_nothing_handed_back(&mut site, &mut o, &id, &code);
    }
}

#[test]
fn a_deleted_truncated_or_reordered_journal_is_set_aside() {
    for damage in [
        "delete",
        "cut the last record",
        "cut a middle record",
        "reorder",
        "empty",
    ] {
        let mut site = Site::new();
        let (id, code) = two_wrong_codes(&mut site);
        let mut lines = site.journal_lines();
        assert_eq!(lines.len(), 4);
        match damage {
            "delete" => fs::remove_file(site.journal()).unwrap(),
            "cut the last record" => {
                lines.pop();
                site.write_journal_lines(&lines);
            }
            "cut a middle record" => {
                lines.remove(1);
                site.write_journal_lines(&lines);
            }
            "reorder" => {
                lines.swap(2, 3);
                site.write_journal_lines(&lines);
            }
            _ => site.write_journal_lines(&[]),
        }
        let mut o = site.open(true);
        let report = o
            .set_aside
            .clone()
            .unwrap_or_else(|| panic!("{damage}: accepted"));
        assert!(
            matches!(
                report.reason,
                Corruption::Journal(_) | Corruption::Missing(_) | Corruption::Inconsistent(_)
            ),
            "{damage}: {report:?}"
        );
        assert_nothing_handed_back(&mut site, &mut o, &id, &code);
    }
}

#[test]
fn a_deleted_snapshot_is_set_aside() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    fs::remove_file(site.pending()).unwrap();
    let originals = [(site.journal(), read(&site.journal()))];
    let mut o = site.open(true);
    let report = o.set_aside.clone().unwrap();
    assert!(
        matches!(report.reason, Corruption::Missing(_)),
        "{report:?}"
    );
    assert_kept(&report, &originals);
    assert_nothing_handed_back(&mut site, &mut o, &id, &code);
}

#[test]
fn a_whole_store_put_back_from_an_older_copy_is_set_aside() {
    let mut site = Site::new();
    let mut o = site.open(false);
    let (id, code) = start_and_send(&mut o.desk, a());
    drop(o);
    // A copy taken with every try still there...
    let copy = [
        (site.pending(), read(&site.pending())),
        (site.journal(), read(&site.journal())),
    ];
    let mut o = site.open(true);
    for n in 1..=2 {
        o.desk.check(&id, &wrong_n(&code, n)).unwrap();
    }
    site.advance(10);
    drop(o);
    // ...put back: every seal holds, but the audit trail shows the two
    // wrong codes.
    for (path, bytes) in &copy {
        fs::write(path, bytes).unwrap();
    }
    let mut o = site.open(true);
    let report = o.set_aside.clone().unwrap();
    assert!(
        matches!(report.reason, Corruption::Inconsistent(_)),
        "{report:?}"
    );
    assert_nothing_handed_back(&mut site, &mut o, &id, &code);
}

#[test]
fn entries_sealed_under_another_key_are_set_aside() {
    let mut site = Site::new();
    let (id, code) = two_wrong_codes(&mut site);
    let right = site.key.clone();
    site.key = DigestKey::generate(&mut StdRng::seed_from_u64(99));
    let o = site.open(true);
    assert_eq!(o.set_aside.unwrap().reason, Corruption::BadSeal);
    // Nothing of it comes back with the right key either: it was moved.
    drop(o.desk);
    site.key = right;
    let mut o = site.open(true);
    assert!(o.desk.get(&id).is_none());
    assert!(o.desk.check(&id, &code).is_err());
}

// ------------------------------------------------------------- migration --

/// A version-1 `pending.json` as the desk wrote it before the journal,
/// with A started, sent and one wrong code, audited.
fn version_one(site: &Site) -> (VerificationId, String) {
    let mut d = Desk::new(
        Parts {
            policy: policy(),
            templates: countersign::templates::MessageTemplates::default(),
            key: site.key.clone(),
            store: FileStore::new(site.pending()),
            audit: AuditLog::open(&site.audit()).unwrap(),
            clock: site.clock.clone(),
            rng: StdRng::seed_from_u64(77),
        },
        PendingDocument::default(),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    let Started::New { view, sms } = d
        .start(a(), Purpose::Unspecified, Harness::operator())
        .unwrap()
    else {
        panic!("new")
    };
    d.record_send(&view.id, Ok(receipt(1))).unwrap();
    let code = code_of(&sms);
    d.check(&view.id, &wrong_n(&code, 1)).unwrap();
    let doc = persist::parse(&read(&site.pending())).unwrap();
    assert_eq!(doc.version, 1);
    (view.id, code)
}

#[test]
fn an_unsealed_version_one_file_is_taken_over_once() {
    let mut site = Site::new();
    let (id, code) = version_one(&site);
    let v1 = read(&site.pending());
    let mut o = site.open(false);
    assert!(o.migrated && o.set_aside.is_none(), "{:?}", o.set_aside);
    assert_eq!(
        o.desk.get(&id).unwrap().tries_left,
        4,
        "pending verification intact"
    );
    let snapshot: serde_json::Value = serde_json::from_slice(&read(&site.pending())).unwrap();
    assert_eq!(snapshot["version"], 2);
    assert!(site.journal().exists());
    o.desk.check(&id, &wrong_n(&code, 2)).unwrap();
    drop(o);
    // The shell now sets `pending_sealed`. Putting the old unsealed file
    // back (a downgrade) is refused, and gives nothing back.
    fs::write(site.pending(), &v1).unwrap();
    let o = site.open(true);
    let report = o.set_aside.unwrap();
    assert_eq!(report.reason, Corruption::Unsealed);
    let doc = o.desk.document();
    let history = doc.numbers.get(&o.desk.number_id(&a())).unwrap();
    assert_eq!(history.failures.len(), 2, "both wrong codes kept");
    assert!(o.desk.get(&id).is_none());
}

#[test]
fn an_unsealed_file_is_refused_when_the_facts_say_sealed() {
    let mut site = Site::new();
    let (id, _) = version_one(&site);
    let v1 = read(&site.pending());
    let o = site.open(true);
    let report = o.set_aside.unwrap();
    assert_eq!(report.reason, Corruption::Unsealed);
    assert_kept(&report, &[(site.pending(), v1)]);
    assert!(o.desk.get(&id).is_none());
    assert_eq!(report.ended.len(), 1);
}

#[test]
fn an_edited_version_one_file_is_refused_at_migration() {
    let mut site = Site::new();
    let (id, _) = version_one(&site);
    let mut doc = persist::parse(&read(&site.pending())).unwrap();
    doc.verifications[0].failed_attempts = 0;
    doc.numbers.values_mut().for_each(|h| h.failures.clear());
    fs::write(site.pending(), persist::to_bytes(&doc)).unwrap();
    let o = site.open(false);
    let report = o.set_aside.expect("the trail shows the wrong code");
    assert!(
        matches!(report.reason, Corruption::Inconsistent(_)),
        "{report:?}"
    );
    assert!(o.desk.get(&id).is_none());
    let doc = o.desk.document();
    assert_eq!(
        doc.numbers
            .get(&o.desk.number_id(&a()))
            .unwrap()
            .failures
            .len(),
        1
    );
}

// ------------------------------------------------------- the pure rebuild --

fn record(
    seq: u64,
    at: Timestamp,
    kind: EventKind,
    f: impl FnOnce(&mut AuditEvent),
) -> AuditRecord {
    let mut event = AuditEvent::new(at, kind);
    f(&mut event);
    AuditRecord {
        seq,
        time: at.to_rfc3339(),
        event,
        prev: String::new(),
        hash: String::new(),
        chain: None,
    }
}

#[test]
fn the_audit_trail_gives_every_send_and_wrong_code_back_to_its_number() {
    let key = DigestKey::generate(&mut StdRng::seed_from_u64(5));
    let n = |raw: &str| {
        key.number_id(&PhoneNumber::parse_any(raw, "GB".parse().unwrap()).unwrap())
            .as_str()
            .to_owned()
    };
    let (na, nb) = (n(A), n(B));
    let id = VerificationId::generate(&mut StdRng::seed_from_u64(6));
    let t = |s: u64| T0.plus(Duration::from_secs(s));
    let on = |number: &str, id: Option<&VerificationId>| {
        let number = number.to_owned();
        let id = id.map(ToString::to_string);
        move |e: &mut AuditEvent| {
            e.number_id = Some(number);
            e.verification = id;
        }
    };
    let records = vec![
        record(1, t(0), EventKind::Started, on(&na, Some(&id))),
        record(2, t(1), EventKind::Sent, on(&na, Some(&id))),
        record(3, t(5), EventKind::CheckFailed, on(&na, Some(&id))),
        record(4, t(6), EventKind::CheckFailed, on(&na, Some(&id))),
        // May have left: counts. Refused outright: does not.
        record(5, t(7), EventKind::NotSent, |e| {
            on(&nb, None)(e);
            e.detail = Some("gateway_timeout".to_owned());
        }),
        record(6, t(8), EventKind::NotSent, |e| {
            on(&nb, None)(e);
            e.detail = Some("gateway_unauthorized".to_owned());
        }),
        record(7, t(9), EventKind::NotSent, |e| {
            on(&nb, None)(e);
            e.detail = Some("no gateway: the gateway is starting".to_owned());
        }),
        // A test SMS takes a slot, accepted or refused.
        record(8, t(10), EventKind::TestSmsSent, |e| {
            on(&nb, None)(e);
            e.outcome = Some("accepted".to_owned());
        }),
        record(9, t(11), EventKind::TestSmsSent, |e| {
            on(&nb, None)(e);
            e.outcome = Some("refused".to_owned());
        }),
        record(10, t(12), EventKind::Resent, on(&na, Some(&id))),
    ];
    // In the order query returns them (newest first): order does not matter.
    let mut newest_first = records.clone();
    newest_first.reverse();
    let h = AuditHistory::from_records(&newest_first);
    assert_eq!(h, AuditHistory::from_records(&records));
    let numbers = h.numbers(T0);
    let key_a = countersign::keys::NumberId::parse(&na).unwrap();
    let key_b = countersign::keys::NumberId::parse(&nb).unwrap();
    assert_eq!(numbers[&key_a].sends, vec![t(1)]);
    assert_eq!(numbers[&key_a].failures, vec![t(5), t(6)]);
    assert_eq!(numbers[&key_b].sends, vec![t(7), t(10), t(11)]);
    assert!(numbers[&key_b].failures.is_empty());
    let open = h.open_verifications();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].1.failures, 2);
    assert_eq!(open[0].1.code_issued_at, Some(t(12)));
    // Only from the time asked.
    assert!(h.numbers(t(100)).is_empty());
    // Ended: no longer open, and remembered.
    let mut ended = records;
    ended.push(record(11, t(20), EventKind::Approved, on(&na, Some(&id))));
    let h = AuditHistory::from_records(&ended);
    assert!(h.open_verifications().is_empty());
    assert_eq!(h.ended(T0)[0].status, Status::Approved);
}

/// A normal desk's history never reads as damage: every way a send can end
/// is audited so that the trail, read back at open, counts sends exactly as
/// the engine did (review: a 4xx answer, a failed receipt and a late send
/// after a cancel each raised a false alarm, or would have, before).
#[test]
fn every_way_a_send_ends_reopens_without_a_false_alarm() {
    let mut site = Site::new();
    {
        let mut o = site.open(false);
        let d = &mut o.desk;
        let refusals = [
            countersign::gateway::GatewayError::UnexpectedStatus(429),
            countersign::gateway::GatewayError::UnexpectedStatus(502),
            countersign::gateway::GatewayError::Timeout,
            countersign::gateway::GatewayError::CannotConnect,
        ];
        for (i, error) in refusals.into_iter().enumerate() {
            site.clock.advance(std::time::Duration::from_secs(31));
            let number = Harness::new().number(&format!("+44740012346{i}"));
            let Started::New { view, .. } = d
                .start(number, Purpose::Unspecified, Harness::operator())
                .unwrap()
            else {
                panic!("expected a new verification");
            };
            d.record_send(&view.id, Err(error)).unwrap();
        }
        // A receipt that already says failed.
        let number = Harness::new().number("+447400123470");
        let Started::New { view, .. } = d
            .start(number, Purpose::Unspecified, Harness::operator())
            .unwrap()
        else {
            panic!("expected a new verification");
        };
        let failed = SendReceipt {
            status: DeliveryStatus::Failed { error: None },
            ..receipt(2)
        };
        d.record_send(&view.id, Ok(failed)).unwrap();
        // A send that lands after a cancel.
        let number = Harness::new().number("+447400123471");
        let Started::New { view, .. } = d
            .start(number, Purpose::Unspecified, Harness::operator())
            .unwrap()
        else {
            panic!("expected a new verification");
        };
        d.cancel(&view.id).unwrap();
        d.record_send(&view.id, Ok(receipt(3))).unwrap();
        // A test SMS.
        d.reserve_test_sms(&Harness::new().number("+447400123472"))
            .unwrap();
    }
    site.advance(5);
    let o = site.open(true);
    assert!(
        o.set_aside.is_none(),
        "{:?}",
        o.set_aside.map(|r| r.message())
    );
}
