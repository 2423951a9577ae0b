//! Configuration: every setting's bounds, how the IT policy file provisions
//! and locks, and the exact message a bad policy file gives.

use std::io::Write;

use countersign::config::it_policy::{self, PolicyFileError};
use countersign::config::{DeskConfig, GatewayChoice, GatewayKind, Key, Layers};
use countersign::gateway::proxy::ProxyChoice;
use countersign::language::Language;
use serde_json::{json, Value};

#[test]
fn every_numeric_setting_accepts_its_bounds_and_refuses_one_beyond() {
    let numeric: Vec<Key> = Key::ALL
        .into_iter()
        .filter(|k| k.bounds().is_some())
        .collect();
    assert_eq!(
        numeric.len(),
        10,
        "seven S1–S9 limits, the request timeout and the log files' size and count"
    );
    for key in numeric {
        let (min, max, unit) = key.bounds().unwrap();
        assert_eq!(key.check(&json!(min)), Ok(json!(min)), "{key:?}");
        // As typed on the screen: a string, with spaces.
        assert_eq!(key.check(&json!(format!(" {max} "))), Ok(json!(max)));
        for bad in [min - 1, max + 1] {
            let message = key.check(&json!(bad)).unwrap_err().to_string();
            assert_eq!(
                message,
                format!(
                    "{} must be between {min} and {max} {unit} (got {bad}).",
                    key.label()
                ),
            );
        }
        let message = key.check(&json!("twelve")).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("{} must be a whole number of {unit}.", key.label())
        );
        assert!(key.check(&json!(-1)).is_err());
        assert!(key.check(&json!(2.5)).is_err());
    }
}

#[test]
fn text_settings_say_what_is_wrong() {
    let refused = |key: Key, raw: Value, says: &str| {
        let message = key.check(&raw).unwrap_err().to_string();
        assert!(message.contains(says), "{key:?} {raw}: {message}");
    };
    refused(
        Key::Gateway,
        json!("sms"),
        "must be demo, restcomm or twilio",
    );
    refused(
        Key::BaseUrl,
        json!("sms.example.com"),
        "is not a web address",
    );
    refused(
        Key::BaseUrl,
        json!("ftp://sms.example.com/"),
        "must start with https://",
    );
    refused(
        Key::BaseUrl,
        json!("https://u:p@sms.example.com/"),
        "must not contain credentials",
    );
    refused(
        Key::AccountSid,
        json!("AC-123"),
        "2 to 64 letters and digits",
    );
    refused(
        Key::Sender,
        json!("Northbank Branch Desk"),
        "up to 11 letters",
    );
    refused(Key::DefaultCountry, json!("ZZ"), "default country");
    refused(Key::AllowedCountries, json!("GB, XX"), "allowed countries");
    refused(Key::DefaultLanguage, json!("it"), "use en, fr, es or de");
    refused(
        Key::Brand,
        json!("A brand far too long"),
        "brand name must be 1 to 16",
    );
    refused(Key::Brand, json!("Łódź Bank"), "brand name");
    refused(
        Key::TemplateFr,
        json!("{brand} {code}"),
        "must contain {reference}",
    );
    refused(Key::Branch, json!("a\nb"), "one line");
    refused(Key::AuthTokenFile, json!("token.txt"), "absolute path");
    refused(Key::DemoAllowed, json!("no"), "true or false");

    assert_eq!(
        Key::AllowedCountries.check(&json!("gb, fr gb")),
        Ok(json!(["GB", "FR"]))
    );
    assert_eq!(Key::DefaultLanguage.check(&json!(" DE ")), Ok(json!("de")));
    assert_eq!(
        Key::Sender.check(&json!("+15550001111")),
        Ok(json!("+15550001111"))
    );
    assert_eq!(
        Key::Sender.check(&json!("Northbank")),
        Ok(json!("Northbank"))
    );
    assert_eq!(Key::BaseUrl.check(&json!("")), Ok(json!("")));
}

#[test]
fn every_key_has_a_name_that_reads_back_and_a_default_that_passes() {
    for key in Key::ALL {
        assert_eq!(Key::parse(key.name()), Some(key));
        assert!(key.check(&key.default_value()).is_ok(), "{key:?}");
    }
    let config = DeskConfig::resolve(&Layers::default()).unwrap();
    assert_eq!(
        config.gateway,
        GatewayChoice::Demo,
        "nothing configured is demo mode"
    );
    assert_eq!(config.templates.default_language(), Language::En);
}

fn values(pairs: &[(Key, Value)]) -> countersign::config::Values {
    pairs.iter().cloned().collect()
}

#[test]
fn locked_beats_saved_beats_provisioned_beats_the_default() {
    let layers = Layers {
        provisioned: values(&[
            (Key::Brand, json!("Provided")),
            (Key::MaxAttempts, json!(4)),
        ]),
        saved: values(&[(Key::Brand, json!("Saved")), (Key::MaxAttempts, json!(2))]),
        locked: values(&[(Key::MaxAttempts, json!(3))]),
    };
    assert_eq!(layers.get(Key::Brand), Some(&json!("Saved")));
    assert_eq!(layers.get(Key::MaxAttempts), Some(&json!(3)));
    assert!(layers.is_locked(Key::MaxAttempts) && !layers.is_locked(Key::Brand));
    assert_eq!(layers.effective()[&Key::CodeLength], json!(6));
    let config = DeskConfig::resolve(&layers).unwrap();
    assert_eq!(config.policy.max_attempts(), 3);
}

#[test]
fn a_real_gateway_needs_its_address_sid_and_sender_and_demo_can_be_switched_off() {
    let layers = Layers {
        saved: values(&[
            (Key::Gateway, json!("restcomm")),
            (Key::Sender, json!("Bank")),
        ]),
        ..Default::default()
    };
    let errors = DeskConfig::resolve(&layers).unwrap_err();
    let keys: Vec<Key> = errors.iter().map(|e| e.key).collect();
    assert_eq!(keys, [Key::BaseUrl, Key::AccountSid]);
    assert_eq!(
        errors[0].message.to_string(),
        "The gateway address is required for a real gateway."
    );

    let layers = Layers {
        locked: values(&[(Key::DemoAllowed, json!(false))]),
        ..Default::default()
    };
    let errors = DeskConfig::resolve(&layers).unwrap_err();
    assert_eq!(errors[0].key, Key::Gateway);
    assert!(errors[0]
        .message
        .to_string()
        .starts_with("Demo mode is switched off by IT"));

    let layers = Layers {
        saved: values(&[
            (Key::Gateway, json!("twilio")),
            (Key::BaseUrl, json!("http://127.0.0.1:8089/api")),
            (Key::AccountSid, json!("AC0123")),
            (Key::Sender, json!("+15550001111")),
        ]),
        ..Default::default()
    };
    match DeskConfig::resolve(&layers).unwrap().gateway {
        GatewayChoice::Real(g) => {
            assert_eq!(g.kind, GatewayKind::Twilio);
            assert_eq!(g.request_timeout.as_secs(), 15);
        }
        other => panic!("{other:?}"),
    }
}

const GOOD_TOML: &str = r#"# Northbank branch desks
[locked]
gateway = "restcomm"
base_url = "https://sms.northbank.example/restcomm"
account_sid = "ACae6e420f425248d6a26948c17a9e2acf"
sender = "Northbank"
allowed_countries = ["GB", "IE"]
max_attempts = 3
demo_allowed = false

[defaults]
brand = "Northbank"
default_language = "fr"
"#;

#[test]
fn a_policy_file_locks_and_provisions() {
    let policy = it_policy::parse(GOOD_TOML, false).unwrap();
    assert_eq!(policy.locked[&Key::AllowedCountries], json!(["GB", "IE"]));
    assert_eq!(policy.provisioned[&Key::DefaultLanguage], json!("fr"));
    let layers = policy.layers(values(&[
        (Key::MaxAttempts, json!(5)),
        (Key::DefaultLanguage, json!("de")),
    ]));
    let config = DeskConfig::resolve(&layers).unwrap();
    assert_eq!(
        config.policy.max_attempts(),
        3,
        "the lock wins over the saved 5"
    );
    assert_eq!(
        config.templates.default_language(),
        Language::De,
        "staff changed a default"
    );
    assert!(!config.demo_allowed);
    assert!(matches!(config.gateway, GatewayChoice::Real(_)));

    let json_policy = it_policy::parse(
        r#"{"locked": {"max_attempts": 3, "demo_allowed": false}, "defaults": {"brand": "Northbank"}}"#,
        true,
    )
    .unwrap();
    assert_eq!(json_policy.locked[&Key::MaxAttempts], json!(3));
}

fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

#[test]
fn an_out_of_bounds_value_names_the_file_the_line_and_the_key() {
    let text = GOOD_TOML.replace("max_attempts = 3", "max_attempts = 9");
    let (_dir, path) = write("policy.toml", &text);
    let err = it_policy::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "The IT policy file {}, line 8, max_attempts: The tries per code must be between 1 and 5 tries (got 9).",
            path.display()
        )
    );
}

#[test]
fn a_policy_file_that_does_not_parse_gives_its_line() {
    let text = GOOD_TOML.replace("sender = \"Northbank\"", "sender = Northbank");
    let (_dir, path) = write("policy.toml", &text);
    let err = it_policy::load(&path).unwrap_err();
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("The IT policy file {}, line 6: ", path.display())));

    let (_dir, path) = write("policy.json", "{\"locked\": {\n  \"max_attempts\": 3,,\n}}");
    let err = it_policy::load(&path).unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
}

#[test]
fn a_json_policy_file_reports_the_line_of_a_bad_value() {
    let text = "{\n  \"defaults\": {\"max_attempts\": 2},\n  \"locked\": {\n    \"code_length\": 4\n  }\n}";
    let (_dir, path) = write("policy.json", text);
    let err: PolicyFileError = it_policy::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "The IT policy file {}, line 4, code_length: The code length must be between 6 and 10 digits (got 4).",
            path.display()
        )
    );
}

#[test]
fn unknown_keys_and_tables_are_errors_not_ignored() {
    let err = it_policy::parse("[locked]\nmax_atempts = 3\n", false).unwrap_err();
    assert_eq!(
        (err.line, err.key.as_deref()),
        (Some(2), Some("max_atempts"))
    );
    assert!(err.message.contains("is not a setting"));
    let err = it_policy::parse("[lokced]\nmax_attempts = 3\n", false).unwrap_err();
    assert_eq!(err.line, Some(1), "{err}");
    assert!(err.message.contains("lokced"), "{err}");
}

#[test]
fn a_policy_file_named_in_the_environment_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("policy.toml");
    let err = it_policy::discover(Some(missing.clone()), &[])
        .policy
        .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
    assert_eq!(err.path, missing);
}

#[test]
fn two_policy_files_in_the_system_location_are_an_error_not_a_choice() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("policy.toml");
    let json = dir.path().join("policy.json");
    let locations = [toml.clone(), json.clone()];
    assert_eq!(
        it_policy::discover(None, &locations).policy.unwrap(),
        Default::default()
    );
    std::fs::write(&json, r#"{"locked": {"max_attempts": 3}}"#).unwrap();
    let found = it_policy::discover(None, &locations).policy.unwrap();
    assert_eq!(found.locked[&Key::MaxAttempts], json!(3));
    std::fs::write(&toml, "[locked]\nmax_attempts = 4\n").unwrap();
    let err = it_policy::discover(None, &locations).policy.unwrap_err();
    assert!(err.to_string().contains("both exist"), "{err}");
}

#[test]
fn s19_it_only_keys_come_from_the_policy_file_alone() {
    let it_only: Vec<&str> = Key::ALL
        .into_iter()
        .filter(|k| k.it_only())
        .map(Key::name)
        .collect();
    assert_eq!(
        it_only,
        [
            "auth_token_file",
            "gateway_proxy",
            "ca_bundle_file",
            "sms_warning_en",
            "sms_warning_fr",
            "sms_warning_es",
            "sms_warning_de",
            "allow_data_dir_override",
            "allow_credentials_override",
            "audit_key_file",
            "branch_store",
            "branch_key_file",
            "branch_password_file",
            "log_level",
            "log_file_size_mb",
            "log_files_kept",
        ]
    );
    // A value in settings.json (the desk user's to edit) is ignored; IT's
    // [defaults] and [locked] are used.
    let saved = values(&[
        (Key::GatewayProxy, json!("http://127.0.0.1:8888/")),
        (Key::CaBundleFile, json!("/home/user/my-ca.pem")),
        (Key::AuthTokenFile, json!("/home/user/token")),
        (Key::AllowDataDirOverride, json!(true)),
        (Key::AllowCredentialsOverride, json!(true)),
        (Key::AuditKeyFile, json!("/home/user/audit.key")),
        (Key::Brand, json!("Saved")),
    ]);
    let layers = Layers {
        saved: saved.clone(),
        ..Default::default()
    };
    for key in Key::ALL.into_iter().filter(|k| k.it_only()) {
        assert_eq!(layers.get(key), None, "{key:?}");
        assert_eq!(layers.effective()[&key], key.default_value());
    }
    assert_eq!(layers.get(Key::Brand), Some(&json!("Saved")));
    let layers = Layers {
        saved,
        provisioned: values(&[(Key::CaBundleFile, json!("/etc/countersign/ca.pem"))]),
        locked: values(&[(Key::GatewayProxy, json!("http://proxy.bank.example:3128/"))]),
    };
    assert_eq!(
        layers.get(Key::CaBundleFile),
        Some(&json!("/etc/countersign/ca.pem"))
    );
    assert_eq!(
        layers.get(Key::GatewayProxy),
        Some(&json!("http://proxy.bank.example:3128/"))
    );
    assert_eq!(layers.get(Key::AllowDataDirOverride), None);
}

#[test]
fn s19_the_new_it_keys_say_what_is_wrong_and_default_to_off() {
    assert_eq!(Key::GatewayProxy.default_value(), json!(""));
    assert_eq!(Key::CaBundleFile.default_value(), json!(""));
    assert_eq!(Key::AuditKeyFile.default_value(), json!(""));
    assert_eq!(Key::AllowDataDirOverride.default_value(), json!(false));
    assert_eq!(Key::AllowCredentialsOverride.default_value(), json!(false));

    let refused = |key: Key, raw: Value, says: &str| {
        let message = key.check(&raw).unwrap_err().to_string();
        assert!(message.contains(says), "{key:?} {raw}: {message}");
    };
    refused(
        Key::GatewayProxy,
        json!("proxy:3128"),
        "http:// or https://",
    );
    refused(
        Key::GatewayProxy,
        json!("proxy.bank.example"),
        "not a web address",
    );
    refused(
        Key::GatewayProxy,
        json!("socks5://proxy:1080"),
        "http:// or https://",
    );
    refused(
        Key::GatewayProxy,
        json!("http://user:secret@proxy:3128"),
        "user name or password",
    );
    refused(
        Key::GatewayProxy,
        json!("http://proxy:3128/x?y"),
        "only a scheme, a host and a port",
    );
    refused(Key::CaBundleFile, json!("ca.pem"), "absolute path");
    refused(Key::AuditKeyFile, json!("keys/audit.hex"), "absolute path");
    refused(Key::AllowDataDirOverride, json!("yes"), "true or false");
    refused(Key::AllowCredentialsOverride, json!(1), "true or false");
    assert_eq!(
        Key::GatewayProxy.check(&json!(" http://proxy.bank.example:3128 ")),
        Ok(json!("http://proxy.bank.example:3128/"))
    );
    assert_eq!(
        Key::GatewayProxy.check(&json!("https://proxy.bank.example")),
        Ok(json!("https://proxy.bank.example/"))
    );
    assert_eq!(Key::GatewayProxy.check(&json!("")), Ok(json!("")));
    assert_eq!(
        Key::AllowDataDirOverride.check(&json!(true)),
        Ok(json!(true))
    );

    // They reach the real gateway's settings.
    let policy = it_policy::parse(
        &GOOD_TOML.replace(
            "demo_allowed = false",
            "demo_allowed = false\ngateway_proxy = \"http://proxy.bank.example:3128\"\nca_bundle_file = \"/etc/countersign/ca.pem\"\nallow_data_dir_override = true\naudit_key_file = \"/etc/countersign/audit.key\"",
        ),
        false,
    )
    .unwrap();
    let config = DeskConfig::resolve(&policy.layers(Default::default())).unwrap();
    let GatewayChoice::Real(g) = config.gateway else {
        panic!("{:?}", config.gateway)
    };
    assert_eq!(
        g.proxy,
        ProxyChoice::Url(url::Url::parse("http://proxy.bank.example:3128/").unwrap())
    );
    assert_eq!(
        g.ca_bundle_file.as_deref(),
        Some(std::path::Path::new("/etc/countersign/ca.pem"))
    );
    let plain = DeskConfig::resolve(
        &it_policy::parse(GOOD_TOML, false)
            .unwrap()
            .layers(Default::default()),
    )
    .unwrap();
    let GatewayChoice::Real(g) = plain.gateway else {
        panic!()
    };
    assert_eq!((g.proxy, g.ca_bundle_file), (ProxyChoice::None, None));
}

#[test]
fn s19_a_gateway_address_over_plain_http_must_be_loopback() {
    for ok in [
        "http://127.0.0.1:8089/restcomm",
        "http://localhost/x",
        "http://[::1]:1/x",
        "https://gateway.example/x",
    ] {
        assert!(Key::BaseUrl.check(&json!(ok)).is_ok(), "{ok}");
    }
    for refused in ["http://10.0.0.5/restcomm", "http://gateway.example/x"] {
        let message = Key::BaseUrl.check(&json!(refused)).unwrap_err().to_string();
        assert_eq!(
            message,
            "The gateway address must start with https://; http:// is accepted only for a gateway on this computer (localhost, 127.0.0.0/8 or ::1).",
            "{refused}"
        );
    }
}
