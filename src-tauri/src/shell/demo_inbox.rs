//! Demo mode's simulated phone: every SMS the embedded emulator accepts is
//! pushed to the window as `demo-sms`. This is the one place an SMS body
//! (and so a code) reaches the UI, and only in demo mode.

use countersign::gateway::emulator::InboxMessage;
use countersign::policy::{NumberUse, Policy};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use super::{events, Shell};

/// One SMS on demo mode's phone, as the window shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DemoSms {
    pub to: String,
    pub body: String,
    pub at: i64,
}

pub(crate) fn to_demo_sms(m: InboxMessage) -> DemoSms {
    // The phone header shows the number masked like everywhere else. The
    // gateway was handed it in E.164, so the default country never applies.
    let to = Policy::default()
        .parse_number(&m.to, NumberUse::Search)
        .map(|n| n.masked())
        .unwrap_or_else(|_| "customer".to_owned());
    DemoSms {
        to,
        body: m.body,
        at: m.received_at.timestamp_millis(),
    }
}

/// Forwards the emulator's inbox to the window until the app exits.
pub(crate) fn forward_inbox<R: Runtime>(app: &AppHandle<R>) {
    let shell = app.state::<Shell>();
    let Some((_, mut inbox)) = shell.demo_inbox() else {
        return;
    };
    let task_app = app.clone();
    let task = tauri::async_runtime::spawn(async move {
        let app = task_app;
        loop {
            match inbox.recv().await {
                Ok(m) => {
                    let _ = app.emit(events::DEMO_SMS, to_demo_sms(m));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
    shell.keep_task(task);
}
