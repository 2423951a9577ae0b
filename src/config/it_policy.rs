//! The IT policy file: how a bank's IT department provisions and locks a
//! desk's settings without touching it.
//!
//! TOML or JSON (by extension), two tables: `[locked]` values win over
//! anything saved and show read-only on the settings screen; `[defaults]`
//! values stand until staff change them. Every key is checked exactly as the
//! settings screen checks it. A file that does not parse, names an unknown
//! key or holds a bad value is an error naming the file, the line and the
//! key — never ignored, because a lock that silently fails is no lock.
//!
//! The machine's file wins (S19): when one exists at the system location
//! (which only an administrator can write), it is the policy in force, and
//! `COUNTERSIGN_POLICY`, which the desk's own user can set, is honoured only
//! where there is none (tests, portable demos).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Key, Layers, Values};

/// Where the machine's policy file is looked for.
pub fn system_locations() -> Vec<PathBuf> {
    let dir = system_dir();
    vec![dir.join("policy.toml"), dir.join("policy.json")]
}

/// The machine-wide folder. On Windows it comes from the known-folder API,
/// not the `ProgramData` variable, which the user may set to a folder of
/// their own.
#[cfg(windows)]
fn system_dir() -> PathBuf {
    known_folders::get_known_folder_path(known_folders::KnownFolder::ProgramData)
        .unwrap_or_else(|| PathBuf::from("C:\\ProgramData"))
        .join("Countersign")
}

#[cfg(target_os = "macos")]
fn system_dir() -> PathBuf {
    PathBuf::from("/Library/Application Support/Countersign")
}

#[cfg(not(any(windows, target_os = "macos")))]
fn system_dir() -> PathBuf {
    PathBuf::from("/etc/countersign")
}

/// The policy in force and where it came from.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub policy: Result<ItPolicy, PolicyFileError>,
    /// A file at a system location is in force (even a broken one): the
    /// environment then cannot relocate data or secrets unless it allows.
    pub system: bool,
    /// `COUNTERSIGN_POLICY` named a file that was not used, because the
    /// system's is in force.
    pub ignored_explicit: Option<PathBuf>,
}

impl Discovered {
    pub fn path(&self) -> Option<&Path> {
        match &self.policy {
            Ok(p) => p.path.as_deref(),
            Err(e) => Some(&e.path),
        }
    }

    /// Which file is in force, in words for the settings screen and the
    /// audit trail.
    pub fn describe(&self) -> String {
        match (self.path(), self.system) {
            (None, _) => "no IT policy file".to_owned(),
            (Some(p), true) => format!("{} (system policy)", p.display()),
            (Some(p), false) => format!("{} (from COUNTERSIGN_POLICY)", p.display()),
        }
    }

    /// What to tell staff and the audit trail about the environment's
    /// request that was not followed.
    pub fn notes(&self) -> Vec<String> {
        self.ignored_explicit
            .iter()
            .map(|p| {
                format!(
                    "COUNTERSIGN_POLICY ({}) is ignored: the system IT policy file {} is in force.",
                    p.display(),
                    self.path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The IT policy file {}{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default(), key.as_ref().map(|k| format!(", {k}")).unwrap_or_default())]
pub struct PolicyFileError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

/// The policy file's two tables, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItPolicy {
    pub path: Option<PathBuf>,
    pub locked: Values,
    pub provisioned: Values,
}

impl ItPolicy {
    /// Stacks this policy under and over what was saved.
    pub fn layers(&self, saved: Values) -> Layers {
        Layers {
            provisioned: self.provisioned.clone(),
            saved,
            locked: self.locked.clone(),
        }
    }
}

/// Finds and reads the policy in force: the system's when one exists;
/// otherwise `explicit` (from `COUNTERSIGN_POLICY`), which must exist.
/// `system` is where the machine's file is looked for ([`system_locations`]
/// in the app; tests give their own).
pub fn discover(explicit: Option<PathBuf>, system: &[PathBuf]) -> Discovered {
    match system_policy(system) {
        Some(policy) => Discovered {
            policy,
            system: true,
            ignored_explicit: explicit,
        },
        None => Discovered {
            policy: explicit.map_or_else(|| Ok(ItPolicy::default()), |p| load(&p)),
            system: false,
            ignored_explicit: None,
        },
    }
}

/// The system policy, or `None` when there is none.
fn system_policy(locations: &[PathBuf]) -> Option<Result<ItPolicy, PolicyFileError>> {
    // A folder the desk cannot look into is an error, not "no policy": a
    // lock that silently fails is no lock.
    let mut found = Vec::new();
    for path in locations.iter().cloned() {
        match path.try_exists() {
            Ok(true) => found.push(path),
            Ok(false) => {}
            Err(e) => {
                return Some(Err(PolicyFileError {
                    path,
                    line: None,
                    key: None,
                    message: format!("cannot be checked for ({e})."),
                }))
            }
        }
    }
    Some(match found.as_slice() {
        [] => return None,
        [one] => load(one),
        [first, second, ..] => Err(PolicyFileError {
            path: first.clone(),
            line: None,
            key: None,
            message: format!(
                "and {} both exist; keep one, so no setting is locked by one file and unlocked by the other.",
                second.display()
            ),
        }),
    })
}

pub fn load(path: &Path) -> Result<ItPolicy, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyFileError {
        path: path.to_owned(),
        line: None,
        key: None,
        message: format!("cannot be read ({e})."),
    })?;
    let mut policy = parse(&text, is_json(path)).map_err(|mut e| {
        e.path = path.to_owned();
        e
    })?;
    policy.path = Some(path.to_owned());
    Ok(policy)
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape<V> {
    #[serde(default = "BTreeMap::new")]
    locked: BTreeMap<String, V>,
    #[serde(default = "BTreeMap::new")]
    defaults: BTreeMap<String, V>,
}

/// A raw value with the line it was written on.
type Located = BTreeMap<String, (Value, Option<usize>)>;

/// Parses policy text; the error's path is left empty for [`load`] to fill.
pub fn parse(text: &str, json: bool) -> Result<ItPolicy, PolicyFileError> {
    let error = |line, key: Option<&str>, message: String| PolicyFileError {
        path: PathBuf::new(),
        line,
        key: key.map(str::to_owned),
        message,
    };
    let (locked, defaults) = if json {
        let shape: Shape<Value> = serde_json::from_str(text)
            .map_err(|e| error(Some(e.line()), None, strip_position(&e.to_string())))?;
        let locate = |section: &str, map: BTreeMap<String, Value>| -> Located {
            map.into_iter()
                .map(|(k, v)| {
                    let line = json_key_line(text, section, &k);
                    (k, (v, line))
                })
                .collect()
        };
        (
            locate("locked", shape.locked),
            locate("defaults", shape.defaults),
        )
    } else {
        let shape: Shape<toml::Spanned<toml::Value>> = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            error(line, None, e.message().trim().to_owned())
        })?;
        let locate = |map: BTreeMap<String, toml::Spanned<toml::Value>>| -> Located {
            map.into_iter()
                .map(|(k, v)| {
                    let line = Some(line_of(text, v.span().start));
                    let value = serde_json::to_value(v.into_inner()).unwrap_or(Value::Null);
                    (k, (value, line))
                })
                .collect()
        };
        (locate(shape.locked), locate(shape.defaults))
    };
    let check = |section: Located| -> Result<Values, PolicyFileError> {
        let mut out = Values::new();
        for (name, (raw, line)) in section {
            let key = Key::parse(&name).ok_or_else(|| {
                error(
                    line,
                    Some(&name),
                    "is not a setting (docs/ADMIN.md lists them).".to_owned(),
                )
            })?;
            let value = key
                .check(&raw)
                .map_err(|message| error(line, Some(&name), message.to_string()))?;
            out.insert(key, value);
        }
        Ok(out)
    };
    let policy = ItPolicy {
        path: None,
        locked: check(locked)?,
        provisioned: check(defaults)?,
    };
    branch_mode_is_locked_down(&policy)
        .map_err(|(key, message)| error(None, Some(key.name()), message))?;
    Ok(policy)
}

/// The limits every desk of a branch must apply alike (S4, S5, S8, S9): in
/// branch mode IT locks them all, or one desk's staff could loosen what the
/// branch decides together.
pub const BRANCH_LOCKED_LIMITS: [Key; 7] = [
    Key::MaxAttempts,
    Key::NumberFailuresPerHour,
    Key::ResendCooldownSeconds,
    Key::SendsPerWindow,
    Key::SendWindowMinutes,
    Key::DefaultCountry,
    Key::AllowedCountries,
];

/// Branch mode is IT's to turn on and only IT's: `branch_store` and its key
/// in `[locked]`, never a default staff could clear, and the limits locked.
fn branch_mode_is_locked_down(policy: &ItPolicy) -> Result<(), (Key, String)> {
    let set = |values: &Values, key: Key| {
        values
            .get(&key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    for key in [
        Key::BranchStore,
        Key::BranchKeyFile,
        Key::BranchPasswordFile,
    ] {
        if set(&policy.provisioned, key) {
            return Err((
                key,
                "belongs in [locked]: staff can never change or turn off branch mode.".to_owned(),
            ));
        }
    }
    if !set(&policy.locked, Key::BranchStore) {
        return Ok(());
    }
    if !set(&policy.locked, Key::BranchKeyFile) {
        return Err((
            Key::BranchKeyFile,
            "is required in branch mode: every desk of the branch names numbers with the same key."
                .to_owned(),
        ));
    }
    if !set(&policy.locked, Key::AuditKeyFile) {
        return Err((
            Key::AuditKeyFile,
            "is required in branch mode: IT provisions the audit key, so any desk and IT can verify every desk's trail."
                .to_owned(),
        ));
    }
    let open: Vec<&str> = BRANCH_LOCKED_LIMITS
        .into_iter()
        .filter(|k| !policy.locked.contains_key(k))
        .map(Key::name)
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    Err((
        Key::BranchStore,
        format!(
            "turns on branch mode, where every desk applies the same limits; lock {} as well.",
            open.join(", ")
        ),
    ))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// serde_json has no spans: the key's line is found in the text, after its
/// section's own key, which parsing has just shown to be there.
fn json_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let start = find_json_key(text, section, 0)?;
    find_json_key(text, key, start).map(|at| line_of(text, at))
}

fn find_json_key(text: &str, key: &str, from: usize) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut at = from;
    while let Some(found) = text.get(at..)?.find(&quoted) {
        let pos = at + found;
        let rest = text.get(pos + quoted.len()..)?.trim_start();
        if rest.starts_with(':') {
            return Some(pos);
        }
        at = pos + quoted.len();
    }
    None
}

/// serde_json appends " at line L column C"; the line is reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => format!("{}.", &message[..i]),
        None => message.to_owned(),
    }
}
