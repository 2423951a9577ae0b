//! The desk's language through IPC: it follows the computer's locale,
//! staff choose another in Settings, IT can lock it, and whatever Rust says
//! (errors, outcomes, field errors) arrives as catalogue keys the UI renders
//! in that language, with the English kept for logs.

mod support;

use serde_json::{json, Value};
use support::{open, open_on_machine, open_with};

fn catalogue(desk: &support::Desk) -> (String, Value) {
    let answer = desk.call("ui_text", json!({})).expect("ui_text answers");
    (
        answer["language"].as_str().unwrap_or_default().to_owned(),
        answer["messages"].clone(),
    )
}

#[test]
fn the_desk_speaks_the_computers_language_and_english_for_c() {
    for (locale, expected, sign_in) in [
        ("fr_FR.UTF-8", "fr", "Se connecter"),
        ("de_DE.UTF-8", "de", "Anmelden"),
        ("es_ES.UTF-8", "es", "Iniciar sesión"),
        ("C", "en", "Sign in"),
        ("pt_BR.UTF-8", "en", "Sign in"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let gateway =
            tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo()).unwrap();
        let desk = open_with(dir.path(), Some(gateway), &[("LANG", locale)]);
        let (language, messages) = catalogue(&desk);
        assert_eq!(language, expected, "{locale}");
        assert_eq!(messages["ui.sign_in"], sign_in, "{locale}");
        let status = desk.call("app_status", json!({})).unwrap();
        assert_eq!(status["uiLanguage"], expected);
    }
}

#[test]
fn a_language_chosen_in_settings_wins_over_the_computers() {
    let dir = tempfile::tempdir().unwrap();
    let gateway =
        tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo()).unwrap();
    let desk = open_with(dir.path(), Some(gateway), &[("LANG", "de_DE.UTF-8")]);
    let saved = desk
        .call(
            "settings_save",
            json!({"changes": {"ui_language": "fr"}, "token": null}),
        )
        .unwrap();
    assert_eq!(saved["saved"], true, "{saved}");
    assert_eq!(catalogue(&desk).0, "fr");
    let refused = desk
        .call(
            "settings_save",
            json!({"changes": {"ui_language": "pt"}, "token": null}),
        )
        .unwrap();
    assert_eq!(refused["saved"], false);
    assert_eq!(refused["errors"][0]["key"], "ui_language");
    assert_eq!(catalogue(&desk).0, "fr", "a refused value changes nothing");
}

#[test]
fn it_can_lock_the_language() {
    let machine = tempfile::tempdir().unwrap();
    let policy = machine.path().join("policy.toml");
    std::fs::write(&policy, "[locked]\nui_language = \"es\"\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway =
        tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo()).unwrap();
    let desk = open_on_machine(
        dir.path(),
        Some(gateway),
        &[("LANG", "fr_FR")],
        vec![policy],
    );
    assert_eq!(catalogue(&desk).0, "es");
    let refused = desk
        .call(
            "settings_save",
            json!({"changes": {"ui_language": "en"}, "token": null}),
        )
        .unwrap();
    assert_eq!(refused["saved"], false, "{refused}");
    assert_eq!(
        refused["errors"][0]["text"]["key"],
        "field.locked_by_policy"
    );
    assert_eq!(catalogue(&desk).0, "es");
}

#[test]
fn rust_messages_arrive_as_keys_with_their_english() {
    let dir = tempfile::tempdir().unwrap();
    let desk = open(dir.path());
    let err = desk
        .call(
            "start_verification",
            json!({"phone": "", "purpose": {"kind": "reference", "reference": "x"}, "language": null}),
        )
        .unwrap_err();
    assert_eq!(err["kind"], "invalid_number");
    assert_eq!(err["text"]["key"], "phone.empty");
    assert_eq!(err["message"], "Type the customer's mobile number.");
    let started = desk
        .call(
            "start_verification",
            json!({"phone": "+447400123456", "purpose": {"kind": "reference", "reference": "Loan"}, "language": null}),
        )
        .unwrap();
    assert_eq!(started["message"]["key"], "start.code_sent");
    assert!(started["verification"]["delivery"]["text"]["key"]
        .as_str()
        .unwrap()
        .starts_with("delivery."));
    let id = started["verification"]["id"].as_str().unwrap().to_owned();
    let outcome = desk
        .call("check_code", json!({"id": id, "code": "000000"}))
        .unwrap();
    // A wrong code (or, one time in a million, the right one).
    let key = outcome["message"]["key"].as_str().unwrap();
    assert!(
        key == "outcome.wrong_code" || key == "outcome.approved",
        "{outcome}"
    );
    if key == "outcome.wrong_code" {
        assert_eq!(outcome["message"]["count"], 4);
        assert_eq!(outcome["title"]["key"], "outcome.title.not_verified");
    }
}

#[test]
fn a_file_set_aside_at_start_is_told_in_the_desks_language() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"{\"format\":\"countersign/pending\",\"version\":1,\"verif";
    std::fs::write(dir.path().join("pending.json"), garbage).unwrap();
    let gateway =
        tauri::async_runtime::block_on(countersign_desk::settings::gateway::demo()).unwrap();
    let desk = open_with(dir.path(), Some(gateway), &[("LANG", "de_DE.UTF-8")]);
    let status = desk.call("app_status", json!({})).unwrap();
    let told = &status["warningTexts"][0];
    assert_eq!(told["key"], "warning.set_aside", "{status}");
    assert_eq!(told["args"]["moved"]["key"], "warning.moved_to", "{told}");
    // The English stays beside it, for tools and logs.
    assert!(status["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("The pending list was set aside"));
    let (language, messages) = catalogue(&desk);
    assert_eq!(language, "de");
    assert!(messages["warning.set_aside"]
        .as_str()
        .unwrap()
        .starts_with("Die Liste der offenen Codes wurde beiseitegelegt"));
}
