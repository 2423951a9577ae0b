//! Delivery tracking: one background task per accepted SMS polls the gateway
//! and feeds each new status to the engine, which records it; the UI hears
//! of it through `verification-changed`. A task stops at a final status, at
//! the tracking time limit, or when its verification ends.

use countersign::desk::DeliveryRecorded;
use countersign::gateway::tracking::{self, TokioSleeper, TrackingEnd, TrackingPolicy};
use countersign::gateway::MessageSid;
use countersign::verification::VerificationId;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use super::{events, Shell};

/// Follows the delivery of `sid`, the SMS of `id`, in a task of its own.
pub(crate) fn spawn<R: Runtime>(app: &AppHandle<R>, id: VerificationId, sid: MessageSid) {
    let task_app = app.clone();
    let task_id = id.clone();
    app.state::<Shell>()
        .keep_tracker(id, move || track(task_app, task_id, sid));
}

fn track<R: Runtime>(
    task_app: AppHandle<R>,
    task_id: VerificationId,
    sid: MessageSid,
) -> tauri::async_runtime::JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        let shell = task_app.state::<Shell>();
        let Ok(gateway) = shell.gateway() else { return };
        let end = tracking::track(
            &gateway.client,
            &sid,
            &TrackingPolicy::default(),
            &TokioSleeper::default(),
            |status| {
                let changed =
                    shell.with_desk(|desk| Ok(desk.record_delivery(&task_id, &sid, status)?));
                match changed {
                    Ok(Some(DeliveryRecorded::Changed(view))) => {
                        let _ = task_app.emit(events::VERIFICATION_CHANGED, view);
                    }
                    // A failed or undelivered SMS ended it (S23); tracking
                    // stops by itself, the status being final.
                    Ok(Some(DeliveryRecorded::Ended(outcome))) => {
                        let _ = task_app.emit(events::VERIFICATION_ENDED, outcome);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "delivery status not recorded"),
                }
            },
        )
        .await;
        if let TrackingEnd::Error(e) = end {
            tracing::warn!(kind = e.kind(), "delivery tracking stopped");
        }
        shell.tracker_ended(&task_id);
    })
}
