//! The settings screen's rules, decided by the core in microseconds: what a
//! save refuses and in which order, what it writes, where the token comes
//! from and where it may go, when the gateway is rebuilt, how a damaged
//! settings file is sorted, and how each setting is laid out.

use std::path::{Path, PathBuf};

use countersign::audit::AuditEvent;
use countersign::config::{
    gateway_needs_rebuild, parse_token, plan_save, settings_file_damage, sort_saved, DeskConfig,
    GatewayChoice, Group, Input, Key, Layers, LockedBy, SaveError, SavePlan, SaveRequest,
    TokenSource, TokenStatus, Values, MAX_TOKEN_BYTES,
};
use countersign::i18n::catalogue;
use countersign::language::Language;
use countersign::persist::Corruption;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

/// The detail the save's audit record carries: keys named, never a value.
fn audit_detail(plan: &countersign::config::SavePlan) -> String {
    let operator = countersign::verification::Operator::parse("Test Operator").expect("a name");
    let at = countersign::clock::Timestamp::from_millis(0);
    AuditEvent::settings_changed(at, &operator, &plan.audit_changes())
        .detail
        .expect("a settings record names what changed")
}

fn values(pairs: &[(Key, Value)]) -> Values {
    pairs.iter().cloned().collect()
}

fn changes(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn real_gateway() -> Values {
    values(&[
        (Key::Gateway, json!("restcomm")),
        (Key::BaseUrl, json!("https://sms.bank.example/restcomm")),
        (Key::AccountSid, json!("AC0123")),
        (Key::Sender, json!("+15550001111")),
    ])
}

fn stored_token(set: bool) -> TokenStatus {
    TokenStatus {
        set,
        replaceable: true,
        source: "the OS keyring".to_owned(),
    }
}

/// A save on `layers` with nothing held, no fact, a token not yet set.
struct Save {
    layers: Layers,
    locked: Values,
    env: Option<Values>,
    token_status: TokenStatus,
    desk_was_real: bool,
    start_blocked: bool,
    policy_problem: Option<String>,
}

impl Save {
    fn on(layers: Layers) -> Self {
        Self {
            layers,
            locked: Values::new(),
            env: None,
            token_status: stored_token(false),
            desk_was_real: false,
            start_blocked: false,
            policy_problem: None,
        }
    }

    fn plan(&self, changes_: Value, token: Option<&str>) -> Result<SavePlan, SaveError> {
        let changes_ = changes(changes_);
        let locked_by = |key: Key| LockedBy::of(key, self.env.as_ref(), Some(&self.locked));
        plan_save(&SaveRequest {
            layers: &self.layers,
            locked_by: &locked_by,
            policy_problem: self.policy_problem.clone(),
            start_blocked: self.start_blocked,
            desk_was_real: self.desk_was_real,
            token_status: &self.token_status,
            changes: &changes_,
            token,
        })
    }
}

fn field_errors(result: Result<SavePlan, SaveError>) -> Vec<(Key, String)> {
    match result {
        Err(SaveError::Fields(errors)) => errors
            .into_iter()
            .map(|e| (e.key, e.message.to_string()))
            .collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[test]
fn a_save_writes_every_value_given_and_names_only_what_changed() {
    let save = Save::on(Layers::default());
    let plan = save
        .plan(json!({"code_length": "8", "brand": "Countersign"}), None)
        .unwrap();
    assert_eq!(
        plan.values,
        values(&[
            (Key::CodeLength, json!(8)),
            (Key::Brand, json!("Countersign"))
        ])
    );
    // The brand is the built-in one already: written, but not a change.
    assert_eq!(plan.changed, [Key::CodeLength]);
    assert!(plan.token.is_none() && !plan.demo_chosen);
    assert_eq!(audit_detail(&plan), "changed: code_length");
}

#[test]
fn locked_it_only_and_bad_values_are_all_refused_together_by_key() {
    let mut save = Save::on(Layers::default());
    save.locked = values(&[(Key::MaxAttempts, json!(3))]);
    save.env = Some(values(&[(Key::Sender, json!("+15550001111"))]));
    let errors = field_errors(save.plan(
        json!({
            "max_attempts": 4,
            "sender": "Other",
            "gateway_proxy": "system",
            "code_length": 99,
            "brand": "Fine",
        }),
        None,
    ));
    // In whatever order the map holds them: each beside its field.
    let mut keys: Vec<Key> = errors.iter().map(|(k, _)| *k).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            Key::Sender,
            Key::GatewayProxy,
            Key::CodeLength,
            Key::MaxAttempts
        ]
    );
    let message = |key| &errors.iter().find(|(k, _)| *k == key).unwrap().1;
    assert!(
        message(Key::MaxAttempts).contains("IT policy"),
        "{errors:?}"
    );
    assert!(message(Key::Sender).contains("environment"), "{errors:?}");
    assert!(message(Key::GatewayProxy).contains("IT"), "{errors:?}");
}

#[test]
fn the_environment_is_named_before_it_s_lock_on_the_same_key() {
    let env = values(&[(Key::Sender, json!("+15550001111"))]);
    let locked = values(&[(Key::Sender, json!("Bank")), (Key::Brand, json!("B"))]);
    assert_eq!(
        LockedBy::of(Key::Sender, Some(&env), Some(&locked)),
        Some(LockedBy::Environment)
    );
    assert_eq!(
        LockedBy::of(Key::Brand, Some(&env), Some(&locked)),
        Some(LockedBy::ItPolicy)
    );
    assert_eq!(LockedBy::of(Key::Branch, Some(&env), Some(&locked)), None);
    assert_eq!(
        serde_json::to_value(LockedBy::ItPolicy).unwrap(),
        "it-policy"
    );
}

#[test]
fn an_unknown_key_refuses_the_request_even_after_field_errors() {
    let save = Save::on(Layers::default());
    let long = "x".repeat(100);
    let err = save
        .plan(json!({"code_length": 99, long.clone(): 1}), None)
        .unwrap_err();
    assert_eq!(err, SaveError::UnknownSetting("x".repeat(40)));
    assert_eq!(err.kind(), "unknown_setting");
}

#[test]
fn a_broken_policy_file_refuses_every_save_first() {
    let mut save = Save::on(Layers::default());
    save.policy_problem = Some("The IT policy file /etc/x: bad".to_owned());
    let err = save.plan(json!({"nonsense": 1}), Some(" ")).unwrap_err();
    assert_eq!(err.kind(), "policy_file");
    assert!(err.text().to_string().contains("/etc/x"), "{}", err.text());
}

#[test]
fn a_token_is_trimmed_and_refused_when_it_could_not_be_one() {
    let ok = parse_token("  abc123  ").expect("a token");
    assert_eq!(ok.expose_secret(), "abc123");
    assert!(parse_token(&"a".repeat(MAX_TOKEN_BYTES)).is_some());
    for bad in [
        String::new(),
        "   ".to_owned(),
        "two words".to_owned(),
        "tab\there".to_owned(),
        "a".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert!(parse_token(&bad).is_none(), "{bad:?}");
    }
    let save = Save::on(Layers::default());
    assert_eq!(
        save.plan(json!({}), Some("two words")).unwrap_err(),
        SaveError::InvalidToken
    );
}

#[test]
fn a_token_it_or_the_environment_provides_cannot_be_replaced() {
    let mut save = Save::on(Layers::default());
    save.token_status = TokenStatus {
        set: true,
        replaceable: false,
        source: "Read from /etc/token, as the IT policy says".to_owned(),
    };
    let err = save.plan(json!({}), Some("abc")).unwrap_err();
    assert_eq!(err.kind(), "token_locked");
    assert!(err.text().to_string().contains("/etc/token"));
}

#[test]
fn a_real_gateway_that_does_not_resolve_is_refused_by_field() {
    let save = Save::on(Layers::default());
    let errors = field_errors(save.plan(json!({"gateway": "restcomm"}), None));
    let keys: Vec<Key> = errors.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, [Key::BaseUrl, Key::AccountSid, Key::Sender]);
}

#[test]
fn moving_the_gateway_away_from_a_stored_token_needs_the_token_again() {
    let mut save = Save::on(Layers {
        saved: real_gateway(),
        ..Default::default()
    });
    save.token_status = stored_token(true);
    let moved = json!({"base_url": "https://elsewhere.example/restcomm"});
    let errors = field_errors(save.plan(moved.clone(), None));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, Key::BaseUrl);
    // With the token typed again, it is bound to the new address.
    let plan = save.plan(moved, Some("new-token")).unwrap();
    let binding = plan.token_binding.as_ref().expect("bound");
    assert_eq!(binding.base_url, "https://elsewhere.example/restcomm");
    assert_eq!(binding.account_sid, "AC0123");
    assert_eq!(
        audit_detail(&plan),
        "changed: base_url, auth token (replaced; value not recorded)"
    );
    // Unrelated keys, or no token stored yet, move nothing it is bound to.
    assert!(save.plan(json!({"brand": "Bank"}), None).is_ok());
    save.token_status = stored_token(false);
    assert!(save
        .plan(
            json!({"base_url": "https://elsewhere.example/restcomm"}),
            None
        )
        .is_ok());
}

#[test]
fn a_token_saved_while_the_desk_cannot_start_a_gateway_is_bound_to_none() {
    let mut save = Save::on(Layers {
        saved: real_gateway(),
        ..Default::default()
    });
    save.start_blocked = true;
    let plan = save.plan(json!({}), Some("tok")).unwrap();
    assert!(plan.token.is_some());
    assert_eq!(plan.token_binding, None);
    // In demo mode a token is bound to no gateway either.
    let save = Save::on(Layers::default());
    assert_eq!(
        save.plan(json!({}), Some("tok")).unwrap().token_binding,
        None
    );
}

#[test]
fn s23_naming_demo_on_a_desk_set_up_for_a_real_gateway_is_the_explicit_choice() {
    let mut save = Save::on(Layers::default());
    save.desk_was_real = true;
    let plan = save.plan(json!({"gateway": "demo"}), None).unwrap();
    assert!(plan.demo_chosen);
    assert!(audit_detail(&plan).contains("demo mode chosen explicitly"));
    // Not named: not chosen, even though the settings say demo.
    assert!(!save.plan(json!({"brand": "B"}), None).unwrap().demo_chosen);
    // A desk never set up for a real gateway has nothing to choose.
    save.desk_was_real = false;
    assert!(
        !save
            .plan(json!({"gateway": "demo"}), None)
            .unwrap()
            .demo_chosen
    );
}

#[test]
fn the_token_comes_from_the_environment_then_it_s_file_then_the_store() {
    let file = Some(PathBuf::from("/etc/countersign/token"));
    assert_eq!(
        TokenSource::of(true, file.clone()),
        TokenSource::Environment
    );
    assert_eq!(
        TokenSource::of(false, file.clone()),
        TokenSource::File(PathBuf::from("/etc/countersign/token"))
    );
    assert_eq!(
        TokenSource::of(false, Some(PathBuf::new())),
        TokenSource::CredentialStore
    );
    assert_eq!(TokenSource::of(false, None), TokenSource::CredentialStore);
    assert!(TokenSource::CredentialStore.replaceable());
    assert!(!TokenSource::Environment.replaceable());
    assert!(!TokenSource::of(false, file).replaceable());
}

#[test]
fn the_gateway_is_rebuilt_only_when_it_or_a_real_token_changes() {
    let demo = GatewayChoice::Demo;
    let resolved = DeskConfig::resolve(&Layers {
        saved: real_gateway(),
        ..Default::default()
    })
    .unwrap();
    let real = resolved.gateway;
    assert!(!gateway_needs_rebuild(
        Some(&demo),
        Some(&demo),
        true,
        false
    ));
    // A new token means nothing to demo mode's emulator.
    assert!(!gateway_needs_rebuild(Some(&demo), Some(&demo), true, true));
    assert!(!gateway_needs_rebuild(
        Some(&real),
        Some(&real),
        true,
        false
    ));
    assert!(gateway_needs_rebuild(Some(&real), Some(&real), true, true));
    assert!(gateway_needs_rebuild(Some(&demo), Some(&real), true, false));
    assert!(gateway_needs_rebuild(
        Some(&demo),
        Some(&demo),
        false,
        false
    ));
    assert!(gateway_needs_rebuild(None, None, true, false));
}

#[test]
fn a_settings_file_that_is_not_a_json_object_is_damaged() {
    assert_eq!(settings_file_damage(br#"{"brand": "B"}"#), None);
    assert_eq!(settings_file_damage(b" \n"), Some(Corruption::Empty));
    assert!(matches!(
        settings_file_damage(b"[1, 2]"),
        Some(Corruption::WrongShape(_))
    ));
    assert!(matches!(
        settings_file_damage(b"{\n\"brand\": "),
        Some(Corruption::NotJson { line: 2, .. })
    ));
}

#[test]
fn a_saved_value_that_fails_its_check_or_is_it_s_is_reported_and_left_out() {
    let file = json!({
        "brand": "Bank",
        "code_length": 99,
        "gateway_proxy": "system",
        "operatorName": "Jo",
    });
    let path = Path::new("/data/settings.json");
    let (saved, warnings) = sort_saved(path, |name| file.get(name).cloned());
    assert_eq!(saved, values(&[(Key::Brand, json!("Bank"))]));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0]
        .starts_with("gateway_proxy in /data/settings.json is not used: only the IT policy file"));
    assert!(warnings[1]
        .starts_with("code_length in /data/settings.json is not used: The code length must be"));
}

#[test]
fn every_setting_says_where_and_how_the_screen_shows_it() {
    let in_group = |group| -> Vec<&str> {
        Key::ALL
            .into_iter()
            .filter(|k| k.group() == group)
            .map(Key::name)
            .collect()
    };
    assert_eq!(
        in_group(Group::Countries),
        ["default_country", "allowed_countries"]
    );
    assert_eq!(
        in_group(Group::Desk)[..3],
        ["ui_language", "branch", "workstation"]
    );
    let real_only: Vec<&str> = Key::ALL
        .into_iter()
        .filter(|k| k.real_gateway_only())
        .map(Key::name)
        .collect();
    assert_eq!(
        real_only,
        [
            "base_url",
            "account_sid",
            "sender",
            "request_timeout_seconds",
            "auth_token_file",
            "gateway_proxy",
            "ca_bundle_file"
        ]
    );
    for key in Key::ALL {
        assert_eq!(
            key.input() == Input::Select,
            key.choices().is_some(),
            "{key:?}"
        );
    }
    assert_eq!(Key::TemplateFr.input(), Input::Template);
    assert_eq!(Key::DemoAllowed.input(), Input::Checkbox);
    let values_of =
        |key: Key| -> Vec<&str> { key.choices().unwrap().iter().map(|c| c.value).collect() };
    assert_eq!(values_of(Key::Gateway), ["demo", "restcomm", "twilio"]);
    assert_eq!(values_of(Key::DefaultLanguage), ["en", "fr", "es", "de"]);
    assert_eq!(values_of(Key::UiLanguage), ["auto", "en", "fr", "es", "de"]);
    // Every select's value passes its setting's check, and its words are
    // in every catalogue.
    for key in [Key::Gateway, Key::DefaultLanguage, Key::UiLanguage] {
        for choice in key.choices().unwrap() {
            let value = json!(choice.value);
            assert_eq!(key.check(&value), Ok(value.clone()), "{key:?}");
            for language in Language::ALL {
                let words = catalogue(language);
                assert!(
                    words.contains_key(&*choice.text.key),
                    "{language:?} {choice:?}"
                );
            }
        }
    }
}

#[test]
fn s23_a_desk_set_up_for_a_real_gateway_does_not_drop_to_demo_by_itself() {
    let demo = DeskConfig::resolve(&Layers::default()).unwrap();
    let refusal = demo.demo_refusal(true).expect("refused").to_string();
    assert!(refusal.contains("choose demo mode explicitly"), "{refusal}");
    assert_eq!(demo.demo_refusal(false), None);
    let real = DeskConfig::resolve(&Layers {
        saved: real_gateway(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(real.demo_refusal(true), None);
}
