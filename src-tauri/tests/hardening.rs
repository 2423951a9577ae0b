//! The desk holds its rules against its own user (S19, S22, S23), through
//! the shell where each door was open: the environment the app is started
//! with, files edited or deleted in the data folder between runs, and a
//! gateway that cannot take a message. Every gateway here is a loopback
//! emulator of the test's own; "the user's listener" is one more.

mod support;

use std::path::PathBuf;

use countersign::gateway::emulator::{self, EmulatorConfig, EmulatorHandle, DEMO_ACCOUNT_SID};
use serde_json::{json, Value};
use support::{id_of, open, open_on_machine, open_with, Desk};

/// An emulator with the demo account under a token of the test's own.
fn emulator_with_token() -> (EmulatorHandle, String) {
    let mut config = EmulatorConfig::demo();
    let token = format!("HARDENtok{}", config.accounts[0].token);
    config.accounts[0].token = token.clone();
    let handle = tauri::async_runtime::block_on(emulator::start(config)).expect("emulator starts");
    (handle, token)
}

fn write(path: &std::path::Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

fn save(desk: &Desk, changes: Value, token: Option<&str>) -> Value {
    desk.call("settings_save", json!({"changes": changes, "token": token}))
        .expect("settings_save answers")
}

fn restcomm_at(emulator: &EmulatorHandle) -> Value {
    json!({
        "gateway": "restcomm",
        "base_url": emulator.base_url().to_string(),
        "account_sid": DEMO_ACCOUNT_SID,
        "sender": "+15550001111",
    })
}

/// A desk set up for `bank` on the settings screen, token typed, then
/// closed: what each restart scenario starts from.
fn set_up_for(dir: &std::path::Path, bank: &EmulatorHandle, token: &str) {
    let desk = open_with(dir, None, &[]);
    let answer = save(&desk, restcomm_at(bank), Some(token));
    assert_eq!(answer["saved"], true, "{answer}");
}

/// What a desk user with a text editor does: the gateway address in
/// settings.json now names their own listener.
fn point_settings_at(dir: &std::path::Path, bank: &EmulatorHandle, listener: &EmulatorHandle) {
    let settings = dir.join("settings.json");
    let text = std::fs::read_to_string(&settings).unwrap();
    let edited = text.replace(bank.base_url().as_str(), listener.base_url().as_str());
    assert_ne!(text, edited, "settings.json names the bank's gateway");
    std::fs::write(&settings, edited).unwrap();
}

fn warnings(desk: &Desk) -> Vec<String> {
    desk.call("app_status", json!({})).unwrap()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect()
}

fn sms_posts(emulator: &EmulatorHandle) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
}

// ------------------------------------------------------------------ S19

#[test]
fn s19_the_environment_cannot_point_a_locked_gateway_at_the_user_s_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    let (listener, _) = emulator_with_token();
    let token_file = write(&dir.path().with_extension("token"), &token);
    let policy = write(
        &dir.path().with_extension("policy.toml"),
        &format!(
            "[locked]\ndemo_allowed = false\ngateway = \"restcomm\"\nbase_url = \"{}\"\naccount_sid = \"{DEMO_ACCOUNT_SID}\"\nsender = \"+15550001111\"\nauth_token_file = \"{token_file}\"\n",
            bank.base_url()
        ),
    );
    let listener_url = listener.base_url().to_string();
    let desk = open_with(
        dir.path(),
        None,
        &[
            ("COUNTERSIGN_POLICY", policy.as_str()),
            ("COUNTERSIGN_RESTCOMM_URL", listener_url.as_str()),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", DEMO_ACCOUNT_SID),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", token.as_str()),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
        ],
    );
    let refused = desk.try_start("07400 123456").unwrap_err();
    assert_eq!(refused["kind"], "gateway_unavailable", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("COUNTERSIGN_RESTCOMM_"), "{message}");
    assert!(message.contains("nothing is sent until then"), "{message}");
    assert_eq!(sms_posts(&listener), 0, "the user's listener got an SMS");
    assert_eq!(sms_posts(&bank), 0);
    assert!(desk.call("list_pending", json!({})).unwrap() == json!([]));
}

#[test]
fn s19_a_system_policy_wins_over_countersign_policy_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let machine = tempfile::tempdir().unwrap();
    let system = machine.path().join("policy.toml");
    // The test's credentials stay in files (never a developer's keyring):
    // this policy lets the environment choose them.
    write(
        &system,
        "[locked]\nmax_attempts = 3\nallow_credentials_override = true\n",
    );
    let mine = write(
        &dir.path().with_extension("mine.toml"),
        "[locked]\nmax_attempts = 5\n",
    );
    let desk = open_on_machine(
        dir.path(),
        None,
        &[
            ("COUNTERSIGN_POLICY", mine.as_str()),
            ("COUNTERSIGN_CREDENTIALS", "file"),
        ],
        vec![system.clone(), machine.path().join("policy.json")],
    );
    let view = desk.call("settings_read", json!({})).unwrap();
    let in_force = view["policyFile"].as_str().unwrap();
    assert_eq!(in_force, format!("{} (system policy)", system.display()));
    let attempts = view["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "max_attempts")
        .unwrap();
    assert_eq!(
        (attempts["value"].clone(), attempts["lockedBy"].clone()),
        (json!(3), json!("it-policy"))
    );
    let shown = warnings(&desk).join("\n");
    assert!(shown.contains("COUNTERSIGN_POLICY"), "{shown}");
    let started = desk
        .audit_rows()
        .into_iter()
        .find(|r| r["event"] == "app_started")
        .unwrap();
    let detail = started["detail"].as_str().unwrap();
    assert!(detail.contains("(system policy)"), "{detail}");
    assert!(detail.contains("COUNTERSIGN_POLICY"), "{detail}");
}

#[test]
fn s19_countersign_data_dir_does_not_move_the_data_under_a_system_policy() {
    let machine = tempfile::tempdir().unwrap();
    let system = vec![machine.path().join("policy.toml")];
    let launch = |locations: Vec<PathBuf>| countersign_desk::Launch {
        gateway: None,
        env: Box::new(|k| (k == "COUNTERSIGN_DATA_DIR").then(|| "/tmp/empty-desk".to_owned())),
        policy_locations: locations,
        os_locale: None,
        log_dir: None,
        clock: std::sync::Arc::new(countersign::clock::SystemClock),
    };
    // No machine policy: a portable or test desk may move its data.
    let l = launch(system.clone());
    assert_eq!(
        l.data_dir_override(&l.discover_policy()),
        (Some(PathBuf::from("/tmp/empty-desk")), None)
    );
    write(&system[0], "[locked]\nmax_attempts = 3\n");
    let l = launch(system.clone());
    let (dir, note) = l.data_dir_override(&l.discover_policy());
    assert_eq!(dir, None);
    assert!(note.unwrap().starts_with("COUNTERSIGN_DATA_DIR is ignored"));
    write(&system[0], "[locked]\nallow_data_dir_override = true\n");
    let l = launch(system);
    assert!(l.data_dir_override(&l.discover_policy()).0.is_some());
}

#[test]
fn s19_a_stored_token_is_not_sent_to_an_address_edited_into_settings_json() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    // The user's listener: any request reaching it carries the token in
    // its Authorization header and the code in its body.
    let (listener, _) = emulator_with_token();
    {
        let desk = open_with(dir.path(), None, &[]);
        let answer = save(&desk, restcomm_at(&bank), Some(&token));
        assert_eq!(answer["saved"], true, "{answer}");
        desk.start("07400 123456");
        assert_eq!(sms_posts(&bank), 1);
    }
    point_settings_at(dir.path(), &bank, &listener);

    let desk = open_with(dir.path(), None, &[]);
    let refused = desk.try_start("07400 123457").unwrap_err();
    assert_eq!(refused["kind"], "gateway_unavailable", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("type it again"),
        "{refused}"
    );
    assert!(
        listener.requests().is_empty(),
        "the token went to an address it was not typed for"
    );
}

/// Edit settings.json, then delete the sealed record so nothing remembers
/// what the token was typed for: the token is still not sent.
#[test]
fn s19_deleting_the_sealed_record_does_not_rebind_the_token_to_an_edited_address() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    let (listener, _) = emulator_with_token();
    set_up_for(dir.path(), &bank, &token);
    point_settings_at(dir.path(), &bank, &listener);
    std::fs::remove_file(dir.path().join("keys").join("desk-facts")).unwrap();

    let desk = open_with(dir.path(), None, &[]);
    let shown = warnings(&desk).join("\n");
    assert!(shown.contains("sealed record was missing"), "{shown}");
    let refused = desk.try_start("07400 123456").unwrap_err();
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("type it again"),
        "{refused}"
    );
    assert!(
        listener.requests().is_empty(),
        "the token reached the listener"
    );
}

/// A sealed record that cannot be read is not "no record": a real desk
/// whose settings were then deleted still does not drop to demo mode.
#[test]
fn s23_an_unreadable_sealed_record_does_not_open_the_way_to_demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    set_up_for(dir.path(), &bank, &token);
    let record = dir.path().join("keys").join("desk-facts");
    std::fs::remove_file(&record).unwrap();
    std::fs::create_dir(&record).unwrap();
    std::fs::remove_file(dir.path().join("settings.json")).unwrap();

    let desk = open_with(dir.path(), None, &[]);
    assert_eq!(
        desk.call("app_status", json!({})).unwrap()["mode"],
        Value::Null
    );
    assert!(desk.try_start("07400 123456").is_err());
    assert_eq!(desk.call("demo_inbox", json!({})).unwrap(), json!([]));
    let shown = warnings(&desk).join("\n");
    assert!(shown.contains("sealed record cannot be read"), "{shown}");
}

#[test]
fn s19_the_gateway_an_it_token_file_belongs_to_cannot_be_changed_at_the_desk() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    let (listener, _) = emulator_with_token();
    let token_file = write(&dir.path().with_extension("token"), &token);
    let policy = write(
        &dir.path().with_extension("policy.toml"),
        &format!(
            "[defaults]\ngateway = \"restcomm\"\nbase_url = \"{}\"\naccount_sid = \"{DEMO_ACCOUNT_SID}\"\nsender = \"+15550001111\"\n[locked]\nauth_token_file = \"{token_file}\"\n",
            bank.base_url()
        ),
    );
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_POLICY", policy.as_str())]);
    let answer = save(
        &desk,
        json!({"base_url": listener.base_url().to_string()}),
        None,
    );
    assert_eq!(answer["saved"], false, "{answer}");
    assert_eq!(answer["errors"][0]["key"], "base_url", "{answer}");
    desk.start("07400 123456");
    assert_eq!((sms_posts(&bank), sms_posts(&listener)), (1, 0));
}

// ------------------------------------------------------------------ S23

#[test]
fn s23_no_code_is_left_pending_when_no_gateway_can_send() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, _) = emulator_with_token();
    // A real gateway with no token anywhere: nothing can be sent.
    let policy = write(
        &dir.path().with_extension("policy.toml"),
        &format!(
            "[locked]\ngateway = \"restcomm\"\nbase_url = \"{}\"\naccount_sid = \"{DEMO_ACCOUNT_SID}\"\nsender = \"+15550001111\"\n",
            bank.base_url()
        ),
    );
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_POLICY", policy.as_str())]);
    for _ in 0..2 {
        // The second answer is the same refusal, never "already pending".
        let refused = desk.try_start("07400 123456").unwrap_err();
        assert_eq!(refused["kind"], "gateway_unavailable", "{refused}");
    }
    assert_eq!(desk.call("list_pending", json!({})).unwrap(), json!([]));
    let not_sent = desk
        .audit_rows()
        .into_iter()
        .find(|r| r["event"] == "not_sent")
        .expect("audited");
    assert_eq!(not_sent["outcome"], "not-sent");
    assert!(
        not_sent["detail"]
            .as_str()
            .unwrap()
            .starts_with("no gateway: No auth token is set"),
        "{not_sent}"
    );
}

#[test]
fn s23_a_real_desk_that_lost_its_settings_does_not_fall_back_to_demo_silently() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, token) = emulator_with_token();
    set_up_for(dir.path(), &bank, &token);
    std::fs::remove_file(dir.path().join("settings.json")).unwrap();

    let desk = open_with(dir.path(), None, &[]);
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["mode"], Value::Null, "{status}");
    let refused = desk.try_start("07400 123456").unwrap_err();
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("set up for a real SMS gateway"),
        "{refused}"
    );
    assert_eq!(desk.call("demo_inbox", json!({})).unwrap(), json!([]));
    let view = desk.call("settings_read", json!({})).unwrap();
    assert!(view["problem"]
        .as_str()
        .unwrap()
        .contains("choose demo mode explicitly"));

    // The explicit choice, audited; then demo mode works.
    assert_eq!(save(&desk, json!({"gateway": "demo"}), None)["saved"], true);
    assert_eq!(desk.call("app_status", json!({})).unwrap()["mode"], "demo");
    let chosen = desk
        .audit_rows()
        .into_iter()
        .find(|r| r["event"] == "settings_changed")
        .unwrap();
    assert!(
        chosen["detail"]
            .as_str()
            .unwrap()
            .contains("demo mode chosen explicitly"),
        "{chosen}"
    );
    desk.start("07400 123456");
}

#[test]
fn s23_a_failed_test_sms_keeps_its_send_slot() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo())
        .expect("demo gateway");
    let em = gateway.emulator.as_ref().expect("demo emulator");
    em.faults().answer_next(1, 503, "");
    let desk = open_with(dir.path(), Some(gateway), &[]);
    let first = desk
        .call("send_test_sms", json!({"phone": "07400 123456"}))
        .unwrap_err();
    assert_eq!(first["kind"], "gateway_server_error", "{first}");
    // A second click right after does not send a burst: the slot was kept.
    let second = desk
        .call("send_test_sms", json!({"phone": "07400 123456"}))
        .unwrap_err();
    assert_eq!(second["kind"], "resend_cooldown", "{second}");
    let row = desk
        .audit_rows()
        .into_iter()
        .find(|r| r["event"] == "test_sms_sent")
        .unwrap();
    assert_eq!(row["gatewayMode"], "demo");
    assert!(
        row["numberId"].as_str().is_some_and(|n| n.len() == 64),
        "{row}"
    );
}

// ------------------------------------------------------------------ S22

#[test]
fn s22_a_deleted_audit_log_is_reported_at_start_and_by_verify_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let desk = open(dir.path());
        desk.start("07400 123456");
    }
    std::fs::remove_file(dir.path().join("audit.jsonl")).unwrap();
    let desk = open(dir.path());
    let shown = warnings(&desk).join("\n");
    assert!(shown.contains("The audit log is damaged"), "{shown}");
    let verdict = desk.call("audit_verify", json!({})).unwrap();
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert!(
        verdict["message"]
            .as_str()
            .unwrap()
            .starts_with("Broken in audit.jsonl at record 1"),
        "{verdict}"
    );
}

#[test]
fn s22_sign_in_names_the_os_account_and_sends_name_their_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123456"));
    desk.check(&id, &desk.latest_code()).unwrap();
    let rows = desk.audit_rows();
    let signed_in = rows
        .iter()
        .find(|r| r["event"] == "operator_signed_in")
        .unwrap();
    let os = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    assert_eq!(
        signed_in["osAccount"],
        String::from_utf8_lossy(&os.stdout).trim()
    );
    for event in ["sent", "approved"] {
        let row = rows.iter().find(|r| r["event"] == event).unwrap();
        assert_eq!(row["gatewayMode"], "demo", "{event}: {row}");
    }
}

// ------------------------------------------------------------------ S21

/// An edited pending list is set aside, shown and audited; the number keeps
/// its send (cooldown) from the audit trail; the edit hands nothing back.
#[test]
fn s21_an_edited_pending_list_is_set_aside_and_the_number_keeps_its_send() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let desk = open(dir.path());
        id_of(&desk.start("07400 123456"))
    };
    let pending = dir.path().join("pending.json");
    let journal = dir.path().join("pending.journal");
    // Give the verification more tries, in whichever file holds it now.
    for file in [&pending, &journal] {
        if let Ok(text) = std::fs::read_to_string(file) {
            let edited = text.replace("\"failedAttempts\":0", "\"failedAttempts\":1");
            std::fs::write(file, edited).unwrap();
        }
    }
    let tampered: String = [&pending, &journal]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    assert!(
        tampered.contains("\"failedAttempts\":1"),
        "nothing was edited"
    );

    let desk = open(dir.path());
    let shown = warnings(&desk).join("\n");
    assert!(shown.contains("The pending list was set aside"), "{shown}");
    assert_eq!(desk.call("list_pending", json!({})).unwrap(), json!([]));
    let refused = desk.try_start("07400 123456").unwrap_err();
    assert_eq!(refused["kind"], "resend_cooldown", "{refused}");
    let rows = desk.audit_rows();
    assert!(rows.iter().any(|r| r["event"] == "store_quarantined"));
    assert!(rows
        .iter()
        .any(|r| r["event"] == "cancelled" && r["verification"] == id.as_str()));
    assert!(std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-")));
}
