//! What the Desk screen asks before and around the work itself: the state
//! it draws (gateway, operator, country rules, warnings), the words it
//! shows (`ui_text`), demo mode's phone, and the start-up figure
//! (`ui_ready`).

use countersign::i18n::Text;
use countersign::language::Language;
use countersign::verification::Operator;
use serde::Serialize;
use tauri::State;

use countersign::gateway::GatewayMode;

use crate::error::IpcResult;
use crate::shell::demo_inbox::{to_demo_sms, DemoSms};
use crate::shell::{station_of, Shell};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppStatus {
    mode: Option<GatewayMode>,
    gateway_label: String,
    /// `None` while the desk is locked.
    operator: Option<Operator>,
    suggested_operator: Operator,
    branch: String,
    workstation: String,
    default_language: &'static str,
    languages: Vec<(&'static str, &'static str)>,
    lock_after_seconds: u64,
    #[serde(flatten)]
    numbers: NumberRules,
    /// English, for tools and logs; `warning_texts` are what the screen
    /// renders in the desk's language.
    warnings: Vec<String>,
    warning_texts: Vec<Text>,
    /// In branch mode, this desk's name in the branch (its database role).
    branch_desk: Option<String>,
    /// The language the screens are in (`ui_text` hands over its words).
    ui_language: &'static str,
}

/// What the phone field and the code field are held to, from the policy
/// in force.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NumberRules {
    default_country: String,
    allowed_countries: Vec<String>,
    code_length: u8,
}

impl NumberRules {
    fn of(shell: &Shell) -> Self {
        shell
            .with_desk(|d| Ok(Self::from_policy(d.policy())))
            // A desk that did not open has the built-in policy's rules.
            .unwrap_or_else(|_| Self::from_policy(&countersign::policy::Policy::default()))
    }

    fn from_policy(p: &countersign::policy::Policy) -> Self {
        Self {
            default_country: p.default_country().to_string(),
            allowed_countries: p
                .allowed_countries()
                .iter()
                .map(|r| r.to_string())
                .collect(),
            code_length: p.code_length(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct UiText {
    language: &'static str,
    messages: &'static std::collections::HashMap<&'static str, &'static str>,
}

/// Every word the screens show, in the desk's language. Asked before
/// sign-in too: the sign-in form is in it.
#[tauri::command]
pub(crate) fn ui_text(shell: State<'_, Shell>) -> IpcResult<UiText> {
    let language = shell.ui_language();
    Ok(UiText {
        language: language.code(),
        messages: countersign::i18n::catalogue(language),
    })
}

#[tauri::command]
pub(crate) fn app_status(shell: State<'_, Shell>) -> IpcResult<AppStatus> {
    let station = shell.config(|c| station_of(&c.layers()))?;
    let default_language = shell
        .with_desk(|d| Ok(d.templates().default_language()))
        .unwrap_or_default();
    let warning_texts = shell.warnings();
    Ok(AppStatus {
        mode: shell.mode(),
        gateway_label: shell.gateway_label(),
        operator: shell.session.current(),
        suggested_operator: shell.suggested_operator(),
        branch: station.branch,
        workstation: station.workstation,
        default_language: default_language.code(),
        languages: Language::ALL
            .into_iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
        lock_after_seconds: shell.session.lock_after().as_secs(),
        numbers: NumberRules::of(&shell),
        warnings: warning_texts.iter().map(ToString::to_string).collect(),
        warning_texts,
        branch_desk: shell.branch_desk(),
        ui_language: shell.ui_language().code(),
    })
}

/// Every SMS the demo gateway has received. Empty outside demo mode.
#[tauri::command]
pub(crate) fn demo_inbox(shell: State<'_, Shell>) -> Vec<DemoSms> {
    if shell.session.current().is_none() {
        return Vec::new();
    }
    shell
        .demo_inbox()
        .map(|(inbox, _)| inbox.into_iter().map(to_demo_sms).collect())
        .unwrap_or_default()
}

/// The UI calls this once the desk is interactive: the start-up figure
/// footprint measurements read.
#[tauri::command]
pub(crate) fn ui_ready() {
    let ms = crate::PROCESS_START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    tracing::info!(ms, "ui ready");
    eprintln!("countersign: ui ready after {ms} ms");
}
