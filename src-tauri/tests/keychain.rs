//! The OS credential store for real: a Secret Service (gnome-keyring) on a
//! private D-Bus session. `scripts/test.sh` runs these under
//! `dbus-run-session` with an unlocked keyring; a plain `cargo test` has no
//! Secret Service, so they are ignored there rather than pass vacuously.

mod support;

use countersign::secrets::{load_or_create_digest_key, SecretName};
use countersign_desk::shell::credentials;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[test]
#[ignore = "needs a Secret Service; scripts/test.sh runs it under dbus-run-session with gnome-keyring"]
fn the_os_store_keeps_the_token_and_takes_over_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, problem) = credentials::choose(dir.path(), Some("os"));
    assert_eq!(problem, None, "a Secret Service answers");
    assert!(store.is_os_store());
    assert!(
        store.describe().contains("Secret Service"),
        "{}",
        store.describe()
    );
    store
        .set(
            SecretName::AuthToken,
            &SecretString::from("kc-token-71".to_owned()),
        )
        .unwrap();
    assert_eq!(
        store
            .get(SecretName::AuthToken)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "kc-token-71"
    );

    // A desk that ran with files moves its key into the store once.
    let legacy = dir.path().join("keys/desk.key");
    let files = countersign::secrets::FileCredentials::in_data_dir(dir.path());
    let before = load_or_create_digest_key(&files, &legacy, &mut OsRng).unwrap();
    let after = load_or_create_digest_key(store.as_ref(), &legacy, &mut OsRng).unwrap();
    assert_eq!(before.as_bytes(), after.as_bytes());
    assert!(!legacy.exists());

    // Another data folder has entries of its own.
    let other = tempfile::tempdir().unwrap();
    let (other_store, _) = credentials::choose(other.path(), Some("os"));
    assert!(other_store.get(SecretName::AuthToken).unwrap().is_none());
}

#[test]
#[ignore = "needs a Secret Service; scripts/test.sh runs it under dbus-run-session with gnome-keyring"]
fn the_settings_screen_says_the_os_store_is_in_use_and_no_secret_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let desk = support::open_with(dir.path(), None, &[("COUNTERSIGN_CREDENTIALS", "os")]);
    let answer = desk
        .call(
            "settings_save",
            json!({"changes": {}, "token": "kc-token-via-ui-93"}),
        )
        .unwrap();
    assert_eq!(answer["saved"], true, "{answer}");
    let view = desk.call("settings_read", json!({})).unwrap();
    assert_eq!(view["token"]["set"], true);
    let source = view["token"]["source"].as_str().unwrap();
    assert!(source.starts_with("OS credential store"), "{source}");
    assert!(!view.to_string().contains("kc-token-via-ui-93"));
    assert!(!dir.path().join("credentials").exists());
    assert!(
        !dir.path().join("keys/desk.key").exists(),
        "the key is in the store"
    );
}
