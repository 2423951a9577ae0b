//! The Desk screen's work on verifications: start one (and send its SMS),
//! resend, check a code, cancel, list what is pending. Each command parses
//! its input into core types, asks the engine, sends what it returns, and
//! tells the window what followed; none decides anything.

use countersign::desk::{Outcome, SendRecorded, Started};
use countersign::gateway::{Gateway, GatewayError, OutboundSms, SendReceipt};
use countersign::i18n::Text;
use countersign::language::Language;
use countersign::policy::NumberUse;
use countersign::purpose::Purpose;
use countersign::verification::{VerificationId, VerificationView};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{IpcError, IpcResult};
use crate::shell::{delivery, events, GatewaySlot, Shell};

/// The purpose as the form sends it; parsed into [`Purpose`] here.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PurposeInput {
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
    VerificationId::parse(raw).ok_or(IpcError::UnknownVerification)
}

/// The message language the form chose; none (or blank) is the desk's.
fn parse_language(raw: Option<String>) -> IpcResult<Option<Language>> {
    let raw = raw.filter(|l| !l.trim().is_empty());
    Ok(raw.as_deref().map(Language::parse).transpose()?)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartAnswer {
    verification: VerificationView,
    already_pending: bool,
    message: Text,
}

impl StartAnswer {
    /// The number already has a live code: nothing was sent.
    fn already_pending(view: VerificationView) -> Self {
        let message = Text::new("start.already_pending").arg("number", view.masked_number.clone());
        Self {
            verification: view,
            already_pending: true,
            message,
        }
    }
}

/// Starts a verification and sends its SMS. On a gateway failure the
/// verification ends `NotSent` (its code destroyed) and the command fails
/// with the gateway's operator message.
#[tauri::command]
pub(crate) async fn start_verification<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    phone: String,
    purpose: PurposeInput,
    language: Option<String>,
) -> IpcResult<StartAnswer> {
    let operator = shell.session.require_operator()?;
    let purpose = purpose.parse()?;
    let language = parse_language(language)?;
    // Taken before a code exists; the engine refuses to make one when the
    // shell has no gateway (S23), and records the mode of this very gateway
    // (S22), even if settings replace it meanwhile.
    let (gateway, sending) = shell.gateway_for_send();
    let started = shell.with_desk(|desk| {
        desk.set_sending(sending);
        let number = desk.policy().parse_number(&phone, NumberUse::Send)?;
        let language = language.unwrap_or(desk.templates().default_language());
        Ok(desk.start_in(number, purpose, operator, language)?)
    })?;
    let (view, sms) = match started {
        Started::AlreadyPending { view } => return Ok(StartAnswer::already_pending(view)),
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
pub(crate) async fn resend_code<R: Runtime>(
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
    shell.stop_tracker(&id);
    let _ = app.emit(events::VERIFICATION_CHANGED, &resent.view);
    let result = send_with(gateway, &resent.sms).await;
    drop(resent.sms);
    record_send(&app, &shell, &id, result)
}

/// Sends through the gateway taken before the code was made. Had it gone
/// meanwhile, the answer is a refusal, so the engine ends the verification
/// `NotSent` instead of leaving a live code behind (S23).
async fn send_with(gateway: GatewaySlot, sms: &OutboundSms) -> Result<SendReceipt, GatewayError> {
    match gateway {
        Ok(g) => g.client.send(sms).await,
        Err(why) => Err(GatewayError::Misconfigured(why.to_string())),
    }
}

/// Hands the gateway's answer to the engine and tells the UI what followed.
fn record_send<R: Runtime>(
    app: &AppHandle<R>,
    shell: &Shell,
    id: &VerificationId,
    result: Result<SendReceipt, GatewayError>,
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
            Err(IpcError::NotSent {
                cause: gateway_error,
                text: outcome.message,
            })
        }
        SendRecorded::AlreadyEnded => Err(IpcError::EndedWhileSending),
    }
}

#[tauri::command]
pub(crate) fn check_code<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    id: String,
    code: String,
) -> IpcResult<Outcome> {
    shell.session.require_operator()?;
    let id = parse_id(&id)?;
    let outcome = shell.with_desk(|desk| Ok(desk.check(&id, &code)?))?;
    drop(code);
    after_outcome(&app, &shell, &outcome);
    Ok(outcome)
}

#[tauri::command]
pub(crate) fn cancel_verification<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    id: String,
) -> IpcResult<Outcome> {
    shell.session.require_operator()?;
    let id = parse_id(&id)?;
    let outcome = shell.with_desk(|desk| Ok(desk.cancel(&id)?))?;
    after_outcome(&app, &shell, &outcome);
    Ok(outcome)
}

/// Tells the window how a verification stands after a check or a cancel;
/// one that ended needs its delivery tracked no more.
fn after_outcome<R: Runtime>(app: &AppHandle<R>, shell: &Shell, outcome: &Outcome) {
    match &outcome.verification {
        Some(view) => {
            let _ = app.emit(events::VERIFICATION_CHANGED, view);
        }
        None => shell.stop_tracker(&outcome.id),
    }
}

#[tauri::command]
pub(crate) fn list_pending(shell: State<'_, Shell>) -> IpcResult<Vec<VerificationView>> {
    shell.session.require_operator()?;
    shell.with_desk(|desk| {
        for outcome in desk.purge()? {
            tracing::debug!(id = %outcome.id, "expired on listing");
        }
        Ok(desk.list())
    })
}
