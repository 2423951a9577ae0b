//! The save dialog the shell opens itself for the Activity screen's two
//! files (the CSV export and the audit key): the window is granted no
//! dialog or file access, so it can never name a path.

use std::path::PathBuf;

use countersign::i18n::Text;
use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::DialogExt;

use crate::error::{IpcError, IpcResult};

/// Asks where to save `name`, offering `filter` (label, extension).
/// `Ok(None)` when the dialog was cancelled.
pub(crate) fn save_path<R: Runtime>(
    app: &AppHandle<R>,
    name: &str,
    filter: Option<(&str, &str)>,
) -> IpcResult<Option<PathBuf>> {
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
