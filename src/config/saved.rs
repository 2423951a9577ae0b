//! What the desk's own `settings.json` may hold, sorted at load: a file
//! that is not a JSON object is damaged (the shell sets it aside); in one
//! that is, a value that passes its check is used, and an IT-only key or a
//! value that no longer passes (a hand edit, an older version's bounds) is
//! reported and left out, never used.

use std::path::Path;

use serde_json::Value;

use super::{Key, Values};
use crate::persist::Corruption;

/// How a settings file is damaged, or `None` when it is a JSON object.
pub fn damage(bytes: &[u8]) -> Option<Corruption> {
    Some(match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => return None,
        Ok(_) => Corruption::WrongShape("not a JSON object".to_owned()),
        Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => Corruption::Empty,
        Err(e) => Corruption::NotJson {
            line: e.line(),
            column: e.column(),
        },
    })
}

/// The values a settings file at `path` holds (`get` reads one by key
/// name), and a warning for each one left out.
pub fn sort_saved(path: &Path, get: impl Fn(&str) -> Option<Value>) -> (Values, Vec<String>) {
    let mut saved = Values::new();
    let mut warnings = Vec::new();
    for key in Key::ALL {
        let Some(raw) = get(key.name()) else {
            continue;
        };
        // Where secrets are read from is the policy's to say: a value
        // edited into this file is reported and never used (S19).
        if key.it_only() {
            warnings.push(format!(
                "{} in {} is not used: only the IT policy file may set it.",
                key.name(),
                path.display()
            ));
            continue;
        }
        match key.check(&raw) {
            Ok(v) => {
                saved.insert(key, v);
            }
            Err(message) => warnings.push(format!(
                "{} in {} is not used: {message}",
                key.name(),
                path.display()
            )),
        }
    }
    (saved, warnings)
}
