//! The desk through IPC, as the window sees it: the real generated context
//! (so the real capabilities and ACL), a mock runtime and a temp data folder.
#![allow(dead_code)] // Each test binary uses part of the harness.

use std::path::Path;

use countersign::clock::SharedClock;
use countersign::gateway::emulator::Faults;
use countersign_desk::settings::gateway as gateway_setup;
use countersign_desk::shell::Shell;
use countersign_desk::Launch;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, AppHandle, Manager, WebviewWindow};

pub struct Desk {
    pub app: App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    /// Shuts the shell down when the desk is dropped, as the app does at
    /// exit: a test that opens the folder again finds it free (S20).
    _release: Release,
}

/// A field, not `Drop` on `Desk`, so that a test can still move `app` out.
struct Release(AppHandle<MockRuntime>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(shell) = self.0.try_state::<Shell>() {
            shell.shutdown();
        }
    }
}

/// Opens the desk on demo mode's emulator, with owner-only credential files
/// and no policy file, and signs in.
pub fn open(data_dir: &Path) -> Desk {
    let gateway =
        tauri::async_runtime::block_on(gateway_setup::demo()).expect("demo gateway starts");
    open_with(data_dir, Some(gateway), &[])
}

/// Opens the desk with these environment variables (and no other): the
/// gateway from the configuration when `gateway` is `None`.
pub fn open_with(
    data_dir: &Path,
    gateway: Option<gateway_setup::GatewaySetup>,
    env: &[(&str, &str)],
) -> Desk {
    open_on_machine(data_dir, gateway, env, Vec::new())
}

/// As [`open_with`], on a machine whose system policy file is looked for
/// at `system_policy` (a test's own folder, never /etc).
pub fn open_on_machine(
    data_dir: &Path,
    gateway: Option<gateway_setup::GatewaySetup>,
    env: &[(&str, &str)],
    system_policy: Vec<std::path::PathBuf>,
) -> Desk {
    signed_in(try_open(data_dir, gateway, env, system_policy).expect("app builds"))
}

fn signed_in(app: App<MockRuntime>) -> Desk {
    let window = match app.get_webview_window("main") {
        Some(w) => w,
        None => tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("window"),
    };
    let desk = Desk {
        _release: Release(app.handle().clone()),
        app,
        window,
    };
    desk.call("sign_in", json!({"staffId": "S1234", "name": "Sam Teller"}))
        .expect("sign in");
    desk
}

/// Builds the app as [`open_on_machine`] does, and hands back its answer.
pub fn try_open(
    data_dir: &Path,
    gateway: Option<gateway_setup::GatewaySetup>,
    env: &[(&str, &str)],
    system_policy: Vec<std::path::PathBuf>,
) -> tauri::Result<App<MockRuntime>> {
    try_open_at(
        data_dir,
        gateway,
        env,
        system_policy,
        std::sync::Arc::new(countersign::clock::SystemClock),
    )
}

/// Opens the desk on demo mode's emulator with the test's own clock, and
/// signs in; the emulator's knobs stay with the test (a held send).
pub fn open_at(data_dir: &Path, clock: SharedClock) -> (Desk, std::sync::Arc<Faults>) {
    let gateway =
        tauri::async_runtime::block_on(gateway_setup::demo()).expect("demo gateway starts");
    let faults = gateway
        .emulator
        .as_ref()
        .expect("demo mode runs the emulator")
        .shared_faults();
    let app = try_open_at(data_dir, Some(gateway), &[], Vec::new(), clock).expect("app builds");
    (signed_in(app), faults)
}

fn try_open_at(
    data_dir: &Path,
    gateway: Option<gateway_setup::GatewaySetup>,
    env: &[(&str, &str)],
    system_policy: Vec<std::path::PathBuf>,
    clock: SharedClock,
) -> tauri::Result<App<MockRuntime>> {
    let mut context = tauri::generate_context!();
    countersign_desk::apply_data_dir_override(&mut context, Some(data_dir.to_owned()));
    // The harness makes the window itself; a test that runs the event loop
    // (to exit through it) would otherwise get a second "main" at Ready.
    for window in &mut context.config_mut().app.windows {
        window.create = false;
    }
    let mut vars: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("COUNTERSIGN_CREDENTIALS".into())
        .or_insert_with(|| "file".into());
    // Never the machine's own /etc/countersign policy in a test: an empty
    // one of the test's own.
    vars.entry("COUNTERSIGN_POLICY".into()).or_insert_with(|| {
        let empty = data_dir.with_extension("empty-policy.toml");
        std::fs::write(&empty, "").expect("empty policy file");
        empty.display().to_string()
    });
    // A test speaks as a computer in that locale by passing LANG.
    let os_locale = vars.get("LANG").cloned();
    let launch = Launch {
        gateway,
        env: Box::new(move |k| vars.get(k).cloned()),
        policy_locations: system_policy,
        os_locale,
        log_dir: None,
        clock,
    };
    countersign_desk::run_app(mock_builder(), context, launch)
}

/// One IPC call on `window`, from any thread: the race tests make calls
/// from two at once.
pub fn call(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("json answer"))
}

/// The code in an SMS text: its first run of six or more digits.
pub fn code_in_sms(text: &str) -> String {
    countersign::sms::code_in(text)
        .expect("a code in the SMS")
        .to_owned()
}

impl Desk {
    pub fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        call(&self.window, cmd, args)
    }

    /// Starts a verification that may be refused; the answer either way.
    pub fn try_start(&self, phone: &str) -> Result<Value, Value> {
        self.call(
            "start_verification",
            json!({"phone": phone, "purpose": {"kind": "reference", "reference": "x"}}),
        )
    }

    pub fn start(&self, phone: &str) -> Value {
        self.call("start_verification", json!({"phone": phone, "purpose": {"kind": "reference", "reference": "Cash withdrawal"}}))
            .expect("start succeeds")
    }

    /// The code in the newest SMS to the demo phone (the one place a code
    /// reaches the UI, and only in demo mode).
    pub fn latest_code(&self) -> String {
        let inbox = self.call("demo_inbox", json!({})).expect("inbox");
        let body = inbox
            .as_array()
            .and_then(|a| a.last())
            .and_then(|m| m["body"].as_str())
            .expect("an SMS");
        code_in_sms(body)
    }

    /// The audit rows the Activity screen shows on its first page, newest
    /// first (the page is as large as a page may be, so tests see them all).
    pub fn audit_rows(&self) -> Vec<Value> {
        self.call("audit_query", json!({"page": {"limit": 500}}))
            .expect("audit query")["rows"]
            .as_array()
            .cloned()
            .expect("a page of rows")
    }

    pub fn check(&self, id: &str, code: &str) -> Result<Value, Value> {
        self.call("check_code", json!({"id": id, "code": code}))
    }
}

pub fn id_of(started: &Value) -> String {
    started["verification"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}
