//! The activity screen's reads and the CSV export on real trail files:
//! pages and totals across months, local-day bounds, and an export read
//! back with a real CSV parser, field for field.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use countersign::audit::export::{guard, is_masked_number, BOM, COLUMNS};
use countersign::audit::{
    self, scan, AuditEvent, AuditLog, AuditRecord, AuditSink, CsvWriter, EventKind, Filter, Station,
};
use countersign::clock::Timestamp;
use countersign::persist::StagedFile;
use countersign::phone::{PhoneNumber, Region};

/// 2026-01-31T20:00:00Z: the records below run into February, so the trail
/// has an archived month and the current one.
const START: i64 = 1_769_889_600_000;
const HOUR: i64 = 3_600_000;

fn trail(path: &Path, n: i64) {
    let mut log = AuditLog::open(path).unwrap();
    for i in 0..n {
        let mut e = AuditEvent::new(Timestamp::from_millis(START + i * HOUR), EventKind::Sent);
        e.reference = Some(format!("ref {i}"));
        e.outcome = Some(if i % 3 == 0 { "approved" } else { "sent" }.into());
        log.record(e).unwrap();
    }
}

fn seqs(records: &[AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn pages_run_newest_first_across_months_and_count_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    trail(&path, 30);
    assert!(
        audit::trail::files(&path).unwrap().len() >= 2,
        "the trail spans two months"
    );
    let all = Filter::default();
    let first = scan::page(&path, &all, 0, 10).unwrap();
    assert_eq!(first.total, 30);
    assert_eq!(seqs(&first.records), (21..=30).rev().collect::<Vec<_>>());
    let last = scan::page(&path, &all, 20, 10).unwrap();
    assert_eq!(seqs(&last.records), (1..=10).rev().collect::<Vec<_>>());
    let partial = scan::page(&path, &all, 25, 10).unwrap();
    assert_eq!(seqs(&partial.records), (1..=5).rev().collect::<Vec<_>>());
    let deep = scan::page(&path, &all, 2_500, 10).unwrap();
    assert!(deep.records.is_empty());
    assert_eq!(deep.total, 30);
    let beyond = scan::page(&path, &all, 30, 10).unwrap();
    assert!(beyond.records.is_empty());
    assert_eq!(beyond.total, 30);

    let approved = Filter {
        outcome: Some("approved".into()),
        ..Filter::default()
    };
    let page = scan::page(&path, &approved, 2, 3).unwrap();
    assert_eq!(page.total, 10, "records 1, 4, … 28");
    assert_eq!(seqs(&page.records), vec![22, 19, 16]);
    // The old first-N query agrees with the pages.
    let old: Vec<u64> = seqs(&audit::query(&path, &approved, 100).unwrap());
    let mut paged = Vec::new();
    for offset in (0..10).step_by(4) {
        paged.extend(seqs(
            &scan::page(&path, &approved, offset, 4).unwrap().records,
        ));
    }
    assert_eq!(paged, old);
}

#[test]
fn a_local_day_is_the_instants_the_window_sends_not_a_utc_day() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    // Paris, 29 March 2026: the clocks go forward, the day runs from
    // 2026-03-28T23:00Z to 2026-03-29T22:00Z (23 hours).
    let from = 1_774_738_800_000;
    let before = 1_774_821_600_000;
    for (at, reference) in [
        (from - 1, "Paris 28 March, last millisecond"),
        (from, "Paris 29 March, first millisecond"),
        (from + 30 * 60_000, "Paris 29 March 00:30, UTC 28 March"),
        (before - 1, "Paris 29 March, last millisecond"),
        (before, "Paris 30 March 00:00, UTC 29 March"),
    ] {
        let mut e = AuditEvent::new(Timestamp::from_millis(at), EventKind::Started);
        e.reference = Some(reference.into());
        log.record(e).unwrap();
    }
    let day = Filter {
        from: Some(Timestamp::from_millis(from)),
        before: Some(Timestamp::from_millis(before)),
        ..Filter::default()
    };
    let page = scan::page(&path, &day, 0, 100).unwrap();
    let refs: Vec<&str> = page
        .records
        .iter()
        .filter_map(|r| r.event.reference.as_deref())
        .collect();
    assert_eq!(
        refs,
        vec![
            "Paris 29 March, last millisecond",
            "Paris 29 March 00:30, UTC 28 March",
            "Paris 29 March, first millisecond",
        ]
    );
    assert_eq!(page.total, 3);
}

#[test]
fn a_stream_stops_at_the_count_and_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    trail(&path, 12);
    let mut seen = Vec::new();
    let n = scan::stream(&path, &Filter::default(), |r, done, total| {
        seen.push((r.seq, done, total));
        Ok::<(), std::io::Error>(())
    })
    .unwrap();
    assert_eq!(n, 12);
    assert_eq!(seen.first(), Some(&(1, 1, 12)), "oldest first");
    assert_eq!(seen.last(), Some(&(12, 12, 12)));
    let failed = scan::stream(&path, &Filter::default(), |_, done, _| {
        if done == 5 {
            Err(std::io::Error::other("disk full"))
        } else {
            Ok(())
        }
    });
    assert_eq!(failed.unwrap_err().to_string(), "disk full");
    let mut visits = 0;
    scan::for_each_match(&path, &Filter::default(), |_| {
        visits += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(visits, 1);
}

fn masked(number: &str) -> String {
    PhoneNumber::parse_any(number, "GB".parse::<Region>().unwrap())
        .expect("a valid number")
        .masked()
}

#[test]
fn every_masked_number_the_core_makes_is_exempt_and_nothing_else_is() {
    for number in [
        "+44 7400 123456",
        "+33 6 12 34 56 78",
        "+1 202 555 0147",
        "+353 85 123 4567",
        "+49 1512 3456789",
        "+7 912 345 67 89",
        "+852 5123 4567",
    ] {
        let m = masked(number);
        assert!(is_masked_number(&m), "{m}");
        assert_eq!(guard(&m), m.as_str(), "{m}");
    }
}

/// One record whose every field is set, with text that trips naive CSV.
fn awkward(i: usize, number: &str) -> AuditEvent {
    let mut e = AuditEvent::new(
        Timestamp::from_millis(START + i as i64 * HOUR),
        EventKind::CheckFailed,
    );
    e.operator = Some(format!("Zoë \"Jo\" Brontë, {i}"));
    e.staff_id = Some(format!("S{i}"));
    e.verification = Some(format!("v-{i}"));
    e.masked_number = Some(masked(number));
    e.number_id = Some(format!("n{i:064}"));
    e.reference = Some(match i % 4 {
        0 => "Dépôt 500 €,\nsecond line".into(),
        1 => "=HYPERLINK(\"http://x\",\"click\")".into(),
        2 => "\t=1+1".into(),
        _ => "\r@SUM(A1:A9)".into(),
    });
    e.outcome = Some("wrong-code".into());
    e.gateway_sid = Some(format!("SM{i}"));
    e.delivery = Some("-1".into());
    e.detail = Some("+1 (not a number) • «quoted» \"x\"\r\nnext".into());
    e.gateway_mode = Some("restcomm".into());
    e.os_account = Some(format!("DOMAIN\\zoë{i}"));
    e
}

#[test]
fn an_export_reads_back_field_for_field_with_a_real_csv_parser() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let numbers = ["+44 7400 123456", "+33 6 12 34 56 78", "+353 85 123 4567"];
    {
        let mut log = AuditLog::open(&path).unwrap().with_station(Station {
            branch: "Lyon Bellecour, 2e".into(),
            workstation: "GUICHET-é".into(),
        });
        for i in 0..9 {
            log.record(awkward(i, numbers[i % numbers.len()])).unwrap();
        }
    }
    let target = dir.path().join("export.csv");
    let mut csv = CsvWriter::new(StagedFile::create(&target).unwrap()).unwrap();
    let written = scan::stream(&path, &Filter::default(), |r, _, _| {
        csv.row(r, Some("desk_b"))
    })
    .unwrap();
    assert_eq!(written, 9);
    csv.into_inner().commit().unwrap();
    let temps = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().contains(".tmp-")
        })
        .count();
    assert_eq!(temps, 0, "no temp file left beside the export");

    let bytes = fs::read(&target).unwrap();
    assert!(bytes.starts_with(BOM), "UTF-8 BOM first");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[BOM.len()..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();

    let mut records = audit::query(&path, &Filter::default(), 100).unwrap();
    records.reverse();
    assert_eq!(rows.len(), records.len());
    for (row, r) in rows.iter().zip(&records) {
        let e = &r.event;
        let field = |name: &str| {
            let i = COLUMNS.iter().position(|c| *c == name).unwrap();
            row.get(i).unwrap().to_owned()
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let neutralised = |v: &Option<String>| format!("'{}", opt(v));
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(field("seq"), r.seq.to_string());
        assert_eq!(field("time"), r.time);
        assert_eq!(field("event"), "check_failed", "the raw slug");
        assert_eq!(field("operator"), opt(&e.operator));
        assert_eq!(field("staff_id"), opt(&e.staff_id));
        assert_eq!(field("branch"), "Lyon Bellecour, 2e");
        assert_eq!(field("workstation"), "GUICHET-é");
        assert_eq!(field("verification"), opt(&e.verification));
        assert_eq!(
            field("masked_number"),
            opt(&e.masked_number),
            "byte for byte"
        );
        assert!(field("masked_number").contains(" •••• "));
        assert_eq!(field("number_id"), opt(&e.number_id));
        // Every reference here starts with =, TAB + =, CR + @, or is text.
        let reference = opt(&e.reference);
        if reference.starts_with(['=', '\t', '\r']) {
            assert_eq!(field("reference"), neutralised(&e.reference));
        } else {
            assert_eq!(field("reference"), "Dépôt 500 €,\nsecond line");
        }
        assert_eq!(field("outcome"), "wrong-code");
        assert_eq!(field("gateway_sid"), opt(&e.gateway_sid));
        assert_eq!(field("delivery"), "'-1");
        assert_eq!(field("detail"), neutralised(&e.detail));
        assert_eq!(field("hash"), r.hash);
        assert_eq!(field("gateway_mode"), "restcomm");
        assert_eq!(field("os_account"), opt(&e.os_account));
        assert_eq!(field("desk"), "desk_b");
    }
    // Every row's reference kind came up.
    let refs: Vec<String> = rows.iter().map(|r| r[10].to_owned()).collect();
    for start in ["'=", "'\t", "'\r", "Dépôt"] {
        assert!(refs.iter().any(|r| r.starts_with(start)), "{start:?}");
    }
}

#[test]
fn a_failed_export_leaves_no_file_and_an_earlier_one_intact() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("export.csv");
    fs::write(&target, "the previous export").unwrap();
    {
        let mut csv = CsvWriter::new(StagedFile::create(&target).unwrap()).unwrap();
        let mut log = AuditLog::open(&dir.path().join("audit.jsonl")).unwrap();
        log.record(awkward(0, "+44 7400 123456")).unwrap();
        let r = audit::query(&dir.path().join("audit.jsonl"), &Filter::default(), 1).unwrap();
        csv.row(&r[0], None).unwrap();
        // Dropped without commit: the export failed half-way.
    }
    assert_eq!(fs::read_to_string(&target).unwrap(), "the previous export");
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("export.csv"))
        .collect();
    assert_eq!(names, vec!["export.csv"]);
}

/// The shell asks a data folder's `Trail` instead of joining file names:
/// the same months, pages, stream and verdict as the path-level readers.
#[test]
fn a_folders_trail_reads_and_verifies_every_month_as_the_paths_do() {
    use countersign::audit::{AuditKey, Trail, AUDIT_FILE};
    use countersign::keys::DigestKey;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    trail(&path, 30);
    let t = Trail::in_folder(dir.path());
    assert_eq!(t.current(), path.as_path());
    assert_eq!(t.files().unwrap(), audit::trail::files(&path).unwrap());
    let approved = Filter {
        outcome: Some("approved".into()),
        ..Filter::default()
    };
    let page = t.page(&approved, 2, 3).unwrap();
    let by_path = scan::page(&path, &approved, 2, 3).unwrap();
    assert_eq!(
        (seqs(&page.records), page.total),
        (seqs(&by_path.records), by_path.total)
    );
    assert_eq!(t.count(&approved).unwrap(), 10);
    assert_eq!(
        seqs(&t.query(&approved, 100).unwrap()),
        seqs(&audit::query(&path, &approved, 100).unwrap())
    );
    let mut streamed = Vec::new();
    let n = t
        .stream(&approved, |r, _, _| {
            streamed.push(r.seq);
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(streamed, (1..=30).step_by(3).collect::<Vec<_>>());
    let key = AuditKey::derived_from(&DigestKey::from_bytes(&[9; 32]).unwrap());
    assert_eq!(
        t.verify(&key, None).unwrap(),
        audit::verify_trail_keyed(&path, &key, None).unwrap()
    );
}
