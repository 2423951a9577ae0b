//! End-to-end: the built desk writes its log files into its log folder
//! (`logs` beside the data of a desk whose data folder is overridden, as
//! here), and after a real run of sends, a wrong code and a right one, at
//! IT's `debug` level, no line holds a code, the auth token or the
//! customer's full number. See `e2e/src/lib.rs` for the harness.

#[path = "../../tests/log_support/mod.rs"]
mod log_support;

use countersign_e2e::{code_in, wrong_code, Desk, TestGateway};
use log_support::{line_count, scan, Secrets};

const SID: &str = "ACe2e0000000000000000000000000077";
const TOKEN: &str = "e2e-log-token-5d1c9b7a";
const CUSTOMER: (&str, &str) = ("+447400123456", "07400 123456");
const OTHER: (&str, &str) = ("+447400123457", "07400 123457");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_real_run_hold_no_code_token_or_number() {
    let gateway = TestGateway::start(SID, TOKEN).await;
    let policy_dir = tempfile::tempdir().expect("policy dir");
    let policy = policy_dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[locked]\nlog_level = \"debug\"\nlog_file_size_mb = 1\nlog_files_kept = 2\n",
    )
    .expect("policy");
    let policy_path = policy.display().to_string();
    let desk = Desk::on_gateway(&gateway, &[("COUNTERSIGN_POLICY", policy_path.as_str())]);
    let app = desk.open().await;

    let first = app.send(CUSTOMER.1, "Loan 12").await;
    let second = app.send(OTHER.1, "Card 4").await;
    let inbox = gateway.inbox();
    let codes: Vec<String> = inbox.iter().filter_map(|m| code_in(&m.body)).collect();
    assert_eq!(codes.len(), 2, "two codes reached the gateway");
    app.check(&first, &wrong_code(&codes[0])).await;
    app.wait("the wrong code to be told", |s| {
        (s.outcome() == Some("wrong-code")).then_some(())
    })
    .await;
    app.check(&first, &codes[0]).await;
    app.wait("the right code to approve", |s| {
        (s.outcome() == Some("approved") && s.card(&first).is_none()).then_some(())
    })
    .await;
    app.card_click(&second, "cancel").await;
    app.wait("the second to be cancelled", |s| {
        (s.outcome() == Some("cancelled") && s.card(&second).is_none()).then_some(())
    })
    .await;
    app.close().await;

    let logs = desk.data_dir().join("logs");
    let written = line_count(&logs);
    assert!(
        written > 0,
        "the desk wrote its log files in {}",
        logs.display()
    );
    let text = std::fs::read_to_string(logs.join(countersign::logfile::LOG_FILE_NAME))
        .expect("countersign.log");
    assert!(
        text.contains("SMS accepted by the gateway"),
        "IT's debug level reached the file:\n{text}"
    );
    let mut secrets = Secrets::default()
        .token(TOKEN)
        .number(CUSTOMER.0, CUSTOMER.1)
        .number(OTHER.0, OTHER.1);
    for code in &codes {
        secrets = secrets.code(code);
        secrets = secrets.code(&wrong_code(code));
    }
    let leaks = scan(&logs, &secrets).expect("the log folder is readable");
    assert!(leaks.is_empty(), "{} lines scanned: {leaks:#?}", written);
}
