//! The IT policy file: how a bank's IT department provisions and locks a
//! desk's settings without touching it.
//!
//! TOML or JSON (by extension), two tables: `[locked]` values win over
//! anything saved and show read-only on the settings screen; `[defaults]`
//! values stand until staff change them. Every key is checked exactly as the
//! settings screen checks it. A file that does not parse, names an unknown
//! key or holds a bad value is an error naming the file, the line and the
//! key — never ignored, because a lock that silently fails is no lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Key, Layers, Values};

/// Where the policy file is looked for when `COUNTERSIGN_POLICY` is not set.
pub fn system_locations() -> Vec<PathBuf> {
    let dir = if cfg!(windows) {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        PathBuf::from(base).join("Countersign")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Countersign")
    } else {
        PathBuf::from("/etc/countersign")
    };
    vec![dir.join("policy.toml"), dir.join("policy.json")]
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

/// Finds and reads the policy: `explicit` (from `COUNTERSIGN_POLICY`) must
/// exist; the system locations may not.
pub fn discover(explicit: Option<PathBuf>) -> Result<ItPolicy, PolicyFileError> {
    discover_among(explicit, &system_locations())
}

/// [`discover`] over given locations (tests use their own).
pub fn discover_among(
    explicit: Option<PathBuf>,
    locations: &[PathBuf],
) -> Result<ItPolicy, PolicyFileError> {
    if let Some(path) = explicit {
        return load(&path);
    }
    // A folder the desk cannot look into is an error, not "no policy": a
    // lock that silently fails is no lock.
    let mut found = Vec::new();
    for path in locations.iter().cloned() {
        match path.try_exists() {
            Ok(true) => found.push(path),
            Ok(false) => {}
            Err(e) => {
                return Err(PolicyFileError {
                    path,
                    line: None,
                    key: None,
                    message: format!("cannot be checked for ({e})."),
                })
            }
        }
    }
    match found.as_slice() {
        [] => Ok(ItPolicy::default()),
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
    }
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
                .map_err(|message| error(line, Some(&name), message))?;
            out.insert(key, value);
        }
        Ok(out)
    };
    Ok(ItPolicy {
        path: None,
        locked: check(locked)?,
        provisioned: check(defaults)?,
    })
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
