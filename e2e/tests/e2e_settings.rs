//! End-to-end, in the real window: IT configures Restcomm mode on the
//! settings screen against an emulator running as a separate process, and a
//! verification completes through it; a bad value is refused beside its
//! field and nothing is saved.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use countersign_e2e::Desk;

const SID: &str = "ACe2e0000000000000000000000000002";
const TOKEN: &str = "e2e-settings-token-5c1d";

/// `restcomm-emulator` as its own process; its stdout prints the base URL,
/// then one line per SMS it accepts.
struct EmulatorProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    base_url: String,
}

impl EmulatorProcess {
    fn start() -> Self {
        let mut child = Command::new(countersign_e2e::emulator_binary())
            .args(["--port", "0", "--account", SID, "--token", TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("restcomm-emulator starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let base_url = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the emulator prints its base URL");
            if let Some(url) = line.trim().strip_prefix("base URL:") {
                break url.trim().to_owned();
            }
        };
        Self {
            child,
            lines,
            base_url,
        }
    }

    /// The next SMS line that mentions `needle`.
    fn sms_with(&self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no SMS with {needle:?} reached the emulator"));
            if line.contains(" SMS ") && line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn setting_error(app: &countersign_e2e::App, key: &str) -> String {
    let js = format!(
        "return document.querySelector('[data-testid=\"setting-error-{key}\"]')?.textContent || '';"
    );
    app.execute(&js).await.as_str().unwrap_or("").to_owned()
}

async fn wait_for_js(app: &countersign_e2e::App, what: &str, js: &str) -> String {
    for _ in 0..100 {
        let v = app.execute(js).await;
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            return s.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_configures_restcomm_on_the_settings_screen_and_a_verification_completes() {
    let emulator = EmulatorProcess::start();
    let desk = Desk::demo();
    let app = desk.open().await;
    assert_eq!(app.snapshot().await.expect("snapshot").mode, "demo");

    app.click("nav-settings").await;
    app.find("setting-gateway").await;

    // Checked as typed: a code length out of bounds is named beside its field.
    app.clear("setting-code_length").await;
    app.type_into("setting-code_length", "12").await;
    let message = wait_for_js(
        &app,
        "the code length error",
        "return document.querySelector('[data-testid=\"setting-error-code_length\"]').textContent;",
    )
    .await;
    assert_eq!(
        message,
        "The code length must be between 6 and 10 digits (got 12)."
    );
    app.click("settings-save").await;
    let result = wait_for_js(
        &app,
        "the refusal",
        "const r = document.querySelector('[data-testid=\"settings-result\"]'); return r.dataset.ok === 'false' ? r.textContent : '';",
    )
    .await;
    assert!(result.starts_with("Nothing was saved"), "{result}");
    app.clear("setting-code_length").await;
    app.type_into("setting-code_length", "6").await;

    // The gateway, chosen as IT would from the keyboard: the list is on
    // screen and usable, and typing the start of "Restcomm" on it picks
    // that entry (no script sets its value).
    let gateway = app.find("setting-gateway").await;
    assert!(
        gateway.is_displayed().await.expect("visibility"),
        "the gateway list is visible"
    );
    assert!(
        gateway.is_enabled().await.expect("enabled state"),
        "the gateway list can be changed"
    );
    app.type_into("setting-gateway", "Rest").await;
    let chosen = wait_for_js(
        &app,
        "the keyboard's choice of gateway",
        "const g = document.querySelector('[data-testid=\"setting-gateway\"]'); return g.value === 'restcomm' && document.activeElement === g ? g.value : '';",
    )
    .await;
    assert_eq!(chosen, "restcomm");
    app.type_into("setting-base_url", &emulator.base_url).await;
    app.type_into("setting-account_sid", SID).await;
    app.type_into("setting-sender", "+15550001111").await;
    app.click("token-replace").await;
    app.type_into("setting-token", TOKEN).await;
    assert_eq!(setting_error(&app, "base_url").await, "");
    app.click("settings-save").await;

    // The page starts afresh in Restcomm mode, still signed in.
    let s = app
        .wait("restcomm mode", |s| {
            (s.mode == "restcomm").then(|| s.clone())
        })
        .await;
    assert!(!s.demo_banner, "no demo banner in real mode");
    // Nowhere on the page: not in its text, not in any field's value.
    app.click("nav-settings").await;
    app.find("token-status").await;
    let token_shown = app
        .execute(
            "const t = 'e2e-settings-token'; return document.body.innerText.includes(t) || [...document.querySelectorAll('input, textarea')].some((i) => i.value.includes(t));",
        )
        .await;
    assert_eq!(
        token_shown,
        serde_json::Value::Bool(false),
        "the token is never on the page"
    );
    let status = wait_for_js(
        &app,
        "the token status",
        "return document.querySelector('[data-testid=\"token-status\"]').textContent;",
    )
    .await;
    assert_eq!(status, "Set");

    app.click("nav-desk").await;
    let id = app.send("07400 123456", "Settings e2e").await;
    let line = emulator.sms_with("Settings e2e");
    assert!(line.contains("to +447400123456"), "{line}");
    let code = countersign_e2e::code_in(&line).expect("a code in the SMS");
    app.check(&id, &code).await;
    app.wait("verified", |s| {
        (s.outcome() == Some("approved")).then_some(())
    })
    .await;
    app.close().await;
}
