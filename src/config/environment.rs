//! What the process environment may and may not change (S19).
//!
//! The desk's own user can start the app with any environment they like, so
//! the environment is a request, never an order. It may configure a gateway
//! (`COUNTERSIGN_RESTCOMM_*`: scripts, tests, a portable demo) only where IT
//! has not spoken: no variable sets a key the policy file locks, and where IT
//! forbids demo mode or locks any gateway key the environment cannot swap the
//! gateway at all. Variables that move the desk's data or its secrets
//! (`COUNTERSIGN_DATA_DIR`, `COUNTERSIGN_CREDENTIALS`) are ignored while a
//! system policy file is in force, unless that policy allows them: an empty
//! data folder would start every count from zero.

use secrecy::SecretString;
use serde_json::{json, Value};

use super::it_policy::Discovered;
use super::{FieldError, Key, Layers, Values};
use crate::i18n::Text;

/// The gateway variables, all or none, and the key each sets.
pub const GATEWAY_VARS: [(&str, Key); 4] = [
    ("COUNTERSIGN_RESTCOMM_URL", Key::BaseUrl),
    ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", Key::AccountSid),
    ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", Key::Gateway),
    ("COUNTERSIGN_RESTCOMM_SENDER", Key::Sender),
];
const FLAVOUR_VAR: &str = "COUNTERSIGN_RESTCOMM_FLAVOUR";
const TIMEOUT_VAR: &str = "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS";

/// The keys that say which gateway the desk talks to, and so where its
/// auth token goes.
pub const GATEWAY_KEYS: [Key; 5] = [
    Key::Gateway,
    Key::BaseUrl,
    Key::AccountSid,
    Key::Sender,
    Key::AuthTokenFile,
];

/// A gateway configured in the environment: its settings and its token.
#[derive(Clone)]
pub struct EnvGateway {
    pub values: Values,
    /// Which variable set which key, for messages.
    pub vars: Vec<(&'static str, Key)>,
    pub token: SecretString,
}

/// Reads the gateway from the environment. `Ok(None)` when none is set; an
/// error naming the variable when some are set but not usable, so a
/// half-configured desk never silently falls back to demo.
pub fn gateway_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<EnvGateway>, String> {
    let values: Vec<Option<String>> = GATEWAY_VARS
        .iter()
        .map(|(v, _)| {
            get(v)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(((missing, _), _)) = GATEWAY_VARS.iter().zip(&values).find(|(_, v)| v.is_none()) {
        let names: Vec<&str> = GATEWAY_VARS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "{missing} is not set; set all of {} or none.",
            names.join(", ")
        ));
    }
    let mut out = Values::new();
    let mut vars = Vec::new();
    let mut put = |var: &'static str, key: Key, raw: Value| -> Result<(), String> {
        let v = key.check(&raw).map_err(|m| format!("{var}: {m}"))?;
        out.insert(key, v);
        vars.push((var, key));
        Ok(())
    };
    let flavour_set = get(FLAVOUR_VAR).filter(|f| !f.trim().is_empty());
    let flavour = match flavour_set.as_deref().map(str::trim) {
        None | Some("restcomm") => "restcomm",
        Some("twilio") => "twilio",
        Some(_) => return Err(format!("{FLAVOUR_VAR} must be restcomm or twilio.")),
    };
    // Messages name the variable the user actually set: the flavour's, or
    // the address that chose a real gateway at all.
    let gateway_var = if flavour_set.is_some() {
        FLAVOUR_VAR
    } else {
        GATEWAY_VARS[0].0
    };
    put(gateway_var, Key::Gateway, json!(flavour))?;
    let [url, sid, token, sender] = [0, 1, 2, 3].map(|i| values[i].clone().unwrap_or_default());
    put(GATEWAY_VARS[0].0, Key::BaseUrl, json!(url))?;
    put(GATEWAY_VARS[1].0, Key::AccountSid, json!(sid))?;
    put(GATEWAY_VARS[3].0, Key::Sender, json!(sender))?;
    if let Some(raw) = get(TIMEOUT_VAR).filter(|s| !s.trim().is_empty()) {
        put(TIMEOUT_VAR, Key::RequestTimeoutSeconds, json!(raw))?;
    }
    Ok(Some(EnvGateway {
        values: out,
        vars,
        token: SecretString::from(token),
    }))
}

/// Why the environment's gateway may not be used under this policy, if it
/// may not. The message names the variable and the key, and what to do.
pub fn env_gateway_refusal(env: &EnvGateway, discovered: &Discovered) -> Option<String> {
    let Ok(policy) = &discovered.policy else {
        // A broken policy file already stops sending, with its own message.
        return None;
    };
    let file = policy.path.as_ref().map_or_else(
        || "The IT policy file".to_owned(),
        |p| format!("The IT policy file {}", p.display()),
    );
    let remove = "Remove the COUNTERSIGN_RESTCOMM_* variables; nothing is sent until then.";
    let policy_value = |key: Key| policy.locked.get(&key).or(policy.provisioned.get(&key));
    if policy_value(Key::DemoAllowed) == Some(&Value::Bool(false)) {
        return Some(format!(
            "{file} switches demo mode off, so IT alone chooses the SMS gateway and the environment cannot (COUNTERSIGN_RESTCOMM_URL is set). {remove}"
        ));
    }
    if let Some(key) = GATEWAY_KEYS
        .into_iter()
        .find(|k| policy.locked.contains_key(k))
    {
        let var = env
            .vars
            .iter()
            .find(|(_, k)| *k == key)
            .map_or("COUNTERSIGN_RESTCOMM_URL", |(v, _)| *v);
        return Some(format!(
            "{var} conflicts with {}, which {file} locks: the environment cannot choose the SMS gateway IT set. {remove}",
            key.name()
        ));
    }
    let (var, key) = env.vars.iter().find(|(_, key)| {
        policy
            .locked
            .get(key)
            .is_some_and(|locked| env.values.get(key) != Some(locked))
    })?;
    Some(format!(
        "{var} conflicts with {}, which {file} locks. Remove {var}; nothing is sent until then.",
        key.name()
    ))
}

/// Whether a variable that moves the desk's data or secrets is honoured:
/// always without a system policy (tests, portable demos), and under one
/// only when it allows it with `allow_key`.
pub fn relocation_allowed(discovered: &Discovered, allow_key: Key) -> bool {
    if !discovered.system {
        return true;
    }
    match &discovered.policy {
        Ok(p) => {
            p.locked.get(&allow_key).or(p.provisioned.get(&allow_key)) == Some(&Value::Bool(true))
        }
        Err(_) => false,
    }
}

/// `COUNTERSIGN_CREDENTIALS` as the desk may follow it: the value when the
/// policy in force lets the environment choose the credential store, else
/// `None` and the note saying it was ignored.
pub fn credentials_request(
    value: Option<String>,
    discovered: &Discovered,
) -> (Option<String>, Option<String>) {
    const VAR: &str = "COUNTERSIGN_CREDENTIALS";
    match value.filter(|v| !v.trim().is_empty()) {
        Some(v) if relocation_allowed(discovered, Key::AllowCredentialsOverride) => (Some(v), None),
        Some(_) => (None, Some(ignored_variable_note(VAR, discovered))),
        None => (None, None),
    }
}

/// The note shown and audited when the environment asked for something
/// the system policy does not allow.
pub fn ignored_variable_note(var: &str, discovered: &Discovered) -> String {
    let file = discovered
        .path()
        .map_or_else(String::new, |p| format!(" {}", p.display()));
    format!("{var} is ignored: the system IT policy file{file} is in force and does not allow it.")
}

/// The keys an auth token is bound to: it goes only to this gateway.
pub const TOKEN_BINDING: [Key; 3] = [Key::Gateway, Key::BaseUrl, Key::AccountSid];

/// A token IT provides in a file goes only to the gateway IT named (S19):
/// with `auth_token_file` in force, a binding key whose value in force was
/// saved at the desk (from the settings screen or by editing settings.json)
/// rather than given by the policy is refused.
pub(crate) fn token_file_binding_errors(layers: &Layers) -> Vec<FieldError> {
    let from_file = layers
        .get(Key::AuthTokenFile)
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if !from_file {
        return Vec::new();
    }
    TOKEN_BINDING
        .into_iter()
        .filter(|key| !layers.is_locked(*key))
        .filter(|key| {
            layers.saved.get(key).is_some_and(|saved| {
                *saved
                    != layers
                        .provisioned
                        .get(key)
                        .cloned()
                        .unwrap_or_else(|| key.default_value())
            })
        })
        .map(|key| FieldError {
            key,
            message: Text::new("field.bound_to_token_file").arg("label", key.label()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_means_demo() {
        assert!(gateway_from_env(env(&[])).unwrap().is_none());
    }

    #[test]
    fn a_half_configured_gateway_names_the_missing_variable() {
        let err = gateway_from_env(env(&[(
            "COUNTERSIGN_RESTCOMM_URL",
            "https://x.example/restcomm",
        )]))
        .err()
        .unwrap();
        assert!(
            err.starts_with("COUNTERSIGN_RESTCOMM_ACCOUNT_SID is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_full_configuration_selects_the_flavour_and_keeps_the_token_apart() {
        let g = gateway_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_FLAVOUR", "twilio")])))
            .unwrap()
            .unwrap();
        assert_eq!(g.values[&Key::Gateway], json!("twilio"));
        assert_eq!(g.values[&Key::Sender], json!("+15550001111"));
        assert!(!g.values.values().any(|v| v == &json!("token")));
        assert_eq!(secrecy::ExposeSecret::expose_secret(&g.token), "token");
    }

    fn full(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs = vec![
            ("COUNTERSIGN_RESTCOMM_URL", "http://127.0.0.1:8089/restcomm"),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", "ACxxxx"),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", "token"),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
        ];
        pairs.extend_from_slice(extra);
        pairs
    }

    #[test]
    fn the_request_timeout_is_checked_like_the_setting() {
        let default = gateway_from_env(env(&full(&[]))).unwrap().unwrap();
        assert!(!default.values.contains_key(&Key::RequestTimeoutSeconds));
        for (raw, secs) in [("1", 1), (" 60 ", 60), ("7", 7)] {
            let g = gateway_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                .unwrap()
                .unwrap();
            assert_eq!(g.values[&Key::RequestTimeoutSeconds], json!(secs), "{raw}");
        }
        for raw in ["0", "61", "-1", "1.5", "ten"] {
            let err =
                gateway_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                    .err()
                    .unwrap();
            assert!(
                err.starts_with(
                    "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS: The request timeout must be"
                ),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = gateway_from_env(env(&full(&[(
            "COUNTERSIGN_RESTCOMM_URL",
            "ftp://x.example/",
        )])))
        .err()
        .unwrap();
        assert!(
            err.starts_with(
                "COUNTERSIGN_RESTCOMM_URL: The gateway address must start with https://"
            ),
            "{err}"
        );
    }
}
