//! S24 through the shell: two desks, each with its own data folder and its
//! own IT policy naming the same branch store, on a real PostgreSQL. What
//! one desk holds or blocks, the other refuses; a store that is away is
//! said on screen and stops sends.
// A throwaway PostgreSQL cluster is started the Unix way (runuser, chown,
// signals; tests/pg_support); the Windows CI job runs no PostgreSQL.
#![cfg(unix)]

#[path = "../../tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use std::path::Path;

use pg_support::TestCluster;
use serde_json::{json, Value};
use support::{id_of, open_with, Desk};

const NUMBER: &str = "+447400123456";
const OTHER: &str = "+447400123457";

/// A policy for `desk` in the branch on `cluster`, the default limits locked.
fn branch_policy(dir: &Path, cluster: &TestCluster, desk: &str) -> String {
    pg_support::branch_policy(dir, cluster, desk, 5, 10)
        .display()
        .to_string()
}

fn desk_in_branch(dir: &Path, cluster: &TestCluster, desk: &str) -> Desk {
    let policy = branch_policy(dir, cluster, desk);
    let gateway = tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo())
        .expect("demo gateway starts");
    let data = dir.join(desk);
    open_with(
        &data,
        Some(gateway),
        &[("COUNTERSIGN_POLICY", policy.as_str())],
    )
}

fn warnings(desk: &Desk) -> String {
    let status = desk.call("app_status", json!({})).expect("status");
    status["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn s24_a_number_pending_at_desk_a_is_refused_at_desk_b_through_ipc() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a", "desk_b"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let a = desk_in_branch(dir.path(), &cluster, "desk_a");
    let b = desk_in_branch(dir.path(), &cluster, "desk_b");
    assert_eq!(warnings(&a), "", "desk A joined the branch cleanly");

    let started = a.start(NUMBER);
    let refused = b.try_start(NUMBER).expect_err("S6 across desks");
    assert_eq!(refused["kind"], "pending_at_other_desk", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("desk_a"), "{message}");
    assert!(!message.contains("123456"), "no full number: {message}");

    a.call("cancel_verification", json!({"id": id_of(&started)}))
        .expect("cancelled at desk A");
    // The number's pause (S8) still holds across the branch.
    let paused = b.try_start(NUMBER).expect_err("S8 across desks");
    assert_eq!(paused["kind"], "resend_cooldown", "{paused}");
}

#[test]
fn s24_a_branch_store_that_is_away_stops_sends_and_says_so() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = branch_policy(dir.path(), &cluster, "desk_a");
    cluster.stop();
    let gateway = tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo())
        .expect("demo gateway starts");
    let a = open_with(
        &dir.path().join("desk_a"),
        Some(gateway),
        &[("COUNTERSIGN_POLICY", policy.as_str())],
    );
    assert!(
        warnings(&a).contains("The branch store cannot be reached"),
        "{}",
        warnings(&a)
    );
    let refused = a.try_start(OTHER).expect_err("fail closed");
    assert_eq!(refused["kind"], "branch_unreachable", "{refused}");

    cluster.restart();
    a.try_start(OTHER)
        .expect("sends resume once the store is back");
}

/// Desk B's view of the whole branch, once desk A's forwarder has sent its
/// records: polled, since forwarding runs on its own timer (the first
/// round at start, then every few seconds).
fn branch_rows_of(b: &Desk, desk: &str, wanted: &str) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = b
            .call(
                "audit_query",
                json!({"filter": {"scope": "branch", "desk": desk}}),
            )
            .expect("the branch's records");
        let rows = rows["rows"].as_array().cloned().expect("a page of rows");
        if rows.iter().any(|r| r["event"] == wanted) {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "desk {desk}'s {wanted} record never reached the branch: {rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn s24_desk_a_s_records_show_in_desk_b_s_activity_for_the_whole_branch() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a", "desk_b"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let a = desk_in_branch(dir.path(), &cluster, "desk_a");
    let b = desk_in_branch(dir.path(), &cluster, "desk_b");
    let status = b.call("app_status", json!({})).expect("status");
    assert_eq!(status["branchDesk"], "desk_b");

    a.start(NUMBER);
    let rows = branch_rows_of(&b, "desk_a", "started");
    assert!(rows.iter().all(|r| r["desk"] == "desk_a"), "{rows:?}");
    let started = rows
        .iter()
        .find(|r| r["event"] == "started")
        .expect("started");
    assert_eq!(
        started["workstation"], "desk_a",
        "named by its database role, not an editable setting"
    );
    let masked = started["maskedNumber"].as_str().unwrap_or_default();
    assert!(
        !masked.contains("7400123456") && masked.ends_with("456"),
        "{masked}"
    );

    // Desk B's own view is its own trail: desk A's start is not in it.
    let own = b
        .call("audit_query", json!({"filter": {}}))
        .expect("own rows");
    assert!(!own["rows"]
        .as_array()
        .expect("a page of rows")
        .iter()
        .any(|r| r["event"] == "started"));

    let refused = b
        .call(
            "audit_query",
            json!({"filter": {"scope": "branch", "phone": NUMBER}}),
        )
        .expect_err("phone search across desks");
    assert_eq!(refused["kind"], "invalid_filter");
}
