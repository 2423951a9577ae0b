//! Figures for Activity on a large trail, run by hand (ignored by default):
//! `cargo test --release -p countersign --test audit_export_figures -- --ignored --nocapture`.
//! The trail is written without the log's fsyncs and with made-up hashes:
//! the reads here do not verify, and 100,000 fsyncs would take minutes.

use std::io::Write;
use std::time::Instant;

use countersign::audit::{scan, AuditEvent, AuditRecord, CsvWriter, EventKind, Filter};
use countersign::clock::Timestamp;
use countersign::persist::StagedFile;

#[test]
#[ignore]
fn pages_and_an_export_of_100_000_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let n: u64 = 100_000;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        let mut e = AuditEvent::new(
            Timestamp::from_millis(1_780_000_000_000 + i as i64 * 1000),
            EventKind::Sent,
        );
        e.operator = Some("Zoë Brontë".into());
        e.staff_id = Some("S1234".into());
        e.branch = Some("Leeds".into());
        e.workstation = Some("DESK-07".into());
        e.verification = Some(format!("v{i}"));
        e.masked_number = Some("+44 •••• 455".into());
        e.number_id = Some("a".repeat(64));
        e.reference = Some(format!("Cash withdrawal {i}"));
        e.gateway_mode = Some("demo".into());
        let r = AuditRecord {
            seq: i + 1,
            time: e.at.to_rfc3339(),
            event: e,
            prev: "b".repeat(64),
            hash: "c".repeat(64),
            chain: None,
        };
        serde_json::to_writer(&mut f, &r).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    let all = Filter::default();
    let t = Instant::now();
    let p = scan::page(&path, &all, 0, 100).unwrap();
    eprintln!(
        "FIG trail {n} records {size} bytes; first page: {:?} (total {})",
        t.elapsed(),
        p.total
    );
    let t = Instant::now();
    scan::page(&path, &all, n - 100, 100).unwrap();
    eprintln!("FIG last page: {:?}", t.elapsed());
    let t = Instant::now();
    scan::page(&path, &all, 5000, 100).unwrap();
    eprintln!("FIG page at 5000: {:?}", t.elapsed());
    let target = dir.path().join("export.csv");
    let t = Instant::now();
    let mut csv = CsvWriter::new(StagedFile::create(&target).unwrap()).unwrap();
    let rows = scan::stream(&path, &all, |r, _, _| csv.row(r, None)).unwrap();
    csv.into_inner().commit().unwrap();
    eprintln!(
        "FIG export {rows} rows, {} bytes: {:?}",
        std::fs::metadata(&target).unwrap().len(),
        t.elapsed()
    );
}
