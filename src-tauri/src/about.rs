//! The About panel: what IT asks for first when a desk calls for help.
//!
//! The facts and the text staff copy are the core's (`support`); this
//! gathers them from the running shell.

use tauri::{AppHandle, Runtime, State};

use countersign::support::SupportFacts;

use crate::error::IpcResult;
use crate::shell::Shell;

/// The commit the app was built from, as `build.rs` found it.
const BUILD: &str = env!("COUNTERSIGN_BUILD");

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct About {
    facts: SupportFacts,
    /// What "Copy support information" copies.
    support_text: String,
}

#[tauri::command]
pub(crate) fn about<R: Runtime>(app: AppHandle<R>, shell: State<'_, Shell>) -> IpcResult<About> {
    shell.session.require_operator()?;
    let facts = facts(&app, &shell)?;
    Ok(About {
        support_text: facts.report(),
        facts,
    })
}

fn facts<R: Runtime>(app: &AppHandle<R>, shell: &Shell) -> IpcResult<SupportFacts> {
    let policy = shell.config(|c| c.policy.describe())?;
    Ok(SupportFacts {
        version: app.package_info().version.to_string(),
        build: BUILD.to_owned(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        data_folder: shell.data_dir.display().to_string(),
        log_folder: shell.log_dir.as_ref().map_or_else(
            || "none: logs go to the console only".to_owned(),
            |p| p.display().to_string(),
        ),
        policy,
        gateway_mode: shell
            .mode()
            .map_or("none (no SMS can be sent)".to_owned(), |m| {
                m.name().to_owned()
            }),
        branch_desk: shell.branch_desk(),
        ui_language: shell.ui_language().code().to_owned(),
        // English for IT, whatever the screen's language.
        warnings: shell.warnings().iter().map(ToString::to_string).collect(),
    })
}
