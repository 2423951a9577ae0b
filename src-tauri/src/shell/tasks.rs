//! The shell's background tasks: the one-second expiry sweep (which also
//! compacts the pending journal), the inactivity lock, the branch's audit
//! forwarding, and delivery tracking resumed after a restart. Each is kept
//! by the `Shell`, which stops them at shutdown.

use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, Runtime};

use super::{delivery, events, Shell};
use crate::error::{IpcError, IpcResult};

/// Starts every background task, once the desk and its gateway are in place.
pub(crate) fn start<R: Runtime>(app: &AppHandle<R>) {
    resume_tracking(app);
    spawn_idle_lock(app.clone());
    super::branch::spawn_forwarding(app.clone());
    spawn_expiry_sweep(app.clone());
}

/// After a restart, keep following the delivery of every pending SMS.
fn resume_tracking<R: Runtime>(app: &AppHandle<R>) {
    let shell = app.state::<Shell>();
    let tracked = shell
        .with_desk(|d| Ok(d.tracked_messages()))
        .unwrap_or_default();
    for (id, sid) in tracked {
        delivery::spawn(app, id, sid);
    }
}

/// Expiry is decided in Rust (S2): once a second the desk ends what has
/// expired and the window is told.
fn spawn_expiry_sweep<R: Runtime>(app: AppHandle<R>) {
    let task = tauri::async_runtime::spawn({
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                // Compaction writes a whole snapshot when due: on a blocking
                // thread, never a command's (S21, "off the request path").
                let compacting = app.clone();
                let _ = tauri::async_runtime::spawn_blocking(move || {
                    compacting.state::<Shell>().compact_pending();
                })
                .await;
                match sweep_expired(&app) {
                    Ok(_) => {}
                    // Shut down, or never opened: nothing will expire.
                    Err(IpcError::DeskUnavailable(_)) => break,
                    Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
                }
            }
        }
    });
    app.state::<Shell>().keep_task(task);
}

/// One pass of the expiry sweep: ends what has expired by the shell's
/// clock, stops its delivery tracking and tells the window; how many
/// ended. Public so the race tests can run the sweep at a chosen moment.
pub fn sweep_expired<R: Runtime>(app: &AppHandle<R>) -> IpcResult<usize> {
    let outcomes = app.state::<Shell>().with_desk(|d| Ok(d.purge()?))?;
    for outcome in &outcomes {
        app.state::<Shell>().stop_tracker(&outcome.id);
        let _ = app.emit(events::VERIFICATION_ENDED, outcome);
    }
    Ok(outcomes.len())
}

/// Signs the operator out after the lock interval without activity.
fn spawn_idle_lock<R: Runtime>(app: AppHandle<R>) {
    let task = tauri::async_runtime::spawn({
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let shell = app.state::<Shell>();
                if let Some(operator) = shell.session.lock_if_idle(std::time::Instant::now()) {
                    super::session::record_lock(&app, &shell, operator, "locked after inactivity");
                }
            }
        }
    });
    app.state::<Shell>().keep_task(task);
}
