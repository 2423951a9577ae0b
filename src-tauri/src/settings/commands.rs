//! The settings screen's commands: read the configuration (never the
//! token) with how each field is laid out, check a field as it is typed,
//! and save a set of changes. Every rule is the core's: a save is
//! `config::plan_save`, carried out here in its order, all or nothing, and
//! audited by key name, never by secret value.

use std::collections::BTreeMap;

use countersign::audit::AuditEvent;
use countersign::clock::Clock;
use countersign::config::{
    self, Choice, FieldError, Group, Input, Key, SaveError, SavePlan, SaveRequest, Values,
};
use countersign::facts::GatewayBinding;
use countersign::gateway::GatewayMode;
use countersign::i18n::Text;
use countersign::language::Language;
use countersign::secrets::SecretName;
use countersign::templates::{self, Preview};
use countersign::verification::Operator;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Map, Value};
use tauri::{AppHandle, Runtime, State};

use super::apply;
use super::sources::{ConfigState, LockedBy, TokenStatus};
use crate::error::{IpcError, IpcResult};
use crate::shell::{resolve_for_start, Shell};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Field {
    key: Key,
    value: Value,
    locked_by: Option<LockedBy>,
    /// `[min, max, unit]` for numbers.
    bounds: Option<(u32, u32, &'static str)>,
    default: Value,
    /// Where and how the screen shows it: the layout is Rust's too.
    group: Group,
    input: Input,
    it_only: bool,
    real_gateway_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<Choice>>,
    /// The language a template or SMS warning is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'static str>,
}

impl Field {
    fn of(key: Key, config: &ConfigState, effective: &Values) -> Self {
        Self {
            key,
            value: effective.get(&key).cloned().unwrap_or(Value::Null),
            locked_by: config.locked_by(key),
            bounds: key.bounds(),
            default: key.default_value(),
            group: key.group(),
            input: key.input(),
            it_only: key.it_only(),
            real_gateway_only: key.real_gateway_only(),
            choices: key.choices(),
            language: key.language().map(Language::code),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SettingsView {
    /// In the order the screen lays them out.
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
    /// What an empty template field stands for, by language code.
    shipped_templates: BTreeMap<&'static str, &'static str>,
}

impl SettingsView {
    fn of(c: &ConfigState, mode: Option<GatewayMode>, gateway_label: String) -> Self {
        let effective = c.layers().effective();
        let (problem, demo_needs_choice) = problem_of(c);
        Self {
            fields: Key::ALL
                .into_iter()
                .map(|key| Field::of(key, c, &effective))
                .collect(),
            token: c.token_status(),
            // Which file is in force, and whether it is the machine's (S19).
            policy_file: c.policy.path().map(|_| c.policy.describe()),
            problem,
            demo_needs_choice,
            mode,
            gateway_label,
            shipped_templates: Language::ALL
                .into_iter()
                .map(|l| (l.code(), l.default_template()))
                .collect(),
        }
    }
}

/// Why the configuration cannot send, and whether that is a desk set up
/// for a real gateway now saying demo (which staff may choose explicitly).
fn problem_of(c: &ConfigState) -> (Option<String>, bool) {
    match resolve_for_start(c) {
        Ok(resolved) => {
            let refusal = c.gateway_refusal(&resolved).map(|r| r.to_string());
            let needs_choice = refusal.is_some();
            (refusal, needs_choice)
        }
        Err(e) => (Some(e.to_string()), false),
    }
}

/// Everything the settings screen shows. The auth token is not in it: only
/// whether one is set and where it is kept.
#[tauri::command]
pub(crate) async fn settings_read(shell: State<'_, Shell>) -> IpcResult<SettingsView> {
    shell.session.require_operator()?;
    // Worked on a snapshot: the credential store may wait on the OS.
    let snapshot = shell.config(|c| c.clone())?;
    Ok(SettingsView::of(
        &snapshot,
        shell.mode(),
        shell.gateway_label(),
    ))
}

fn parse_key(name: &str) -> IpcResult<Key> {
    Key::parse(name).ok_or_else(|| SaveError::unknown(name).into())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Checked {
    value: Value,
    preview: Option<Preview>,
}

/// Checks one field as it is typed. Templates come back with their preview.
#[tauri::command]
pub(crate) fn settings_check(
    shell: State<'_, Shell>,
    key: String,
    value: Value,
) -> IpcResult<Checked> {
    shell.session.require_operator()?;
    let key = parse_key(&key)?;
    let value = key.check(&value).map_err(IpcError::InvalidSetting)?;
    let preview = match key.input() {
        Input::Template => Some(preview_for(&shell, key, value.as_str().unwrap_or(""))?),
        _ => None,
    };
    Ok(Checked { value, preview })
}

fn preview_for(shell: &Shell, key: Key, text: &str) -> IpcResult<Preview> {
    let language = key.language().unwrap_or_default();
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
pub(crate) struct SaveAnswer {
    saved: bool,
    changed: Vec<Key>,
    errors: Vec<FieldError>,
}

/// The core's plan for this save, on a snapshot of the configuration.
fn plan(
    config: &ConfigState,
    changes: &Map<String, Value>,
    token: Option<&str>,
) -> Result<SavePlan, SaveError> {
    let locked_by = |key: Key| config.locked_by(key);
    config::plan_save(&SaveRequest {
        layers: &config.layers(),
        locked_by: &locked_by,
        policy_problem: config.policy.policy.as_ref().err().map(ToString::to_string),
        start_blocked: config.env_problem.is_some(),
        desk_was_real: config.desk_was_real(),
        token_status: &config.token_status(),
        changes,
        token,
    })
}

/// Saves a set of changes, all or nothing. `token`, when given, replaces
/// the auth token in the credential store (it never reaches settings.json).
#[tauri::command]
pub(crate) async fn settings_save<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    changes: Map<String, Value>,
    token: Option<String>,
) -> IpcResult<SaveAnswer> {
    let operator = shell.session.require_operator()?;
    // One save at a time, from its checks to the gateway it leaves in place.
    let _one_at_a_time = shell.settings_save_turn().await;
    let file = shell
        .settings_file
        .as_ref()
        .ok_or_else(|| IpcError::Storage(Text::new("ipc.settings_file_unavailable")))?;
    let config = shell.config(|c| c.clone())?;
    let plan = match plan(&config, &changes, token.as_deref()) {
        Ok(plan) => plan,
        Err(SaveError::Fields(errors)) => return Ok(SaveAnswer::refused(errors)),
        Err(e) => return Err(e.into()),
    };
    file.save_values(&plan.values)?;
    let resolved = shell.config(|c| {
        c.saved.extend(plan.values.clone());
        resolve_for_start(c)
    })?;
    // After the settings, so a failed settings write leaves the old token.
    if let Some(token) = &plan.token {
        store_token(&config, token, plan.token_binding.clone())?;
    }
    if plan.demo_chosen {
        record_demo_choice(&config)?;
    }
    audit_save(&shell, operator, &plan);
    apply::put_in_force(&app, resolved, plan.token.is_some()).await;
    Ok(SaveAnswer::saved(plan.changed))
}

impl SaveAnswer {
    fn refused(errors: Vec<FieldError>) -> Self {
        Self {
            saved: false,
            changed: Vec::new(),
            errors,
        }
    }

    fn saved(changed: Vec<Key>) -> Self {
        Self {
            saved: true,
            changed,
            errors: Vec::new(),
        }
    }
}

/// The save's audit record names keys, never a value of the token.
fn audit_save(shell: &Shell, operator: Operator, plan: &SavePlan) {
    let changes = plan.audit_changes();
    shell.audit(AuditEvent::settings_changed(
        shell.clock.now(),
        &operator,
        &changes,
    ));
}

/// Stores a typed token and binds it to the gateway it was typed for.
fn store_token(
    config: &ConfigState,
    token: &SecretString,
    binding: Option<GatewayBinding>,
) -> IpcResult<()> {
    let stored =
        |e: String| IpcError::Credentials(Text::new("ipc.token_not_stored").arg("reason", e));
    config
        .credentials
        .set(SecretName::AuthToken, token)
        .map_err(|e| stored(e.to_string()))?;
    if let Some(facts) = &config.facts {
        facts
            .update(|f| f.token_bound_to = binding)
            .map_err(|e| stored(e.to_string()))?;
    }
    Ok(())
}

/// Demo mode chosen on a desk set up for a real gateway (S23): the fact
/// that held it back is cleared.
fn record_demo_choice(config: &ConfigState) -> IpcResult<()> {
    let Some(facts) = &config.facts else {
        return Ok(());
    };
    facts
        .update(|f| f.real_gateway_configured = false)
        .map_err(|e| {
            IpcError::Credentials(Text::new("ipc.demo_not_recorded").arg("reason", e.to_string()))
        })
}
