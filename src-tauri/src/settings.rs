//! The desk's own settings in the plugin-managed `settings.json`: for now the
//! operator's name (the full settings screen is a later issue).
//!
//! Like the pending list, the file is checked before the plugin loads it
//! (a corrupt one is set aside and reported) and written atomically by the
//! core; the plugin's auto-save, a plain truncate-and-write, stays off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use countersign::clock::{Clock, SystemClock};
use countersign::persist::{self, Corruption};
use countersign::verification::Operator;
use serde_json::{Map, Value};
use tauri::Runtime;
use tauri_plugin_store::{Store, StoreBuilder};

pub const SETTINGS_FILE: &str = "settings.json";
const OPERATOR_KEY: &str = "operatorName";
const STAFF_ID_KEY: &str = "staffId";
const BRANCH_KEY: &str = "branch";
const WORKSTATION_KEY: &str = "workstation";

#[derive(Clone, Debug)]
pub struct Settings {
    /// The last operator who signed in here: the sign-in form's prefill.
    pub operator: Operator,
    pub branch: String,
    pub workstation: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            operator: default_operator(),
            branch: String::new(),
            workstation: default_workstation(),
        }
    }
}

/// The machine's name identifies the workstation until IT names it.
fn default_workstation() -> String {
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

/// The signed-in OS user is the best first guess of who sits at the desk.
fn default_operator() -> Operator {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .and_then(|u| Operator::parse(&u).ok())
        .unwrap_or_else(|| Operator {
            name: "Desk operator".to_owned(),
            staff_id: None,
        })
}

/// Writes one key durably; hides the store plugin's runtime type.
type SaveKey = Box<dyn Fn(&str, Value) -> Result<(), String> + Send + Sync>;

/// The settings file under the store plugin, saved atomically.
pub struct SettingsFile {
    path: PathBuf,
    save: SaveKey,
}

impl SettingsFile {
    /// Checks, then opens, the settings file. Returns the settings and, if
    /// the file had to be set aside, the message for the operator.
    pub fn open<R: Runtime, M: tauri::Manager<R>>(
        manager: &M,
        data_dir: &Path,
    ) -> Result<(Self, Settings, Option<String>), String> {
        let path = data_dir.join(SETTINGS_FILE);
        let warning = check(&path)?;
        let store: Arc<Store<R>> = StoreBuilder::new(manager, &path)
            .disable_auto_save()
            .build()
            .map_err(|e| format!("the store plugin could not open {}: {e}", path.display()))?;
        let text = |key: &str| store.get(key).and_then(|v| v.as_str().map(str::to_owned));
        let mut operator = text(OPERATOR_KEY)
            .and_then(|name| Operator::parse(&name).ok())
            .unwrap_or_else(default_operator);
        operator.staff_id = text(STAFF_ID_KEY)
            .and_then(|id| Operator::signed_in(&id, &operator.name).ok())
            .and_then(|o| o.staff_id);
        let defaults = Settings::default();
        let branch =
            text(BRANCH_KEY).map(|b| b.chars().filter(|c| !c.is_control()).take(64).collect());
        let workstation =
            text(WORKSTATION_KEY).map(|w| w.chars().filter(|c| !c.is_control()).take(64).collect());
        let file_path = path.clone();
        let save = Box::new(move |key: &str, value: Value| {
            let mut map: Map<String, Value> = store.entries().into_iter().collect();
            map.insert(key.to_owned(), value);
            let bytes = serde_json::to_vec_pretty(&map).map_err(|e| e.to_string())?;
            persist::atomic_write(&file_path, &bytes)
                .map_err(|e| format!("Could not save settings to {}: {e}", file_path.display()))?;
            store.reload_ignore_defaults().map_err(|e| e.to_string())
        });
        let settings = Settings {
            operator,
            branch: branch.unwrap_or(defaults.branch),
            workstation: workstation.unwrap_or(defaults.workstation),
        };
        Ok((Self { path, save }, settings, warning))
    }

    /// Remembers who signed in last, for the next sign-in's prefill.
    pub fn save_operator(&self, operator: &Operator) -> Result<(), String> {
        (self.save)(OPERATOR_KEY, Value::String(operator.name.clone()))?;
        if let Some(id) = &operator.staff_id {
            (self.save)(STAFF_ID_KEY, Value::String(id.clone()))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A settings file must be a JSON object; anything else is set aside.
fn check(path: &Path) -> Result<Option<String>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "The settings file {} cannot be read: {e}",
                path.display()
            ))
        }
    };
    let reason = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(_)) => return Ok(None),
        Ok(_) => Corruption::WrongShape("not a JSON object".to_owned()),
        Err(e) if bytes.iter().all(u8::is_ascii_whitespace) => {
            let _ = e;
            Corruption::Empty
        }
        Err(e) => Corruption::NotJson {
            line: e.line(),
            column: e.column(),
        },
    };
    let q = persist::quarantine(path, reason, SystemClock.now()).map_err(|e| e.to_string())?;
    Ok(Some(format!(
        "The settings file could not be read ({}). It was moved aside, unchanged, to {}; defaults are in use.",
        q.reason,
        q.moved_to.display()
    )))
}
