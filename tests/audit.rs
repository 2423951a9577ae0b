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
