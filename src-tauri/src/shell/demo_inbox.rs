//! Demo mode's simulated phone: every SMS the embedded emulator accepts is
//! pushed to the window as `demo-sms`. This is the one place an SMS body
//! (and so a code) reaches the UI, and only in demo mode.

use countersign::gateway::emulator::InboxMessage;
use countersign::phone::{PhoneNumber, Region};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use crate::commands::DemoSms;
use crate::events;
use crate::state::Shell;

pub fn to_demo_sms(m: InboxMessage) -> DemoSms {
    // The phone header shows the number masked like everywhere else.
    let region: Region = "GB".parse().expect("GB is a region");
    let to = PhoneNumber::parse_any(&m.to, region)
        .map(|n| n.masked())
        .unwrap_or_else(|_| "customer".to_owned());
    DemoSms {
        to,
        body: m.body,
        at: m.received_at.timestamp_millis(),
    }
}

/// Forwards the emulator's inbox to the window until the app exits.
pub fn forward_inbox<R: Runtime>(app: &AppHandle<R>) {
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
