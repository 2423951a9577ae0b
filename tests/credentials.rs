//! Credentials: the OS credential store when there is one, else owner-only
//! files apart from the stores; the desk key moves into the OS store once.

use std::collections::HashMap;
use std::sync::Mutex;

use countersign::secrets::{
    load_or_create_digest_key, CredentialStore, FileCredentials, SecretError, SecretName,
};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

/// Stands in for an OS credential store (the shell's keyring backend has the
/// same contract; a real Secret Service is not on the CI machine).
#[derive(Default)]
struct OsStore(Mutex<HashMap<&'static str, String>>);

impl CredentialStore for OsStore {
    fn describe(&self) -> String {
        "test keychain".into()
    }
    fn is_os_store(&self) -> bool {
        true
    }
    fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(name.account())
            .map(|s| SecretString::from(s.clone())))
    }
    fn set(&self, name: SecretName, value: &SecretString) -> Result<(), SecretError> {
        self.0
            .lock()
            .unwrap()
            .insert(name.account(), value.expose_secret().to_owned());
        Ok(())
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn without_an_os_store_each_secret_is_an_owner_only_file_apart_from_the_stores() {
    let dir = tempfile::tempdir().unwrap();
    let files = FileCredentials::in_data_dir(dir.path());
    assert!(!files.is_os_store());
    assert!(files.get(SecretName::AuthToken).unwrap().is_none());
    files
        .set(
            SecretName::AuthToken,
            &SecretString::from("tok-3f9a".to_owned()),
        )
        .unwrap();
    let token_file = dir.path().join("credentials/gateway-auth-token");
    assert!(token_file.is_file(), "{} is written", token_file.display());
    #[cfg(unix)]
    {
        assert_eq!(mode(&token_file), 0o600);
        assert_eq!(mode(token_file.parent().unwrap()), 0o700);
    }
    assert_eq!(
        files
            .get(SecretName::AuthToken)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "tok-3f9a"
    );
    assert!(
        files.describe().contains("credentials"),
        "{}",
        files.describe()
    );

    let key =
        load_or_create_digest_key(&files, &dir.path().join("keys/desk.key"), &mut OsRng).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("keys/desk.key")), 0o600);
    let again =
        load_or_create_digest_key(&files, &dir.path().join("keys/desk.key"), &mut OsRng).unwrap();
    assert_eq!(key.as_bytes(), again.as_bytes());
}

#[test]
fn with_an_os_store_the_key_file_moves_in_once_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("keys/desk.key");
    let files = FileCredentials::in_data_dir(dir.path());
    let original = load_or_create_digest_key(&files, &legacy, &mut OsRng).unwrap();
    assert!(legacy.exists());

    let os = OsStore::default();
    let moved = load_or_create_digest_key(&os, &legacy, &mut OsRng).unwrap();
    assert_eq!(
        moved.as_bytes(),
        original.as_bytes(),
        "the same key: pending entries still open"
    );
    assert!(!legacy.exists(), "the key now lives in one place only");
    let reopened = load_or_create_digest_key(&os, &legacy, &mut OsRng).unwrap();
    assert_eq!(reopened.as_bytes(), original.as_bytes());
}

#[test]
fn a_damaged_stored_key_is_an_error_never_a_new_key() {
    let os = OsStore::default();
    os.set(
        SecretName::DigestKey,
        &SecretString::from("not hex".to_owned()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = load_or_create_digest_key(&os, &dir.path().join("k"), &mut OsRng).unwrap_err();
    assert!(matches!(err, SecretError::DamagedKey), "{err}");
}

/// An OS store that is there but cannot be used (locked, daemon gone).
struct BrokenOsStore;

impl CredentialStore for BrokenOsStore {
    fn describe(&self) -> String {
        "broken keychain".into()
    }
    fn is_os_store(&self) -> bool {
        true
    }
    fn get(&self, _: SecretName) -> Result<Option<SecretString>, SecretError> {
        Err(SecretError::Store("no answer".into()))
    }
    fn set(&self, _: SecretName, _: &SecretString) -> Result<(), SecretError> {
        Err(SecretError::Store("no answer".into()))
    }
}

#[test]
fn a_key_in_the_os_store_is_never_replaced_when_the_store_is_out_of_reach() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("keys/desk.key");
    let os = OsStore::default();
    let key = load_or_create_digest_key(&os, &legacy, &mut OsRng).unwrap();

    // Next start, no OS store answers: the file fallback must not make a key.
    let files = FileCredentials::in_data_dir(dir.path());
    let err = load_or_create_digest_key(&files, &legacy, &mut OsRng).unwrap_err();
    assert!(matches!(err, SecretError::KeyInOsStore), "{err}");
    assert!(!legacy.exists(), "no new key file was made");
    let err = load_or_create_digest_key(&BrokenOsStore, &legacy, &mut OsRng).unwrap_err();
    assert!(matches!(err, SecretError::Store(_)), "{err}");

    // The store's entry gone: refused too, never silently replaced.
    let emptied = OsStore::default();
    let err = load_or_create_digest_key(&emptied, &legacy, &mut OsRng).unwrap_err();
    assert!(
        matches!(err, SecretError::KeyMissingFromOsStore(_)),
        "{err}"
    );

    // Back with the store: the same key.
    let again = load_or_create_digest_key(&os, &legacy, &mut OsRng).unwrap();
    assert_eq!(again.as_bytes(), key.as_bytes());
}
