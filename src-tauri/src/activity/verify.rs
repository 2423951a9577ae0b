//! "Verify log" and "Export audit key for IT": the trail checked as a whole
//! with the audit key and held to the desk's sealed anchor (S22), and the
//! key and anchor written out for IT, who verify the trail off the desk.

use countersign::audit::{AuditEvent, Trail};
use countersign::clock::Clock;
use countersign::i18n::Text;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use super::save_dialog::save_path;
use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyAnswer {
    intact: bool,
    /// English, for tools; `text` is what the screen renders.
    message: String,
    text: Text,
}

#[tauri::command]
pub(crate) fn audit_verify(shell: State<'_, Shell>) -> IpcResult<VerifyAnswer> {
    shell.session.require_operator()?;
    let key = shell
        .audit_key
        .as_ref()
        .ok_or_else(|| IpcError::DeskUnavailable(Text::new("audit.no_key")))?;
    // Held to the desk's sealed record of where the trail stood (S22).
    let anchor = shell.config(|c| c.facts.as_ref().and_then(|f| f.get().audit))?;
    let report = Trail::in_folder(&shell.data_dir)
        .verify(key, anchor.as_ref())
        .map_err(IpcError::internal)?;
    Ok(VerifyAnswer {
        intact: report.is_intact(),
        message: report.describe(),
        text: report.text(),
    })
}

/// Exports the audit key and the trail's anchor for IT, through a save
/// dialog the shell opens itself, and audits who took them. The key is no
/// secret from the desk's own user (it is in their keychain); it lets IT
/// verify the trail off the desk. `Ok(None)` when the dialog was cancelled.
#[tauri::command]
pub(crate) async fn audit_key_export<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> IpcResult<Option<Text>> {
    let operator = shell.session.require_operator()?;
    let Some(path) = save_path(&app, "countersign-audit-key.hex", None)? else {
        return Ok(None);
    };
    let anchor = super::trail::export_key(&shell, &path).map_err(|e| {
        IpcError::ExportFailed(Text::new("audit.key_not_exported").arg("reason", e.to_string()))
    })?;
    shell.audit(AuditEvent::audit_key_exported(
        shell.clock.now(),
        &operator,
        crate::shell::os_account::os_account(),
        &path,
    ));
    Ok(Some(
        Text::new("audit.key_exported")
            .arg("key", path.display().to_string())
            .arg("anchor", anchor.display().to_string()),
    ))
}
