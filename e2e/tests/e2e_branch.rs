//! End-to-end, S24: two desks of one branch in the real window, each with
//! its own data folder and IT policy, on one real PostgreSQL. A number
//! blocked at desk A (S5) and one pending there (S6) are refused at desk
//! B, and desk A's records show in desk B's Activity for the whole branch.
//!
//! The windows take turns (the harness drives one display at a time): desk
//! A's claims and counts live in the database, not in its window, so they
//! hold while desk B works.

#[path = "../../tests/pg_support/mod.rs"]
mod pg_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use countersign_e2e::{wrong_code, Desk};
use pg_support::{connect, TestCluster};

const BLOCKED: &str = "07400 200001";
const HELD: &str = "07400 200002";

/// Desk `desk`'s policy, with limits small enough that two wrong codes
/// lock the code and block the number.
fn policy(dir: &Path, cluster: &TestCluster, desk: &str) -> PathBuf {
    pg_support::branch_policy(dir, cluster, desk, 2, 2)
}

/// Waits until the branch holds a record of `event` from `desk`, as IT
/// would look: desk A's forwarder sends on its own timer.
async fn wait_for_branch_record(cluster: &TestCluster, desk: &str, event: &str) {
    let admin = connect(&cluster.admin_url()).await;
    let pattern = format!("%\"event\":\"{event}\"%");
    for _ in 0..300 {
        let found: i64 = admin
            .query_one(
                "SELECT count(*) FROM audit_records WHERE desk = $1 AND line LIKE $2",
                &[&desk, &pattern],
            )
            .await
            .expect("IT reads the branch trail")
            .get(0);
        if found > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("desk {desk}'s {event} record never reached the branch");
}

async fn send_refused(app: &countersign_e2e::App, number: &str, message: &str) -> String {
    app.clear("phone").await;
    app.type_into("phone", number).await;
    app.click("send").await;
    app.wait(&format!("the refusal for {number}"), |s| {
        (s.error.contains(message) && s.cards.is_empty()).then(|| s.error.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s24_a_number_blocked_or_pending_at_desk_a_is_refused_at_desk_b_whose_activity_shows_a() {
    let cluster = tokio::task::block_in_place(|| {
        let cluster = TestCluster::start();
        cluster.prepare(&["desk_a", "desk_b"]);
        cluster
    });
    let files = tempfile::tempdir().expect("policy folder");
    let policy_a = policy(files.path(), &cluster, "desk_a");
    let policy_b = policy(files.path(), &cluster, "desk_b");

    {
        let desk = Desk::with_env(&[("COUNTERSIGN_POLICY", &policy_a.display().to_string())]);
        let app = desk.open().await;
        let id = app.send(BLOCKED, "Blocked at A").await;
        let wrong = wrong_code(&app.code_from_phone("Blocked at A", 1).await);
        app.check(&id, &wrong).await;
        app.wait("one try left", |s| {
            (s.outcome() == Some("wrong-code") && s.card(&id).is_some()).then_some(())
        })
        .await;
        app.check(&id, &wrong).await;
        app.wait("locked", |s| {
            (s.outcome() == Some("locked") && s.card(&id).is_none()).then_some(())
        })
        .await;
        app.send(HELD, "Held at A").await;
        wait_for_branch_record(&cluster, "desk_a", "number_blocked").await;
        app.close().await;
    }

    let desk = Desk::with_env(&[("COUNTERSIGN_POLICY", &policy_b.display().to_string())]);
    let app = desk.open().await;
    send_refused(&app, BLOCKED, "Too many wrong codes for this number").await;
    let held = send_refused(&app, HELD, "already pending at desk desk_a").await;
    assert!(!held.contains("200002"), "no full number on screen: {held}");
    let s = app.snapshot().await.expect("snapshot");
    assert!(s.sms.is_empty(), "desk B sent nothing: {s:#?}");

    app.click("nav-activity").await;
    app.execute(
        r#"const s = document.querySelector('[data-testid="audit-scope"]'); s.value = "branch"; return s.value;"#,
    )
    .await;
    app.click("audit-apply").await;
    let mut rows = serde_json::Value::Null;
    for _ in 0..100 {
        rows = app
            .execute(
                r#"return [...document.querySelectorAll('[data-testid="audit-row"]')].map(r => [r.dataset.event, r.querySelector('[data-testid="audit-row-desk"]').textContent]);"#,
            )
            .await;
        let shows = |event: &str| {
            rows.as_array()
                .is_some_and(|a| a.iter().any(|r| r[0] == event && r[1] == "desk_a"))
        };
        if shows("number_blocked") && shows("started") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows_text = rows.to_string();
    assert!(
        rows_text.contains(r#"["number_blocked","desk_a"]"#),
        "desk A's block in desk B's branch view: {rows_text}"
    );
    app.close().await;
}
