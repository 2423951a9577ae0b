//! The Activity screen through IPC: pages with the count of every match,
//! date bounds as instants, and the CSV export of every filtered row, with
//! its progress, read back with a real CSV parser.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use countersign::audit::export::{BOM, COLUMNS};
use countersign::audit::{AuditEvent, AuditLog, AuditSink, EventKind};
use countersign::clock::{Clock, SystemClock, Timestamp};
use countersign_desk::activity::export::{self as audit_export, PROGRESS_EVERY};
use countersign_desk::shell::events::AUDIT_EXPORT_PROGRESS;
use countersign_desk::shell::{Shell, AUDIT_FILE};
use serde_json::{json, Value};
use support::{id_of, open};
use tauri::{Listener, Manager};

const DAY: i64 = 86_400_000;

fn page(desk: &support::Desk, filter: Value, offset: u64, limit: u64) -> Value {
    desk.call(
        "audit_query",
        json!({"filter": filter, "page": {"offset": offset, "limit": limit}}),
    )
    .expect("a page")
}

fn seqs(page: &Value) -> Vec<u64> {
    page["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn the_list_comes_a_page_at_a_time_with_the_count_of_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123455"));
    desk.check(&id, &desk.latest_code()).unwrap();
    desk.start("07400 123456");
    // Delivery reports may still come in: the list is held to what was
    // recorded before this instant.
    let until_now = json!({"before": SystemClock.now().millis() + 1});
    let everything = page(&desk, until_now.clone(), 0, 500);
    let n = everything["total"].as_u64().unwrap();
    assert!(n >= 6, "{everything}");
    assert_eq!(seqs(&everything).len() as u64, n);

    let first = page(&desk, until_now.clone(), 0, 2);
    assert_eq!(first["total"], n);
    assert_eq!(
        (first["offset"].as_u64(), first["limit"].as_u64()),
        (Some(0), Some(2))
    );
    let mut walked = Vec::new();
    for offset in (0..n).step_by(2) {
        let p = page(&desk, until_now.clone(), offset, 2);
        assert_eq!(p["total"], n);
        walked.extend(seqs(&p));
    }
    assert_eq!(
        walked,
        seqs(&everything),
        "the pages are the list, newest first, once each"
    );
    assert!(seqs(&page(&desk, until_now, n, 2)).is_empty());
    // The default page and the largest one.
    let default = desk.call("audit_query", json!({})).unwrap();
    assert_eq!(default["limit"], 100);
    assert_eq!(page(&desk, json!({}), 0, 100_000)["limit"], 500);
}

#[test]
fn date_bounds_are_instants_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    desk.start("07400 123455");
    let now = SystemClock.now().millis();
    let started = |p: Value| {
        p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"] == "started")
    };
    // A local day around now in any time zone: from 14 hours ago to 14
    // hours on (UTC-12 to UTC+14), neither a UTC midnight.
    let today = json!({"from": now - 14 * 3_600_000, "before": now + 14 * 3_600_000});
    assert!(started(page(&desk, today, 0, 500)));
    let tomorrow = json!({"from": now + DAY, "before": now + 2 * DAY});
    assert_eq!(page(&desk, tomorrow, 0, 500)["total"], 0);
    let yesterday = json!({"from": now - 2 * DAY, "before": now - DAY});
    assert_eq!(page(&desk, yesterday, 0, 500)["total"], 0);
    let as_text = json!({"from": (now - DAY).to_string()});
    assert!(started(page(&desk, as_text, 0, 500)));

    for (filter, says) in [
        (json!({"from": now, "before": now - 1}), "before the"),
        (
            json!({"from": "2026-03-30"}),
            "start date could not be read",
        ),
        (json!({"before": "later"}), "end date could not be read"),
        (json!({"before": 1.5}), "end date could not be read"),
    ] {
        let refused = desk
            .call("audit_query", json!({"filter": filter}))
            .unwrap_err();
        assert_eq!(refused["kind"], "invalid_filter", "{filter}");
        assert!(
            refused["message"].as_str().unwrap().contains(says),
            "{filter}: {refused}"
        );
        let refused = audit_export_of(&desk, filter.clone(), &dir.path().join("x.csv"));
        assert_eq!(refused.unwrap_err().kind(), "invalid_filter", "{filter}");
    }
    // A window still sending the old `to` day is refused, not unfiltered.
    assert!(desk
        .call("audit_query", json!({"filter": {"to": "2026-03-30"}}))
        .is_err());
}

/// Exports as "Export CSV" does once the operator has picked `target`.
fn audit_export_of(
    desk: &support::Desk,
    filter: Value,
    target: &Path,
) -> Result<u64, countersign_desk::error::IpcError> {
    let shell = desk.app.state::<Shell>();
    let filter = serde_json::from_value(filter).expect("a filter");
    tauri::async_runtime::block_on(async {
        let source = audit_export::prepare(&shell, filter).await?;
        audit_export::write(desk.app.handle(), &shell, source, target).await
    })
}

/// Records older than the desk, written before it first opens: enough for
/// several progress events, with text that trips naive CSV.
fn seed(data_dir: &Path, n: i64) -> i64 {
    std::fs::create_dir_all(data_dir).unwrap();
    let start = SystemClock.now().millis() - 30 * DAY;
    let mut log = AuditLog::open(&data_dir.join(AUDIT_FILE)).unwrap();
    for i in 0..n {
        let mut e = AuditEvent::new(Timestamp::from_millis(start + i * 1000), EventKind::Sent);
        e.operator = Some("Zoë \"Jo\" Brontë, Lyon".into());
        e.masked_number = Some("+33 •••• 678".into());
        e.reference = Some(format!("Dépôt {i} €,\nligne 2"));
        e.detail = Some("=cmd|' /C calc'!A0".into());
        e.gateway_mode = Some("demo".into());
        log.record(e).unwrap();
    }
    start
}

#[test]
fn export_writes_every_filtered_row_with_progress_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = 2_500;
    let start = seed(&data, seeded);
    let desk = open(&data);
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = events.clone();
    desk.app.listen_any(AUDIT_EXPORT_PROGRESS, move |e| {
        if let Ok(v) = serde_json::from_str(e.payload()) {
            sink.lock().unwrap().push(v);
        }
    });

    // Every seeded record, not 500, and none of the desk's own since.
    let filter = json!({"from": start, "before": start + seeded * 1000});
    let target = dir.path().join("export.csv");
    let rows = audit_export_of(&desk, filter.clone(), &target).unwrap();
    assert_eq!(rows, seeded as u64);
    assert_eq!(page(&desk, filter, 0, 1)["total"], rows);

    let progress = events.lock().unwrap().clone();
    let done: Vec<u64> = progress
        .iter()
        .map(|p| p["done"].as_u64().unwrap())
        .collect();
    assert_eq!(done, vec![PROGRESS_EVERY, 2 * PROGRESS_EVERY, rows]);
    assert!(progress.iter().all(|p| p["total"] == rows));

    let bytes = std::fs::read(&target).unwrap();
    assert!(bytes.starts_with(BOM));
    let mut reader = csv::Reader::from_reader(&bytes[BOM.len()..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        COLUMNS
    );
    let column = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let mut n = 0;
    for (i, row) in reader.records().enumerate() {
        let row = row.unwrap();
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(&row[column("seq")], (i + 1).to_string(), "oldest first");
        assert_eq!(&row[column("event")], "sent");
        assert_eq!(&row[column("operator")], "Zoë \"Jo\" Brontë, Lyon");
        assert_eq!(&row[column("masked_number")], "+33 •••• 678");
        assert_eq!(&row[column("reference")], format!("Dépôt {i} €,\nligne 2"));
        assert_eq!(&row[column("detail")], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[column("gateway_mode")], "demo");
        assert_eq!(&row[column("desk")], "");
        n += 1;
    }
    assert_eq!(n, seeded);
}

#[test]
fn export_carries_the_desks_own_records_with_their_gateway_mode() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    desk.start("07400 123455");
    let target = dir.path().join("today.csv");
    let until_now = json!({"before": SystemClock.now().millis() + 1});
    let rows = audit_export_of(&desk, until_now.clone(), &target).unwrap();
    let total = page(&desk, until_now, 0, 1)["total"].as_u64().unwrap();
    assert_eq!(rows, total);
    let bytes = std::fs::read(&target).unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[BOM.len()..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let of = |event: &str| {
        rows.iter()
            .find(|r| &r[column("event")] == event)
            .unwrap_or_else(|| panic!("a {event} row"))
    };
    assert_eq!(&of("operator_signed_in")[column("staff_id")], "S1234");
    let sent = of("sent");
    assert_eq!(&sent[column("masked_number")], "+44 •••• 455");
    assert_eq!(&sent[column("gateway_mode")], "demo");
}

#[test]
fn a_page_carries_the_outcomes_the_filter_offers_from_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let page = desk.call("audit_query", json!({})).unwrap();
    let outcomes: Vec<(String, String)> = page["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            let text = |k: &str| o[k].as_str().expect(k).to_owned();
            (text("value"), text("label"))
        })
        .collect();
    let expected: Vec<(String, String)> = countersign::audit::AuditOutcome::VERIFICATION
        .into_iter()
        .map(|o| (o.name().to_owned(), o.label().unwrap().to_owned()))
        .collect();
    assert_eq!(outcomes, expected);
    assert_eq!(outcomes[1], ("wrong-code".into(), "ui.wrong_code".into()));
}
