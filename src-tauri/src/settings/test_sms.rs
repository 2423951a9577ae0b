//! "Send a test SMS" on the settings screen: a plain message (no code)
//! through the gateway in use, the quickest proof that a configuration
//! works. It is a send like any other for S8 (pause and cap per number): its
//! slot is taken before the HTTP call and kept whatever the answer, so
//! parallel clicks cannot burst. It is audited with the masked number, the
//! number's digest and the gateway mode.

use countersign::audit::AuditEvent;
use countersign::clock::Timestamp;
use countersign::gateway::{
    Gateway, GatewayError, GatewayMode, MessageSid, OutboundSms, SendReceipt,
};
use countersign::keys::NumberId;
use countersign::phone::PhoneNumber;
use countersign::policy::NumberUse;
use countersign::verification::Operator;
use secrecy::SecretString;
use serde::Serialize;
use tauri::State;

use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestSms {
    sid: String,
    status: String,
    message: String,
}

/// Sends the test message; refused like a verification when the number
/// had an SMS too recently.
#[tauri::command]
pub(crate) async fn send_test_sms(shell: State<'_, Shell>, phone: String) -> IpcResult<TestSms> {
    let operator = shell.session.require_operator()?;
    let gateway = shell.gateway()?;
    let (number, slot) = shell.with_desk(|d| {
        let number = d.policy().parse_number(&phone, NumberUse::Send)?;
        let slot = d.reserve_test_sms(&number)?;
        Ok((number, slot))
    })?;
    let body = "Countersign test message: the desk's SMS gateway works. No action is needed.";
    let result = gateway
        .client
        .send(&OutboundSms {
            to: number.clone(),
            body: SecretString::from(body.to_owned()),
        })
        .await;
    audit_test_sms(&shell, operator, &number, slot, gateway.mode, &result);
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

/// The test send's audit record: the masked number and its digest, never
/// the number itself.
fn audit_test_sms(
    shell: &Shell,
    operator: Operator,
    number: &PhoneNumber,
    (number_id, reserved_at): (NumberId, Timestamp),
    mode: GatewayMode,
    result: &Result<SendReceipt, GatewayError>,
) {
    // At the slot's time, where the pending state has the send (S21).
    shell.audit(AuditEvent::test_sms_sent(
        reserved_at,
        &operator,
        number,
        &number_id,
        mode,
        result.as_ref(),
    ));
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestStatus {
    status: String,
    is_final: bool,
}

/// The delivery status of a test SMS, read from the gateway.
#[tauri::command]
pub(crate) async fn test_sms_status(shell: State<'_, Shell>, sid: String) -> IpcResult<TestStatus> {
    shell.session.require_operator()?;
    let sid = MessageSid::parse(&sid).ok_or(IpcError::InvalidSid)?;
    let report = shell.gateway()?.client.status(&sid).await?;
    Ok(TestStatus {
        status: report.status.describe(),
        is_final: report.status.is_final(),
    })
}
