//! Harness for the end-to-end tests: a private X server (Xvfb), tauri-driver
//! with WebKitWebDriver behind it, the desk app in a per-test data directory,
//! and a WebDriver session driving the window through its `data-testid`s.
//!
//! One test at a time (a process-wide lock): the app, WebKit and the driver
//! are heavy for a 2-core machine, and only one window should own the display.
//!
//! Every wait is a polling condition with a generous upper bound; nothing
//! asserts on elapsed time.
//!
//! A workspace member of its own, so that the core's and the shell's tests
//! build and run on a machine without a window (Windows and macOS CI), and
//! so that the suite can drive any build of the app: the debug binary by
//! default, the shipped release binary in CI (`COUNTERSIGN_APP_BIN`).

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::{json, Value};
use tempfile::TempDir;

/// Upper bound for ordinary waits (a send, a check, a screen change).
pub const WAIT: Duration = Duration::from_secs(20);
/// Upper bound for the app to start and the window to be ready.
pub const START_WAIT: Duration = Duration::from_secs(60);

static SERIAL: Mutex<()> = Mutex::new(());

// ---- what the tests need installed ----------------------------------------

/// The repository's root folder (this crate is `e2e/` in it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ sits in the repository")
        .to_owned()
}

/// The app binary: `COUNTERSIGN_APP_BIN`, else `<target>/debug/countersign`.
pub fn app_binary() -> PathBuf {
    workspace_binary("COUNTERSIGN_APP_BIN", "countersign")
}

/// The stand-alone `restcomm-emulator`: `COUNTERSIGN_EMULATOR_BIN`, else
/// `<target>/debug/restcomm-emulator` (`cargo test --workspace` builds it).
pub fn emulator_binary() -> PathBuf {
    let bin = workspace_binary("COUNTERSIGN_EMULATOR_BIN", "restcomm-emulator");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace (`cargo test --workspace --no-run`) or set COUNTERSIGN_EMULATOR_BIN",
        bin.display()
    );
    bin
}

fn workspace_binary(variable: &str, name: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(variable) {
        return absolute(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    absolute(target.join("debug").join(name))
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().expect("current dir").join(p)
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn tauri_driver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TAURI_DRIVER").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    on_path("tauri-driver").or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".cargo/bin/tauri-driver");
        p.is_file().then_some(p)
    })
}

fn webkit_webdriver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WEBKIT_WEBDRIVER").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    on_path("WebKitWebDriver").or_else(|| {
        let p = PathBuf::from("/usr/bin/WebKitWebDriver");
        p.is_file().then_some(p)
    })
}

struct Tools {
    app: PathBuf,
    tauri_driver: PathBuf,
    webkit_webdriver: PathBuf,
}

/// Fails (never skips) with what is missing and how to get it.
fn tools(need_xvfb: bool) -> Tools {
    let app = app_binary();
    let mut missing = Vec::new();
    if !app.is_file() {
        missing.push(format!(
            "the app binary {} (build it: `cargo build -p countersign-desk`, or point COUNTERSIGN_APP_BIN at it)",
            app.display()
        ));
    }
    let driver = tauri_driver();
    if driver.is_none() {
        missing.push(
            "tauri-driver (install: `cargo install tauri-driver --locked --version ^2`; or set TAURI_DRIVER)"
                .to_owned(),
        );
    }
    let native = webkit_webdriver();
    if native.is_none() {
        missing.push(
            "WebKitWebDriver (install: `apt-get install webkit2gtk-driver`; or set WEBKIT_WEBDRIVER)"
                .to_owned(),
        );
    }
    if need_xvfb && on_path("Xvfb").is_none() {
        missing.push(
            "Xvfb (install: `apt-get install xvfb`; or set COUNTERSIGN_E2E_DISPLAY to use an existing X display)"
                .to_owned(),
        );
    }
    assert!(
        missing.is_empty(),
        "the end-to-end tests cannot run; missing:\n  - {}",
        missing.join("\n  - ")
    );
    Tools {
        app,
        tauri_driver: driver.unwrap(),
        webkit_webdriver: native.unwrap(),
    }
}

// ---- processes ---------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// SIGTERM, then wait up to `grace`; SIGKILL only if it will not go.
fn terminate(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Processes whose environment holds `marker` (the per-test data dir): the
/// app this test started, found by its own unique setting, never by name.
fn pids_with_env(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

fn kill_leftovers(marker: &str) {
    for pid in pids_with_env(marker) {
        // SAFETY: kill(2) on a process that carries this test's own data dir.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Our own X server, or an existing display (`COUNTERSIGN_E2E_DISPLAY`).
struct Display {
    name: String,
    xvfb: Option<Child>,
}

impl Display {
    fn start(log_dir: &Path) -> Display {
        if let Some(name) = std::env::var("COUNTERSIGN_E2E_DISPLAY")
            .ok()
            .filter(|s| !s.is_empty())
        {
            return Display { name, xvfb: None };
        }
        for n in 90..200u32 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let log = File::create(log_dir.join(format!("xvfb-{n}.log"))).expect("xvfb log");
            let mut child = Command::new("Xvfb")
                .arg(format!(":{n}"))
                .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("Xvfb could not be started");
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if socket.exists() {
                    return Display {
                        name: format!(":{n}"),
                        xvfb: Some(child),
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // taken meanwhile: try the next number
                }
                if Instant::now() > deadline {
                    terminate(&mut child, Duration::from_secs(2));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("Xvfb did not start on any display from :90 to :199");
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(child) = &mut self.xvfb {
            terminate(child, Duration::from_secs(5));
        }
    }
}

// ---- the desk: one test's world ----------------------------------------------

/// One test's world: the lock, the display, the data directory and the
/// environment the app starts with. Sessions ([`App`]) come and go on it.
pub struct Desk {
    tools: Tools,
    env: Vec<(String, String)>,
    data_dir: TempDir,
    logs: TempDir,
    display: Display,
    _serial: MutexGuard<'static, ()>,
}

impl Desk {
    /// Demo mode: nothing configured.
    pub fn demo() -> Desk {
        Desk::with_env(&[])
    }

    /// `env` reaches the app through tauri-driver.
    /// A desk in Restcomm mode on `gateway`, set through the environment
    /// (`COUNTERSIGN_RESTCOMM_*`), with `extra` variables besides.
    pub fn on_gateway(gateway: &TestGateway, extra: &[(&str, &str)]) -> Desk {
        let url = gateway.emulator.base_url().to_string();
        let mut env = vec![
            ("COUNTERSIGN_RESTCOMM_URL", url.as_str()),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", gateway.sid),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", gateway.token),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+447400000001"),
        ];
        env.extend_from_slice(extra);
        Desk::with_env(&env)
    }

    pub fn with_env(env: &[(&str, &str)]) -> Desk {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let need_xvfb = std::env::var_os("COUNTERSIGN_E2E_DISPLAY").is_none();
        let tools = tools(need_xvfb);
        let logs = tempfile::Builder::new()
            .prefix("countersign-e2e-logs")
            .tempdir()
            .expect("log dir");
        let data_dir = tempfile::Builder::new()
            .prefix("countersign-e2e-data")
            .tempdir()
            .expect("data dir");
        let display = Display::start(logs.path());
        Desk {
            tools,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir,
            logs,
            display,
            _serial: serial,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    fn marker(&self) -> String {
        format!("COUNTERSIGN_DATA_DIR={}", self.data_dir.path().display())
    }

    /// Starts tauri-driver and a session (which starts the app), and waits
    /// until the window has finished starting up.
    pub async fn open(&self) -> App {
        let port = free_port();
        let mut native_port = free_port();
        while native_port == port {
            native_port = free_port();
        }
        let seq = std::fs::read_dir(self.logs.path()).map_or(0, |d| d.count());
        let log_path = self.logs.path().join(format!("driver-{seq}.log"));
        let log = File::create(&log_path).expect("driver log");
        let mut cmd = Command::new(&self.tools.tauri_driver);
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .arg("--native-driver")
            .arg(&self.tools.webkit_webdriver)
            .env("DISPLAY", &self.display.name)
            .env("COUNTERSIGN_DATA_DIR", self.data_dir.path())
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("COUNTERSIGN_RESTCOMM_") || name == "COUNTERSIGN_POLICY" {
                cmd.env_remove::<OsString>(k);
            }
        }
        // Owner-only files in the test's data folder, never the keyring of
        // whoever runs the tests.
        cmd.env("COUNTERSIGN_CREDENTIALS", "file");
        // The desk speaks the computer's language: English here, whatever
        // the locale of whoever runs the tests, unless a test asks.
        cmd.env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut driver = cmd.spawn().expect("tauri-driver could not be started");

        let deadline = Instant::now() + Duration::from_secs(30);
        while !(accepts(port) && accepts(native_port)) {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!(
                    "tauri-driver exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                terminate(&mut driver, Duration::from_secs(5));
                panic!(
                    "tauri-driver did not listen on ports {port} and {native_port}:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }

        let caps = json!({
            "browserName": "wry",
            "tauri:options": { "application": self.tools.app.to_string_lossy() },
        });
        let caps = caps.as_object().cloned().expect("object");
        let url = format!("http://127.0.0.1:{port}");
        let mut last = String::new();
        let mut client = None;
        for _ in 0..3 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(e) => {
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let mut app = App {
            client: None,
            driver: Some(driver),
            log_path,
            marker: self.marker(),
        };
        match client {
            Some(c) => app.client = Some(c),
            None => panic!("no WebDriver session ({last}); driver log:\n{}", app.log()),
        }
        app.wait_ready().await;
        app
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        // Sessions are gone by now; anything of ours still running is not.
        kill_leftovers(&self.marker());
    }
}

// ---- the app: one session -----------------------------------------------------

/// What the window shows, read in one round trip through the test ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub mode: String,
    pub screen: Option<String>,
    /// `data-testid` (or id, or tag) of the focused element.
    pub active: Option<String>,
    /// `data-id` of the card holding the focus, if any.
    pub active_card: Option<String>,
    pub cards: Vec<Card>,
    pub result: Option<ResultPanel>,
    pub tries_left: Option<String>,
    pub error: String,
    pub sms: Vec<String>,
    pub demo_banner: bool,
    pub phone_visible: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub id: String,
    pub status: String,
    pub text: String,
    pub delivery: String,
    pub expires_in: String,
    pub resend_text: String,
    pub resend_disabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResultPanel {
    pub outcome: String,
    pub text: String,
}

impl Snapshot {
    pub fn card(&self, id: &str) -> Option<&Card> {
        self.cards.iter().find(|c| c.id == id)
    }

    pub fn outcome(&self) -> Option<&str> {
        self.result.as_ref().map(|r| r.outcome.as_str())
    }

    /// Codes in the demo phone's messages whose text contains `needle`,
    /// oldest first.
    pub fn codes_for(&self, needle: &str) -> Vec<String> {
        self.sms
            .iter()
            .filter(|body| body.contains(needle))
            .filter_map(|body| code_in(body))
            .collect()
    }
}

/// The code in "Countersign code 783301 for …".
/// Takes a message's body, or an emulator's log line (`… SMS <sid> from …
/// to …: <body>`), whose hexadecimal SID can hold a run of digits: only the
/// body after it is read.
pub fn code_in(text: &str) -> Option<String> {
    let body = text
        .split_once(" SMS ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map_or(text, |(_, body)| body);
    countersign::sms::code_in(body).map(str::to_owned)
}

/// A different code of the same length.
pub fn wrong_code(code: &str) -> String {
    code.chars()
        .map(|c| {
            let d = c.to_digit(10).expect("digit");
            char::from_digit((d + 1) % 10, 10).expect("digit")
        })
        .collect()
}

const SNAPSHOT_JS: &str = r#"
const all = (t, root) => [...(root || document).querySelectorAll(`[data-testid="${t}"]`)];
const one = (t, root) => (root || document).querySelector(`[data-testid="${t}"]`);
const shown = (el) => !!el && !el.closest("[hidden]");
const text = (el) => (el ? el.textContent.trim() : "");
const a = document.activeElement;
const result = one("result");
const tries = one("tries-left");
const current = document.querySelector('.nav a[aria-current="page"]');
return {
  mode: document.body.dataset.mode || "",
  screen: current ? current.getAttribute("data-testid") : null,
  active: a && a !== document.body ? (a.getAttribute("data-testid") || a.id || a.tagName) : null,
  activeCard: a && a.closest('[data-testid="verification"]') ? a.closest('[data-testid="verification"]').dataset.id : null,
  cards: all("verification").map((c) => ({
    id: c.dataset.id || "",
    status: c.dataset.status || "",
    text: text(c),
    delivery: text(one("delivery", c)),
    expiresIn: text(one("expires-in", c)),
    resendText: text(one("resend", c)),
    resendDisabled: one("resend", c).disabled,
  })),
  result: shown(result) ? { outcome: result.dataset.outcome || "", text: text(result) } : null,
  triesLeft: shown(tries) ? text(tries) : null,
  error: text(one("error")),
  sms: all("demo-sms").map((b) => b.textContent),
  demoBanner: shown(one("demo-banner")),
  phoneVisible: all("demo-sms").length > 0 ? shown(one("demo-sms")) : !document.getElementById("phone-column").hidden,
};
"#;

/// One WebDriver session: the app runs while it lasts.
pub struct App {
    client: Option<Client>,
    driver: Option<Child>,
    log_path: PathBuf,
    marker: String,
}

fn by_testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

impl App {
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Ends the session (tauri-driver kills the app), then stops the driver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), client.close()).await;
        }
        self.stop_driver();
    }

    fn stop_driver(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            terminate(&mut driver, Duration::from_secs(10));
        }
        kill_leftovers(&self.marker);
    }

    pub async fn snapshot(&self) -> Result<Snapshot, String> {
        let value = self
            .client()
            .execute(SNAPSHOT_JS, vec![])
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// Polls the window until `ready` says yes; fails after `within` with the
    /// last thing seen. Errors reading the window (the driver drops a request
    /// now and then) are retried like a "not yet".
    pub async fn wait_within<T>(
        &self,
        what: &str,
        within: Duration,
        mut ready: impl FnMut(&Snapshot) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let last = match self.snapshot().await {
                Ok(s) => {
                    if let Some(v) = ready(&s) {
                        return v;
                    }
                    Ok(s)
                }
                Err(e) => Err(e),
            };
            if Instant::now() > deadline {
                panic!(
                    "timed out after {within:?} waiting for {what}; last seen: {last:#?}\ndriver log:\n{}",
                    tail(&self.log(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait<T>(&self, what: &str, ready: impl FnMut(&Snapshot) -> Option<T>) -> T {
        self.wait_within(what, WAIT, ready).await
    }

    /// Start-up done: the desk starts locked, so sign in as a member of
    /// staff would, then wait until the mode is known and the phone field
    /// has the focus (main.js focuses it last, after the queue and the demo
    /// inbox loaded).
    async fn wait_ready(&self) {
        let signin = self
            .wait_within("the sign-in form or the desk", START_WAIT, |s| {
                let active = s.active.as_deref();
                let started = s.mode != "unknown" && !s.mode.is_empty();
                match active {
                    Some("signin-staff-id" | "signin-name") => Some(true),
                    Some("phone") if started => Some(false),
                    _ => None,
                }
            })
            .await;
        if signin {
            self.sign_in("S1234", "Sam Teller").await;
        }
        self.wait_within("the window to finish starting", START_WAIT, |s| {
            (s.mode != "unknown" && !s.mode.is_empty() && s.active.as_deref() == Some("phone"))
                .then_some(())
        })
        .await;
    }

    /// Fills the sign-in form (the fields may be prefilled) and submits it.
    pub async fn sign_in(&self, staff_id: &str, name: &str) {
        for (testid, value) in [("signin-staff-id", staff_id), ("signin-name", name)] {
            let field = self.find(testid).await;
            self.retry(&format!("clearing {testid}"), || field.clear())
                .await;
            self.retry(&format!("typing into {testid}"), || field.send_keys(value))
                .await;
        }
        self.click("signin-submit").await;
    }

    /// Runs a WebDriver command, once more if the connection dropped.
    async fn retry<T, F, Fut>(&self, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        match f().await {
            Ok(v) => v,
            Err(first) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                f().await.unwrap_or_else(|e| {
                    panic!(
                        "{what} failed: {e} (first try: {first})\n{}",
                        tail(&self.log(), 40)
                    )
                })
            }
        }
    }

    pub async fn find(&self, testid: &str) -> Element {
        let css = by_testid(testid);
        self.retry(&format!("finding {testid}"), || {
            self.client().find(Locator::Css(&css))
        })
        .await
    }

    /// The element with `testid` inside the card `card_id`.
    pub async fn in_card(&self, card_id: &str, testid: &str) -> Element {
        let css = format!(
            "[data-testid=\"verification\"][data-id=\"{card_id}\"] {}",
            by_testid(testid)
        );
        self.retry(&format!("finding {testid} in card {card_id}"), || {
            self.client().find(Locator::Css(&css))
        })
        .await
    }

    pub async fn click(&self, testid: &str) {
        let el = self.find(testid).await;
        self.retry(&format!("clicking {testid}"), || el.click())
            .await;
    }

    /// Empties a field. WebKitWebDriver refuses to clear a field outside
    /// the window (it does not scroll first, as typing does), and in a
    /// 650-pixel window many are below the fold.
    pub async fn clear(&self, testid: &str) {
        self.execute(&format!(
            r#"document.querySelector('[data-testid="{testid}"]').scrollIntoView({{ block: "center" }});"#
        ))
        .await;
        let el = self.find(testid).await;
        self.retry(&format!("clearing {testid}"), || el.clear())
            .await;
    }

    pub async fn type_into(&self, testid: &str, text: &str) {
        let el = self.find(testid).await;
        self.retry(&format!("typing into {testid}"), || el.send_keys(text))
            .await;
    }

    /// Keys to whatever has the focus (keyboard-only use).
    pub async fn type_to_focus(&self, text: &str) {
        let el = self
            .retry("finding the focused element", || {
                self.client().active_element()
            })
            .await;
        self.retry("typing to the focused element", || el.send_keys(text))
            .await;
    }

    pub async fn card_click(&self, card_id: &str, testid: &str) {
        let el = self.in_card(card_id, testid).await;
        self.retry(&format!("clicking {testid} in {card_id}"), || el.click())
            .await;
    }

    pub async fn card_type(&self, card_id: &str, testid: &str, text: &str) {
        let el = self.in_card(card_id, testid).await;
        self.retry(&format!("typing into {testid} in {card_id}"), || {
            el.send_keys(text)
        })
        .await;
    }

    /// Types a number and a purpose, clicks Send, and waits for the new
    /// pending card; returns its `data-id`.
    pub async fn send(&self, number: &str, purpose: &str) -> String {
        let before: Vec<String> = self
            .wait("the queue to be readable", |s| Some(s.cards.clone()))
            .await
            .into_iter()
            .map(|c| c.id)
            .collect();
        self.type_into("phone", number).await;
        if !purpose.is_empty() {
            self.type_into("purpose", purpose).await;
        }
        self.click("send").await;
        self.wait(&format!("a new pending card for {number}"), |s| {
            s.cards
                .iter()
                .find(|c| !before.contains(&c.id) && c.status == "pending" && !c.id.is_empty())
                .map(|c| c.id.clone())
        })
        .await
    }

    /// Waits for the demo phone to show the `nth` (1-based) message whose
    /// text contains `needle`, and returns its code.
    pub async fn code_from_phone(&self, needle: &str, nth: usize) -> String {
        self.wait(&format!("SMS #{nth} containing {needle:?}"), |s| {
            s.codes_for(needle).get(nth - 1).cloned()
        })
        .await
    }

    /// Types `code` into the card's code field and clicks Check.
    pub async fn check(&self, card_id: &str, code: &str) {
        self.card_type(card_id, "code", code).await;
        self.card_click(card_id, "check").await;
    }

    /// Finite CSS animations (the result panel's arrival highlight) run out
    /// (at most 3 s), then two animation frames, so a screenshot shows the
    /// latest DOM at rest.
    pub async fn settle_paint(&self) {
        let js = r#"
const done = arguments[arguments.length - 1];
const finite = document.getAnimations().filter((a) => {
  const t = a.effect && a.effect.getComputedTiming ? a.effect.getComputedTiming() : null;
  return t && Number.isFinite(t.endTime);
});
const settled = Promise.race([
  Promise.allSettled(finite.map((a) => a.finished)),
  new Promise((r) => setTimeout(r, 3000)),
]);
settled.then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
"#;
        self.retry("waiting two animation frames", || {
            self.client().execute_async(js, vec![])
        })
        .await;
    }

    pub async fn screenshot(&self, path: &Path) {
        self.settle_paint().await;
        let png = self
            .retry("taking a screenshot", || self.client().screenshot())
            .await;
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Sizes the window (outer size; under the harness's Xvfb there is no
    /// window manager, so no frame) and waits until the page has it.
    pub async fn resize(&self, width: u32, height: u32) {
        self.retry("resizing the window", || {
            self.client().set_window_size(width, height)
        })
        .await;
        let js =
            format!("return window.innerWidth === {width} && window.innerHeight === {height};");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.execute(&js).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "the window did not take {width}x{height}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn execute(&self, js: &str) -> Value {
        self.retry("running a script", || self.client().execute(js, vec![]))
            .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.driver.is_some() {
            if std::thread::panicking() {
                eprintln!("--- driver/app log ---\n{}", tail(&self.log(), 80));
            }
            // The session cannot be ended without async; stopping the driver
            // and killing what carries our data dir ends the app too.
            self.client.take();
            self.stop_driver();
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A Restcomm emulator of the test's own in this process, with one
/// account: a real-mode desk talks to it over loopback HTTP, and the test
/// reads the SMS it accepted (`emulator.inbox()`).
pub struct TestGateway {
    pub emulator: countersign::gateway::emulator::EmulatorHandle,
    pub sid: &'static str,
    pub token: &'static str,
}

impl TestGateway {
    pub async fn start(sid: &'static str, token: &'static str) -> TestGateway {
        use countersign::gateway::emulator::{self, EmulatorAccount, EmulatorConfig, Progression};
        let emulator = emulator::start(EmulatorConfig {
            port: 0,
            accounts: vec![EmulatorAccount::new(sid, token)],
            progression: Progression::default(),
            unreachable: vec![],
        })
        .await
        .expect("the test's emulator starts");
        TestGateway {
            emulator,
            sid,
            token,
        }
    }

    /// Every SMS the gateway accepted, oldest first.
    pub fn inbox(&self) -> Vec<countersign::gateway::emulator::InboxMessage> {
        self.emulator.inbox()
    }
}

/// Keys for `send_keys`.
pub fn key(k: fantoccini::key::Key) -> String {
    char::from(k).to_string()
}

/// Polls a script in the window until `ok` accepts its answer.
pub async fn wait_js(app: &App, what: &str, js: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = app.execute(js).await;
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
