//! The settings screen's commands: read the configuration (never the
//! token), check a field as it is typed, save a set of changes, preview a
//! template, and send a test SMS. Every rule is the core's; a save is all or
//! nothing and is audited by key name, never by secret value.

use countersign::audit::{AuditEvent, EventKind};
use countersign::clock::{Clock, SystemClock};
use countersign::config::{FieldError, Key, Values};
use countersign::gateway::{Gateway, MessageSid, OutboundSms};
use countersign::language::Language;
use countersign::phone::PhoneNumber;
use countersign::secrets::SecretName;
use countersign::templates::{self, Preview};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};
use tauri::{AppHandle, Runtime, State};

use crate::config_state::{LockedBy, TokenStatus};
use crate::error::{IpcError, IpcResult};
use crate::gateway_setup::Mode;
use crate::reconfigure;
use crate::state::{resolve_for_start, Shell};

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
    mode: Option<Mode>,
    gateway_label: String,
    languages: Vec<(&'static str, &'static str)>,
    /// What an empty template field stands for, by language code.
    shipped_templates: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Everything the settings screen shows. The auth token is not in it: only
/// whether one is set and where it is kept.
#[tauri::command]
pub fn settings_read(shell: State<'_, Shell>) -> IpcResult<SettingsView> {
    shell.session.require_operator()?;
    let (fields, token, policy_file, problem) = shell.config(|c| {
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
        let policy_file = match &c.policy_file {
            Ok(p) => p.path.as_ref().map(|p| p.display().to_string()),
            Err(e) => Some(e.path.display().to_string()),
        };
        (
            fields,
            c.token_status(),
            policy_file,
            resolve_for_start(c).err(),
        )
    })?;
    Ok(SettingsView {
        fields,
        token,
        policy_file,
        problem,
        mode: shell.mode(),
        gateway_label: shell.gateway_label(),
        languages: Language::ALL
            .into_iter()
            .map(|l| (l.code(), l.native_name()))
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
    Key::parse(name).ok_or_else(|| {
        IpcError::new(
            "unknown_setting",
            format!(
                "\"{}\" is not a setting.",
                name.chars().take(40).collect::<String>()
            ),
        )
    })
}

/// Checks one field as it is typed. Templates come back with their preview.
#[tauri::command]
pub fn settings_check(shell: State<'_, Shell>, key: String, value: Value) -> IpcResult<Checked> {
    shell.session.require_operator()?;
    let key = parse_key(&key)?;
    let value = key
        .check(&value)
        .map_err(|m| IpcError::new("invalid_setting", m))?;
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
    let brand = shell.config(|c| {
        c.layers()
            .effective()
            .get(&Key::Brand)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    })?;
    let text = if text.is_empty() {
        language.default_template()
    } else {
        text
    };
    templates::check(language, text, &brand)
        .map_err(|e| IpcError::new("invalid_setting", e.to_string()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveAnswer {
    saved: bool,
    changed: Vec<Key>,
    errors: Vec<FieldError>,
}

/// The token as typed: refused when it could not be a token at all.
fn parse_token(raw: &str) -> Result<SecretString, String> {
    let t = raw.trim();
    if t.is_empty() || t.len() > 256 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("The auth token must be 1 to 256 characters with no spaces.".to_owned());
    }
    Ok(SecretString::from(t.to_owned()))
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
    let refuse = |errors: Vec<FieldError>| SaveAnswer {
        saved: false,
        changed: Vec::new(),
        errors,
    };
    let mut errors = Vec::new();
    let mut checked = Values::new();
    for (name, raw) in &changes {
        let key = parse_key(name)?;
        if let Some(by) = shell.config(|c| c.locked_by(key))? {
            let who = match by {
                LockedBy::ItPolicy => "the IT policy file",
                LockedBy::Environment => "the environment",
            };
            errors.push(FieldError {
                key,
                message: format!(
                    "{} is set by {who} and cannot be changed here.",
                    key.label()
                ),
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
    let token = match token.as_deref().map(parse_token).transpose() {
        Ok(t) => t,
        Err(message) => {
            errors.push(FieldError {
                key: Key::Gateway,
                message,
            });
            None
        }
    };
    if !errors.is_empty() {
        return Ok(refuse(errors));
    }
    // The whole configuration with the changes must resolve before
    // anything is written.
    let outcome = shell.config(|c| {
        if let Err(e) = &c.policy_file {
            return Err(IpcError::new(
                "policy_file",
                format!("{e} Settings cannot be saved until IT fixes it."),
            ));
        }
        let mut trial = c.layers();
        trial.saved.extend(checked.clone());
        Ok(countersign::config::DeskConfig::resolve(&trial))
    })??;
    if let Err(errors) = outcome {
        return Ok(refuse(errors));
    }
    let changed: Vec<Key> = shell.config(|c| {
        let before = c.layers().effective();
        checked
            .iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .map(|(k, _)| *k)
            .collect()
    })?;
    if let Some(token) = &token {
        shell
            .config(|c| c.credentials.set(SecretName::AuthToken, token))?
            .map_err(|e| IpcError::new("credentials", e.to_string()))?;
    }
    if let Some(file) = &shell.settings_file {
        file.save_values(&checked)
            .map_err(|e| IpcError::new("storage", e))?;
    }
    let resolved = shell.config(|c| {
        c.saved.extend(checked);
        resolve_for_start(c)
    })?;
    let mut e = AuditEvent::new(SystemClock.now(), EventKind::SettingsChanged);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    let mut names: Vec<&str> = changed.iter().map(|k| k.name()).collect();
    if token.is_some() {
        names.push("auth token (replaced; value not recorded)");
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestSms {
    sid: String,
    status: String,
    message: String,
}

/// Sends a plain test message (no code) through the gateway in use: the
/// quickest proof that a configuration works.
#[tauri::command]
pub async fn send_test_sms(shell: State<'_, Shell>, phone: String) -> IpcResult<TestSms> {
    let operator = shell.session.require_operator()?;
    let number = shell.with_desk(|d| {
        let p = d.policy();
        Ok(PhoneNumber::parse(
            &phone,
            p.default_country(),
            p.allowed_countries(),
        )?)
    })?;
    let gateway = shell.gateway()?;
    let body = "Countersign test message: the desk's SMS gateway works. No action is needed.";
    let result = gateway
        .send(&OutboundSms {
            to: number.clone(),
            body: SecretString::from(body.to_owned()),
        })
        .await;
    let mut e = AuditEvent::new(SystemClock.now(), EventKind::TestSmsSent);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    e.masked_number = Some(number.masked());
    e.outcome = Some(
        if result.is_ok() {
            "accepted"
        } else {
            "refused"
        }
        .to_owned(),
    );
    e.gateway_sid = result.as_ref().ok().map(|r| r.sid.to_string());
    shell.audit(e);
    let receipt = result?;
    Ok(TestSms {
        sid: receipt.sid.to_string(),
        status: receipt.status.describe(),
        message: format!(
            "The gateway accepted the test SMS to {} ({}).",
            number.masked(),
            receipt.sid
        ),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStatus {
    status: String,
    is_final: bool,
}

/// The delivery status of a test SMS, read from the gateway.
#[tauri::command]
pub async fn test_sms_status(shell: State<'_, Shell>, sid: String) -> IpcResult<TestStatus> {
    shell.session.require_operator()?;
    let sid = MessageSid::parse(&sid)
        .ok_or_else(|| IpcError::new("invalid_sid", "That is not a message SID."))?;
    let report = shell.gateway()?.status(&sid).await?;
    Ok(TestStatus {
        status: report.status.describe(),
        is_final: report.status.is_final(),
    })
}
