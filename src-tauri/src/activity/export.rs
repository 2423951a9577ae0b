//! "Export CSV": every record the filter matches (not the page on screen,
//! and not only the first 500), oldest first, streamed from the trail into a
//! file beside the chosen one that is fsync'ed and renamed into place, with
//! progress events for the window. The CSV itself is the core's
//! (`countersign::audit::export`).

use std::path::{Path, PathBuf};

use countersign::audit::{AuditRecord, CsvWriter, Filter, Trail};
use countersign::i18n::Text;
use countersign::persist::StagedFile;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use super::filter::{FilterInput, Scope};
use super::save_dialog::save_path;
use crate::error::{IpcError, IpcResult};
use crate::shell::events;
use crate::shell::Shell;

/// Rows between two progress events: often enough for a bar to move on a
/// large export, rare enough not to flood the window.
pub const PROGRESS_EVERY: u64 = 1000;

/// The payload of [`events::AUDIT_EXPORT_PROGRESS`]: rows written so far
/// and rows to write. The last event has `done == total`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Progress {
    pub(crate) done: u64,
    pub(crate) total: u64,
}

/// Where the rows come from, decided (and the filter checked) before the
/// save dialog opens, so a bad filter is said before asking where to save.
pub enum Source {
    /// This desk's trail, every month kept.
    Desk(Filter),
    /// The branch's records the branch scope found, newest first, with
    /// each record's desk, and whether the search stopped at the branch's
    /// newest records (older matches may exist).
    Branch {
        records: Vec<(AuditRecord, String)>,
        partial: bool,
    },
}

impl Source {
    /// What the operator is told besides the count and the file.
    fn caveat(&self) -> Text {
        match self {
            Source::Branch { partial: true, .. } => Text::new("audit.export_partial"),
            _ => Text::new("empty"),
        }
    }
}

/// Checks the filter and gathers a branch scope's records: the half of an
/// export before the dialog (public so the IPC tests export to a path of
/// their own; the mock runtime has no dialog).
pub async fn prepare(shell: &Shell, mut filter: FilterInput) -> IpcResult<Source> {
    shell.session.require_operator()?;
    match filter.take_scope()? {
        Scope::Desk => Ok(Source::Desk(filter.parse(shell)?)),
        Scope::Branch => {
            let (records, partial) = crate::activity::branch::branch_records(shell, filter).await?;
            Ok(Source::Branch { records, partial })
        }
    }
}

/// Writes `source` to `target` and says how many rows it holds.
pub async fn write<R: Runtime>(
    app: &AppHandle<R>,
    shell: &Shell,
    source: Source,
    target: &Path,
) -> IpcResult<u64> {
    let app = app.clone();
    let trail = Trail::in_folder(&shell.data_dir);
    let target = target.to_owned();
    tauri::async_runtime::spawn_blocking(move || write_blocking(&app, &trail, source, &target))
        .await
        .map_err(IpcError::internal)?
        .map_err(|e| {
            IpcError::ExportFailed(Text::new("audit.export_failed").arg("reason", e.to_string()))
        })
}

fn write_blocking<R: Runtime>(
    app: &AppHandle<R>,
    trail: &Trail,
    source: Source,
    target: &Path,
) -> std::io::Result<u64> {
    let mut csv = CsvWriter::new(StagedFile::create(target)?)?;
    let progress = |done: u64, total: u64| {
        if done.is_multiple_of(PROGRESS_EVERY) || done == total {
            let _ = app.emit(events::AUDIT_EXPORT_PROGRESS, Progress { done, total });
        }
    };
    let rows = match source {
        Source::Desk(filter) => trail.stream(&filter, |record, done, total| {
            csv.row(record, None)?;
            progress(done, total);
            Ok::<(), std::io::Error>(())
        })?,
        Source::Branch { records, .. } => {
            let total = records.len() as u64;
            // Oldest first, as this desk's own export.
            for (record, desk) in records.iter().rev() {
                csv.row(record, Some(desk))?;
                progress(csv.rows(), total);
            }
            total
        }
    };
    csv.into_inner().commit()?;
    Ok(rows)
}

/// Writes the filtered rows to a CSV file the operator picks. `Ok(None)`
/// when the dialog was cancelled.
#[tauri::command]
pub async fn audit_export<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    filter: Option<FilterInput>,
) -> IpcResult<Option<Text>> {
    let source = prepare(&shell, filter.unwrap_or_default()).await?;
    let Some(path): Option<PathBuf> =
        save_path(&app, "countersign-audit.csv", Some(("CSV", "csv")))?
    else {
        return Ok(None);
    };
    let caveat = source.caveat();
    let rows = write(&app, &shell, source, &path).await?;
    Ok(Some(
        Text::new("audit.exported")
            .count("count", rows)
            .arg("file", path.display().to_string())
            .arg("caveat", caveat),
    ))
}
