//! `settings.json`, the desk's own settings, under the store plugin: the
//! configuration keys saved from the settings screen (never a secret) and
//! the last operator who signed in, the sign-in form's prefill.
//!
//! Like the pending list, the file is checked before the plugin loads it
//! (a corrupt one is set aside and reported) and written atomically by the
//! core; the plugin never writes it (auto-save off, and out of the
//! plugin's registry, so not saved at exit: `pending_store::open_store`). A
//! saved value that no longer passes its check (a hand edit, an older
//! version's bounds) is reported and left out, never used.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use countersign::clock::{Clock, SystemClock};
use countersign::config::{self, Values};
use countersign::persist::{self, Quarantined, StoreError};
use countersign::verification::Operator;
use serde_json::{Map, Value};
use tauri::Runtime;

use crate::shell::pending_store::PluginStoreError;

pub(crate) const SETTINGS_FILE: &str = "settings.json";
const OPERATOR_KEY: &str = "operatorName";
const STAFF_ID_KEY: &str = "staffId";

/// The machine's name identifies the workstation until IT names it.
pub(crate) fn default_workstation() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect()
        })
        .unwrap_or_default()
}

/// The signed-in OS user is the best first guess of who sits at the desk:
/// as the OS reports it, not as the environment says.
pub(crate) fn default_operator() -> Operator {
    crate::shell::os_account::os_account()
        .and_then(|u| Operator::parse(&u).ok())
        .unwrap_or_else(|| Operator {
            name: "Desk operator".to_owned(),
            staff_id: None,
        })
}

/// Why the settings file could not be opened or written. The words are
/// IT's English: a banner warning at start, a `storage` refusal on save.
#[derive(Debug, thiserror::Error)]
pub enum SettingsFileError {
    /// The file is there but the OS would not let it be read.
    #[error("The settings file {} cannot be read: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A damaged file could not be moved aside.
    #[error("{0}")]
    SetAside(StoreError),
    /// The store plugin could not be given the file.
    #[error("{0}")]
    Plugin(#[from] PluginStoreError),
    /// The settings could not be put into JSON.
    #[error("{0}")]
    Encode(serde_json::Error),
    /// The atomic write failed; the file is as it was.
    #[error("Could not save settings to {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The plugin could not take the file back in after the write.
    #[error("{0}")]
    Reload(tauri_plugin_store::Error),
    /// A thread panicked while it wrote the file.
    #[error("settings writer poisoned")]
    Poisoned,
    /// The shell has shut down: the folder is no longer this process's.
    #[error("Countersign has shut down; {} was not changed.", .path.display())]
    Closed { path: PathBuf },
}

/// What the file held when it was opened.
pub struct Loaded {
    pub operator: Operator,
    pub saved: Values,
    pub warnings: Vec<String>,
}

/// Writes the whole map durably; hides the store plugin's runtime type.
type SaveAll =
    Box<dyn Fn(&dyn Fn(&mut Map<String, Value>)) -> Result<(), SettingsFileError> + Send + Sync>;

/// The settings file under the store plugin, saved atomically.
pub struct SettingsFile {
    path: PathBuf,
    save: SaveAll,
    /// Held by each write. Sign-in (main thread) and a settings save (a
    /// worker) both write this file: one read-modify-write at a time, or
    /// one loses the other. `true` once shut down: the folder is no longer
    /// this process's to write.
    closed: Mutex<bool>,
}

impl SettingsFile {
    /// Checks, then opens, the settings file.
    pub fn open<R: Runtime, M: tauri::Manager<R>>(
        manager: &M,
        data_dir: &Path,
    ) -> Result<(Self, Loaded), SettingsFileError> {
        let path = data_dir.join(SETTINGS_FILE);
        let mut warnings: Vec<String> = check(&path)?.iter().map(set_aside_warning).collect();
        let store = crate::shell::pending_store::open_store(manager, &path)?;
        let text = |key: &str| store.get(key).and_then(|v| v.as_str().map(str::to_owned));
        let mut operator = text(OPERATOR_KEY)
            .and_then(|name| Operator::parse(&name).ok())
            .unwrap_or_else(default_operator);
        operator.staff_id = text(STAFF_ID_KEY)
            .and_then(|id| Operator::signed_in(&id, &operator.name).ok())
            .and_then(|o| o.staff_id);
        let (saved, left_out) = config::sort_saved(&path, |key| store.get(key));
        warnings.extend(left_out);
        let file_path = path.clone();
        let save: SaveAll = Box::new(move |change| {
            let mut map: Map<String, Value> = store.entries().into_iter().collect();
            change(&mut map);
            let bytes = serde_json::to_vec_pretty(&map).map_err(SettingsFileError::Encode)?;
            persist::atomic_write(&file_path, &bytes).map_err(|source| {
                SettingsFileError::Write {
                    path: file_path.clone(),
                    source,
                }
            })?;
            store
                .reload_ignore_defaults()
                .map_err(SettingsFileError::Reload)
        });
        Ok((
            Self {
                path,
                save,
                closed: Mutex::new(false),
            },
            Loaded {
                operator,
                saved,
                warnings,
            },
        ))
    }

    /// Remembers who signed in last, for the next sign-in's prefill.
    pub fn save_operator(&self, operator: &Operator) -> Result<(), SettingsFileError> {
        self.write(&|map| {
            map.insert(
                OPERATOR_KEY.to_owned(),
                Value::String(operator.name.clone()),
            );
            if let Some(id) = &operator.staff_id {
                map.insert(STAFF_ID_KEY.to_owned(), Value::String(id.clone()));
            }
        })
    }

    /// Saves checked configuration values in one atomic write. Every value
    /// is kept, the built-in default too: it must still win over an IT
    /// `[defaults]` value after a restart.
    pub fn save_values(&self, changes: &Values) -> Result<(), SettingsFileError> {
        self.write(&|map| {
            for (key, value) in changes {
                map.insert(key.name().to_owned(), value.clone());
            }
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses every later save, once a save under way is done (shutdown).
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    fn write(&self, change: &dyn Fn(&mut Map<String, Value>)) -> Result<(), SettingsFileError> {
        let closed = self
            .closed
            .lock()
            .map_err(|_| SettingsFileError::Poisoned)?;
        if *closed {
            return Err(SettingsFileError::Closed {
                path: self.path.clone(),
            });
        }
        (self.save)(change)
    }
}

/// A settings file must be a JSON object; anything else is set aside, and
/// where it went comes back.
fn check(path: &Path) -> Result<Option<Quarantined>, SettingsFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SettingsFileError::Unreadable {
                path: path.to_owned(),
                source,
            })
        }
    };
    let Some(reason) = config::settings_file_damage(&bytes) else {
        return Ok(None);
    };
    persist::quarantine(path, reason, SystemClock.now())
        .map(Some)
        .map_err(SettingsFileError::SetAside)
}

/// The banner's words for a settings file set aside.
fn set_aside_warning(q: &Quarantined) -> String {
    format!(
        "The settings file could not be read ({}). It was moved aside, unchanged, to {}; defaults are in use.",
        q.reason,
        q.moved_to.display()
    )
}
