//! What the shell holds while the app runs, and how it is put together at
//! start: data folder, configuration (policy file, environment, saved
//! settings, credentials), key, pending store (checked, then handed to the
//! store plugin), audit log, gateway, and the engine over all of them; and
//! how it lets go of the data folder at the end (`Shell::shutdown`).

use countersign::i18n::Text;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use countersign::audit::{AuditEvent, AuditKey, AuditLog, EventKind, Station};
use countersign::clock::{Clock, SharedClock};
use countersign::config::{DeskConfig, GatewayChoice, Layers};
use countersign::desk::{Desk, Parts, Sending};
use countersign::facts::{FactsRead, FactsStore};
use countersign::folder_lock::DataFolderLock;
use countersign::gateway::emulator::InboxMessage;
use countersign::journal::{JournalStore, OpenOptions};
use countersign::keys::DigestKey;
use countersign::secrets;
use countersign::verification::{Operator, VerificationId};
use rand::rngs::OsRng;
use tauri::async_runtime::JoinHandle;
use tauri::Runtime;
use tokio::sync::broadcast;

use crate::config_state::ConfigState;
use crate::error::{IpcError, IpcResult};
use crate::gateway_setup::GatewaySetup;
use crate::pending_store::{Compactor, PluginPendingStore};
use crate::session::{Session, DEFAULT_LOCK_AFTER};
use crate::settings::{default_operator, default_workstation, SettingsFile};
use countersign::gateway::GatewayMode;

pub type Engine = Desk<PluginPendingStore, AuditLog, SharedClock, OsRng>;

pub const PENDING_FILE: &str = "pending.json";
pub const AUDIT_FILE: &str = "audit.jsonl";
pub const KEY_FILE: &str = "keys/desk.key";

/// The gateway in use, or why there is none.
pub type GatewaySlot = Result<Arc<GatewaySetup>, String>;

pub struct Shell {
    /// `Err` holds the reason the desk cannot work (shown on screen);
    /// `None` once the shell has shut down.
    desk: Result<Mutex<Option<Engine>>, String>,
    gateway: RwLock<GatewaySlot>,
    /// The settings the gateway in use was built from.
    pub gateway_built_from: Mutex<Option<countersign::config::GatewayChoice>>,
    pub config: Mutex<ConfigState>,
    /// Held by a settings save from its checks to the gateway it leaves.
    pub settings_lock: tokio::sync::Mutex<()>,
    /// The last operator who signed in: the sign-in form's prefill.
    pub prefill: Mutex<Operator>,
    pub settings_file: Option<SettingsFile>,
    pub session: Session,
    /// What was found at start (and since), for the banner and Settings.
    pub warnings: Mutex<Vec<Text>>,
    pub data_dir: PathBuf,
    /// The time every record and rule is stamped with: the system's in the
    /// app, a test's own clock in the IPC tests (`Launch::clock`).
    pub clock: SharedClock,
    /// The folder the desk's log files are written to; `None` when it logs
    /// to stderr only (tests, or a log folder that could not be written).
    pub log_dir: Option<PathBuf>,
    /// Delivery polling tasks, stopped when their verification ends.
    pub trackers: Mutex<HashMap<VerificationId, JoinHandle<()>>>,
    /// The key the audit chain is verified with (S22).
    pub audit_key: Option<AuditKey>,
    /// In branch mode, the branch's ledger, for its audit trail (S24).
    pub branch: Option<countersign::branch::postgres::PgLedger>,
    /// The computer's locale, for the desk's language.
    pub os_locale: Option<String>,
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
    pub fn ui_language(&self) -> countersign::language::Language {
        let chosen = self.config(|c| c.layers().ui_language()).ok().flatten();
        countersign::i18n::ui_language(chosen, self.os_locale.as_deref())
    }

    pub fn with_desk<T>(&self, f: impl FnOnce(&mut Engine) -> IpcResult<T>) -> IpcResult<T> {
        let desk = self
            .desk
            .as_ref()
            .map_err(|reason| IpcError::new("desk_unavailable", reason.clone()))?;
        let mut guard = desk
            .lock()
            .map_err(|_| IpcError::internal("desk lock poisoned"))?;
        let engine = guard
            .as_mut()
            .ok_or_else(|| IpcError::text("desk_unavailable", Text::new("ipc.shut_down")))?;
        f(engine)
    }

    /// Keeps a background task so that shutdown can stop it. A task handed
    /// in after shutdown is stopped at once.
    pub fn keep_task(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_closed() {
            task.abort();
            return;
        }
        tasks.retain(|t| !t.inner().is_finished());
        tasks.push(task);
    }

    pub fn is_closed(&self) -> bool {
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
    pub fn gateway_for_send(&self) -> (GatewaySlot, Sending) {
        let slot = self.slot();
        let sending = match &slot {
            Ok(g) => Sending::Via(g.mode),
            Err(why) => Sending::Unavailable(why.clone()),
        };
        (slot, sending)
    }

    fn slot(&self) -> GatewaySlot {
        self.gateway
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Err("gateway lock poisoned".to_owned()))
    }

    /// The gateway to send with. A send or a delivery tracker holds its
    /// gateway (demo mode's emulator included) until it is done, even if
    /// settings replace it meanwhile.
    pub fn gateway(&self) -> IpcResult<Arc<GatewaySetup>> {
        self.slot().map_err(|why| {
            IpcError::text(
                "gateway_unavailable",
                Text::new("ipc.no_sms").arg("reason", why),
            )
        })
    }

    pub fn mode(&self) -> Option<GatewayMode> {
        self.slot().ok().map(|g| g.mode)
    }

    pub fn gateway_label(&self) -> String {
        match self.slot() {
            Ok(g) => g.label.clone(),
            Err(why) => format!("No gateway: {why}"),
        }
    }

    /// Puts a gateway (or the reason there is none) in place, and tells the
    /// engine, which refuses to make codes no SMS can carry (S23).
    pub fn set_gateway(&self, slot: GatewaySlot) {
        let sending = match &slot {
            Ok(g) => Sending::Via(g.mode),
            Err(why) => Sending::Unavailable(why.clone()),
        };
        let _ = self.with_desk(|d| {
            d.set_sending(sending);
            Ok(())
        });
        if let Ok(mut g) = self.gateway.write() {
            *g = slot;
        }
    }

    /// Demo mode's inbox: what it holds and its live feed.
    pub fn demo_inbox(&self) -> Option<(Vec<InboxMessage>, broadcast::Receiver<InboxMessage>)> {
        let slot = self.slot().ok()?;
        let emulator = slot.emulator.as_ref()?;
        Some((emulator.inbox(), emulator.subscribe()))
    }

    pub fn config<T>(&self, f: impl FnOnce(&mut ConfigState) -> T) -> IpcResult<T> {
        let mut guard = self
            .config
            .lock()
            .map_err(|_| IpcError::internal("config lock poisoned"))?;
        Ok(f(&mut guard))
    }

    /// Audits an event that is not about one verification.
    pub fn audit(&self, event: AuditEvent) {
        let _ = self.with_desk(|d| {
            d.audit_event(event);
            Ok(())
        });
    }

    /// Compacts the pending journal when due, from the timer: off the
    /// request path and outside the desk lock.
    pub fn compact_pending(&self) {
        if let Some(c) = &self.compactor {
            c.tick();
        }
    }

    pub fn warn(&self, message: String) {
        tracing::warn!(%message, "shown to the operator");
        if let Ok(mut w) = self.warnings.lock() {
            w.push(Text::plain(message));
        }
    }
}

/// The branch and workstation audit records carry.
pub fn station_of(layers: &Layers) -> Station {
    let text = |k| {
        layers
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let workstation = text(countersign::config::Key::Workstation);
    // In a branch the desk is named by its database role, which IT made
    // and the database authenticates, not by a setting staff can edit.
    let workstation = match crate::branch_setup::desk_of(layers) {
        Some(desk) => desk,
        None if workstation.is_empty() => default_workstation(),
        None => workstation,
    };
    Station {
        branch: text(countersign::config::Key::Branch),
        workstation,
    }
}

/// Builds everything the desk needs from the data folder. Failures that leave
/// the desk unusable become an on-screen reason, never a crash.
///
/// `folder_lock` must hold `data_dir` (S20): it is taken before anything
/// in the folder is read, and the shell keeps it until `shutdown`.
pub fn assemble<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    data_dir: &Path,
    folder_lock: DataFolderLock,
    mut config: ConfigState,
    clock: SharedClock,
) -> (Shell, Result<DeskConfig, String>) {
    // Most are IT's details in English (`Text::plain`); what staff must
    // act on has its own words.
    let mut warnings: Vec<Text> = Vec::new();
    let (settings_file, prefill) = match SettingsFile::open(manager, data_dir) {
        Ok((file, loaded)) => {
            warnings.extend(loaded.warnings.into_iter().map(Text::plain));
            config.saved = loaded.saved;
            (Some(file), loaded.operator)
        }
        Err(e) => {
            warnings.push(Text::plain(e));
            (None, default_operator())
        }
    };
    warnings.extend(config.notes.iter().cloned().map(Text::plain));
    let key = open_key(data_dir, &config);
    if let Ok(key) = &key {
        match open_facts(&config, key, data_dir) {
            Ok((facts, problem)) => {
                warnings.extend(problem.map(Text::plain));
                config.facts = Some(facts);
            }
            Err(e) => warnings.push(Text::plain(e)),
        }
    }
    let resolved = resolve_for_start(&config);
    if let Err(e) = &resolved {
        warnings.push(Text::plain(format!(
            "{e} No SMS can be sent until it is fixed."
        )));
    }
    // Without a usable configuration the desk still opens, with the built-in
    // limits and templates, so pending codes can be checked; nothing is sent.
    let desk_config = resolved.clone().unwrap_or_else(|_| DeskConfig::built_in());
    let station = station_of(&config.layers());
    let start_detail = start_detail(&config, &warnings);
    let audit_key = key
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|k| crate::activity::trail::audit_key(&config, k));
    let desk = key
        .and_then(|key| Ok((key, audit_key.clone()?)))
        .and_then(|(key, audit_key)| {
            open_desk(
                manager,
                data_dir,
                clock.clone(),
                key,
                audit_key,
                config.facts.as_ref(),
                desk_config,
                station,
                &start_detail,
                &mut warnings,
            )
        });
    let mut branch = None;
    let (desk, compactor) = match desk {
        Ok((mut engine, compactor)) => {
            branch = crate::branch_setup::join(&config, &mut engine, &mut warnings);
            (Ok(Mutex::new(Some(engine))), Some(compactor))
        }
        Err(reason) => {
            warnings.push(Text::plain(reason.clone()));
            (Err(reason), None)
        }
    };
    let shell = Shell {
        desk,
        gateway: RwLock::new(Err("the gateway is starting".to_owned())),
        gateway_built_from: Mutex::new(None),
        config: Mutex::new(config),
        settings_lock: tokio::sync::Mutex::new(()),
        prefill: Mutex::new(prefill),
        settings_file,
        session: Session::new(DEFAULT_LOCK_AFTER),
        warnings: Mutex::new(warnings),
        data_dir: data_dir.to_owned(),
        clock,
        log_dir: None,
        trackers: Mutex::new(HashMap::new()),
        audit_key: audit_key.ok(),
        branch,
        os_locale: None,
        compactor,
        tasks: Mutex::new(Vec::new()),
        folder_lock: Mutex::new(Some(folder_lock)),
        closed: AtomicBool::new(false),
    };
    (shell, resolved)
}

/// Makes sure the data folder exists and opens the desk key (made on
/// first use). Without it nothing can be checked or sealed.
fn open_key(data_dir: &Path, config: &ConfigState) -> Result<DigestKey, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "The data folder {} cannot be created: {e}",
            data_dir.display()
        )
    })?;
    secrets::load_or_create_digest_key(
        config.credentials.as_ref(),
        &data_dir.join(KEY_FILE),
        &mut OsRng,
    )
    .map_err(|e| e.to_string())
}

/// Opens the desk's sealed facts. A desk that has none yet (new, from
/// before they existed, or whose record was deleted) records that a real
/// gateway is in force if one is. A stored token is not bound on trust:
/// `settings.json` may have been edited just before the record was
/// deleted, so the token must be typed again (S19).
fn open_facts(
    config: &ConfigState,
    key: &DigestKey,
    data_dir: &Path,
) -> Result<(FactsStore, Option<String>), String> {
    let (facts, read) = FactsStore::open(config.credentials.clone(), key.clone())
        .map_err(|e| format!("The desk's sealed record cannot be read: {e}"))?;
    let problem = match read {
        FactsRead::Intact => None,
        FactsRead::Distrusted(why) => Some(why),
        FactsRead::Absent => {
            let real = matches!(
                resolve_for_start(config),
                Ok(DeskConfig {
                    gateway: GatewayChoice::Real(_),
                    ..
                })
            ) && config.env.is_none();
            if real {
                facts
                    .update(|f| f.real_gateway_configured = true)
                    .map_err(|e| format!("The desk's sealed record cannot be written: {e}"))?;
            }
            let used = std::fs::metadata(data_dir.join(AUDIT_FILE)).is_ok_and(|m| m.len() > 0);
            used.then(|| {
                "The desk's sealed record was missing, though this desk has an audit trail (the first start after an upgrade, or the record was deleted). A stored auth token must be typed again; IT should verify the audit log.".to_owned()
            })
        }
    };
    Ok((facts, problem))
}

/// What the start record says besides "started": the policy in force and
/// anything the environment asked for and did not get (S19).
fn start_detail(config: &ConfigState, warnings: &[Text]) -> String {
    let mut parts = vec![format!("IT policy: {}", config.policy.describe())];
    parts.extend(config.notes.iter().cloned());
    parts.extend(
        warnings
            .iter()
            .map(Text::to_string)
            .filter(|w| w.starts_with("The desk's sealed record")),
    );
    parts.join("; ")
}

/// The configuration to start on, or why real mode cannot start.
pub fn resolve_for_start(config: &ConfigState) -> Result<DeskConfig, String> {
    if let Err(e) = &config.policy.policy {
        return Err(e.to_string());
    }
    if let Some(e) = &config.env_problem {
        return Err(format!(
            "The SMS gateway set in the environment is not usable: {e}"
        ));
    }
    config.resolve().map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "The settings are not usable ({}); fix them in Settings.",
            list.join("; ")
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn open_desk<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    data_dir: &Path,
    clock: SharedClock,
    key: DigestKey,
    audit_key: AuditKey,
    facts: Option<&FactsStore>,
    desk_config: DeskConfig,
    station: Station,
    start_detail: &str,
    warnings: &mut Vec<Text>,
) -> Result<(Engine, Compactor), String> {
    let audit = crate::activity::trail::open(data_dir, audit_key, facts, station)?;
    warnings.extend(audit.damage().map(Text::plain));
    // What was found wrong with the trail goes into the trail itself, so
    // it outlives the screen and the next start's fresh anchor.
    let start_detail = match audit.damage() {
        Some(damage) => format!("{start_detail}; {damage}"),
        None => start_detail.to_owned(),
    };
    let pending_path = data_dir.join(PENDING_FILE);
    let now = clock.now();
    // S21: the sealed snapshot and journal, checked against the trail's last
    // hour; what does not hold is set aside and the S4/S5/S8 windows are
    // rebuilt from the trail. A version-1 file is taken over only while the
    // sealed facts do not yet say this desk's store is sealed.
    let options = OpenOptions {
        sealed_expected: facts.is_none_or(|f| f.get().pending_sealed),
        audit_trail: Some(data_dir.join(AUDIT_FILE)),
    };
    let opened =
        JournalStore::open(&pending_path, &key, &options, now).map_err(|e| e.to_string())?;
    // What was set aside is in the trail before anything else can fail:
    // the files are already moved, and a later start would open cleanly.
    let mut audit = audit;
    if let Some(report) = &opened.set_aside {
        for e in report.audit_events(now) {
            if let Err(err) = countersign::audit::AuditSink::record(&mut audit, e) {
                tracing::error!(error = %err, "a set-aside record could not be audited");
            }
        }
        warnings.push(report.text());
    }
    if let Some(facts) = facts {
        facts
            .update(|f| f.pending_sealed = true)
            .map_err(|e| format!("The desk's sealed record cannot be written: {e}"))?;
    }
    let compactor = Compactor::open(manager, &pending_path, opened.store.clone())?;
    let parts = Parts {
        policy: desk_config.policy,
        templates: desk_config.templates,
        key,
        store: PluginPendingStore::new(opened.store),
        audit,
        clock,
        rng: OsRng,
    };
    // Sealed entries open with this key; one that does not is damage the
    // store's seal would have caught first.
    let mut desk = Desk::new(parts, opened.document).map_err(|(e, _)| e.to_string())?;
    // Until the gateway is built: no code without a way to send it.
    desk.set_sending(Sending::Unavailable("the gateway is starting".to_owned()));
    let mut started = AuditEvent::new(now, EventKind::AppStarted);
    started.detail = Some(start_detail);
    desk.audit_event(started);
    Ok((desk, compactor))
}
