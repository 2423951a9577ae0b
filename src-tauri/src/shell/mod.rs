//! What the shell holds while the app runs (`Shell`) and the machinery
//! around it that no screen owns: opening the desk at start (`open`), the
//! background tasks (`tasks`, `delivery`, `demo_inbox`, `branch`), the
//! OS's pieces (credentials, account, logs, webview, the old data folder)
//! and the events the window hears. At exit `Shell::shutdown` stops the
//! tasks and lets go of the data folder.
//!
//! Every lock the shell holds is behind a method that says what it is for;
//! the commands never take one themselves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use countersign::audit::{AuditEvent, AuditKey, AuditLog};
use countersign::clock::SharedClock;
use countersign::config::{DemoRefusal, GatewayChoice};
use countersign::desk::{Desk, Sending};
use countersign::folder_lock::DataFolderLock;
use countersign::gateway::emulator::InboxMessage;
use countersign::gateway::GatewayMode;
use countersign::i18n::Text;
use countersign::secrets::SecretError;
use countersign::verification::{Operator, VerificationId};
use rand::rngs::OsRng;
use tauri::async_runtime::JoinHandle;
use tokio::sync::broadcast;

use crate::error::{IpcError, IpcResult};
use crate::settings::gateway::{GatewaySetup, GatewaySetupError};
use crate::settings::sources::TokenError;
use crate::settings::ConfigState;
use crate::settings::SettingsFile;

pub(crate) mod branch;
pub mod credentials;
pub(crate) mod delivery;
pub(crate) mod demo_inbox;
pub mod events;
pub(crate) mod folder_move;
pub mod logging;
pub(crate) mod open;
pub(crate) mod os_account;
pub(crate) mod pending_store;
pub(crate) mod session;
pub(crate) mod tasks;
pub(crate) mod webview_tuning;

pub(crate) use open::{resolve_for_start, station_of, ConfigRefusal};
use pending_store::{Compactor, PluginPendingStore};
use session::Session;

pub(crate) type Engine = Desk<PluginPendingStore, AuditLog, SharedClock, OsRng>;

pub(crate) const PENDING_FILE: &str = "pending.json";
/// The core names the trail's files (`audit::Trail`); re-exported for the
/// shell's tests, which open a desk's log by hand.
pub use countersign::audit::AUDIT_FILE;
pub(crate) const KEY_FILE: &str = "keys/desk.key";

/// The gateway in use, or why there is none.
pub(crate) type GatewaySlot = Result<Arc<GatewaySetup>, NoGateway>;

/// Why no SMS can be sent now: said on screen, and told to the engine,
/// which then makes no code (S23).
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum NoGateway {
    /// From the desk's opening until the configuration's gateway is built.
    #[error("the gateway is starting")]
    Starting,
    /// The configuration in force cannot send.
    #[error("{0}")]
    Config(#[from] ConfigRefusal),
    /// S23: the desk was set up for a real gateway and its settings now
    /// say demo mode without staff having chosen it.
    #[error("{0}")]
    SilentDemo(#[from] DemoRefusal),
    /// The desk's sealed record could not note that it now has a real
    /// gateway, so losing the settings could drop it to demo mode unseen.
    #[error("the desk's sealed record cannot be written: {0}")]
    SealedRecord(Arc<SecretError>),
    /// There is no token to send with. Shared: the slot is cloned for
    /// every send.
    #[error("{0}")]
    Token(Arc<TokenError>),
    /// The gateway's client could not be built.
    #[error("{0}")]
    Setup(Arc<GatewaySetupError>),
    /// A thread panicked while it held the settings or the gateway.
    #[error("settings or gateway lock poisoned")]
    Poisoned,
}

impl From<TokenError> for NoGateway {
    fn from(e: TokenError) -> Self {
        Self::Token(Arc::new(e))
    }
}

impl From<GatewaySetupError> for NoGateway {
    fn from(e: GatewaySetupError) -> Self {
        Self::Setup(Arc::new(e))
    }
}

/// Everything the app holds while it runs: managed by Tauri, and handed
/// to every command and task as `State<Shell>`.
pub struct Shell {
    /// `Err` holds the reason the desk cannot work (shown on screen);
    /// `None` once the shell has shut down.
    desk: Result<Mutex<Option<Engine>>, open::OpenError>,
    gateway: RwLock<GatewaySlot>,
    /// The settings the gateway in use was built from.
    gateway_built_from: Mutex<Option<GatewayChoice>>,
    config: Mutex<ConfigState>,
    /// Held by a settings save from its checks to the gateway it leaves.
    settings_lock: tokio::sync::Mutex<()>,
    /// The last operator who signed in: the sign-in form's prefill.
    prefill: Mutex<Operator>,
    pub(crate) settings_file: Option<SettingsFile>,
    /// Who is at the desk; its own lock is inside.
    pub(crate) session: Session,
    /// What was found at start (and since), for the banner and Settings.
    warnings: Mutex<Vec<Text>>,
    pub(crate) data_dir: PathBuf,
    /// The time every record and rule is stamped with: the system's in the
    /// app, a test's own clock in the IPC tests (`Launch::clock`).
    pub(crate) clock: SharedClock,
    /// The folder the desk's log files are written to; `None` when it logs
    /// to stderr only (tests, or a log folder that could not be written).
    pub(crate) log_dir: Option<PathBuf>,
    /// Delivery polling tasks, stopped when their verification ends.
    trackers: Mutex<HashMap<VerificationId, JoinHandle<()>>>,
    /// The key the audit chain is verified with (S22).
    pub(crate) audit_key: Option<AuditKey>,
    /// In branch mode, the branch's ledger, for its audit trail (S24).
    pub(crate) branch: Option<countersign::branch::postgres::PgLedger>,
    /// The computer's locale, for the desk's language.
    os_locale: Option<String>,
    /// Compacts the pending journal from the timer, outside the desk lock.
    compactor: Option<Compactor>,
    /// The other background tasks (expiry sweep, idle lock, demo inbox),
    /// stopped at shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// This process's hold on the data folder (S20), released at shutdown.
    folder_lock: Mutex<Option<DataFolderLock>>,
    closed: AtomicBool,
}

impl Shell {
    /// The language the desk speaks to staff: theirs or IT's choice, else
    /// the computer's, else English.
    pub(crate) fn ui_language(&self) -> countersign::language::Language {
        let chosen = self.config(|c| c.layers().ui_language()).ok().flatten();
        countersign::i18n::ui_language(chosen, self.os_locale.as_deref())
    }

    /// Runs `f` on the engine, one caller at a time.
    pub(crate) fn with_desk<T>(&self, f: impl FnOnce(&mut Engine) -> IpcResult<T>) -> IpcResult<T> {
        let desk = self
            .desk
            .as_ref()
            .map_err(|reason| IpcError::DeskUnavailable(Text::plain(reason.to_string())))?;
        let mut guard = desk
            .lock()
            .map_err(|_| IpcError::internal("desk lock poisoned"))?;
        let engine = guard
            .as_mut()
            .ok_or_else(|| IpcError::DeskUnavailable(Text::new("ipc.shut_down")))?;
        f(engine)
    }

    /// Runs `f` on the configuration in force, one caller at a time.
    pub(crate) fn config<T>(&self, f: impl FnOnce(&mut ConfigState) -> T) -> IpcResult<T> {
        let mut guard = self
            .config
            .lock()
            .map_err(|_| IpcError::internal("config lock poisoned"))?;
        Ok(f(&mut guard))
    }

    /// Waits for any other settings save to finish; this one holds the
    /// turn, from its checks to the gateway it leaves, until the guard goes.
    pub(crate) async fn settings_save_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.settings_lock.lock().await
    }

    /// The settings the gateway in use was built from (`None`: none was,
    /// or building it failed).
    pub(crate) fn gateway_built_from(&self) -> Option<GatewayChoice> {
        self.gateway_built_from
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Notes what the gateway just put in place was built from.
    pub(crate) fn set_gateway_built_from(&self, built_from: Option<GatewayChoice>) {
        if let Ok(mut previous) = self.gateway_built_from.lock() {
            *previous = built_from;
        }
    }

    /// The operator the sign-in form suggests: the last one who signed in.
    pub(crate) fn suggested_operator(&self) -> Operator {
        self.prefill
            .lock()
            .map(|o| o.clone())
            .unwrap_or_else(|_| crate::settings::default_operator())
    }

    /// Signs `operator` in, and suggests them at the next sign-in.
    pub(crate) fn sign_in(&self, operator: Operator) {
        if let Ok(mut prefill) = self.prefill.lock() {
            *prefill = operator.clone();
        }
        self.session.sign_in(operator);
    }

    /// What the banner shows: found at start, and since.
    pub(crate) fn warnings(&self) -> Vec<Text> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// In branch mode, this desk's name in the branch (its database role).
    pub(crate) fn branch_desk(&self) -> Option<String> {
        self.branch
            .as_ref()
            .map(|b| countersign::branch::BranchLedger::desk(b).to_string())
    }

    /// Adds a warning in IT's English words, and logs it.
    pub(crate) fn warn(&self, message: String) {
        tracing::warn!(%message, "shown to the operator");
        if let Ok(mut w) = self.warnings.lock() {
            w.push(Text::plain(message));
        }
    }

    /// Keeps a background task so that shutdown can stop it. A task handed
    /// in after shutdown is stopped at once.
    pub(crate) fn keep_task(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_closed() {
            task.abort();
            return;
        }
        tasks.retain(|t| !t.inner().is_finished());
        tasks.push(task);
    }

    /// Starts `id`'s delivery tracker with `spawn`, replacing any older
    /// one. Under the trackers' lock, so shutdown, which drains them after
    /// it marks the shell closed, stops this one too; nothing starts after.
    pub(crate) fn keep_tracker(&self, id: VerificationId, spawn: impl FnOnce() -> JoinHandle<()>) {
        let Ok(mut trackers) = self.trackers.lock() else {
            return;
        };
        if self.is_closed() {
            return;
        }
        if let Some(old) = trackers.insert(id, spawn()) {
            old.abort();
        }
    }

    /// Stops `id`'s delivery tracker, if it has one.
    pub(crate) fn stop_tracker(&self, id: &VerificationId) {
        let handle = self.trackers.lock().ok().and_then(|mut t| t.remove(id));
        if let Some(h) = handle {
            h.abort();
        }
    }

    /// Forgets `id`'s tracker once it has ended by itself.
    pub(crate) fn tracker_ended(&self, id: &VerificationId) {
        if let Ok(mut t) = self.trackers.lock() {
            t.remove(id);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Lets go of the data folder: stops the background tasks (expiry
    /// sweep, idle lock, delivery trackers, demo inbox), closes the desk and
    /// the settings file so that later commands answer "desk unavailable"
    /// instead of writing, then releases the folder lock (S20) for the next
    /// instance. Called on `RunEvent::Exit`, and by tests before they open
    /// the folder again. Idempotent.
    pub fn shutdown(&self) {
        {
            // Under the tasks lock, so no task is kept after it is drained.
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            self.closed.store(true, Ordering::SeqCst);
            for task in tasks.drain(..) {
                task.abort();
            }
        }
        let trackers: Vec<_> = self
            .trackers
            .lock()
            .map(|mut t| t.drain().map(|(_, h)| h).collect())
            .unwrap_or_default();
        for tracker in trackers {
            tracker.abort();
        }
        if let Some(file) = &self.settings_file {
            file.close();
        }
        // Waits for a command or task that is using the desk to finish; no
        // write reaches the folder after this.
        if let Ok(desk) = &self.desk {
            let engine = desk.lock().unwrap_or_else(PoisonError::into_inner).take();
            drop(engine);
        }
        // A compaction already running on its blocking thread finishes
        // before the folder is let go; none starts after.
        if let Some(c) = &self.compactor {
            c.close();
        }
        let lock = self
            .folder_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(lock);
    }

    /// The gateway in use, or why there is none; with what the engine must
    /// be told for a send through it (S22's gateway mode, S23's refusal).
    pub(crate) fn gateway_for_send(&self) -> (GatewaySlot, Sending) {
        let slot = self.slot();
        let sending = sending_through(&slot);
        (slot, sending)
    }

    fn slot(&self) -> GatewaySlot {
        self.gateway
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Err(NoGateway::Poisoned))
    }

    /// The gateway to send with. A send or a delivery tracker holds its
    /// gateway (demo mode's emulator included) until it is done, even if
    /// settings replace it meanwhile.
    pub(crate) fn gateway(&self) -> IpcResult<Arc<GatewaySetup>> {
        self.slot().map_err(|why| IpcError::NoGateway {
            reason: why.to_string(),
        })
    }

    pub(crate) fn mode(&self) -> Option<GatewayMode> {
        self.slot().ok().map(|g| g.mode)
    }

    pub(crate) fn gateway_label(&self) -> String {
        match self.slot() {
            Ok(g) => g.label.clone(),
            Err(why) => format!("No gateway: {why}"),
        }
    }

    /// Puts a gateway (or the reason there is none) in place, and tells the
    /// engine, which refuses to make codes no SMS can carry (S23).
    pub(crate) fn set_gateway(&self, slot: GatewaySlot) {
        let sending = sending_through(&slot);
        let _ = self.with_desk(|d| {
            d.set_sending(sending);
            Ok(())
        });
        if let Ok(mut g) = self.gateway.write() {
            *g = slot;
        }
    }

    /// Demo mode's inbox: what it holds and its live feed.
    pub(crate) fn demo_inbox(
        &self,
    ) -> Option<(Vec<InboxMessage>, broadcast::Receiver<InboxMessage>)> {
        let slot = self.slot().ok()?;
        let emulator = slot.emulator.as_ref()?;
        Some((emulator.inbox(), emulator.subscribe()))
    }

    /// Audits an event that is not about one verification.
    pub(crate) fn audit(&self, event: AuditEvent) {
        let _ = self.with_desk(|d| {
            d.audit_event(event);
            Ok(())
        });
    }

    /// Compacts the pending journal when due, from the timer: off the
    /// request path and outside the desk lock.
    pub(crate) fn compact_pending(&self) {
        if let Some(c) = &self.compactor {
            c.tick();
        }
    }
}

/// What the engine is told about a send through `slot` (S22, S23).
fn sending_through(slot: &GatewaySlot) -> Sending {
    match slot {
        Ok(g) => Sending::Via(g.mode),
        Err(why) => Sending::Unavailable(why.to_string()),
    }
}
