//! The audit log on real files: every kind of tampering is reported at the
//! first bad record, and a damaged log is never appended to.

use std::fs;
use std::path::Path;

use countersign::audit::{
    self, AuditEvent, AuditLog, AuditSink, ChainReport, EventKind, Filter, Station,
};
use countersign::clock::Timestamp;

fn write_log(path: &Path, n: u64) {
    let mut log = AuditLog::open(path).unwrap().with_station(Station {
        branch: "Leeds Central".into(),
        workstation: "DESK-07".into(),
    });
    for i in 0..n {
        let mut e = AuditEvent::new(
            Timestamp::from_millis(1_800_000_000_000 + i as i64),
            EventKind::Started,
        );
        e.operator = Some("Sam Teller".into());
        e.masked_number = Some("+44 •••• 456".into());
        e.reference = Some(format!("ref {i}"));
        log.record(e).unwrap();
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn broken_at(path: &Path) -> u64 {
    match audit::verify_chain(path).unwrap() {
        ChainReport::Broken { line, .. } => line,
        intact => panic!("tampering not detected: {intact:?}"),
    }
}

#[test]
fn an_untouched_log_is_intact_and_stamped_with_the_station() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5);
    assert!(matches!(
        audit::verify_chain(&path).unwrap(),
        ChainReport::Intact { records: 5, .. }
    ));
    let rows = audit::query(&path, &Filter::default(), 10).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].seq, 5, "newest first");
    assert_eq!(rows[0].event.branch.as_deref(), Some("Leeds Central"));
    assert_eq!(rows[0].event.workstation.as_deref(), Some("DESK-07"));
    assert_eq!(
        audit::verify_chain(&path).unwrap().describe(),
        "Intact — 5 records"
    );
}

#[test]
fn changing_one_byte_is_reported_at_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5);
    let mut l = lines(&path);
    l[2] = l[2].replace("ref 2", "ref 9");
    fs::write(&path, l.join("\n") + "\n").unwrap();
    assert_eq!(broken_at(&path), 3);
}

#[test]
fn deleting_a_record_is_reported_where_the_gap_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5);
    let mut l = lines(&path);
    l.remove(1);
    fs::write(&path, l.join("\n") + "\n").unwrap();
    assert_eq!(broken_at(&path), 2);
}

#[test]
fn swapping_two_records_is_reported_at_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5);
    let mut l = lines(&path);
    l.swap(1, 3);
    fs::write(&path, l.join("\n") + "\n").unwrap();
    assert_eq!(broken_at(&path), 2);
}

#[test]
fn cutting_records_off_the_end_is_reported_by_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5);
    let l = lines(&path);
    fs::write(&path, l[..3].join("\n") + "\n").unwrap();
    match audit::verify_chain(&path).unwrap() {
        ChainReport::Broken { line, reason } => {
            assert_eq!(line, 4);
            assert!(reason.contains("4–5 are missing"), "{reason}");
        }
        intact => panic!("truncation not detected: {intact:?}"),
    }
}

#[test]
fn a_damaged_log_is_kept_byte_for_byte_reported_and_appended_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 3);
    let mut l = lines(&path);
    l[0] = l[0].replace("Sam", "Tom");
    let tampered = l.join("\n") + "\n";
    fs::write(&path, &tampered).unwrap();
    let mut log = AuditLog::open(&path).expect("a damaged log still opens");
    let damage = log.damage().expect("the damage is reported").to_owned();
    assert!(damage.contains("record 1"), "{damage}");
    log.record(AuditEvent::new(
        Timestamp::from_millis(1),
        EventKind::AppStarted,
    ))
    .unwrap();
    let after = fs::read_to_string(&path).unwrap();
    assert!(after.starts_with(&tampered), "the damaged bytes are kept");
    assert_eq!(broken_at(&path), 1, "verify still names the damage");
}

#[test]
fn a_line_cut_short_by_a_crash_is_closed_and_new_records_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 2);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":3,\"time\":\"20");
    fs::write(&path, &bytes).unwrap();
    let mut log = AuditLog::open(&path).unwrap();
    log.record(AuditEvent::new(
        Timestamp::from_millis(5),
        EventKind::AppStarted,
    ))
    .unwrap();
    let rows = audit::query(&path, &Filter::default(), 10).unwrap();
    assert_eq!(
        rows.first().map(|r| r.seq),
        Some(3),
        "the new record continues from record 2"
    );
    assert_eq!(broken_at(&path), 3, "the torn line is still reported");
}

#[test]
fn the_log_continues_its_chain_after_reopening_and_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 2);
    write_log(&path, 2);
    assert!(matches!(
        audit::verify_chain(&path).unwrap(),
        ChainReport::Intact { records: 4, .. }
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn csv_export_quotes_fields_and_defuses_spreadsheet_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let mut e = AuditEvent::new(Timestamp::from_millis(0), EventKind::Approved);
    e.reference = Some("=HYPERLINK(\"x\"), \"quoted\"".into());
    log.record(e).unwrap();
    let csv = audit::to_csv(&audit::query(&path, &Filter::default(), 10).unwrap());
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.contains("\"'=HYPERLINK(\"\"x\"\"), \"\"quoted\"\"\""),
        "{row}"
    );
    assert!(row.contains("\"approved\""), "{row}");
}

#[test]
fn s22_csv_export_carries_the_gateway_mode_and_the_os_account() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let mut e = AuditEvent::new(Timestamp::from_millis(0), EventKind::Sent);
    e.gateway_mode = Some("restcomm".into());
    e.os_account = Some("tmoss".into());
    log.record(e).unwrap();
    let csv = audit::to_csv(&audit::query(&path, &Filter::default(), 10).unwrap());
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|f| f.trim_matches('"').to_owned())
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(row[column("gateway_mode")], "restcomm");
    assert_eq!(row[column("os_account")], "tmoss");
    assert_eq!(row[column("event")], "sent");
}

/// Midday UTC on the 15th of a month, as a timestamp.
fn mid_month(year: i32, month: u32) -> Timestamp {
    let date = chrono::NaiveDate::from_ymd_opt(year, month, 15)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    Timestamp::from_millis(date.and_utc().timestamp_millis())
}

fn record_in(log: &mut AuditLog, at: Timestamp, reference: &str) {
    let mut e = AuditEvent::new(at, EventKind::Approved);
    e.reference = Some(reference.into());
    log.record(e).unwrap();
}

#[test]
fn the_log_rotates_by_month_and_the_chain_runs_across_months() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    for (y, m) in [(2026, 9), (2026, 10), (2026, 11)] {
        record_in(&mut log, mid_month(y, m), &format!("{y}-{m}"));
        record_in(&mut log, mid_month(y, m), &format!("{y}-{m} again"));
    }
    assert!(dir.path().join("audit-2026-09.jsonl").exists());
    assert!(dir.path().join("audit-2026-10.jsonl").exists());
    assert!(matches!(
        audit::trail::verify_trail(&path).unwrap(),
        ChainReport::Intact { records: 6, .. }
    ));
    let rows = audit::query(&path, &Filter::default(), 100).unwrap();
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [6, 5, 4, 3, 2, 1], "newest first across months");
    // Reopening continues the current month's chain.
    drop(log);
    let mut log = AuditLog::open(&path).unwrap();
    record_in(&mut log, mid_month(2026, 11), "after restart");
    assert!(matches!(
        audit::trail::verify_trail(&path).unwrap(),
        ChainReport::Intact { records: 7, .. }
    ));
}

#[test]
fn a_month_removed_from_the_middle_of_the_trail_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    for (y, m) in [(2026, 9), (2026, 10), (2026, 11)] {
        record_in(&mut log, mid_month(y, m), "r");
    }
    fs::remove_file(dir.path().join("audit-2026-10.jsonl")).unwrap();
    fs::remove_file(dir.path().join("audit-2026-10.jsonl.head")).unwrap();
    match audit::trail::verify_trail(&path).unwrap() {
        ChainReport::Broken { line, reason } => {
            assert_eq!(line, 3);
            assert!(reason.contains("month is missing"), "{reason}");
        }
        intact => panic!("missing month not detected: {intact:?}"),
    }
}

#[test]
fn retention_deletes_months_older_than_the_limit_and_the_rest_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap().with_retention(13);
    for i in 0..16 {
        let (y, m) = (2025 + i / 12, (i % 12) as u32 + 1);
        record_in(&mut log, mid_month(y, m), "r");
    }
    // Written: Jan 2025 .. Apr 2026; the current file is April 2026. The last
    // rotation archived March 2026, so months before April 2025 are gone.
    assert!(!dir.path().join("audit-2025-01.jsonl").exists());
    assert!(!dir.path().join("audit-2025-03.jsonl").exists());
    assert!(dir.path().join("audit-2025-04.jsonl").exists());
    assert!(matches!(
        audit::trail::verify_trail(&path).unwrap(),
        ChainReport::Intact { records: 13, .. }
    ));
}

// ------------------------------------------------------ S22: keyed chain --

use std::process::Command;
use std::sync::{Arc, Mutex};

use countersign::audit::{verify_trail_keyed, AuditKey, AuditRecord, TrailAnchor, TrailReport};
use sha2::{Digest, Sha256};

fn key() -> AuditKey {
    AuditKey::from_bytes(&[7; 32]).unwrap()
}

/// Midday on 15 September 2026 plus `i` seconds: one month, no rotation.
fn at(i: u64) -> Timestamp {
    mid_month(2026, 9).plus(std::time::Duration::from_secs(i))
}

/// A keyed log with `n` records written in September 2026; its anchor.
fn keyed_log(path: &Path, n: u64) -> TrailAnchor {
    let mut log = AuditLog::open_keyed(path, key(), None).unwrap();
    for i in 0..n {
        record_in(&mut log, at(i), &format!("ref {i}"));
    }
    log.anchor()
}

fn verify(path: &Path, anchor: Option<&TrailAnchor>) -> TrailReport {
    verify_trail_keyed(path, &key(), anchor).unwrap()
}

/// The break a report names, as (file, seq, reason).
fn break_in(report: &TrailReport) -> (String, u64, String) {
    let b = report
        .broken
        .clone()
        .unwrap_or_else(|| panic!("tampering not detected: {}", report.describe()));
    (b.file, b.seq, b.reason)
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn head_file(path: &Path) -> std::path::PathBuf {
    path.with_file_name(format!(
        "{}.head",
        path.file_name().unwrap().to_string_lossy()
    ))
}

/// What an editor without the key can do: edit records, recompute every
/// hash with plain SHA-256 (the framing is no secret), and rewrite the head
/// to match. `downgrade` also drops the keyed markers, from the records and
/// the head, as if the trail had never been keyed.
fn rewrite_with_plain_hashes(path: &Path, edit: impl Fn(&mut AuditRecord), downgrade: bool) {
    let mut records: Vec<AuditRecord> = lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut prev = records[0].prev.clone();
    for r in &mut records {
        edit(r);
        if downgrade {
            r.chain = None;
        }
        r.prev = prev.clone();
        let mut h = Sha256::new();
        h.update(r.seq.to_be_bytes());
        h.update(r.prev.as_bytes());
        h.update(serde_json::to_vec(&r.event).unwrap());
        r.hash = hex::encode(h.finalize());
        prev = r.hash.clone();
    }
    let text: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    write_lines(path, &text);
    let mut head: serde_json::Value =
        serde_json::from_slice(&fs::read(head_file(path)).unwrap()).unwrap();
    head["hash"] = prev.into();
    if downgrade {
        head.as_object_mut().unwrap().remove("keyed_from");
    }
    fs::write(head_file(path), serde_json::to_vec(&head).unwrap()).unwrap();
}

#[test]
fn s22_an_untouched_keyed_trail_is_intact_and_its_records_say_they_are_keyed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 3);
    assert_eq!(
        anchor.keyed_from, 1,
        "a new log is keyed from its first record"
    );
    assert_eq!(anchor.last_seq, 3);
    assert!(lines(&path)
        .iter()
        .all(|l| l.contains("\"chain\":\"hmac-sha256\"")));
    let report = verify(&path, Some(&anchor));
    assert!(report.is_intact(), "{}", report.describe());
    assert_eq!(report.describe(), "Intact — 1 month, 3 records checked");
    let other = AuditKey::from_bytes(&[8; 32]).unwrap();
    let wrong = verify_trail_keyed(&path, &other, Some(&anchor)).unwrap();
    assert_eq!(
        break_in(&wrong),
        ("audit.jsonl".into(), 1, "contents were altered".into()),
        "another key does not verify"
    );
}

#[test]
fn s22_rewritten_trail_with_recomputed_sha256_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 5);
    rewrite_with_plain_hashes(
        &path,
        |r| {
            if r.seq == 3 {
                r.event.reference = Some("ref 9".into());
            }
        },
        false,
    );
    for anchor in [None, Some(&anchor)] {
        let (file, seq, reason) = break_in(&verify(&path, anchor));
        assert_eq!((file.as_str(), seq), ("audit.jsonl", 1), "{reason}");
        assert_eq!(reason, "contents were altered");
    }
    let log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    let damage = log.damage().expect("the rewrite is reported at start");
    assert!(
        damage.contains("record 1: contents were altered"),
        "{damage}"
    );
}

#[test]
fn s22_a_trail_rewritten_back_into_unkeyed_form_after_the_hand_over_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    for i in 0..3 {
        record_in(&mut log, at(i), "before S22");
    }
    drop(log);
    let mut log = AuditLog::open_keyed(&path, key(), None).unwrap();
    for i in 3..5 {
        record_in(&mut log, at(i), "keyed");
    }
    let anchor = log.anchor();
    drop(log);
    assert_eq!(anchor.keyed_from, 4);
    let saved = fs::read(&path).unwrap();
    let saved_head = fs::read(head_file(&path)).unwrap();

    // Markers dropped, plain hashes recomputed, the head's `keyed_from` kept.
    rewrite_with_plain_hashes(&path, |_| {}, true);
    let mut head: serde_json::Value =
        serde_json::from_slice(&fs::read(head_file(&path)).unwrap()).unwrap();
    head["keyed_from"] = 4.into();
    fs::write(head_file(&path), serde_json::to_vec(&head).unwrap()).unwrap();
    let (file, seq, reason) = break_in(&verify(&path, None));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 4), "{reason}");
    assert!(reason.contains("not keyed"), "{reason}");

    // The same with the head's `keyed_from` dropped too: only the desk's
    // anchor still knows, and that is enough.
    fs::write(&path, &saved).unwrap();
    fs::write(head_file(&path), &saved_head).unwrap();
    rewrite_with_plain_hashes(&path, |_| {}, true);
    let (file, seq, reason) = break_in(&verify(&path, Some(&anchor)));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 4), "{reason}");
    assert!(reason.contains("keyed from record 4"), "{reason}");
    let log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    let damage = log.damage().expect("the downgrade is reported at start");
    assert!(damage.contains("record 4"), "{damage}");
}

#[test]
fn s22_a_deleted_log_beside_its_head_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 3);
    fs::remove_file(&path).unwrap();
    let (file, seq, reason) = break_in(&verify(&path, None));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 1), "{reason}");
    assert!(reason.contains("log file is missing"), "{reason}");

    // The desk reports it, and what it writes next keeps the gap visible:
    // the next record is 4, not a fresh record 1.
    let mut log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    let damage = log.damage().expect("reported at start").to_owned();
    assert!(damage.contains("missing"), "{damage}");
    record_in(&mut log, at(10), "after");
    assert_eq!(log.anchor().last_seq, 4);
    let (_, seq, reason) = break_in(&verify(&path, Some(&log.anchor())));
    assert_eq!(seq, 1, "{reason}");
}

#[test]
fn s22_a_legacy_log_deleted_beside_its_head_is_reported_at_hand_over_and_the_gap_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 3);
    fs::remove_file(&path).unwrap();
    let log = AuditLog::open_keyed(&path, key(), None).unwrap();
    let damage = log.damage().expect("reported at start");
    assert!(damage.contains("log file is missing"), "{damage}");
    let anchor = log.anchor();
    assert_eq!(
        (anchor.keyed_from, anchor.last_seq),
        (4, 4),
        "numbering goes on from the head, not from 1"
    );
    let (_, seq, reason) = break_in(&verify(&path, Some(&anchor)));
    assert_eq!(seq, 1, "{reason}");
}

#[test]
fn s22_a_deleted_log_and_head_are_broken_against_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 3);
    fs::remove_file(&path).unwrap();
    fs::remove_file(head_file(&path)).unwrap();
    let (file, seq, reason) = break_in(&verify(&path, Some(&anchor)));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 1), "{reason}");
    assert!(reason.contains("records 1–3 are gone"), "{reason}");
}

#[test]
fn s22_a_deleted_head_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 3);
    fs::remove_file(head_file(&path)).unwrap();
    for anchor in [None, Some(&anchor)] {
        let (file, seq, reason) = break_in(&verify(&path, anchor));
        assert_eq!((file.as_str(), seq), ("audit.jsonl", 1), "{reason}");
        assert!(reason.contains("head file"), "{reason}");
    }
    let log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    assert!(log.damage().is_some_and(|d| d.contains("head file")));
}

#[test]
fn s22_truncated_tail_with_its_head_rewritten_is_broken_against_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 5);
    // Cut records 4 and 5 and point the head at record 3: the files agree.
    let l = lines(&path);
    write_lines(&path, &l[..3]);
    let third: AuditRecord = serde_json::from_str(&l[2]).unwrap();
    let mut head: serde_json::Value =
        serde_json::from_slice(&fs::read(head_file(&path)).unwrap()).unwrap();
    head["seq"] = 3.into();
    head["hash"] = third.hash.into();
    fs::write(head_file(&path), serde_json::to_vec(&head).unwrap()).unwrap();

    let (file, seq, reason) = break_in(&verify(&path, Some(&anchor)));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 4), "{reason}");
    assert!(reason.contains("records 4–5 are missing"), "{reason}");

    // At start too; the next record is 6, so the gap stays in the file
    // after the anchor moves on.
    let mut log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    let damage = log.damage().expect("reported at start").to_owned();
    assert!(damage.contains("records 4–5 are missing"), "{damage}");
    record_in(&mut log, at(10), "after");
    let (_, seq, reason) = break_in(&verify(&path, Some(&log.anchor())));
    assert_eq!(seq, 4, "{reason}");
}

#[test]
fn s22_two_swapped_records_are_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 5);
    let mut l = lines(&path);
    l.swap(1, 3);
    write_lines(&path, &l);
    let (file, seq, reason) = break_in(&verify(&path, Some(&anchor)));
    assert_eq!((file.as_str(), seq), ("audit.jsonl", 2), "{reason}");
    assert!(reason.contains("out of order"), "{reason}");
}

/// A keyed log with two records in each of September to November 2026.
fn keyed_months(path: &Path) -> TrailAnchor {
    let mut log = AuditLog::open_keyed(path, key(), None).unwrap();
    for (y, m) in [(2026, 9), (2026, 10), (2026, 11)] {
        record_in(&mut log, mid_month(y, m), "first");
        record_in(&mut log, mid_month(y, m), "second");
    }
    log.anchor()
}

#[test]
fn s22_every_kept_month_is_verified_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_months(&path);
    let report = verify(&path, Some(&anchor));
    assert_eq!((report.months, report.records, report.unkeyed), (3, 6, 0));
    assert_eq!(report.describe(), "Intact — 3 months, 6 records checked");

    // A change in the oldest month is found, and named by its file.
    let oldest = dir.path().join("audit-2026-09.jsonl");
    let mut l = lines(&oldest);
    l[1] = l[1].replace("second", "secant");
    write_lines(&oldest, &l);
    let report = verify(&path, Some(&anchor));
    assert_eq!(
        report.describe(),
        "Broken in audit-2026-09.jsonl at record 2: contents were altered"
    );
}

#[test]
fn s22_a_month_missing_between_kept_months_is_broken_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_months(&path);
    fs::remove_file(dir.path().join("audit-2026-10.jsonl")).unwrap();
    fs::remove_file(dir.path().join("audit-2026-10.jsonl.head")).unwrap();
    for anchor in [None, Some(&anchor)] {
        let report = verify(&path, anchor);
        let (file, seq, reason) = break_in(&report);
        assert_eq!((file.as_str(), seq), ("audit.jsonl", 5), "{reason}");
        assert!(
            reason.contains("does not continue from record 2"),
            "{reason}"
        );
        assert!(report
            .describe()
            .starts_with("Broken in audit.jsonl at record 5"));
    }
}

#[test]
fn s22_a_legacy_log_is_handed_over_and_verifies_with_its_unkeyed_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 4);
    let legacy = fs::read_to_string(&path).unwrap();
    assert!(!legacy.contains("\"chain\""));

    let log = AuditLog::open_keyed(&path, key(), None).unwrap();
    assert_eq!(log.damage(), None, "a legacy log is not damage");
    let anchor = log.anchor();
    assert_eq!((anchor.keyed_from, anchor.last_seq), (5, 5));
    drop(log);
    let rows = audit::query(&path, &Filter::default(), 10).unwrap();
    assert_eq!(rows.len(), 5);
    let handover = &rows[0];
    assert_eq!(handover.seq, 5);
    assert_eq!(handover.event.name(), "audit_chain_keyed");
    assert_eq!(
        handover.event.detail.as_deref(),
        Some("records from 5 on are keyed (HMAC-SHA256)")
    );
    assert!(handover.chain.is_some(), "the hand-over record is keyed");
    assert!(
        rows[1..].iter().all(|r| r.chain.is_none()),
        "old records unchanged"
    );

    let report = verify(&path, Some(&anchor));
    assert!(report.is_intact(), "{}", report.describe());
    assert_eq!((report.records, report.unkeyed), (5, 4));
    assert!(
        report
            .describe()
            .ends_with("5 records checked (4 before the chain was keyed)"),
        "{}",
        report.describe()
    );

    // Reopened with its anchor: no second hand-over, no damage.
    let mut log = AuditLog::open_keyed(&path, key(), Some(anchor)).unwrap();
    assert_eq!(log.damage(), None);
    record_in(&mut log, at(0), "after");
    let anchor = log.anchor();
    assert_eq!((anchor.keyed_from, anchor.last_seq), (5, 6));
    let report = verify(&path, Some(&anchor));
    assert_eq!(
        (report.records, report.unkeyed),
        (6, 4),
        "{}",
        report.describe()
    );
}

#[test]
fn s22_a_missing_anchor_is_rebuilt_from_the_log_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let anchor = keyed_log(&path, 3);
    let log = AuditLog::open_keyed(&path, key(), None).unwrap();
    let damage = log.damage().expect("a lost anchor is reported");
    assert!(damage.contains("sealed record"), "{damage}");
    assert!(damage.contains("cannot be ruled out"), "{damage}");
    assert_eq!(log.anchor(), anchor, "rebuilt from the log");
    assert!(
        !lines(&path).iter().any(|l| l.contains("audit_chain_keyed")),
        "a keyed log is not handed over again"
    );
}

#[test]
fn s22_the_anchor_sink_sees_every_record_and_its_failure_fails_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let seen: Arc<Mutex<Vec<TrailAnchor>>> = Arc::default();
    let fail = Arc::new(Mutex::new(false));
    let (s, f) = (seen.clone(), fail.clone());
    let mut log = AuditLog::open_keyed(&path, key(), None)
        .unwrap()
        .with_anchor_sink(Box::new(move |a| {
            if *f.lock().unwrap() {
                return Err(std::io::Error::other("credential store locked"));
            }
            s.lock().unwrap().push(a.clone());
            Ok(())
        }));
    record_in(&mut log, at(0), "one");
    record_in(&mut log, at(1), "two");
    let last: AuditRecord = serde_json::from_str(lines(&path).last().unwrap()).unwrap();
    assert_eq!(
        seen.lock().unwrap().last(),
        Some(&TrailAnchor {
            keyed_from: 1,
            last_seq: 2,
            last_hash: last.hash
        })
    );
    assert_eq!(seen.lock().unwrap().len(), 2);

    *fail.lock().unwrap() = true;
    let e = AuditEvent::new(at(2), EventKind::Approved);
    match log.record(e) {
        Err(e @ audit::AuditError::Io { .. }) => {
            assert!(e.to_string().contains("credential store locked"), "{e}")
        }
        other => panic!("a failed anchor must fail the record: {other:?}"),
    }
    // The record itself is written, and the chain goes on from it.
    *fail.lock().unwrap() = false;
    record_in(&mut log, at(3), "four");
    assert_eq!(seen.lock().unwrap().last().map(|a| a.last_seq), Some(4));
    assert!(verify(&path, Some(&log.anchor())).is_intact());
}

fn verifier(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_countersign-verify-audit"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn s22_the_command_line_verifier_exits_0_intact_1_broken_2_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let path = data.join("audit.jsonl");
    let anchor = keyed_months(&path);
    let key_file = dir.path().join("audit.key");
    fs::write(&key_file, format!("{}\n", key().to_hex())).unwrap();
    let anchor_file = dir.path().join("anchor.json");
    fs::write(&anchor_file, serde_json::to_vec(&anchor).unwrap()).unwrap();
    let (folder, key_arg, anchor_arg) = (
        data.as_os_str(),
        key_file.as_os_str(),
        anchor_file.as_os_str(),
    );

    let (code, out, err) = verifier(&[folder, "--key-file".as_ref(), key_arg]);
    assert_eq!(
        (code, out.trim()),
        (0, "Intact — 3 months, 6 records checked"),
        "{err}"
    );
    let (code, out, err) = verifier(&[
        folder,
        "--key-file".as_ref(),
        key_arg,
        "--anchor-file".as_ref(),
        anchor_arg,
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let mut l = lines(&path);
    l[0] = l[0].replace("first", "fist!");
    write_lines(&path, &l);
    let (code, out, err) = verifier(&[
        folder,
        "--key-file".as_ref(),
        key_arg,
        "--anchor-file".as_ref(),
        anchor_arg,
    ]);
    assert_eq!(
        (code, out.trim()),
        (
            1,
            "Broken in audit.jsonl at record 5: contents were altered"
        ),
        "{err}"
    );

    fs::write(&key_file, "not a key\n").unwrap();
    let (code, out, err) = verifier(&[folder, "--key-file".as_ref(), key_arg]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("does not hold an audit key"), "{err}");
    assert!(
        !err.contains("not a key"),
        "the key file's text is not echoed: {err}"
    );

    let (code, _, err) = verifier(&[folder]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--key-file is missing"), "{err}");

    fs::write(&key_file, key().to_hex()).unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (code, out, err) = verifier(&[empty.as_os_str(), "--key-file".as_ref(), key_arg]);
    assert_eq!(code, 2, "a folder without a trail is not intact: {out}");
    assert!(err.contains("holds no audit trail"), "{err}");
}
