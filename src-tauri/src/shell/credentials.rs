//! The OS credential store behind the core's `CredentialStore`, and the
//! choice between it and the owner-only file fallback.
//!
//! `COUNTERSIGN_CREDENTIALS=file` forces the files (a kiosk with no keyring
//! daemon, or tests); `os` insists on the OS store and fails if there is
//! none; unset tries the OS store and falls back. Entries are named per data
//! folder, so two desks on one account (or a portable copy) never share a
//! key.

use std::path::Path;
use std::sync::Arc;

use countersign::secrets::{CredentialStore, FileCredentials, SecretError, SecretName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const SERVICE: &str = "com.countersign.desk";

struct OsCredentials {
    /// Tells this data folder's entries from another's.
    folder_tag: String,
}

/// The entry's name in the store: the secret's, then a tag of the data
/// folder's path (so moving the folder means renaming its entries:
/// `folder_move`).
pub fn entry_account(name: SecretName, data_dir: &Path) -> String {
    format!("{}@{}", name.account(), folder_tag(data_dir))
}

fn folder_tag(data_dir: &Path) -> String {
    hex::encode(&Sha256::digest(data_dir.to_string_lossy().as_bytes())[..6])
}

/// Entries of the store by name, for moving them with the data folder;
/// tests use a map.
pub trait Entries {
    fn get(&self, account: &str) -> Result<Option<SecretString>, keyring::Error>;
    fn set(&self, account: &str, value: &SecretString) -> Result<(), keyring::Error>;
    fn delete(&self, account: &str) -> Result<(), keyring::Error>;
}

/// The OS credential store's entries under the desk's service.
pub struct OsEntries;

impl Entries for OsEntries {
    fn get(&self, account: &str) -> Result<Option<SecretString>, keyring::Error> {
        match keyring::Entry::new(SERVICE, account)?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn set(&self, account: &str, value: &SecretString) -> Result<(), keyring::Error> {
        keyring::Entry::new(SERVICE, account)?.set_password(value.expose_secret())
    }
    fn delete(&self, account: &str) -> Result<(), keyring::Error> {
        match keyring::Entry::new(SERVICE, account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl OsCredentials {
    fn entry(&self, name: SecretName) -> Result<keyring::Entry, SecretError> {
        self.keyring_entry(name)
            .map_err(|e| SecretError::Store(e.to_string()))
    }

    fn keyring_entry(&self, name: SecretName) -> Result<keyring::Entry, keyring::Error> {
        keyring::Entry::new(SERVICE, &format!("{}@{}", name.account(), self.folder_tag))
    }

    /// The store answers (with or without an entry): it can be used.
    fn probe(data_dir: &Path) -> Result<Self, keyring::Error> {
        let store = Self {
            folder_tag: folder_tag(data_dir),
        };
        match store.keyring_entry(SecretName::DigestKey)?.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(store),
            Err(e) => Err(e),
        }
    }
}

impl CredentialStore for OsCredentials {
    fn describe(&self) -> String {
        let name = if cfg!(windows) {
            "Windows Credential Manager"
        } else if cfg!(target_os = "macos") {
            "macOS Keychain"
        } else {
            "the Secret Service keyring"
        };
        format!("OS credential store ({name})")
    }

    fn is_os_store(&self) -> bool {
        true
    }

    fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        match self.entry(name)?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(SecretError::Store(e.to_string())),
        }
    }

    fn set(&self, name: SecretName, value: &SecretString) -> Result<(), SecretError> {
        self.entry(name)?
            .set_password(value.expose_secret())
            .map_err(|e| SecretError::Store(e.to_string()))
    }
}

/// Stands in when the OS store was insisted on and cannot be used: every
/// call fails with the reason, so the desk opens unavailable rather than
/// quietly keep secrets (or make a new key) in files.
struct Unavailable(String);

impl CredentialStore for Unavailable {
    fn describe(&self) -> String {
        format!("OS credential store, not available ({})", self.0)
    }
    fn is_os_store(&self) -> bool {
        true
    }
    fn get(&self, _: SecretName) -> Result<Option<SecretString>, SecretError> {
        Err(SecretError::Store(self.0.clone()))
    }
    fn set(&self, _: SecretName, _: &SecretString) -> Result<(), SecretError> {
        Err(SecretError::Store(self.0.clone()))
    }
}

/// Picks the store; `wanted` is `COUNTERSIGN_CREDENTIALS`. A bad value, or
/// an OS store insisted on but out of reach, gives a store that refuses
/// every call, and the reason.
pub fn choose(data_dir: &Path, wanted: Option<&str>) -> (Arc<dyn CredentialStore>, Option<String>) {
    let refuse = |why: String| {
        let store: Arc<dyn CredentialStore> = Arc::new(Unavailable(why.clone()));
        (store, Some(why))
    };
    match wanted.map(str::trim) {
        Some("file") => (Arc::new(FileCredentials::in_data_dir(data_dir)), None),
        Some("os") => match OsCredentials::probe(data_dir) {
            Ok(s) => (Arc::new(s), None),
            Err(e) => refuse(format!(
                "COUNTERSIGN_CREDENTIALS=os, but the OS credential store cannot be used: {e}"
            )),
        },
        None | Some("") => match OsCredentials::probe(data_dir) {
            Ok(s) => (Arc::new(s), None),
            Err(e) => {
                tracing::info!(reason = %e, "no OS credential store; using owner-only files");
                (Arc::new(FileCredentials::in_data_dir(data_dir)), None)
            }
        },
        Some(_) => refuse("COUNTERSIGN_CREDENTIALS must be os or file.".to_owned()),
    }
}
