//! The Activity screen: the audit trail as the desk opens it (`trail`), its
//! list a page at a time (`list`), the CSV export (`export`), "Verify log"
//! and the audit key for IT (`verify`), and the save dialog the shell opens
//! itself for both files (`save_dialog`; the window is granted no dialog or
//! file access). The rules (what matches, what a record holds, whether the
//! chain holds) are the core's `countersign::audit`; these files translate.
//!
//! Operator identity (sign in, lock) is still here until it moves to the
//! desk's commands.

pub mod export;
pub mod list;
mod save_dialog;
pub(crate) mod trail;
pub(crate) mod verify;

use countersign::audit::{AuditEvent, EventKind};
use countersign::clock::Clock;
use countersign::verification::Operator;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::IpcResult;
use crate::events;
use crate::state::Shell;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    name: String,
    staff_id: Option<String>,
}

#[tauri::command]
pub fn sign_in(shell: State<'_, Shell>, staff_id: String, name: String) -> IpcResult<SignedIn> {
    let operator = Operator::signed_in(&staff_id, &name)?;
    if let Some(file) = &shell.settings_file {
        if let Err(e) = file.save_operator(&operator) {
            tracing::warn!(error = %e, "could not remember the operator for next time");
        }
    }
    if let Ok(mut prefill) = shell.prefill.lock() {
        *prefill = operator.clone();
    }
    shell.session.sign_in(operator.clone());
    let mut e = AuditEvent::new(shell.clock.now(), EventKind::OperatorSignedIn);
    e.operator = Some(operator.name.clone());
    e.staff_id = operator.staff_id.clone();
    e.os_account = crate::os_account::os_account();
    shell.audit(e);
    Ok(SignedIn {
        name: operator.name,
        staff_id: operator.staff_id,
    })
}

#[tauri::command]
pub fn lock_desk<R: Runtime>(app: AppHandle<R>, shell: State<'_, Shell>) {
    lock(&app, &shell, "locked by the operator");
}

/// The window reports activity (typing, clicks) so an operator who is
/// reading or typing is not locked out.
#[tauri::command]
pub fn still_here(shell: State<'_, Shell>) {
    shell.session.touch();
}

pub fn lock<R: Runtime>(app: &AppHandle<R>, shell: &Shell, why: &str) {
    if let Some(operator) = shell.session.lock() {
        record_lock(app, shell, operator, why);
    }
}

/// Audits a sign-out (Lock or inactivity) under the operator who was
/// signed in, and tells the window to clear itself.
pub fn record_lock<R: Runtime>(app: &AppHandle<R>, shell: &Shell, operator: Operator, why: &str) {
    let mut e = AuditEvent::new(shell.clock.now(), EventKind::OperatorLocked);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    e.detail = Some(why.to_owned());
    shell.audit(e);
    let _ = app.emit(events::DESK_LOCKED, why);
}
