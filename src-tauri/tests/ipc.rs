//! The desk through IPC, as the window sees it: the real generated context
//! (so the real capabilities and ACL), a mock runtime, a temp data folder,
//! and demo mode's emulator over real loopback HTTP.

mod support;

use std::time::{Duration, Instant};

use countersign_desk::settings::gateway as gateway_setup;
use serde_json::{json, Value};
use support::{id_of, open};
use tauri::test::MockRuntime;

#[test]
fn a_full_verification_with_the_code_from_the_emulator_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["mode"], "demo");

    let started = desk.start("07400 123456");
    assert_eq!(started["alreadyPending"], false);
    assert_eq!(started["verification"]["maskedNumber"], "+44 •••• 456");
    let outcome = desk.check(&id_of(&started), &desk.latest_code()).unwrap();
    assert_eq!(outcome["outcome"], "approved");
    assert_eq!(outcome["title"]["key"], "outcome.title.verified");
    assert_eq!(desk.call("list_pending", json!({})).unwrap(), json!([]));
    drop(desk.app);
}

#[test]
fn app_status_gives_the_window_the_number_rules_of_the_policy_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["defaultCountry"], "GB");
    assert_eq!(status["allowedCountries"], json!(["GB"]));
    assert_eq!(status["codeLength"], 6);
    drop(desk.app);
}

#[test]
fn a_wrong_code_leaves_tries_and_the_fifth_locks() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123457"));
    let right = desk.latest_code();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for tries_left in (1..=4).rev() {
        let outcome = desk.check(&id, wrong).unwrap();
        assert_eq!(outcome["outcome"], "wrong-code");
        assert_eq!(outcome["triesLeft"], tries_left);
    }
    let locked = desk.check(&id, wrong).unwrap();
    assert_eq!(locked["outcome"], "locked");
    let after = desk.check(&id, &right).unwrap_err();
    assert_eq!(after["kind"], "already_ended");
}

#[test]
fn input_that_is_not_a_code_is_refused_with_a_message_and_uses_no_try() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123458"));
    let err = desk.check(&id, "12345").unwrap_err();
    assert_eq!(err["kind"], "invalid_code_input");
    let pending = desk.call("list_pending", json!({})).unwrap();
    assert_eq!(pending[0]["triesLeft"], 5);
}

#[test]
fn bad_numbers_are_refused_specifically_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let start = |phone: &str| {
        desk.call(
            "start_verification",
            json!({"phone": phone, "purpose": {"kind": "reference", "reference": ""}}),
        )
        .unwrap_err()
    };
    assert_eq!(start("call me")["kind"], "invalid_number");
    assert_eq!(start("+33 6 12 34 56 78")["kind"], "country_not_allowed");
    assert_eq!(start("020 7946 0000")["kind"], "number_cannot_receive_sms");
    assert_eq!(desk.call("demo_inbox", json!({})).unwrap(), json!([]));
}

#[test]
fn a_restart_keeps_a_pending_verification_with_its_try_count() {
    let dir = tempfile::tempdir().unwrap();
    let (id, code) = {
        let desk = open(dir.path());
        let id = id_of(&desk.start("07400 123459"));
        let code = desk.latest_code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        desk.check(&id, wrong).unwrap();
        (id, code)
    };
    let desk = open(dir.path());
    let pending = desk.call("list_pending", json!({})).unwrap();
    assert_eq!(pending[0]["id"], id.as_str());
    assert_eq!(pending[0]["triesLeft"], 4);
    assert_eq!(desk.check(&id, &code).unwrap()["outcome"], "approved");
}

#[test]
fn a_corrupt_pending_file_is_quarantined_reported_and_the_desk_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"{\"format\":\"countersign/pending\",\"version\":1,\"verif";
    std::fs::write(dir.path().join("pending.json"), garbage).unwrap();
    let desk = open(dir.path());
    let status = desk.call("app_status", json!({})).unwrap();
    let warnings = status["warnings"].to_string();
    assert!(warnings.contains("moved aside"), "{warnings}");
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("pending.json.corrupt-")
        })
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(std::fs::read(moved[0].path()).unwrap(), garbage);
    let id = id_of(&desk.start("07400 123450"));
    assert_eq!(
        desk.check(&id, &desk.latest_code()).unwrap()["outcome"],
        "approved"
    );
}

#[test]
fn s18_the_acl_is_in_force_the_window_cannot_call_the_store_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    assert!(desk.call("app_status", json!({})).is_ok());
    for (cmd, args) in [
        ("plugin:store|load", json!({"path": "pending.json"})),
        (
            "plugin:store|get",
            json!({"rid": 0, "key": "verifications"}),
        ),
    ] {
        let err = desk.call(cmd, args).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not allowed"), "{cmd}: {text}");
    }
}

#[test]
fn delivery_status_reaches_the_pending_card() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    desk.start("07400 123451");
    // Demo mode's emulator delivers within seconds; the tracker polls every 2 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = desk.call("list_pending", json!({})).unwrap();
        if pending[0]["delivery"]["state"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {pending}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn s18_the_csp_allows_no_remote_origin_and_no_inline_script() {
    let context: tauri::Context<MockRuntime> = tauri::generate_context!();
    let csp = context
        .config()
        .app
        .security
        .csp
        .as_ref()
        .expect("a CSP is set")
        .to_string();
    for directive in csp.split(';') {
        for source in directive.split_whitespace().skip(1) {
            let local =
                ["'self'", "'none'", "ipc:", "http://ipc.localhost", "data:"].contains(&source);
            assert!(local, "CSP source {source} in `{directive}` is not local");
        }
    }
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[test]
fn s12_no_code_or_full_number_at_rest_or_in_answers_outside_the_demo_phone() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let started = desk.start("07400 123452");
    let id = id_of(&started);
    let code = desk.latest_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut answers = vec![
        started,
        desk.check(&id, wrong).unwrap(),
        desk.call("list_pending", json!({})).unwrap(),
    ];
    answers.push(desk.check(&id, &code).unwrap());
    answers.push(desk.call("app_status", json!({})).unwrap());
    for answer in &answers {
        let text = answer.to_string();
        assert!(
            !text.contains(&code) && !text.contains("7400123452"),
            "IPC answer leaks: {text}"
        );
    }
    for file in ["pending.json", "audit.jsonl", "settings.json"] {
        let Ok(bytes) = std::fs::read(dir.path().join(file)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&code), "{file} holds the code");
        assert!(
            !text.contains("7400123452") && !text.contains("07400 123452"),
            "{file} holds the number"
        );
    }
}

#[test]
fn s14_every_step_is_audited_in_an_intact_hash_chain() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123453"));
    let code = desk.latest_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    desk.check(&id, wrong).unwrap();
    desk.check(&id, &code).unwrap();
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let events: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for expected in [
        "app_started",
        "operator_signed_in",
        "started",
        "sent",
        "check_failed",
        "approved",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
    // The chain is keyed (S22): the desk verifies it with its audit key.
    let verdict = desk.call("audit_verify", json!({})).unwrap();
    assert_eq!(verdict["intact"], true, "{verdict}");
    assert_eq!(
        verdict["message"],
        format!("Intact — 1 month, {} records checked", events.len()),
        "{verdict}"
    );
}

#[test]
fn s17_demo_mode_talks_only_to_the_embedded_emulator_on_loopback() {
    let gateway =
        tauri::async_runtime::block_on(gateway_setup::demo()).expect("demo gateway starts");
    let emulator = gateway
        .emulator
        .as_ref()
        .expect("demo mode runs the emulator");
    assert!(emulator.local_addr().ip().is_loopback());
    let base = gateway.client.settings().base_url.clone();
    assert_eq!(base.host_str(), Some("127.0.0.1"));
    assert_eq!(base.port(), Some(emulator.local_addr().port()));
}

#[test]
fn a_locked_desk_refuses_customer_work_until_someone_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    desk.call("lock_desk", json!({})).unwrap();
    let status = desk.call("app_status", json!({})).unwrap();
    assert_eq!(status["operator"], Value::Null);
    assert_eq!(status["suggestedOperator"]["staffId"], "S1234");
    for (cmd, args) in [
        (
            "start_verification",
            json!({"phone": "07400 123454", "purpose": {"kind": "reference", "reference": ""}}),
        ),
        ("list_pending", json!({})),
        ("audit_query", json!({})),
    ] {
        assert_eq!(
            desk.call(cmd, args).unwrap_err()["kind"],
            "desk_locked",
            "{cmd}"
        );
    }
    assert_eq!(desk.call("demo_inbox", json!({})).unwrap(), json!([]));
    let bad = desk
        .call(
            "sign_in",
            json!({"staffId": "no spaces allowed", "name": "X"}),
        )
        .unwrap_err();
    assert_eq!(bad["kind"], "invalid_operator");
    desk.call("sign_in", json!({"staffId": "S9", "name": "Alex Clerk"}))
        .unwrap();
    assert!(desk.call("list_pending", json!({})).is_ok());
}

#[test]
fn the_activity_screen_finds_a_customer_by_typed_number_and_verifies_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let id = id_of(&desk.start("07400 123455"));
    desk.check(&id, &desk.latest_code()).unwrap();
    desk.start("07400 123456");
    let rows = desk
        .call(
            "audit_query",
            json!({"filter": {"phone": "+44 7400 123455"}}),
        )
        .unwrap()["rows"]
        .clone();
    let events: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.first(),
        Some(&"approved"),
        "newest first: {events:?}"
    );
    assert!(events.contains(&"started") && events.contains(&"sent"));
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["maskedNumber"] == "+44 •••• 455"));
    assert_eq!(rows[0]["staffId"], "S1234");
    let approved = desk
        .call("audit_query", json!({"filter": {"outcome": "approved"}}))
        .unwrap();
    assert_eq!(approved["rows"].as_array().unwrap().len(), 1);
    assert_eq!(approved["total"], 1);
    let verdict = desk.call("audit_verify", json!({})).unwrap();
    assert_eq!(verdict["intact"], true);
    assert!(verdict["message"]
        .as_str()
        .unwrap()
        .starts_with("Intact — "));
}
