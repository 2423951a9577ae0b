//! The commands the window may call. Each one parses its input into core
//! types, asks the core, and translates the answer; none decides anything.

use countersign::audit::{AuditEvent, EventKind};
use countersign::clock::Clock;
use countersign::desk::{Outcome, SendRecorded, Started};
use countersign::gateway::Gateway;
use countersign::i18n::Text;
use countersign::language::Language;
use countersign::phone::PhoneNumber;
use countersign::purpose::Purpose;
use countersign::verification::{Operator, VerificationId, VerificationView};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::delivery;
use crate::error::{IpcError, IpcResult};
use crate::events;
use crate::state::Shell;
use countersign::gateway::GatewayMode;

/// The purpose as the form sends it; parsed into [`Purpose`] here.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PurposeInput {
    Reference {
        reference: String,
    },
    Payment {
        amount: String,
        currency: String,
        payee: String,
    },
}

impl PurposeInput {
    fn parse(self) -> IpcResult<Purpose> {
        Ok(match self {
            Self::Reference { reference } => Purpose::reference(&reference)?,
            Self::Payment {
                amount,
                currency,
                payee,
            } => Purpose::payment(&amount, &currency, &payee)?,
        })
    }
}

fn parse_id(raw: &str) -> IpcResult<VerificationId> {
    VerificationId::parse(raw).ok_or_else(IpcError::unknown_verification)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
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
    default_country: String,
    allowed_countries: Vec<String>,
    code_length: u8,
    /// English, for tools and logs; `warning_texts` are what the screen
    /// renders in the desk's language.
    warnings: Vec<String>,
    warning_texts: Vec<Text>,
    /// In branch mode, this desk's name in the branch (its database role).
    branch_desk: Option<String>,
    /// The language the screens are in (`ui_text` hands over its words).
    ui_language: &'static str,
}

#[derive(Debug, Serialize)]
pub struct UiText {
    language: &'static str,
    messages: &'static std::collections::HashMap<&'static str, &'static str>,
}

/// Every word the screens show, in the desk's language. Asked before
/// sign-in too: the sign-in form is in it.
#[tauri::command]
pub fn ui_text(shell: State<'_, Shell>) -> IpcResult<UiText> {
    let language = shell.ui_language();
    Ok(UiText {
        language: language.code(),
        messages: countersign::i18n::catalogue(language),
    })
}

#[tauri::command]
pub fn app_status(shell: State<'_, Shell>) -> IpcResult<AppStatus> {
    let (policy_country, allowed, code_length) = shell
        .with_desk(|d| {
            let p = d.policy();
            Ok((
                p.default_country().to_string(),
                p.allowed_countries()
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
                p.code_length(),
            ))
        })
        .unwrap_or_else(|_| ("GB".to_owned(), vec!["GB".to_owned()], 6));
    let station = shell.config(|c| crate::state::station_of(&c.layers()))?;
    let suggested_operator = shell
        .prefill
        .lock()
        .map(|o| o.clone())
        .unwrap_or_else(|_| crate::settings::default_operator());
    let default_language = shell
        .with_desk(|d| Ok(d.templates().default_language()))
        .unwrap_or_default();
    let warning_texts = shell.warnings.lock().map(|w| w.clone()).unwrap_or_default();
    Ok(AppStatus {
        mode: shell.mode(),
        gateway_label: shell.gateway_label(),
        operator: shell.session.current(),
        suggested_operator,
        branch: station.branch,
        workstation: station.workstation,
        default_language: default_language.code(),
        languages: Language::ALL
            .into_iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
        lock_after_seconds: shell.session.lock_after().as_secs(),
        default_country: policy_country,
        allowed_countries: allowed,
        code_length,
        warnings: warning_texts.iter().map(ToString::to_string).collect(),
        warning_texts,
        branch_desk: shell
            .branch
            .as_ref()
            .map(|b| countersign::branch::BranchLedger::desk(b).to_string()),
        ui_language: shell.ui_language().code(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAnswer {
    verification: VerificationView,
    already_pending: bool,
    message: Text,
}

/// Starts a verification and sends its SMS. On a gateway failure the
/// verification ends `NotSent` (its code destroyed) and the command fails
/// with the gateway's operator message.
#[tauri::command]
pub async fn start_verification<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    phone: String,
    purpose: PurposeInput,
    language: Option<String>,
) -> IpcResult<StartAnswer> {
    let operator = shell.session.require_operator()?;
    let purpose = purpose.parse()?;
    let language = language
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .map(Language::parse)
        .transpose()
        .map_err(|e| IpcError::new("invalid_language", e.to_string()))?;
    // Taken before a code exists; the engine refuses to make one when the
    // shell has no gateway (S23), and records the mode of this very gateway
    // (S22), even if settings replace it meanwhile.
    let (gateway, sending) = shell.gateway_for_send();
    let started = shell.with_desk(|desk| {
        desk.set_sending(sending);
        let p = desk.policy();
        let number = PhoneNumber::parse(&phone, p.default_country(), p.allowed_countries())?;
        let language = language.unwrap_or(desk.templates().default_language());
        Ok(desk.start_in(number, purpose, operator, language)?)
    })?;
    let (view, sms) = match started {
        Started::AlreadyPending { view } => {
            let message =
                Text::new("start.already_pending").arg("number", view.masked_number.clone());
            return Ok(StartAnswer {
                verification: view,
                already_pending: true,
                message,
            });
        }
        Started::New { view, sms } => (view, sms),
    };
    let _ = app.emit(events::VERIFICATION_CHANGED, &view);
    let result = send_with(gateway, &sms).await;
    drop(sms);
    let view = record_send(&app, &shell, &view.id, result)?;
    Ok(StartAnswer {
        verification: view,
        already_pending: false,
        message: Text::new("start.code_sent"),
    })
}

#[tauri::command]
pub async fn resend_code<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    id: String,
) -> IpcResult<VerificationView> {
    shell.session.require_operator()?;
    let id = parse_id(&id)?;
    let (gateway, sending) = shell.gateway_for_send();
    let resent = shell.with_desk(|desk| {
        desk.set_sending(sending);
        Ok(desk.resend(&id)?)
    })?;
    delivery::stop(&app, &id);
    let _ = app.emit(events::VERIFICATION_CHANGED, &resent.view);
    let result = send_with(gateway, &resent.sms).await;
    drop(resent.sms);
    record_send(&app, &shell, &id, result)
}

/// Sends through the gateway taken before the code was made. Had it gone
/// meanwhile, the answer is a refusal, so the engine ends the verification
/// `NotSent` instead of leaving a live code behind (S23).
async fn send_with(
    gateway: crate::state::GatewaySlot,
    sms: &countersign::gateway::OutboundSms,
) -> Result<countersign::gateway::SendReceipt, countersign::gateway::GatewayError> {
    match gateway {
        Ok(g) => g.client.send(sms).await,
        Err(why) => Err(countersign::gateway::GatewayError::Misconfigured(why)),
    }
}

/// Hands the gateway's answer to the engine and tells the UI what followed.
fn record_send<R: Runtime>(
    app: &AppHandle<R>,
    shell: &Shell,
    id: &VerificationId,
    result: Result<countersign::gateway::SendReceipt, countersign::gateway::GatewayError>,
) -> IpcResult<VerificationView> {
    let gateway_error = result.as_ref().err().cloned();
    let sid = result.as_ref().ok().map(|receipt| receipt.sid.clone());
    match shell.with_desk(|desk| Ok(desk.record_send(id, result)?))? {
        SendRecorded::Accepted(view) => {
            if let Some(sid) = sid {
                delivery::spawn(app, id.clone(), sid);
            }
            let _ = app.emit(events::VERIFICATION_CHANGED, &view);
            Ok(view)
        }
        SendRecorded::NotSent(outcome) => {
            let _ = app.emit(events::VERIFICATION_ENDED, &outcome);
            let kind = gateway_error.map_or("not_sent", |e| e.kind());
            Err(IpcError::text(kind, outcome.message))
        }
        SendRecorded::AlreadyEnded => Err(IpcError::text(
            "already_ended",
            Text::new("ipc.ended_while_sending"),
        )),
    }
}

#[tauri::command]
pub fn check_code<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    id: String,
    code: String,
) -> IpcResult<Outcome> {
    shell.session.require_operator()?;
    let id = parse_id(&id)?;
    let outcome = shell.with_desk(|desk| Ok(desk.check(&id, &code)?))?;
    drop(code);
    after_outcome(&app, &outcome);
    Ok(outcome)
}

#[tauri::command]
pub fn cancel_verification<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    id: String,
) -> IpcResult<Outcome> {
    shell.session.require_operator()?;
    let id = parse_id(&id)?;
    let outcome = shell.with_desk(|desk| Ok(desk.cancel(&id)?))?;
    after_outcome(&app, &outcome);
    Ok(outcome)
}

pub(crate) fn after_outcome<R: Runtime>(app: &AppHandle<R>, outcome: &Outcome) {
    match &outcome.verification {
        Some(view) => {
            let _ = app.emit(events::VERIFICATION_CHANGED, view);
        }
        None => delivery::stop(app, &outcome.id),
    }
}

#[tauri::command]
pub fn list_pending(shell: State<'_, Shell>) -> IpcResult<Vec<VerificationView>> {
    shell.session.require_operator()?;
    shell.with_desk(|desk| {
        for outcome in desk.purge()? {
            tracing::debug!(id = %outcome.id, "expired on listing");
        }
        Ok(desk.list())
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoSms {
    pub to: String,
    pub body: String,
    pub at: i64,
}

/// Every SMS the demo gateway has received. Empty outside demo mode.
#[tauri::command]
pub fn demo_inbox(shell: State<'_, Shell>) -> Vec<DemoSms> {
    if shell.session.current().is_none() {
        return Vec::new();
    }
    shell
        .demo_inbox()
        .map(|(inbox, _)| inbox.into_iter().map(crate::demo::to_demo_sms).collect())
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct OperatorAnswer {
    name: String,
}

/// Corrects the signed-in operator's display name.
#[tauri::command]
pub fn set_operator(shell: State<'_, Shell>, name: String) -> IpcResult<OperatorAnswer> {
    let current = shell.session.require_operator()?;
    let operator = Operator {
        staff_id: current.staff_id,
        ..Operator::parse(&name)?
    };
    if let Some(file) = &shell.settings_file {
        file.save_operator(&operator)
            .map_err(|e| IpcError::new("storage", e))?;
    }
    if let Ok(mut prefill) = shell.prefill.lock() {
        *prefill = operator.clone();
    }
    shell.session.sign_in(operator.clone());
    let mut e = AuditEvent::new(shell.clock.now(), EventKind::SettingsChanged);
    e.operator = Some(operator.name.clone());
    e.staff_id = operator.staff_id.clone();
    e.detail = Some("changed: operatorName".to_owned());
    shell.audit(e);
    Ok(OperatorAnswer {
        name: operator.name,
    })
}

/// The UI calls this once the desk is interactive: the start-up figure
/// footprint measurements read.
#[tauri::command]
pub fn ui_ready() {
    let ms = crate::PROCESS_START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    tracing::info!(ms, "ui ready");
    eprintln!("countersign: ui ready after {ms} ms");
}
