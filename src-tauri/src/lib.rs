//! Countersign's desktop shell: it wires the core to a Tauri window.
//!
//! The shell decides nothing. At start it finds the data folder and locks
//! it (S20: one writer per folder), opens the key, the pending list
//! (through tauri-plugin-store, made durable by the core) and the audit
//! log, picks the gateway (demo mode on the embedded emulator when nothing
//! is configured), and hands the window a few thin commands and events.
//! `run_app` builds the same app for `main` and for tests on
//! `tauri::test::mock_builder()`. At exit, `Shell::shutdown` stops the
//! background tasks and lets go of the folder.
//!
//! The map: `shell` is what the app holds while it runs and what no screen
//! owns (opening the desk, background tasks, the OS's pieces); `desk`,
//! `settings`, `activity` and `about` are each screen's commands; `error`
//! is the one error shape that crosses IPC. This file builds the app and
//! lists every command once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use countersign::clock::{SharedClock, SystemClock};
use countersign::config::environment;
use countersign::config::it_policy::{self, Discovered};
use countersign::config::Key;
use countersign::folder_lock::DataFolderLock;
use tauri::utils::config::AppDirectoriesOverride;
use tauri::{App, AppHandle, Builder, Context, Manager, RunEvent, Runtime};

mod about;
pub mod activity;
pub(crate) mod desk;
pub mod error;
pub mod settings;
pub mod shell;

use settings::gateway::GatewaySetup;
pub use shell::tasks::sweep_expired;
use shell::{folder_move, logging, os_account, webview_tuning, Shell};

/// Overrides every app directory (our stores and WebKit's own data) with
/// `COUNTERSIGN_DATA_DIR` when it is set: portable installs and tests.
pub fn apply_data_dir_override<R: Runtime>(context: &mut Context<R>, dir: Option<PathBuf>) {
    if let Some(dir) = dir {
        context.config_mut().app.app_directories_override = Some(AppDirectoriesOverride::Root(dir));
    }
}

/// Reads one environment variable.
pub type EnvReader = Box<dyn Fn(&str) -> Option<String> + Send>;

/// What the app starts from besides its data folder.
pub struct Launch {
    /// A ready gateway (tests); `None` builds it from the configuration.
    pub gateway: Option<GatewaySetup>,
    /// Reads an environment variable; tests pass their own.
    pub env: EnvReader,
    /// Where the machine's IT policy file is looked for: the system
    /// locations in the app, a test's own folder in tests.
    pub policy_locations: Vec<PathBuf>,
    /// The computer's locale (`fr_FR.UTF-8`, `de-CH`…), which the desk's
    /// language follows unless staff or IT chose one; tests pass their own.
    pub os_locale: Option<String>,
    /// The folder the log files are written to (`run` starts logging before
    /// the app is built); `None`: stderr only (tests, or a folder that
    /// could not be written). Kept as `Shell::log_dir`.
    pub log_dir: Option<PathBuf>,
    /// The time the desk's rules read: the system's in the app; an IPC test
    /// passes a clock it moves itself, to force expiry and pacing without
    /// sleeping.
    pub clock: SharedClock,
}

impl Launch {
    pub fn from_process_env() -> Self {
        Self {
            gateway: None,
            env: Box::new(|k| std::env::var(k).ok()),
            policy_locations: it_policy::system_locations(),
            os_locale: sys_locale::get_locale(),
            log_dir: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The IT policy in force: the machine's file, else `COUNTERSIGN_POLICY`.
    pub fn discover_policy(&self) -> Discovered {
        let explicit = (self.env)("COUNTERSIGN_POLICY")
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from);
        it_policy::discover(explicit, &self.policy_locations)
    }

    /// `COUNTERSIGN_DATA_DIR` when the policy in force lets the environment
    /// move the data folder (an empty folder would start every count from
    /// zero); otherwise `None`, and the note that says it was ignored.
    pub fn data_dir_override(&self, policy: &Discovered) -> (Option<PathBuf>, Option<String>) {
        const VAR: &str = "COUNTERSIGN_DATA_DIR";
        let Some(dir) = (self.env)(VAR).filter(|d| !d.trim().is_empty()) else {
            return (None, None);
        };
        if environment::relocation_allowed(policy, Key::AllowDataDirOverride) {
            (Some(PathBuf::from(dir)), None)
        } else {
            (None, Some(environment::ignored_variable_note(VAR, policy)))
        }
    }
}

/// The data folder the app will use, worked out as Tauri does
/// (`app_local_data_dir`) but before any app is built, so that `run` can
/// lock it before the window system is touched. `None` where it cannot
/// tell; setup then locks the folder Tauri reports. Setup checks the two
/// agree.
///
/// The local, not the roaming, app-data folder: on Windows pending codes
/// and the audit trail must not travel with a roaming profile (elsewhere
/// the two are the same folder). `folder_move` brings an older desk's
/// roaming folder over.
pub fn data_folder<R: Runtime>(context: &Context<R>) -> Option<PathBuf> {
    let normal = |p: &Path| p.components().collect::<PathBuf>();
    match &context.config().app.app_directories_override {
        None => dirs::data_local_dir().map(|d| d.join(&context.config().identifier)),
        Some(AppDirectoriesOverride::Root(root)) if root.is_absolute() => Some(normal(root)),
        Some(AppDirectoriesOverride::Directories(dirs)) => dirs
            .local_data
            .as_deref()
            .filter(|d| d.is_absolute())
            .map(normal),
        // Relative or `$VARIABLE/...` paths: Tauri's to resolve.
        Some(_) => None,
    }
}

/// A relative `COUNTERSIGN_DATA_DIR`, made absolute the way Tauri resolves
/// a relative directory override: against the app binary's folder.
fn absolute_data_dir(dir: PathBuf) -> PathBuf {
    if dir.is_absolute() {
        return dir;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join(&dir)))
        .unwrap_or(dir)
}

/// Builds the app on any runtime, for `main` and for tests. The data folder
/// is locked first (S20); if another process holds it, the build fails with
/// a message naming the folder, before anything in it is read or written.
pub fn run_app<R: Runtime>(
    builder: Builder<R>,
    context: Context<R>,
    launch: Launch,
) -> tauri::Result<App<R>> {
    build_app(builder, context, launch, None)
}

/// `run_app`, with the folder lock `run` may already hold.
fn build_app<R: Runtime>(
    builder: Builder<R>,
    context: Context<R>,
    launch: Launch,
    folder_lock: Option<DataFolderLock>,
) -> tauri::Result<App<R>> {
    builder
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            // The Desk screen: who is at the desk, what it shows, the work.
            desk::session::sign_in,
            desk::session::set_operator,
            desk::session::lock_desk,
            desk::session::still_here,
            desk::status::app_status,
            desk::status::ui_text,
            desk::status::ui_ready,
            desk::status::demo_inbox,
            desk::verification::start_verification,
            desk::verification::resend_code,
            desk::verification::check_code,
            desk::verification::cancel_verification,
            desk::verification::list_pending,
            // Settings.
            settings::commands::settings_read,
            settings::commands::settings_check,
            settings::commands::settings_save,
            settings::test_sms::send_test_sms,
            settings::test_sms::test_sms_status,
            // Activity.
            activity::list::audit_query,
            activity::export::audit_export,
            activity::verify::audit_verify,
            activity::verify::audit_key_export,
            // About.
            about::about,
        ])
        .build(context)
        .and_then(|mut app| {
            // Wired here rather than in a `.setup` hook so that the mock
            // runtime in tests, which never runs the event loop, gets the
            // same state. No IPC is served before the event loop starts.
            setup(&mut app, launch, folder_lock).map_err(|e| tauri::Error::Setup(e.into()))?;
            Ok(app)
        })
}

fn setup<R: Runtime>(
    app: &mut App<R>,
    launch: Launch,
    folder_lock: Option<DataFolderLock>,
) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = app.path().app_local_data_dir()?;
    // Before anything in the folder is read (S20). The lock `run` took is
    // kept if it is on this very folder; otherwise it is taken here.
    let folder_lock = match folder_lock {
        Some(lock) if lock.dir() == data_dir => lock,
        _ => DataFolderLock::acquire(&data_dir)?,
    };
    let policy = launch.discover_policy();
    let mut config = settings::ConfigState::load(&data_dir, launch.env.as_ref(), policy);
    // Asked again here so the note reaches the screen and the audit trail;
    // `run` has already acted on it.
    config
        .notes
        .extend(launch.data_dir_override(&config.policy).1);
    let (shell, resolved) = shell::open::assemble(app, &data_dir, folder_lock, config, &launch);
    app.manage(shell);
    let handle = app.handle().clone();
    match launch.gateway {
        // A test's gateway, as given.
        Some(g) => {
            settings::apply::install(&handle.state::<Shell>(), g);
            shell::demo_inbox::forward_inbox(&handle);
        }
        None => {
            tauri::async_runtime::block_on(settings::apply::put_in_force(&handle, resolved, false))
        }
    }
    shell::tasks::start(&handle);
    Ok(())
}

/// When `main` started: the origin of the "ui ready" figure.
pub(crate) static PROCESS_START: std::sync::OnceLock<std::time::Instant> =
    std::sync::OnceLock::new();

/// What the app does with the event loop's events: at exit, it records
/// that it stopped and lets go of the data folder (`Shell::shutdown`).
/// `run` hands it to the event loop; tests drive the same path.
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: &RunEvent) {
    if let RunEvent::Exit = event {
        let Some(shell) = app.try_state::<Shell>() else {
            return;
        };
        let now = countersign::clock::Clock::now(&shell.clock);
        shell.audit(countersign::audit::AuditEvent::app_stopped(now));
        shell.shutdown();
    }
}

/// Locks the data folder `context` names, or exits naming the folder and
/// why (S20). `None` where the folder is Tauri's to resolve; setup locks it.
fn lock_or_exit<R: Runtime>(context: &Context<R>) -> Option<DataFolderLock> {
    match data_folder(context).map(|dir| DataFolderLock::acquire(&dir)) {
        Some(Ok(lock)) => Some(lock),
        Some(Err(e)) => {
            eprintln!("Countersign could not start: {e}");
            std::process::exit(1);
        }
        None => None,
    }
}

/// The desktop entry point.
pub fn run() {
    PROCESS_START.get_or_init(std::time::Instant::now);
    let mut context = tauri::generate_context!();
    let mut launch = Launch::from_process_env();
    let policy = launch.discover_policy();
    let (mut data_dir, _note) = launch.data_dir_override(&policy);
    let os_chosen = data_dir.is_none();
    // Under a system policy the data folder is where the OS says, not where
    // XDG_DATA_HOME or HOME (the user's to set) would put it: an empty
    // folder would start every count from zero (S19).
    if data_dir.is_none() && policy.system {
        data_dir = os_account::pinned_data_dir(&context.config().identifier);
    }
    apply_data_dir_override(&mut context, data_dir.map(absolute_data_dir));
    // S20: before the window system is touched and before anything in the
    // folder (its log files included) is written, so a second copy on a
    // folder in use changes nothing.
    let mut folder_lock = lock_or_exit(&context);
    // The log folder follows the data folder's override (so a test's or a
    // portable desk's logs stay in its folder), else the OS's log folder.
    launch.log_dir = logging::init(
        logging::log_folder(&context).as_deref(),
        &countersign::logfile::LogSettings::from_policy(&policy),
    );
    // Windows: an earlier version's roaming folder moves in under the lock;
    // if it cannot, that folder stays in use and is locked instead.
    if let Some(old) = os_chosen
        .then(|| folder_move::from_roaming(&context))
        .flatten()
    {
        apply_data_dir_override(&mut context, Some(old));
        drop(folder_lock);
        folder_lock = lock_or_exit(&context);
    }
    // Only the real window has a size and place to keep: the tests' mock
    // runtime has neither.
    let builder =
        webview_tuning::builder().plugin(tauri_plugin_window_state::Builder::default().build());
    match build_app(builder, context, launch, folder_lock) {
        Ok(app) => app.run(|app, event| on_run_event(app, &event)),
        Err(e) => {
            eprintln!("Countersign could not start: {e}");
            std::process::exit(1);
        }
    }
}
