//! S24's shared audit trail on a real PostgreSQL: every record of a desk's
//! trail reaches the branch in order, once; records made while the
//! database is away follow when it returns; a local trail changed or cut
//! after its records left shows against the branch's copy.
// A throwaway PostgreSQL cluster is started the Unix way (runuser, chown,
// signals; tests/pg_support); the Windows CI job runs no PostgreSQL.
#![cfg(unix)]

mod pg_support;

use std::path::Path;

use countersign::audit::{AuditEvent, AuditKey, AuditLog, AuditSink, EventKind};
use countersign::branch::forward::{forward_trail, records_from, ForwardError};
use countersign::branch::postgres::{LedgerClock, LedgerConfig, PgLedger};
use countersign::clock::Timestamp;
use pg_support::{connect, runtime, TestCluster};

fn ledger(cluster: &TestCluster, desk: &str) -> PgLedger {
    PgLedger::start(&LedgerConfig {
        url: cluster.url_for(desk),
        password: None,
        ca_bundle: None,
        clock: LedgerClock::Desk,
    })
    .expect("a loopback URL with a desk role")
}

fn record(log: &mut AuditLog, n: usize) {
    for i in 0..n {
        let mut e = AuditEvent::new(
            Timestamp::from_millis(1_767_225_600_000 + i as i64),
            EventKind::Started,
        );
        e.operator = Some(format!("Teller {i}"));
        log.record(e).expect("recorded");
    }
}

/// What the branch holds from `desk`: (seq, line), in seq order.
fn branch_copy(cluster: &TestCluster, desk: &str) -> Vec<(u64, String)> {
    let url = cluster.admin_url();
    let desk = desk.to_owned();
    runtime().block_on(async move {
        connect(&url)
            .await
            .query(
                "SELECT seq, line FROM audit_records WHERE desk = $1 ORDER BY seq",
                &[&desk],
            )
            .await
            .expect("read as IT")
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1)))
            .collect()
    })
}

fn local(path: &Path) -> Vec<(u64, String)> {
    records_from(path, 0).expect("the local trail reads")
}

#[test]
fn s24_audit_records_reach_the_branch_in_order_once_each() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).expect("log opens");
    record(&mut log, 5);
    let mut a = ledger(&cluster, "desk_a");

    assert_eq!(forward_trail(&mut a, &path).expect("forwarded"), 5);
    assert_eq!(forward_trail(&mut a, &path).expect("nothing new"), 0);
    record(&mut log, 2);
    assert_eq!(forward_trail(&mut a, &path).expect("forwarded"), 2);

    let copy = branch_copy(&cluster, "desk_a");
    assert_eq!(
        copy,
        local(&path),
        "the branch holds the trail's lines as written"
    );
    assert_eq!(
        copy.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
}

#[test]
fn s24_records_made_while_the_database_is_away_are_forwarded_when_it_returns() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).expect("log opens");
    let mut a = ledger(&cluster, "desk_a");
    record(&mut log, 3);
    forward_trail(&mut a, &path).expect("forwarded");

    cluster.stop();
    record(&mut log, 4);
    assert!(matches!(
        forward_trail(&mut a, &path),
        Err(ForwardError::Unreachable(_))
    ));
    cluster.restart();
    assert_eq!(forward_trail(&mut a, &path).expect("forwarded"), 4);
    // A batch sent twice (a round cut short after its commit) adds nothing.
    a.forward(local(&path)).expect("sent again");
    assert_eq!(
        branch_copy(&cluster, "desk_a"),
        local(&path),
        "none lost, none twice"
    );
}

#[test]
fn s24_a_local_trail_changed_or_cut_after_forwarding_shows_against_the_branch() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).expect("log opens");
    let mut a = ledger(&cluster, "desk_a");
    record(&mut log, 3);
    forward_trail(&mut a, &path).expect("forwarded");
    drop(log);

    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("Teller 2", "Teller 9")).expect("rewrite");
    match forward_trail(&mut a, &path) {
        Err(e @ ForwardError::Diverged { seq: 3 }) => {
            assert!(e.to_string().contains("record 3"), "{e}");
        }
        other => panic!("expected the rewrite to show, got {other:?}"),
    }

    let first_two: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, first_two).expect("cut");
    assert!(matches!(
        forward_trail(&mut a, &path),
        Err(ForwardError::Behind {
            local: 2,
            branch: 3
        })
    ));
}

#[test]
fn s24_it_verifies_every_desk_s_chain_from_the_branch_and_finds_a_changed_record() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a", "desk_b"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let hex = "17".repeat(32);
    for desk in ["desk_a", "desk_b"] {
        let path = dir.path().join(desk).join("audit.jsonl");
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("desk folder");
        let key = AuditKey::from_hex(&hex).expect("a key");
        let mut log = AuditLog::open_keyed(&path, key, None).expect("keyed log opens");
        record(&mut log, 4);
        forward_trail(&mut ledger(&cluster, desk), &path).expect("forwarded");
    }
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, &hex).expect("key file");
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_countersign-branch"))
            .args([
                "verify-audit",
                "--url",
                &cluster.admin_url(),
                "--audit-key-file",
            ])
            .arg(&key_file)
            .output()
            .expect("the tool runs")
    };

    let intact = verify();
    let said = String::from_utf8_lossy(&intact.stdout).into_owned();
    assert!(intact.status.success(), "{said}");
    assert!(
        said.contains("desk_a: Intact") && said.contains("desk_b: Intact"),
        "{said}"
    );

    let url = cluster.admin_url();
    runtime().block_on(async move {
        connect(&url)
            .await
            .batch_execute(
                "UPDATE audit_records SET line = replace(line, 'Teller 2', 'Teller 9') \
                 WHERE desk = 'desk_b'",
            )
            .await
            .expect("IT's own role can change rows; the chain must show it");
    });
    let broken = verify();
    let said = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert_eq!(broken.status.code(), Some(1), "{said}");
    assert!(said.contains("desk_a: Intact"), "{said}");
    assert!(said.contains("desk_b: Broken"), "{said}");
}
