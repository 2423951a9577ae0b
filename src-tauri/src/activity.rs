//! Operator identity and the activity screen: sign in, lock, the audit trail
//! with its filters, "Verify log", and CSV export through a save dialog that
//! the shell opens itself (the window is granted no dialog or file access).

use countersign::audit::{self, AuditEvent, AuditRecord, EventKind, Filter};
use countersign::clock::{Clock, SystemClock, Timestamp};
use countersign::phone::PhoneNumber;
use countersign::verification::Operator;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use crate::error::{IpcError, IpcResult};
use crate::events;
use crate::state::{Shell, AUDIT_FILE};

pub(crate) const MAX_ROWS: usize = 500;

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
    let mut e = AuditEvent::new(SystemClock.now(), EventKind::OperatorSignedIn);
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
    let mut e = AuditEvent::new(SystemClock.now(), EventKind::OperatorLocked);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    e.detail = Some(why.to_owned());
    shell.audit(e);
    let _ = app.emit(events::DESK_LOCKED, why);
}

/// The activity screen's filter, as the form sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FilterInput {
    from: Option<String>,
    to: Option<String>,
    operator: Option<String>,
    outcome: Option<String>,
    phone: Option<String>,
    /// `desk` (this desk's trail, the default) or `branch` (every desk's
    /// records as the branch holds them, in branch mode).
    scope: Option<String>,
    /// In the branch scope: one desk's records only.
    desk: Option<String>,
}

impl FilterInput {
    /// The desk asked for, in the branch scope.
    pub(crate) fn take_desk(&mut self) -> Option<String> {
        self.desk
            .take()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
    }

    /// Whether a phone number was given (the branch scope cannot search by
    /// it: each desk's records name numbers under that desk's own key).
    pub(crate) fn has_phone(&self) -> bool {
        self.phone.as_deref().is_some_and(|p| !p.trim().is_empty())
    }

    pub(crate) fn parse(self, shell: &Shell) -> IpcResult<Filter> {
        let day = |raw: &Option<String>, end: bool| -> IpcResult<Option<Timestamp>> {
            let Some(raw) = raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
                return Ok(None);
            };
            let date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| IpcError::new("invalid_filter", "Dates are written YYYY-MM-DD."))?;
            let time = if end {
                date.and_hms_milli_opt(23, 59, 59, 999)
            } else {
                date.and_hms_opt(0, 0, 0)
            };
            Ok(time.map(|t| Timestamp::from_millis(t.and_utc().timestamp_millis())))
        };
        let text = |raw: Option<String>| raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let number_id = match text(self.phone) {
            None => None,
            Some(phone) => Some(shell.with_desk(|d| {
                let number = PhoneNumber::parse_any(&phone, d.policy().default_country())?;
                Ok(d.number_id(&number).as_str().to_owned())
            })?),
        };
        Ok(Filter {
            from: day(&self.from, false)?,
            to: day(&self.to, true)?,
            operator: text(self.operator),
            outcome: text(self.outcome),
            number_id,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    seq: u64,
    at: i64,
    event: String,
    operator: Option<String>,
    staff_id: Option<String>,
    branch: Option<String>,
    workstation: Option<String>,
    verification: Option<String>,
    masked_number: Option<String>,
    /// The number's keyed digest (never the number), as the CSV has it.
    number_id: Option<String>,
    reference: Option<String>,
    outcome: Option<String>,
    gateway_sid: Option<String>,
    delivery: Option<String>,
    detail: Option<String>,
    gateway_mode: Option<String>,
    os_account: Option<String>,
    /// In the branch scope, the desk whose record it is (its database role).
    desk: Option<String>,
}

impl AuditRow {
    pub(crate) fn from_desk(record: AuditRecord, desk: String) -> Self {
        Self {
            desk: Some(desk),
            ..Self::from(record)
        }
    }
}

impl From<AuditRecord> for AuditRow {
    fn from(r: AuditRecord) -> Self {
        let event = r.event.name();
        let e = r.event;
        Self {
            seq: r.seq,
            at: e.at.millis(),
            event,
            operator: e.operator,
            staff_id: e.staff_id,
            branch: e.branch,
            workstation: e.workstation,
            verification: e.verification,
            masked_number: e.masked_number,
            number_id: e.number_id,
            reference: e.reference,
            outcome: e.outcome,
            gateway_sid: e.gateway_sid,
            delivery: e.delivery,
            detail: e.detail,
            gateway_mode: e.gateway_mode,
            os_account: e.os_account,
            desk: None,
        }
    }
}

fn read(shell: &Shell, filter: FilterInput) -> IpcResult<Vec<AuditRecord>> {
    shell.session.require_operator()?;
    let filter = filter.parse(shell)?;
    audit::query(&shell.data_dir.join(AUDIT_FILE), &filter, MAX_ROWS).map_err(IpcError::internal)
}

#[tauri::command]
pub async fn audit_query(
    shell: State<'_, Shell>,
    filter: Option<FilterInput>,
) -> IpcResult<Vec<AuditRow>> {
    let mut filter = filter.unwrap_or_default();
    match filter.scope.take().as_deref().map(str::trim) {
        None | Some("") | Some("desk") => Ok(read(&shell, filter)?
            .into_iter()
            .map(AuditRow::from)
            .collect()),
        Some("branch") => crate::branch_setup::branch_rows(&shell, filter).await,
        Some(_) => Err(IpcError::new(
            "invalid_filter",
            "The scope is this desk or the whole branch.",
        )),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyAnswer {
    intact: bool,
    message: String,
}

#[tauri::command]
pub fn audit_verify(shell: State<'_, Shell>) -> IpcResult<VerifyAnswer> {
    shell.session.require_operator()?;
    let key = shell.audit_key.as_ref().ok_or_else(|| {
        IpcError::new(
            "desk_unavailable",
            "The audit key is not available, so the log cannot be verified here (see Warnings).",
        )
    })?;
    // Held to the desk's sealed record of where the trail stood (S22).
    let anchor = shell.config(|c| c.facts.as_ref().and_then(|f| f.get().audit))?;
    let report = audit::verify_trail_keyed(&shell.data_dir.join(AUDIT_FILE), key, anchor.as_ref())
        .map_err(IpcError::internal)?;
    Ok(VerifyAnswer {
        intact: report.is_intact(),
        message: report.describe(),
    })
}

/// Writes the filtered rows to a CSV file the operator picks. `Ok(None)`
/// when the dialog was cancelled.
#[tauri::command]
pub async fn audit_export<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    filter: Option<FilterInput>,
) -> IpcResult<Option<String>> {
    let records = read(&shell, filter.unwrap_or_default())?;
    let Some(path) = save_path(&app, "countersign-audit.csv", Some(("CSV", "csv")))? else {
        return Ok(None);
    };
    countersign::persist::atomic_write(&path, audit::to_csv(&records).as_bytes()).map_err(|e| {
        IpcError::new(
            "export_failed",
            format!("The export could not be written: {e}"),
        )
    })?;
    Ok(Some(format!(
        "{} records exported to {}",
        records.len(),
        path.display()
    )))
}

/// Exports the audit key and the trail's anchor for IT, through a save
/// dialog the shell opens itself, and audits who took them. The key is no
/// secret from the desk's own user (it is in their keychain); it lets IT
/// verify the trail off the desk. `Ok(None)` when the dialog was cancelled.
#[tauri::command]
pub async fn audit_key_export<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> IpcResult<Option<String>> {
    let operator = shell.session.require_operator()?;
    let Some(path) = save_path(&app, "countersign-audit-key.hex", None)? else {
        return Ok(None);
    };
    let anchor = crate::trail::export_key(&shell, &path).map_err(|e| {
        IpcError::new(
            "export_failed",
            format!("The audit key was not exported: {e}"),
        )
    })?;
    let mut e = AuditEvent::new(SystemClock.now(), EventKind::AuditKeyExported);
    e.operator = Some(operator.name);
    e.staff_id = operator.staff_id;
    e.os_account = crate::os_account::os_account();
    e.detail = Some(format!("written to {}", path.display()));
    shell.audit(e);
    Ok(Some(format!(
        "The audit key was written to {} and the trail's anchor to {}. Give both to IT; keep them with the branch's secrets.",
        path.display(),
        anchor.display()
    )))
}

/// Asks where to save, in a dialog the shell opens itself (the window has
/// no dialog or file access). `Ok(None)` when the dialog was cancelled.
fn save_path<R: Runtime>(
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
    target.into_path().map(Some).map_err(|_| {
        IpcError::new(
            "export_failed",
            "That location cannot be written to; pick a folder on this computer.",
        )
    })
}
