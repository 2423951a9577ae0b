//! S19: the IT policy wins over everything the desk's own user controls —
//! here, the process environment. Each test names the door it closes.

use std::collections::HashMap;
use std::path::PathBuf;

use countersign::config::environment::{
    credentials_request, env_gateway_refusal, gateway_from_env, relocation_allowed, EnvGateway,
};
use countersign::config::it_policy::{self, Discovered};
use countersign::config::Key;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// A user's own gateway, as a shell would set it.
fn user_gateway() -> EnvGateway {
    gateway_from_env(env(&[
        ("COUNTERSIGN_RESTCOMM_URL", "http://127.0.0.1:9/restcomm"),
        ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", "ACuser"),
        ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", "token"),
        ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
    ]))
    .unwrap()
    .unwrap()
}

struct Machine {
    _dir: tempfile::TempDir,
    system: Vec<PathBuf>,
    user_file: PathBuf,
}

/// A machine with an (empty) system policy folder and a user's own file.
fn machine() -> Machine {
    let dir = tempfile::tempdir().unwrap();
    let system = vec![
        dir.path().join("policy.toml"),
        dir.path().join("policy.json"),
    ];
    let user_file = dir.path().join("mine.toml");
    std::fs::write(&user_file, "[locked]\nmax_attempts = 5\n").unwrap();
    Machine {
        _dir: dir,
        system,
        user_file,
    }
}

fn with_system_policy(m: &Machine, text: &str) -> Discovered {
    std::fs::write(&m.system[0], text).unwrap();
    it_policy::discover(Some(m.user_file.clone()), &m.system)
}

#[test]
fn s19_a_system_policy_file_wins_over_countersign_policy() {
    let m = machine();
    let d = with_system_policy(&m, "[locked]\nmax_attempts = 3\n");
    assert!(d.system);
    let p = d.policy.as_ref().unwrap();
    assert_eq!(p.locked[&Key::MaxAttempts], serde_json::json!(3));
    assert_eq!(p.path.as_deref(), Some(m.system[0].as_path()));
    assert_eq!(d.ignored_explicit.as_deref(), Some(m.user_file.as_path()));
    assert!(
        d.describe().ends_with("(system policy)"),
        "{}",
        d.describe()
    );
    let notes = d.notes();
    assert!(notes[0].starts_with("COUNTERSIGN_POLICY"), "{notes:?}");
    assert!(notes[0].contains("is ignored"), "{notes:?}");
}

#[test]
fn s19_a_broken_system_policy_is_still_the_one_in_force() {
    let m = machine();
    let d = with_system_policy(&m, "[locked]\nmax_attempts = 9\n");
    assert!(d.system);
    assert_eq!(d.policy.unwrap_err().path, m.system[0]);
}

#[test]
fn s19_countersign_policy_is_honoured_where_the_machine_has_none() {
    let m = machine();
    let d = it_policy::discover(Some(m.user_file.clone()), &m.system);
    assert!(!d.system);
    assert!(d.ignored_explicit.is_none());
    assert_eq!(d.path(), Some(m.user_file.as_path()));
    assert!(d.describe().ends_with("(from COUNTERSIGN_POLICY)"));
}

#[test]
fn s19_the_environment_cannot_swap_a_gateway_key_the_policy_locks() {
    let m = machine();
    let d = with_system_policy(
        &m,
        "[locked]\ngateway = \"restcomm\"\nbase_url = \"https://sms.bank.example/restcomm\"\n",
    );
    let why = env_gateway_refusal(&user_gateway(), &d).expect("refused");
    assert!(
        why.starts_with("COUNTERSIGN_RESTCOMM_URL conflicts with gateway"),
        "{why}"
    );
    assert!(why.contains("locks"), "{why}");
    assert!(why.contains("nothing is sent until then"), "{why}");
}

#[test]
fn s19_the_environment_cannot_choose_the_gateway_when_demo_is_switched_off() {
    let m = machine();
    let d = with_system_policy(&m, "[locked]\ndemo_allowed = false\n");
    let why = env_gateway_refusal(&user_gateway(), &d).expect("refused");
    assert!(why.contains("switches demo mode off"), "{why}");
    // Also from a user-chosen file: whichever file is in force.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "[defaults]\ndemo_allowed = false\n").unwrap();
    let d = it_policy::discover(Some(file), &[]);
    assert!(env_gateway_refusal(&user_gateway(), &d).is_some());
}

#[test]
fn s19_a_variable_that_contradicts_a_locked_value_is_refused_by_name() {
    let m = machine();
    let d = with_system_policy(&m, "[locked]\nrequest_timeout_seconds = 20\n");
    let mut g = user_gateway();
    assert!(env_gateway_refusal(&g, &d).is_none(), "no conflict yet");
    g = gateway_from_env(env(&[
        ("COUNTERSIGN_RESTCOMM_URL", "http://127.0.0.1:9/restcomm"),
        ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", "ACuser"),
        ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", "token"),
        ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
        ("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", "5"),
    ]))
    .unwrap()
    .unwrap();
    let why = env_gateway_refusal(&g, &d).expect("refused");
    assert!(
        why.starts_with(
            "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS conflicts with request_timeout_seconds"
        ),
        "{why}"
    );
}

#[test]
fn s19_without_a_policy_the_environment_may_configure_the_gateway() {
    let d = it_policy::discover(None, &[]);
    assert!(env_gateway_refusal(&user_gateway(), &d).is_none());
}

#[test]
fn s19_countersign_credentials_is_ignored_under_a_system_policy_and_says_so() {
    let m = machine();
    let none = it_policy::discover(None, &m.system);
    assert_eq!(
        credentials_request(Some("file".into()), &none),
        (Some("file".into()), None)
    );
    let d = with_system_policy(&m, "[locked]\nmax_attempts = 3\n");
    let (value, note) = credentials_request(Some("file".into()), &d);
    assert_eq!(value, None);
    assert!(note
        .unwrap()
        .starts_with("COUNTERSIGN_CREDENTIALS is ignored"));
    assert_eq!(credentials_request(None, &d), (None, None));
    let d = with_system_policy(&m, "[locked]\nallow_credentials_override = true\n");
    assert_eq!(
        credentials_request(Some("os".into()), &d),
        (Some("os".into()), None)
    );
}

#[test]
fn s19_data_folder_and_credential_overrides_need_the_system_policy_s_leave() {
    let m = machine();
    let none = it_policy::discover(None, &m.system);
    assert!(relocation_allowed(&none, Key::AllowDataDirOverride));
    let d = with_system_policy(&m, "[locked]\nmax_attempts = 3\n");
    assert!(!relocation_allowed(&d, Key::AllowDataDirOverride));
    assert!(!relocation_allowed(&d, Key::AllowCredentialsOverride));
    let d = with_system_policy(&m, "[locked]\nallow_data_dir_override = true\n");
    assert!(relocation_allowed(&d, Key::AllowDataDirOverride));
    assert!(!relocation_allowed(&d, Key::AllowCredentialsOverride));
    // A broken system policy allows nothing.
    let d = with_system_policy(&m, "[locked]\nallow_data_dir_override = 7\n");
    assert!(!relocation_allowed(&d, Key::AllowDataDirOverride));
}
