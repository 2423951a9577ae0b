//! The settings screen's commands: read the configuration (never the
//! token), check a field as it is typed, save a set of changes, preview a
//! template, and send a test SMS. Every rule is the core's; a save is all or
//! nothing and is audited by key name, never by secret value.

use countersign::audit::{AuditEvent, EventKind};
use countersign::clock::Clock;
use countersign::config::{DeskConfig, FieldError, GatewayChoice, Key, Values};
use countersign::facts::GatewayBinding;
use countersign::i18n::Text;
use countersign::language::Language;
use countersign::secrets::SecretName;
use countersign::templates::{self, Preview};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};
use tauri::{AppHandle, Runtime, State};

use crate::config_state::{ConfigState, LockedBy, TokenStatus};
use crate::error::{IpcError, IpcResult};
use crate::reconfigure;
use crate::shell::{resolve_for_start, ConfigRefusal, Shell};
use countersign::gateway::GatewayMode;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    key: Key,
    value: Value,
    locked_by: Option<LockedBy>,
    /// `[min, max, unit]` for numbers.
    bounds: Option<(u32, u32, &'static str)>,
    default: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    fields: Vec<Field>,
    token: TokenStatus,
    policy_file: Option<String>,
    /// Why the configuration cannot be used, if it cannot.
    problem: Option<String>,
    /// The desk was set up for a real gateway and its settings now say
    /// demo: the screen offers the explicit choice.
    demo_needs_choice: bool,
    mode: Option<GatewayMode>,
    gateway_label: String,
    languages: Vec<(&'static str, &'static str)>,
    gateways: Vec<(&'static str, &'static str)>,
    /// What an empty template field stands for, by language code.
    shipped_templates: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Everything the settings screen shows. The auth token is not in it: only
/// whether one is set and where it is kept.
#[tauri::command]
pub async fn settings_read(shell: State<'_, Shell>) -> IpcResult<SettingsView> {
    shell.session.require_operator()?;
    // Worked on a snapshot: the credential store may wait on the OS.
    let snapshot = shell.config(|c| c.clone())?;
    let (fields, token, policy_file, (problem, demo_needs_choice)) = {
        let c = &snapshot;
        let effective = c.layers().effective();
        let fields = Key::ALL
            .into_iter()
            .map(|key| Field {
                key,
                value: effective.get(&key).cloned().unwrap_or(Value::Null),
                locked_by: c.locked_by(key),
                bounds: key.bounds(),
                default: key.default_value(),
            })
            .collect();
        // Which file is in force, and whether it is the machine's (S19).
        let policy_file = c.policy.path().map(|_| c.policy.describe());
        let (problem, demo_needs_choice) = match resolve_for_start(c) {
            Ok(resolved) => {
                let refusal = c.gateway_refusal(&resolved);
                let needs_choice = refusal.is_some();
                (refusal, needs_choice)
            }
            Err(e) => (Some(e.to_string()), false),
        };
        (
            fields,
            c.token_status(),
            policy_file,
            (problem, demo_needs_choice),
        )
    };
    Ok(SettingsView {
        fields,
        token,
        policy_file,
        problem,
        demo_needs_choice,
        mode: shell.mode(),
        gateway_label: shell.gateway_label(),
        languages: Language::ALL
            .into_iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
        gateways: countersign::config::GatewayKind::ALL
            .into_iter()
            .map(|g| (g.name(), g.label()))
            .collect(),
        shipped_templates: Language::ALL
            .into_iter()
            .map(|l| (l.code(), l.default_template()))
            .collect(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    value: Value,
    preview: Option<Preview>,
}

fn parse_key(name: &str) -> IpcResult<Key> {
    Key::parse(name).ok_or_else(|| IpcError::UnknownSetting {
        name: name.chars().take(40).collect(),
    })
}

/// Checks one field as it is typed. Templates come back with their preview.
#[tauri::command]
pub fn settings_check(shell: State<'_, Shell>, key: String, value: Value) -> IpcResult<Checked> {
    shell.session.require_operator()?;
    let key = parse_key(&key)?;
    let value = key.check(&value).map_err(IpcError::InvalidSetting)?;
    let preview = match key {
        Key::TemplateEn | Key::TemplateFr | Key::TemplateEs | Key::TemplateDe => {
            Some(preview_for(&shell, key, value.as_str().unwrap_or(""))?)
        }
        _ => None,
    };
    Ok(Checked { value, preview })
}

fn preview_for(shell: &Shell, key: Key, text: &str) -> IpcResult<Preview> {
    let language = Language::ALL
        .into_iter()
        .find(|l| Key::template_for(*l) == key)
        .unwrap_or_default();
    // Measured with the brand and the warning in force (S15).
    let (brand, warning) = shell.config(|c| {
        let effective = c.layers().effective();
        let text = |key: Key| {
            effective
                .get(&key)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        (text(Key::Brand), text(Key::warning_for(language)))
    })?;
    let text = if text.is_empty() {
        language.default_template()
    } else {
        text
    };
    templates::check_with_warning(language, text, &brand, &warning)
        .map_err(|e| IpcError::InvalidSetting(e.text()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveAnswer {
    saved: bool,
    changed: Vec<Key>,
    errors: Vec<FieldError>,
}

/// The token as typed: refused when it could not be a token at all.
fn parse_token(raw: &str) -> IpcResult<SecretString> {
    let t = raw.trim();
    if t.is_empty() || t.len() > 256 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IpcError::InvalidToken);
    }
    Ok(SecretString::from(t.to_owned()))
}

// The keys a stored token is bound to: it is only ever sent to the gateway
// it was typed for, so whoever changes one of these must type it again
// (otherwise pointing the address at one's own server would collect it).
// The binding itself is kept in the desk's sealed facts and checked again
// whenever the token is read, so an edit of settings.json cannot undo it.
use countersign::config::environment::TOKEN_BINDING;

/// Checks every change on its own: known key, not locked, not IT-only,
/// a value that passes its check.
fn check_changes(
    config: &ConfigState,
    changes: &Map<String, Value>,
) -> IpcResult<Result<Values, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let mut checked = Values::new();
    for (name, raw) in changes {
        let key = parse_key(name)?;
        let refusal = match config.locked_by(key) {
            Some(LockedBy::ItPolicy) => Some("field.locked_by_policy"),
            Some(LockedBy::Environment) => Some("field.locked_by_environment"),
            // Which files the desk reads secrets from, its proxy and what
            // the environment may move are IT's to say.
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
    Ok(if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    })
}

/// Saves a set of changes, all or nothing. `token`, when given, replaces
/// the auth token in the credential store (it never reaches settings.json).
#[tauri::command]
pub async fn settings_save<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    changes: Map<String, Value>,
    token: Option<String>,
) -> IpcResult<SaveAnswer> {
    let operator = shell.session.require_operator()?;
    // One save at a time, from its checks to the gateway it leaves in place.
    let _one_at_a_time = shell.settings_save_turn().await;
    let refuse = |errors: Vec<FieldError>| {
        Ok(SaveAnswer {
            saved: false,
            changed: Vec::new(),
            errors,
        })
    };
    let file = shell
        .settings_file
        .as_ref()
        .ok_or_else(|| IpcError::Storage(Text::new("ipc.settings_file_unavailable")))?;
    let config = shell.config(|c| c.clone())?;
    if let Err(e) = &config.policy.policy {
        return Err(IpcError::PolicyFile {
            reason: e.to_string(),
        });
    }
    let checked = match check_changes(&config, &changes)? {
        Ok(v) => v,
        Err(errors) => return refuse(errors),
    };
    let token_status = config.token_status();
    let token = token.as_deref().map(parse_token).transpose()?;
    if token.is_some() && !token_status.replaceable {
        return Err(IpcError::TokenLocked {
            held_by: token_status.source.clone(),
        });
    }
    let before = config.layers().effective();
    let mut trial = config.layers();
    trial.saved.extend(checked.clone());
    let resolved = match DeskConfig::resolve(&trial) {
        Ok(r) => r,
        Err(errors) => return refuse(errors),
    };
    let changed: Vec<Key> = checked
        .iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, _)| *k)
        .collect();
    let rebinds = changed.iter().find(|k| TOKEN_BINDING.contains(k));
    if let (Some(key), None, GatewayChoice::Real(_), true) = (
        rebinds,
        &token,
        &resolved.gateway,
        token_status.replaceable && token_status.set,
    ) {
        return refuse(vec![FieldError {
            key: *key,
            message: Text::new("field.token_rebind").arg("label", key.label()),
        }]);
    }
    file.save_values(&checked)
        .map_err(|e| IpcError::Storage(Text::plain(e)))?;
    let resolved = shell.config(|c| {
        c.saved.extend(checked);
        resolve_for_start(c)
    })?;
    // After the settings, so a failed settings write leaves the old token.
    if let Some(token) = &token {
        store_token(&config, token, &resolved)?;
    }
    let demo_chosen = choose_demo_explicitly(&config, &changes, &resolved)?;
    let mut e = AuditEvent::new(shell.clock.now(), EventKind::SettingsChanged);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    let mut names: Vec<&str> = changed.iter().map(|k| k.name()).collect();
    if token.is_some() {
        names.push("auth token (replaced; value not recorded)");
    }
    if demo_chosen {
        names.push("gateway (demo mode chosen explicitly on a desk set up for a real gateway)");
    }
    e.detail = Some(format!("changed: {}", names.join(", ")));
    shell.audit(e);
    reconfigure::apply(&app, resolved, token.is_some()).await;
    Ok(SaveAnswer {
        saved: true,
        changed,
        errors: Vec::new(),
    })
}

/// Stores a typed token and binds it to the gateway it was typed for.
fn store_token(
    config: &ConfigState,
    token: &SecretString,
    resolved: &Result<DeskConfig, ConfigRefusal>,
) -> IpcResult<()> {
    let stored =
        |e: String| IpcError::Credentials(Text::new("ipc.token_not_stored").arg("reason", e));
    config
        .credentials
        .set(SecretName::AuthToken, token)
        .map_err(|e| stored(e.to_string()))?;
    let binding = match resolved {
        Ok(DeskConfig {
            gateway: GatewayChoice::Real(real),
            ..
        }) => Some(GatewayBinding::of(real)),
        _ => None,
    };
    if let Some(facts) = &config.facts {
        facts
            .update(|f| f.token_bound_to = binding)
            .map_err(|e| stored(e.to_string()))?;
    }
    Ok(())
}

/// A save that names demo mode on a desk set up for a real gateway is the
/// explicit choice the desk waits for (S23): the fact is cleared, and the
/// save's audit record says so.
fn choose_demo_explicitly(
    config: &ConfigState,
    changes: &Map<String, Value>,
    resolved: &Result<DeskConfig, ConfigRefusal>,
) -> IpcResult<bool> {
    let names_demo = changes.get(Key::Gateway.name()).and_then(Value::as_str) == Some("demo");
    let resolved_demo = matches!(
        resolved,
        Ok(DeskConfig {
            gateway: GatewayChoice::Demo,
            ..
        })
    );
    let Some(facts) = &config.facts else {
        return Ok(false);
    };
    if !(names_demo && resolved_demo && facts.get().real_gateway_configured) {
        return Ok(false);
    }
    facts
        .update(|f| f.real_gateway_configured = false)
        .map_err(|e| {
            IpcError::Credentials(Text::new("ipc.demo_not_recorded").arg("reason", e.to_string()))
        })?;
    Ok(true)
}
