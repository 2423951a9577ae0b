//! The activity screen: "Verify log", the audit key for IT, and the save
//! dialog the shell opens itself (the window is granted no dialog or file
//! access). The list is `audit_list`,
//! the CSV export `audit_export`.

use countersign::audit::{self, AuditEvent, EventKind};
use countersign::clock::Clock;
use countersign::i18n::Text;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use crate::error::{IpcError, IpcResult};
use crate::shell::{Shell, AUDIT_FILE};

pub(crate) mod branch;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyAnswer {
    intact: bool,
    /// English, for tools; `text` is what the screen renders.
    message: String,
    text: Text,
}

#[tauri::command]
pub fn audit_verify(shell: State<'_, Shell>) -> IpcResult<VerifyAnswer> {
    shell.session.require_operator()?;
    let key = shell
        .audit_key
        .as_ref()
        .ok_or_else(|| IpcError::DeskUnavailable(Text::new("audit.no_key")))?;
    // Held to the desk's sealed record of where the trail stood (S22).
    let anchor = shell.config(|c| c.facts.as_ref().and_then(|f| f.get().audit))?;
    let report = audit::verify_trail_keyed(&shell.data_dir.join(AUDIT_FILE), key, anchor.as_ref())
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
pub async fn audit_key_export<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> IpcResult<Option<Text>> {
    let operator = shell.session.require_operator()?;
    let Some(path) = save_path(&app, "countersign-audit-key.hex", None)? else {
        return Ok(None);
    };
    let anchor = crate::trail::export_key(&shell, &path).map_err(|e| {
        IpcError::ExportFailed(Text::new("audit.key_not_exported").arg("reason", e.to_string()))
    })?;
    let mut e = AuditEvent::new(shell.clock.now(), EventKind::AuditKeyExported);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    e.os_account = crate::shell::os_account::os_account();
    e.detail = Some(format!("written to {}", path.display()));
    shell.audit(e);
    Ok(Some(
        Text::new("audit.key_exported")
            .arg("key", path.display().to_string())
            .arg("anchor", anchor.display().to_string()),
    ))
}

/// Asks where to save, in a dialog the shell opens itself (the window has
/// no dialog or file access). `Ok(None)` when the dialog was cancelled.
pub(crate) fn save_path<R: Runtime>(
    app: &AppHandle<R>,
    name: &str,
    filter: Option<(&str, &str)>,
) -> IpcResult<Option<std::path::PathBuf>> {
    let mut dialog = app.dialog().file().set_file_name(name);
    if let Some((label, extension)) = filter {
        dialog = dialog.add_filter(label, &[extension]);
    }
    let Some(target) = dialog.blocking_save_file() else {
        return Ok(None);
    };
    target
        .into_path()
        .map(Some)
        .map_err(|_| IpcError::ExportFailed(Text::new("audit.bad_location")))
}
