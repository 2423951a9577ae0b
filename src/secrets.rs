//! Where the desk's two secrets live: the gateway's auth token and the key
//! that digests codes and seals numbers.
//!
//! The OS credential store (Windows Credential Manager, macOS Keychain,
//! Secret Service) is preferred; the shell provides it. Without one, each
//! secret is an owner-only (0600) file in a folder of its own (0700), apart
//! from the settings and pending stores, so a copy of `settings.json` or a
//! support bundle never carries them. Either way the caller sees one
//! [`CredentialStore`], and the settings screen says which is in use.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rand::{CryptoRng, RngCore};
use secrecy::{ExposeSecret, SecretString};

use crate::keys::DigestKey;
use crate::persist::atomic_write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretName {
    AuthToken,
    DigestKey,
    /// The desk's sealed record of facts a file edit must not undo
    /// ([`crate::facts`]).
    DeskFacts,
}

impl SecretName {
    pub fn account(self) -> &'static str {
        match self {
            Self::AuthToken => "gateway-auth-token",
            Self::DigestKey => "desk-digest-key",
            Self::DeskFacts => "desk-facts",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("The credential store could not be used: {0}")]
    Store(String),
    #[error("The credential file {0} cannot be read or written: {1}")]
    File(PathBuf, io::Error),
    #[error("The stored desk key is damaged. Pending verifications cannot be checked without it; ask IT to restore it from backup.")]
    DamagedKey,
    #[error("The desk key is kept in the OS credential store, which cannot be used now. The desk will not make a new key (pending verifications and their limits would be lost); unlock or restore the credential store, then restart.")]
    KeyInOsStore,
    #[error("The desk key should be in the OS credential store but is not there. The desk will not make a new key (pending verifications and their limits would be lost); ask IT to restore it, or remove {0} to start afresh.")]
    KeyMissingFromOsStore(PathBuf),
}

pub trait CredentialStore: Send + Sync {
    /// For the settings screen: which store, in words.
    fn describe(&self) -> String;
    /// True for the OS credential store, false for the file fallback.
    fn is_os_store(&self) -> bool;
    fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError>;
    fn set(&self, name: SecretName, value: &SecretString) -> Result<(), SecretError>;
}

/// The fallback: one owner-only file per secret.
pub struct FileCredentials {
    token: PathBuf,
    key: PathBuf,
    facts: PathBuf,
}

impl FileCredentials {
    /// The token under `<data>/credentials/`; the key stays where earlier
    /// versions kept it, `<data>/keys/desk.key`, so existing desks open.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            token: data_dir
                .join("credentials")
                .join(SecretName::AuthToken.account()),
            key: data_dir.join("keys").join("desk.key"),
            facts: data_dir.join("keys").join(SecretName::DeskFacts.account()),
        }
    }

    fn path(&self, name: SecretName) -> &Path {
        match name {
            SecretName::AuthToken => &self.token,
            SecretName::DigestKey => &self.key,
            SecretName::DeskFacts => &self.facts,
        }
    }
}

impl CredentialStore for FileCredentials {
    fn describe(&self) -> String {
        let dir = self.token.parent().unwrap_or(Path::new("."));
        format!(
            "Owner-only files in {} (no OS credential store is available)",
            dir.display()
        )
    }

    fn is_os_store(&self) -> bool {
        false
    }

    fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        let path = self.path(name);
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(SecretString::from(text.trim().to_owned()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretError::File(path.to_owned(), e)),
        }
    }

    fn set(&self, name: SecretName, value: &SecretString) -> Result<(), SecretError> {
        let path = self.path(name);
        let fail = |e| SecretError::File(path.to_owned(), e);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(fail)?;
            owner_only_dir(dir).map_err(fail)?;
        }
        // `atomic_write` creates its files 0600.
        atomic_write(path, value.expose_secret().as_bytes()).map_err(fail)
    }
}

#[cfg(unix)]
fn owner_only_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn owner_only_dir(_: &Path) -> io::Result<()> {
    Ok(())
}

/// Beside the key file once the key lives in the OS store: a desk that
/// later cannot reach the store then refuses to start instead of making a
/// new key, which would set every pending verification and S5/S8 count
/// aside (and so could be used to clear a lockout).
pub fn os_store_marker(legacy_file: &Path) -> PathBuf {
    legacy_file.with_file_name("in-os-credential-store")
}

/// The desk key from the store, made on first use. A key file left by an
/// earlier run without an OS store moves into the OS store once one is
/// there, and the file is removed so the key exists in one place only.
pub fn load_or_create_digest_key<R: RngCore + CryptoRng>(
    store: &dyn CredentialStore,
    legacy_file: &Path,
    rng: &mut R,
) -> Result<DigestKey, SecretError> {
    let marker = os_store_marker(legacy_file);
    let in_os_store = marker.exists();
    if in_os_store && !store.is_os_store() {
        return Err(SecretError::KeyInOsStore);
    }
    let mark = || -> Result<(), SecretError> {
        if store.is_os_store() && !in_os_store {
            if let Some(dir) = marker.parent() {
                fs::create_dir_all(dir).map_err(|e| SecretError::File(dir.to_owned(), e))?;
            }
            atomic_write(&marker, b"The desk key is in the OS credential store.\n")
                .map_err(|e| SecretError::File(marker.clone(), e))?;
        }
        Ok(())
    };
    let decode = |hex_text: &str| {
        hex::decode(hex_text.trim())
            .ok()
            .and_then(|b| DigestKey::from_bytes(&b))
            .ok_or(SecretError::DamagedKey)
    };
    if let Some(stored) = store.get(SecretName::DigestKey)? {
        let key = decode(stored.expose_secret())?;
        mark()?;
        return Ok(key);
    }
    if in_os_store {
        return Err(SecretError::KeyMissingFromOsStore(marker));
    }
    if store.is_os_store() {
        match fs::read_to_string(legacy_file) {
            Ok(text) => {
                let key = decode(&text)?;
                store.set(
                    SecretName::DigestKey,
                    &SecretString::from(text.trim().to_owned()),
                )?;
                // Marked before the file goes: a crash between the two
                // leaves both, never neither.
                mark()?;
                fs::remove_file(legacy_file)
                    .map_err(|e| SecretError::File(legacy_file.to_owned(), e))?;
                return Ok(key);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SecretError::File(legacy_file.to_owned(), e)),
        }
    }
    let key = DigestKey::generate(rng);
    store.set(
        SecretName::DigestKey,
        &SecretString::from(hex::encode(key.as_bytes())),
    )?;
    mark()?;
    Ok(key)
}
