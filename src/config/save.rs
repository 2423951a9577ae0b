//! A save from the settings screen, decided before anything is written.
//!
//! [`plan_save`] takes the configuration as it stands and what staff typed,
//! and either refuses the save (a locked or IT-only key, a bad value, a
//! combination that does not resolve, a token that could not be one or may
//! not be replaced, a gateway moved away from its stored token) or says, as
//! a [`SavePlan`], what the shell must write and in which order. The shell
//! only carries the plan out, so every rule of a save is tested here without
//! a window, a file or a credential store.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};

use super::environment::TOKEN_BINDING;
use super::{DeskConfig, FieldError, GatewayChoice, GatewayKind, Key, Layers, Values};
use crate::audit::SettingsChange;
use crate::facts::GatewayBinding;
use crate::i18n::Text;

/// Why a key cannot be edited on the settings screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockedBy {
    ItPolicy,
    Environment,
}

impl LockedBy {
    /// Who holds `key`, if anyone: the environment's gateway is stacked over
    /// IT's locks, so it is named first.
    pub fn of(key: Key, env: Option<&Values>, policy_locked: Option<&Values>) -> Option<Self> {
        if env.is_some_and(|e| e.contains_key(&key)) {
            return Some(Self::Environment);
        }
        policy_locked
            .is_some_and(|l| l.contains_key(&key))
            .then_some(Self::ItPolicy)
    }

    /// The message a change of a held key gets.
    fn refusal(self) -> &'static str {
        match self {
            Self::ItPolicy => "field.locked_by_policy",
            Self::Environment => "field.locked_by_environment",
        }
    }
}

/// Where the auth token comes from, the first that applies: the
/// environment's gateway brings its own; IT's `auth_token_file`; else the
/// credential store, where staff type it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Environment,
    File(PathBuf),
    CredentialStore,
}

impl TokenSource {
    /// `token_file` is `auth_token_file` in force, `None` when unset.
    pub fn of(env_gateway: bool, token_file: Option<PathBuf>) -> Self {
        match (env_gateway, token_file) {
            (true, _) => Self::Environment,
            (false, Some(path)) if !path.as_os_str().is_empty() => Self::File(path),
            _ => Self::CredentialStore,
        }
    }

    /// Staff may type a token only where the desk keeps it itself.
    pub fn replaceable(&self) -> bool {
        *self == Self::CredentialStore
    }
}

/// Where the token comes from, for the settings screen (never the value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    pub set: bool,
    /// Staff may replace it (not when IT or the environment provides it).
    pub replaceable: bool,
    pub source: String,
}

/// The longest token accepted, in bytes: far above any gateway's, short
/// enough that a paste of something else is refused.
pub const MAX_TOKEN_BYTES: usize = 256;

/// The token as typed, trimmed; `None` when it could not be a token at all.
pub fn parse_token(raw: &str) -> Option<SecretString> {
    let t = raw.trim();
    let plausible = !t.is_empty()
        && t.len() <= MAX_TOKEN_BYTES
        && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then(|| SecretString::from(t.to_owned()))
}

/// A save refused. `Fields` is answered as `saved: false` with the errors
/// beside their fields; the others refuse the request itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveError {
    /// Values that fail their check, are held, or do not combine.
    Fields(Vec<FieldError>),
    /// The IT policy file in force is broken: nothing may be saved over it.
    PolicyFile(String),
    /// A key no setting has (shown cut to 40 characters).
    UnknownSetting(String),
    /// What was typed as the token could not be one.
    InvalidToken,
    /// IT or the environment provides the token; `source` says which.
    TokenLocked { source: String },
}

/// English, for logs and IT's tools: the same words staff read.
impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl std::error::Error for SaveError {}

impl SaveError {
    /// The IPC error kind the window switches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fields(_) => "invalid_setting",
            Self::PolicyFile(_) => "policy_file",
            Self::UnknownSetting(_) => "unknown_setting",
            Self::InvalidToken => "invalid_token",
            Self::TokenLocked { .. } => "token_locked",
        }
    }

    pub fn text(&self) -> Text {
        match self {
            Self::Fields(errors) => errors
                .first()
                .map_or_else(|| Text::plain(""), |e| e.message.clone()),
            Self::PolicyFile(reason) => {
                Text::new("ipc.policy_file_broken").arg("reason", reason.clone())
            }
            Self::UnknownSetting(name) => {
                Text::new("ipc.unknown_setting").arg("name", name.clone())
            }
            Self::InvalidToken => Text::new("ipc.invalid_token"),
            Self::TokenLocked { source } => {
                Text::new("ipc.token_locked").arg("source", source.clone())
            }
        }
    }

    /// A name that is no setting, cut so a long paste stays readable.
    pub fn unknown(name: &str) -> Self {
        Self::UnknownSetting(name.chars().take(40).collect())
    }
}

/// Everything a save is decided on.
pub struct SaveRequest<'a> {
    /// The configuration as it stands: policy, environment, what was saved.
    pub layers: &'a Layers,
    /// Who holds each key (IT's lock, the environment's gateway).
    pub locked_by: &'a dyn Fn(Key) -> Option<LockedBy>,
    /// Why the IT policy file in force cannot be used, if it cannot.
    pub policy_problem: Option<String>,
    /// Whether the desk still cannot build a gateway once saved (the
    /// environment's settings are unusable), whatever the save says.
    pub start_blocked: bool,
    /// The desk's sealed fact: it was set up for a real gateway.
    pub desk_was_real: bool,
    pub token_status: &'a TokenStatus,
    /// The changes, by key name, as the screen sent them.
    pub changes: &'a Map<String, Value>,
    /// A token typed to replace the stored one.
    pub token: Option<&'a str>,
}

/// What a save does, in order: write `values` into settings.json, then
/// store `token` (bound to `token_binding`) so a failed settings write
/// leaves the old token, then clear the real-gateway fact if
/// `demo_chosen`, audit, and put the new configuration in force.
#[derive(Debug)]
pub struct SavePlan {
    /// Every checked value given, the built-in default too: it must still
    /// win over an IT `[defaults]` value after a restart.
    pub values: Values,
    /// The keys whose value in force changes.
    pub changed: Vec<Key>,
    pub token: Option<SecretString>,
    /// The gateway a stored token goes to; `None`: to none.
    pub token_binding: Option<GatewayBinding>,
    /// Demo mode named on a desk set up for a real gateway: the explicit
    /// choice the desk waits for (S23).
    pub demo_chosen: bool,
}

impl SavePlan {
    /// The audit record's detail: keys by name, never a secret's value.
    pub fn audit_changes(&self) -> Vec<SettingsChange> {
        let mut changes: Vec<SettingsChange> = self
            .changed
            .iter()
            .copied()
            .map(SettingsChange::Key)
            .collect();
        if self.token.is_some() {
            changes.push(SettingsChange::TokenReplaced);
        }
        if self.demo_chosen {
            changes.push(SettingsChange::DemoChosen);
        }
        changes
    }
}

/// Decides a save, all or nothing. The checks run in the order the screen
/// has always seen their refusals: the policy file, each change on its own,
/// the token, the combination, and last the token's binding.
pub fn plan_save(request: &SaveRequest) -> Result<SavePlan, SaveError> {
    if let Some(reason) = &request.policy_problem {
        return Err(SaveError::PolicyFile(reason.clone()));
    }
    let values = check_changes(request)?;
    let token = request
        .token
        .map(|raw| parse_token(raw).ok_or(SaveError::InvalidToken))
        .transpose()?;
    if token.is_some() && !request.token_status.replaceable {
        return Err(SaveError::TokenLocked {
            source: request.token_status.source.clone(),
        });
    }
    let before = request.layers.effective();
    let mut trial = request.layers.clone();
    trial.saved.extend(values.clone());
    let resolved = DeskConfig::resolve(&trial).map_err(SaveError::Fields)?;
    let changed: Vec<Key> = values
        .iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, _)| *k)
        .collect();
    if token.is_none() {
        refuse_rebinding(request.token_status, &changed, &resolved)?;
    }
    // After the save the desk runs on `resolved`, unless it cannot start a
    // gateway at all.
    let in_force = (!request.start_blocked).then_some(&resolved.gateway);
    let token_binding = match in_force {
        Some(GatewayChoice::Real(real)) => Some(GatewayBinding::of(real)),
        _ => None,
    };
    let names_demo = request
        .changes
        .get(Key::Gateway.name())
        .and_then(Value::as_str)
        == Some(GatewayKind::Demo.name());
    let demo_chosen = names_demo && in_force == Some(&GatewayChoice::Demo) && request.desk_was_real;
    Ok(SavePlan {
        values,
        changed,
        token,
        token_binding,
        demo_chosen,
    })
}

/// Checks every change on its own: a known key, not held by IT or the
/// environment, not IT-only, a value that passes its check. A name that is
/// no setting refuses the whole request.
fn check_changes(request: &SaveRequest) -> Result<Values, SaveError> {
    let mut errors = Vec::new();
    let mut checked = Values::new();
    for (name, raw) in request.changes {
        let key = Key::parse(name).ok_or_else(|| SaveError::unknown(name))?;
        // Which files the desk reads secrets from, its proxy and what the
        // environment may move are IT's to say.
        let refusal = match (request.locked_by)(key) {
            Some(by) => Some(by.refusal()),
            None if key.it_only() => Some("field.it_only"),
            None => None,
        };
        if let Some(why) = refusal {
            errors.push(FieldError {
                key,
                message: Text::new(why).arg("label", key.label()),
            });
            continue;
        }
        match key.check(raw) {
            Ok(v) => {
                checked.insert(key, v);
            }
            Err(message) => errors.push(FieldError { key, message }),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(SaveError::Fields(errors))
    }
}

/// A stored token is only ever sent to the gateway it was typed for, so
/// whoever moves the gateway it is bound to must type it again (otherwise
/// pointing the address at one's own server would collect it). The binding
/// itself is kept in the desk's sealed facts and checked whenever the token
/// is read, so an edit of settings.json cannot undo it.
fn refuse_rebinding(
    token: &TokenStatus,
    changed: &[Key],
    resolved: &DeskConfig,
) -> Result<(), SaveError> {
    let rebinds = changed.iter().find(|k| TOKEN_BINDING.contains(k));
    match (rebinds, &resolved.gateway) {
        (Some(key), GatewayChoice::Real(_)) if token.replaceable && token.set => {
            Err(SaveError::Fields(vec![FieldError {
                key: *key,
                message: Text::new("field.token_rebind").arg("label", key.label()),
            }]))
        }
        _ => Ok(()),
    }
}

/// Whether putting a configuration in force needs a new gateway: when the
/// desk has none, its settings changed, or a real gateway's token was
/// replaced. Demo mode has no token of ours, so a new one leaves its
/// emulator (and the demo phone's messages) alone.
pub fn gateway_needs_rebuild(
    previous: Option<&GatewayChoice>,
    next: Option<&GatewayChoice>,
    has_gateway: bool,
    token_replaced: bool,
) -> bool {
    let token_changed = token_replaced && matches!(next, Some(GatewayChoice::Real(_)));
    let unchanged = !token_changed && next.is_some() && has_gateway && previous == next;
    !unchanged
}
