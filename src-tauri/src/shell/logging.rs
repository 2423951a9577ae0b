//! Where the desk logs: files in the OS log folder (a Windows build has no
//! console), at IT's level and retention (`log_level`, `log_file_size_mb`,
//! `log_files_kept`), and stderr for developers (`COUNTERSIGN_LOG`).
//!
//! The files follow IT's level only, never `COUNTERSIGN_LOG`: that filter
//! can switch on any library's trace lines (request bodies, headers), and a
//! desk user must not be able to make the files hold what IT never chose.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use countersign::logfile::{LogSettings, RotatingFile};
use tauri::utils::config::AppDirectoriesOverride;
use tauri::{Context, Runtime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log folder the app will use, worked out as Tauri's `app_log_dir`
/// does, before any app is built (logging starts first): the override's
/// `logs` folder when the data folder is overridden (tests, portable
/// installs, a system policy's pinned folder), else the OS's log folder.
pub fn log_folder<R: Runtime>(context: &Context<R>) -> Option<PathBuf> {
    let normal = |p: &Path| p.components().collect::<PathBuf>();
    let identifier = &context.config().identifier;
    match &context.config().app.app_directories_override {
        None => default_log_folder(identifier),
        Some(AppDirectoriesOverride::Root(root)) if root.is_absolute() => {
            Some(normal(root).join("logs"))
        }
        Some(AppDirectoriesOverride::Directories(dirs)) => match &dirs.log {
            Some(log) => Some(log).filter(|d| d.is_absolute()).map(|d| normal(d)),
            None => default_log_folder(identifier),
        },
        // Relative or `$VARIABLE/...` paths: not followed; stderr only.
        Some(_) => None,
    }
}

/// Tauri's default: `~/Library/Logs/<id>` on macOS, else
/// `<local data>/<id>/logs` (`%LOCALAPPDATA%` on Windows).
fn default_log_folder(identifier: &str) -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        dirs::home_dir().map(|h| h.join("Library").join("Logs").join(identifier))
    } else {
        dirs::data_local_dir().map(|d| d.join(identifier).join("logs"))
    }
}

/// Starts logging to stderr and, when `folder` can be opened, to the files
/// there. Returns the folder the files go to (`None`: stderr only) and, if
/// they could not be opened, why (logged once logging runs).
pub(crate) fn init(folder: Option<&Path>, settings: &LogSettings) -> Option<PathBuf> {
    let console =
        EnvFilter::try_from_env("COUNTERSIGN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(console);
    let opened = folder.map(|dir| (dir, RotatingFile::open(dir, settings)));
    let (file_layer, problem) = match opened {
        Some((dir, Ok(file))) => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_timer(Millis)
                .with_writer(Mutex::new(file))
                .with_filter(EnvFilter::new(settings.filter_directives()));
            (Some((layer, dir.to_owned())), None)
        }
        Some((dir, Err(e))) => (None, Some(format!("{}: {e}", dir.display()))),
        None => (None, None),
    };
    let (layer, dir) = file_layer.map_or((None, None), |(l, d)| (Some(l), Some(d)));
    let started = tracing_subscriber::registry()
        .with(stderr)
        .with(layer)
        .try_init()
        .is_ok();
    if let Some(problem) = problem {
        tracing::warn!(%problem, "no log files: the log folder cannot be written");
    }
    dir.filter(|_| started)
}

/// UTC to the millisecond: no run of six or more digits in a time stamp,
/// so the scan for leaked codes (whole digit runs) cannot mistake one.
struct Millis;

impl tracing_subscriber::fmt::time::FormatTime for Millis {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}
