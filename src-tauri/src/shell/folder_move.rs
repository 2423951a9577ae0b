//! Windows desks before this version kept their data in the roaming
//! app-data folder; pending codes and the audit trail must not travel with
//! a roaming profile, so the data folder is now the local one. At the first
//! start after the upgrade the old folder's contents move over, and so do
//! the OS credential store's entries, which are named after the folder's
//! path (`credentials::entry_account`): without them the desk would find
//! its key missing and refuse to open.
//!
//! Written for any two folders so that Linux tests prove it; only
//! [`from_roaming`] is Windows's, and it only picks the two folders.
// Called from Windows's `from_roaming` only; elsewhere the tests use it.
#![cfg_attr(not(windows), allow(dead_code))]

use std::path::{Path, PathBuf};

use countersign::folder_lock::LOCK_FILE;
use countersign::secrets::SecretName;

use super::credentials::{entry_account, Entries};

/// A desk that has started in a folder has an audit trail there: the
/// folder holds a desk's data. Moved last, so a move cut short resumes.
const DESK_MARKER: &str = countersign::audit::AUDIT_FILE;

const SECRETS: [SecretName; 3] = [
    SecretName::AuthToken,
    SecretName::DigestKey,
    SecretName::DeskFacts,
];

/// Why a move stopped; the old folder stays in use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MoveError {
    /// The credential store would not read, write or delete an entry.
    #[error("{0}")]
    Entry(#[from] keyring::Error),
    /// A folder could not be made or read.
    #[error("{}: {source}", .path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file or folder inside could not be moved.
    #[error("{} to {}: {source}", .from.display(), .to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No old folder (a new desk, or already moved).
    NothingToMove,
    /// The old folder's contents and entries are now the new folder's.
    Moved,
    /// Both folders hold a desk's data: the new one is used, the old one
    /// left as it is (and the reason logged).
    KeptNew,
}

/// Moves `old`'s contents into `new` and renames the store's entries named
/// after `old` to names after `new`. Nothing is ever overwritten: a file or
/// entry `new` already has wins (the WebView's own folder, made in the
/// local folder by earlier versions, is one). An error leaves the old
/// folder in use; the caller says so.
pub(crate) fn move_data_folder(
    old: &Path,
    new: &Path,
    entries: &dyn Entries,
) -> Result<Outcome, MoveError> {
    if old == new || !old.is_dir() {
        return Ok(Outcome::NothingToMove);
    }
    if new.join(DESK_MARKER).exists() {
        tracing::warn!(
            old = %old.display(),
            new = %new.display(),
            "both the roaming and the local data folder hold a desk's data; the local one is used and the roaming one is left as it is"
        );
        return Ok(Outcome::KeptNew);
    }
    // Entries first, copied: until the files have moved, the old names
    // still serve a desk started from the old folder.
    let mut copied = Vec::new();
    for name in SECRETS {
        let (from, to) = (entry_account(name, old), entry_account(name, new));
        let Some(value) = entries.get(&from)? else {
            continue;
        };
        if entries.get(&to)?.is_none() {
            entries.set(&to, &value)?;
            copied.push(from);
        } else {
            tracing::warn!(
                secret = name.account(),
                "the local data folder already has this credential entry; the roaming folder's is left as it is"
            );
        }
    }
    let folder = |path: &Path| {
        let path = path.to_owned();
        move |source| MoveError::Folder { path, source }
    };
    std::fs::create_dir_all(new).map_err(folder(new))?;
    let mut children: Vec<_> = std::fs::read_dir(old)
        .map_err(folder(old))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    children.sort_by_key(|n| n == DESK_MARKER);
    for name in children {
        // The caller holds the new folder's lock; the old one locks nothing.
        if name == LOCK_FILE {
            let _ = std::fs::remove_file(old.join(&name));
            continue;
        }
        let target = new.join(&name);
        if target.exists() {
            tracing::warn!(entry = ?name, "already in the local data folder; the roaming copy is left");
            continue;
        }
        let from = old.join(&name);
        std::fs::rename(&from, &target).map_err(|source| MoveError::Rename {
            from,
            to: target,
            source,
        })?;
    }
    for from in copied {
        entries.delete(&from)?;
    }
    // Empty now unless something was left above; then it stays.
    let _ = std::fs::remove_dir(old);
    tracing::info!(old = %old.display(), new = %new.display(), "data folder moved to the local app-data folder");
    Ok(Outcome::Moved)
}

/// Windows: the roaming folder of the same identifier into the local one
/// `data_folder` names (whose lock the caller holds). `Some(old)` when the
/// move failed: the desk keeps the roaming folder rather than start empty.
#[cfg(windows)]
pub fn from_roaming<R: tauri::Runtime>(context: &tauri::Context<R>) -> Option<std::path::PathBuf> {
    let old = super::os_account::roaming_data_dir(&context.config().identifier)?;
    let new = crate::data_folder(context)?;
    match move_data_folder(&old, &new, &super::credentials::OsEntries) {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the roaming data folder could not be moved; it stays in use");
            Some(old)
        }
    }
}

/// Elsewhere the roaming and the local folder are one.
#[cfg(not(windows))]
pub(crate) fn from_roaming<R: tauri::Runtime>(
    _context: &tauri::Context<R>,
) -> Option<std::path::PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MapEntries(Mutex<BTreeMap<String, String>>);

    impl Entries for MapEntries {
        fn get(&self, account: &str) -> Result<Option<SecretString>, keyring::Error> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(account)
                .cloned()
                .map(SecretString::from))
        }
        fn set(&self, account: &str, value: &SecretString) -> Result<(), keyring::Error> {
            self.0
                .lock()
                .unwrap()
                .insert(account.to_owned(), value.expose_secret().to_owned());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<(), keyring::Error> {
            self.0.lock().unwrap().remove(account);
            Ok(())
        }
    }

    fn desk(dir: &Path, audit: &str) {
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::write(dir.join(DESK_MARKER), audit).unwrap();
        std::fs::write(dir.join("settings.json"), "{}").unwrap();
        std::fs::write(dir.join("keys").join("in-os-credential-store"), "").unwrap();
    }

    fn value(entries: &MapEntries, name: SecretName, dir: &Path) -> Option<String> {
        entries
            .get(&entry_account(name, dir))
            .unwrap()
            .map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn the_old_folder_and_its_entries_move_to_the_new_one() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("Roaming"), root.path().join("Local"));
        desk(&old, "old trail\n");
        // The WebView's folder, made in the local folder by earlier versions,
        // and the lock the caller holds there.
        std::fs::create_dir_all(new.join("EBWebView")).unwrap();
        std::fs::write(new.join(LOCK_FILE), "pid 2").unwrap();
        std::fs::write(old.join(LOCK_FILE), "pid 1").unwrap();
        let entries = MapEntries::default();
        entries
            .set(
                &entry_account(SecretName::DigestKey, &old),
                &SecretString::from("key"),
            )
            .unwrap();
        entries
            .set(
                &entry_account(SecretName::DeskFacts, &old),
                &SecretString::from("facts"),
            )
            .unwrap();

        assert_eq!(
            move_data_folder(&old, &new, &entries).unwrap(),
            Outcome::Moved
        );
        assert_eq!(
            std::fs::read_to_string(new.join(DESK_MARKER)).unwrap(),
            "old trail\n"
        );
        assert!(new.join("keys").join("in-os-credential-store").exists());
        assert!(new.join("EBWebView").is_dir());
        assert_eq!(
            std::fs::read_to_string(new.join(LOCK_FILE)).unwrap(),
            "pid 2"
        );
        assert!(!old.exists(), "the emptied roaming folder is removed");
        assert_eq!(
            value(&entries, SecretName::DigestKey, &new).as_deref(),
            Some("key")
        );
        assert_eq!(
            value(&entries, SecretName::DeskFacts, &new).as_deref(),
            Some("facts")
        );
        assert_eq!(
            value(&entries, SecretName::DigestKey, &old),
            None,
            "moved, not copied"
        );
        assert_eq!(value(&entries, SecretName::AuthToken, &new), None);

        // The next start finds nothing to move.
        assert_eq!(
            move_data_folder(&old, &new, &entries).unwrap(),
            Outcome::NothingToMove
        );
    }

    #[test]
    fn when_both_folders_hold_a_desk_the_new_one_is_used_and_nothing_is_touched() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("Roaming"), root.path().join("Local"));
        desk(&old, "old trail\n");
        desk(&new, "new trail\n");
        let entries = MapEntries::default();
        for (dir, v) in [(&old, "old key"), (&new, "new key")] {
            entries
                .set(
                    &entry_account(SecretName::DigestKey, dir),
                    &SecretString::from(v),
                )
                .unwrap();
        }
        assert_eq!(
            move_data_folder(&old, &new, &entries).unwrap(),
            Outcome::KeptNew
        );
        assert_eq!(
            std::fs::read_to_string(new.join(DESK_MARKER)).unwrap(),
            "new trail\n"
        );
        assert_eq!(
            std::fs::read_to_string(old.join(DESK_MARKER)).unwrap(),
            "old trail\n"
        );
        assert_eq!(
            value(&entries, SecretName::DigestKey, &new).as_deref(),
            Some("new key")
        );
        assert_eq!(
            value(&entries, SecretName::DigestKey, &old).as_deref(),
            Some("old key")
        );
    }

    #[test]
    fn a_file_already_in_the_new_folder_is_never_overwritten() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("Roaming"), root.path().join("Local"));
        desk(&old, "old trail\n");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("settings.json"), "{\"kept\": true}").unwrap();
        assert_eq!(
            move_data_folder(&old, &new, &MapEntries::default()).unwrap(),
            Outcome::Moved
        );
        assert_eq!(
            std::fs::read_to_string(new.join("settings.json")).unwrap(),
            "{\"kept\": true}"
        );
        assert!(
            old.join("settings.json").exists(),
            "the roaming copy is left"
        );
        assert!(new.join(DESK_MARKER).exists());
    }

    #[test]
    fn no_old_folder_means_nothing_to_do() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("Roaming"), root.path().join("Local"));
        assert_eq!(
            move_data_folder(&old, &new, &MapEntries::default()).unwrap(),
            Outcome::NothingToMove
        );
        assert!(!new.exists());
    }
}
