//! The OS credential store behind the core's `CredentialStore`, and the
//! choice between it and the owner-only file fallback.
//!
//! `COUNTERSIGN_CREDENTIALS=file` forces the files (a kiosk with no keyring
//! daemon, or tests); `os` insists on the OS store and fails if there is
//! none; unset tries the OS store and falls back. Entries are named per data
//! folder, so two desks on one account (or a portable copy) never share a
//! key.

use std::path::Path;

use countersign::secrets::{CredentialStore, FileCredentials, SecretError, SecretName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const SERVICE: &str = "com.countersign.desk";

pub struct OsCredentials {
    /// Tells this data folder's entries from another's.
    folder_tag: String,
}

impl OsCredentials {
    fn entry(&self, name: SecretName) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, &format!("{}@{}", name.account(), self.folder_tag))
            .map_err(|e| SecretError::Store(e.to_string()))
    }

    /// The store answers (with or without an entry): it can be used.
    fn probe(data_dir: &Path) -> Result<Self, String> {
        let store = Self {
            folder_tag: hex::encode(&Sha256::digest(data_dir.to_string_lossy().as_bytes())[..6]),
        };
        match store
            .entry(SecretName::DigestKey)
            .map_err(|e| e.to_string())?
            .get_password()
        {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(store),
            Err(e) => Err(e.to_string()),
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

/// Picks the store; `wanted` is `COUNTERSIGN_CREDENTIALS`.
pub fn choose(data_dir: &Path, wanted: Option<&str>) -> Result<Box<dyn CredentialStore>, String> {
    let files = || Box::new(FileCredentials::in_data_dir(data_dir)) as Box<dyn CredentialStore>;
    match wanted.map(str::trim) {
        Some("file") => Ok(files()),
        Some("os") => OsCredentials::probe(data_dir)
            .map(|s| Box::new(s) as Box<dyn CredentialStore>)
            .map_err(|e| {
                format!(
                    "COUNTERSIGN_CREDENTIALS=os, but the OS credential store cannot be used: {e}"
                )
            }),
        None | Some("") => Ok(match OsCredentials::probe(data_dir) {
            Ok(s) => Box::new(s),
            Err(e) => {
                tracing::info!(reason = %e, "no OS credential store; using owner-only files");
                files()
            }
        }),
        Some(_) => Err("COUNTERSIGN_CREDENTIALS must be os or file.".to_owned()),
    }
}
