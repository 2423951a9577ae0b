//! The settings screen's commands through IPC: configuring Restcomm mode
//! against an emulator (as IT would), the token kept out of every answer
//! and of settings.json, all-or-nothing saves, the IT policy file's locks,
//! and a bad policy file stopping real mode with its exact message.

mod support;

use countersign::gateway::emulator::{self, EmulatorConfig, EmulatorHandle, DEMO_ACCOUNT_SID};
use serde_json::{json, Value};
use support::{id_of, open_with, Desk};

const TOKEN_MARK: &str = "SECRETtok";

/// An emulator of its own, as a separate gateway the desk is pointed at.
fn external_emulator() -> (EmulatorHandle, String) {
    let mut config = EmulatorConfig::demo();
    let token = format!("{TOKEN_MARK}{}", config.accounts[0].token);
    config.accounts[0].token = token.clone();
    let handle = tauri::async_runtime::block_on(emulator::start(config)).expect("emulator starts");
    (handle, token)
}

fn restcomm_changes(emulator: &EmulatorHandle) -> Value {
    json!({
        "gateway": "restcomm",
        "base_url": emulator.base_url().to_string(),
        "account_sid": DEMO_ACCOUNT_SID,
        "sender": "+15550001111",
    })
}

fn save(desk: &Desk, changes: Value, token: Option<&str>) -> Value {
    desk.call("settings_save", json!({"changes": changes, "token": token}))
        .expect("settings_save answers")
}

/// A policy file of the test's own, beside its data folder.
fn policy_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().with_extension("policy.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn field<'a>(view: &'a Value, key: &str) -> &'a Value {
    view["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["key"] == key))
        .unwrap_or_else(|| panic!("no field {key}"))
}

#[test]
fn restcomm_mode_configured_in_settings_completes_a_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, token) = external_emulator();
    let desk = open_with(dir.path(), None, &[]);
    assert_eq!(desk.call("app_status", json!({})).unwrap()["mode"], "demo");

    let answer = save(&desk, restcomm_changes(&emulator), Some(&token));
    assert_eq!(answer["saved"], true, "{answer}");
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["mode"], "restcomm", "{status}");

    let started = desk.start("07400 123456");
    let sms = emulator.inbox().pop().expect("the emulator got the SMS");
    assert_eq!(sms.to, "+447400123456");
    let code: String = sms
        .body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_owned();
    let outcome = desk.check(&id_of(&started), &code).unwrap();
    assert_eq!(outcome["outcome"], "approved");
}

#[test]
fn the_token_never_reaches_the_ui_or_settings_json_and_its_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, token) = external_emulator();
    let desk = open_with(dir.path(), None, &[]);
    let before = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(before["token"]["set"], false);
    assert_eq!(
        save(&desk, restcomm_changes(&emulator), Some(&token))["saved"],
        true
    );

    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(view["token"]["set"], true);
    assert_eq!(view["token"]["replaceable"], true);
    assert!(view["token"]["source"]
        .as_str()
        .unwrap()
        .contains("Owner-only files"));
    let status = desk.call("app_status", json!({})).unwrap();
    for answer in [&view, &status] {
        assert!(!answer.to_string().contains(TOKEN_MARK), "{answer}");
    }
    let settings = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"gateway\": \"restcomm\""), "{settings}");
    assert!(!settings.contains(TOKEN_MARK), "{settings}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(TOKEN_MARK));
    assert!(
        audit.contains("auth token (replaced; value not recorded)"),
        "{audit}"
    );

    let token_file = dir.path().join("credentials/gateway-auth-token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_save_with_one_bad_value_saves_nothing_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let answer = save(
        &desk,
        json!({"brand": "Northbank", "max_attempts": 9}),
        None,
    );
    assert_eq!(answer["saved"], false);
    assert_eq!(answer["errors"][0]["key"], "max_attempts");
    assert_eq!(
        answer["errors"][0]["message"],
        "The tries per code must be between 1 and 5 tries (got 9)."
    );
    assert!(
        !dir.path().join("settings.json").exists() || {
            let s = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
            !s.contains("Northbank")
        }
    );
    // A real gateway without its address is refused as a whole.
    let answer = save(&desk, json!({"gateway": "restcomm"}), None);
    assert_eq!(answer["saved"], false);
    let keys: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["base_url", "account_sid", "sender"]);
    assert_eq!(desk.call("app_status", json!({})).unwrap()["mode"], "demo");

    let checked = desk
        .call(
            "settings_check",
            json!({"key": "code_length", "value": "12"}),
        )
        .unwrap_err();
    assert_eq!(checked["kind"], "invalid_setting");
    assert_eq!(
        checked["message"],
        "The code length must be between 6 and 10 digits (got 12)."
    );
}

#[test]
fn a_saved_change_applies_at_once_and_is_audited_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let answer = save(
        &desk,
        json!({"code_length": "8", "brand": "Northbank", "default_language": "de"}),
        None,
    );
    assert_eq!(answer["saved"], true, "{answer}");
    desk.start("07400 123456");
    let code = desk.latest_code();
    assert_eq!(code.len(), 8);
    let inbox = desk.call("demo_inbox", json!({})).unwrap();
    let body = inbox[inbox.as_array().unwrap().len() - 1]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.starts_with("Northbank Code "),
        "German, with the brand: {body}"
    );

    // Per verification, another language than the default.
    let started = desk
        .call(
            "start_verification",
            json!({"phone": "07400 123457", "purpose": {"kind": "reference", "reference": "Retrait"}, "language": "fr"}),
        )
        .unwrap();
    assert_eq!(started["alreadyPending"], false);
    let inbox = desk.call("demo_inbox", json!({})).unwrap();
    let body = inbox[inbox.as_array().unwrap().len() - 1]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(body.contains("pour Retrait. Valable 5 min"), "{body}");

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"detail\":\"changed: code_length, brand, default_language\""),
        "{audit}"
    );
}

#[test]
fn the_policy_file_locks_what_it_sets_and_the_screen_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(&dir, "[locked]\nmax_attempts = 3\nallowed_countries = [\"GB\", \"IE\"]\n\n[defaults]\nbrand = \"Northbank\"\n");
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_POLICY", policy.as_str())]);
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(field(&view, "max_attempts")["value"], 3);
    assert_eq!(field(&view, "max_attempts")["lockedBy"], "it-policy");
    assert_eq!(field(&view, "brand")["value"], "Northbank");
    assert_eq!(field(&view, "brand")["lockedBy"], Value::Null);
    // Which file is in force, and how it came to be (S19).
    assert_eq!(
        view["policyFile"],
        format!("{policy} (from COUNTERSIGN_POLICY)")
    );

    let answer = save(&desk, json!({"max_attempts": 5}), None);
    assert_eq!(answer["saved"], false);
    assert_eq!(
        answer["errors"][0]["message"],
        "The tries per code is set by the IT policy file and cannot be changed here."
    );
    // The lock is in force in the engine: the third wrong code locks.
    let started = desk.start("07400 123456");
    let id = id_of(&started);
    for _ in 0..2 {
        desk.check(&id, "000000").unwrap();
    }
    assert_eq!(desk.check(&id, "000000").unwrap()["outcome"], "locked");
}

#[test]
fn the_screen_is_laid_out_from_what_rust_sends() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let view = desk.call("settings_read", json!({})).unwrap();
    let keys: Vec<&str> = view["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 40);
    assert_eq!(keys[..2], ["gateway", "base_url"]);
    let gateway = field(&view, "gateway");
    assert_eq!(gateway["group"], "gateway");
    assert_eq!(gateway["input"], "select");
    assert_eq!(gateway["realGatewayOnly"], false);
    assert_eq!(gateway["choices"][1]["value"], "restcomm");
    assert_eq!(gateway["choices"][1]["text"]["key"], "ui.mode.restcomm");
    let base_url = field(&view, "base_url");
    assert_eq!(base_url["realGatewayOnly"], true);
    assert_eq!(base_url["itOnly"], false);
    assert_eq!(base_url["input"], "text");
    assert_eq!(field(&view, "gateway_proxy")["itOnly"], true);
    assert_eq!(field(&view, "template_fr")["input"], "template");
    assert_eq!(field(&view, "template_fr")["language"], "fr");
    assert_eq!(field(&view, "demo_allowed")["input"], "checkbox");
    assert_eq!(field(&view, "ui_language")["choices"][0]["value"], "auto");
    assert_eq!(field(&view, "code_length")["group"], "limits");
}

#[test]
fn a_bad_policy_file_stops_real_mode_with_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(&dir, "[locked]\ngateway = \"demo\"\ncode_length = 4\n");
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_POLICY", policy.as_str())]);
    let expected = format!(
        "The IT policy file {policy}, line 3, code_length: The code length must be between 6 and 10 digits (got 4)."
    );
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["mode"], Value::Null, "no gateway at all: {status}");
    let warnings = status["warnings"].to_string();
    assert!(warnings.contains(&expected), "{warnings}");
    let err = desk.try_start("07400 123456").unwrap_err();
    assert_eq!(err["kind"], "gateway_unavailable");
    assert!(
        err["message"].as_str().unwrap().contains(&expected),
        "{err}"
    );
    let answer = desk
        .call("settings_save", json!({"changes": {"brand": "X"}}))
        .unwrap_err();
    assert_eq!(answer["kind"], "policy_file");
}

#[test]
fn a_test_sms_goes_through_the_gateway_in_use_and_reports_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let sent = desk
        .call("send_test_sms", json!({"phone": "07400 123456"}))
        .unwrap();
    assert!(
        sent["message"].as_str().unwrap().contains("+44 •••• 456"),
        "{sent}"
    );
    let inbox = desk.call("demo_inbox", json!({})).unwrap();
    assert!(inbox[0]["body"]
        .as_str()
        .unwrap()
        .starts_with("Countersign test message"));
    assert_eq!(sent["status"], "Sending");
    // The demo gateway moves it on (800 ms to sent, 3 s to delivered).
    let mut status = Value::Null;
    for _ in 0..100 {
        status = desk
            .call("test_sms_status", json!({"sid": sent["sid"]}))
            .unwrap();
        if status["isFinal"] == true {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status["status"], "Delivered to the phone", "{status}");
    // A test SMS is a send for S8: the same number again at once is paced.
    let err = desk
        .call("send_test_sms", json!({"phone": "07400 123456"}))
        .unwrap_err();
    assert_eq!(err["kind"], "resend_cooldown", "{err}");
    let err = desk
        .call("test_sms_status", json!({"sid": "not a sid"}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid_sid");
    let err = desk
        .call("send_test_sms", json!({"phone": "0740"}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid_number", "{err}");
}

#[test]
fn s17_an_it_policy_file_can_switch_demo_mode_off() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(&dir, "[locked]\ndemo_allowed = false\n");
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_POLICY", policy.as_str())]);
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["mode"], Value::Null, "no demo gateway: {status}");
    assert!(
        status["warnings"]
            .to_string()
            .contains("Demo mode is switched off by IT"),
        "{status}"
    );
    let err = desk.try_start("07400 123456").unwrap_err();
    assert_eq!(err["kind"], "gateway_unavailable");
    // Choosing demo on the screen is refused too.
    let answer = save(&desk, json!({"gateway": "demo", "brand": "Bank"}), None);
    assert_eq!(answer["saved"], false);
    assert_eq!(answer["errors"][0]["key"], "gateway");
}

#[test]
fn a_bad_value_in_settings_json_is_reported_and_left_out_the_rest_applies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"max_attempts": 9, "brand": "Northbank"}"#,
    )
    .unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let status = desk.call("app_status", json!({})).unwrap();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains("max_attempts in ")
            && warnings.contains("settings.json is not used: The tries per code must be between 1 and 5 tries (got 9)."),
        "{warnings}"
    );
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(field(&view, "max_attempts")["value"], 5);
    assert_eq!(field(&view, "brand")["value"], "Northbank");
}

#[test]
fn a_stored_token_is_never_sent_to_a_gateway_it_was_not_typed_for() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, token) = external_emulator();
    let desk = open_with(dir.path(), None, &[]);
    assert_eq!(
        save(&desk, restcomm_changes(&emulator), Some(&token))["saved"],
        true
    );

    // Pointing the address elsewhere without the token is refused…
    let answer = save(
        &desk,
        json!({"base_url": "https://collector.example/restcomm"}),
        None,
    );
    assert_eq!(answer["saved"], false);
    assert_eq!(answer["errors"][0]["key"], "base_url");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("type the auth token again"));
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(
        field(&view, "base_url")["value"],
        emulator.base_url().to_string()
    );
    // …as is choosing where the token is read from, which is IT's to say.
    let answer = save(
        &desk,
        json!({"auth_token_file": "/home/user/.ssh/id_rsa"}),
        None,
    );
    assert_eq!(answer["saved"], false);
    assert_eq!(answer["errors"][0]["key"], "auth_token_file");
    // Unrelated changes need no token.
    assert_eq!(
        save(&desk, json!({"brand": "Northbank"}), None)["saved"],
        true
    );
}

#[test]
fn a_token_the_environment_provides_cannot_be_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, token) = external_emulator();
    let url = emulator.base_url().to_string();
    let desk = open_with(
        dir.path(),
        None,
        &[
            ("COUNTERSIGN_RESTCOMM_URL", url.as_str()),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", DEMO_ACCOUNT_SID),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", token.as_str()),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
        ],
    );
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(view["token"]["replaceable"], false);
    assert_eq!(field(&view, "base_url")["lockedBy"], "environment");
    let err = desk
        .call(
            "settings_save",
            json!({"changes": {}, "token": "other-token"}),
        )
        .unwrap_err();
    assert_eq!(err["kind"], "token_locked");
    assert!(!dir.path().join("credentials").exists());
}

#[test]
fn a_built_in_default_chosen_over_an_it_default_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(&dir, "[defaults]\nbrand = \"Northbank\"\n");
    let env = [("COUNTERSIGN_POLICY", policy.as_str())];
    {
        let desk = open_with(dir.path(), None, &env);
        let view = desk.call("settings_read", json!({})).unwrap();
        assert_eq!(field(&view, "brand")["value"], "Northbank");
        assert_eq!(
            save(&desk, json!({"brand": "Countersign"}), None)["saved"],
            true
        );
    }
    let desk = open_with(dir.path(), None, &env);
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(field(&view, "brand")["value"], "Countersign");
}

#[test]
fn without_a_settings_file_a_save_is_refused_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the file should be: it cannot be read or replaced.
    std::fs::create_dir_all(dir.path().join("settings.json")).unwrap();
    let desk = open_with(dir.path(), None, &[]);
    let err = desk
        .call("settings_save", json!({"changes": {"brand": "Northbank"}}))
        .unwrap_err();
    assert_eq!(err["kind"], "storage", "{err}");
}

#[test]
fn a_credential_store_that_cannot_be_used_leaves_the_desk_closed_not_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open_with(dir.path(), None, &[("COUNTERSIGN_CREDENTIALS", "keychain")]);
    let status = desk.call("app_status", json!({})).unwrap();
    assert!(
        status["warnings"]
            .to_string()
            .contains("COUNTERSIGN_CREDENTIALS must be os or file."),
        "{status}"
    );
    let err = desk.try_start("07400 123456").unwrap_err();
    assert_eq!(err["kind"], "desk_unavailable", "{err}");
    assert!(
        !dir.path().join("keys/desk.key").exists(),
        "no key was made in a file"
    );
    assert!(!dir.path().join("credentials").exists());
}
