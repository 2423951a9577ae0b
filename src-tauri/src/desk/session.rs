//! Who is at the desk, as the window asks it: sign in, correct one's name,
//! lock, and "still here" (activity that keeps the inactivity lock away).
//! The session itself, and the lock's record, are the shell's
//! (`shell::session`): the idle timer locks the desk too.

use countersign::audit::{AuditEvent, SettingsChange};
use countersign::clock::Clock;
use countersign::verification::Operator;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::error::IpcResult;
use crate::shell::os_account::os_account;
use crate::shell::{session, Shell};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedIn {
    name: String,
    staff_id: Option<String>,
}

#[tauri::command]
pub(crate) fn sign_in(
    shell: State<'_, Shell>,
    staff_id: String,
    name: String,
) -> IpcResult<SignedIn> {
    let operator = Operator::signed_in(&staff_id, &name)?;
    if let Some(file) = &shell.settings_file {
        if let Err(e) = file.save_operator(&operator) {
            tracing::warn!(error = %e, "could not remember the operator for next time");
        }
    }
    shell.sign_in(operator.clone());
    shell.audit(AuditEvent::signed_in(
        shell.clock.now(),
        &operator,
        os_account(),
    ));
    Ok(SignedIn {
        name: operator.name,
        staff_id: operator.staff_id,
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct OperatorAnswer {
    name: String,
}

/// Corrects the signed-in operator's display name.
#[tauri::command]
pub(crate) fn set_operator(shell: State<'_, Shell>, name: String) -> IpcResult<OperatorAnswer> {
    let current = shell.session.require_operator()?;
    let operator = Operator {
        staff_id: current.staff_id,
        ..Operator::parse(&name)?
    };
    if let Some(file) = &shell.settings_file {
        file.save_operator(&operator)?;
    }
    shell.sign_in(operator.clone());
    let changes = [SettingsChange::OperatorName];
    shell.audit(AuditEvent::settings_changed(
        shell.clock.now(),
        &operator,
        &changes,
    ));
    Ok(OperatorAnswer {
        name: operator.name,
    })
}

#[tauri::command]
pub(crate) fn lock_desk<R: Runtime>(app: AppHandle<R>, shell: State<'_, Shell>) {
    session::lock(&app, &shell, "locked by the operator");
}

/// The window reports activity (typing, clicks) so an operator who is
/// reading or typing is not locked out.
#[tauri::command]
pub(crate) fn still_here(shell: State<'_, Shell>) {
    shell.session.touch();
}
