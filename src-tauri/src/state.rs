//! What the shell holds while the app runs, and how it is put together at
//! start: data folder, key, pending store (checked, then handed to the store
//! plugin), audit log, gateway, and the engine over all of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use countersign::audit::{AuditEvent, AuditLog, EventKind, Station};
use countersign::clock::{Clock, SystemClock};
use countersign::desk::{Desk, Parts};
use countersign::gateway::restcomm::RestcommClient;
use countersign::persist::{self, Corruption, PendingDocument};
use countersign::policy::Policy;
use countersign::sms::Template;
use countersign::verification::VerificationId;
use rand::rngs::OsRng;
use tauri::Runtime;

use crate::error::{IpcError, IpcResult};
use crate::gateway_setup::{GatewaySetup, Mode};
use crate::pending_store::PluginPendingStore;
use crate::session::{Session, DEFAULT_LOCK_AFTER};
use crate::settings::{Settings, SettingsFile};

pub type Engine = Desk<PluginPendingStore, AuditLog, SystemClock, OsRng>;

pub const PENDING_FILE: &str = "pending.json";
pub const AUDIT_FILE: &str = "audit.jsonl";
pub const KEY_FILE: &str = "keys/desk.key";

pub struct Shell {
    /// `Err` holds the reason the desk cannot work (shown on screen).
    desk: Result<Mutex<Engine>, String>,
    pub gateway: Option<GatewaySetup>,
    pub settings: Mutex<Settings>,
    pub settings_file: Option<SettingsFile>,
    pub session: Session,
    pub warnings: Mutex<Vec<String>>,
    pub data_dir: PathBuf,
    /// Delivery polling tasks, stopped when their verification ends.
    pub trackers: Mutex<HashMap<VerificationId, tauri::async_runtime::JoinHandle<()>>>,
}

impl Shell {
    pub fn with_desk<T>(&self, f: impl FnOnce(&mut Engine) -> IpcResult<T>) -> IpcResult<T> {
        let desk = self
            .desk
            .as_ref()
            .map_err(|reason| IpcError::new("desk_unavailable", reason.clone()))?;
        let mut guard = desk
            .lock()
            .map_err(|_| IpcError::internal("desk lock poisoned"))?;
        f(&mut guard)
    }

    pub fn gateway(&self) -> IpcResult<&RestcommClient> {
        self.gateway.as_ref().map(|g| &g.client).ok_or_else(|| {
            IpcError::new(
                "gateway_unavailable",
                "No SMS gateway is available; see the warnings in Settings.",
            )
        })
    }

    pub fn mode(&self) -> Option<Mode> {
        self.gateway.as_ref().map(|g| g.mode)
    }

    /// Audits an event that is not about one verification.
    pub fn audit(&self, event: AuditEvent) {
        let _ = self.with_desk(|d| {
            d.audit_event(event);
            Ok(())
        });
    }

    pub fn warn(&self, message: String) {
        tracing::warn!(%message, "shown to the operator");
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }
}

/// Builds everything the desk needs from the data folder. Failures that leave
/// the desk unusable become an on-screen reason, never a crash.
pub fn assemble<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    data_dir: &Path,
    gateway: Result<GatewaySetup, String>,
) -> Shell {
    let mut warnings = Vec::new();
    let (settings_file, settings) = match SettingsFile::open(manager, data_dir) {
        Ok((file, settings, warning)) => {
            warnings.extend(warning);
            (Some(file), settings)
        }
        Err(e) => {
            warnings.push(e);
            (None, Settings::default())
        }
    };
    let gateway = gateway.map_err(|e| warnings.push(e)).ok();
    let station = Station {
        branch: settings.branch.clone(),
        workstation: settings.workstation.clone(),
    };
    let desk = open_desk(manager, data_dir, station, &mut warnings).map(Mutex::new);
    if let Err(reason) = &desk {
        warnings.push(reason.clone());
    }
    Shell {
        desk,
        gateway,
        settings: Mutex::new(settings),
        settings_file,
        session: Session::new(DEFAULT_LOCK_AFTER),
        warnings: Mutex::new(warnings),
        data_dir: data_dir.to_owned(),
        trackers: Mutex::new(HashMap::new()),
    }
}

fn open_desk<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    data_dir: &Path,
    station: Station,
    warnings: &mut Vec<String>,
) -> Result<Engine, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "The data folder {} cannot be created: {e}",
            data_dir.display()
        )
    })?;
    let key = persist::load_or_create_key_file(&data_dir.join(KEY_FILE), &mut OsRng)
        .map_err(|e| e.to_string())?;
    let audit = AuditLog::open(&data_dir.join(AUDIT_FILE))
        .map_err(|e| e.to_string())?
        .with_station(station)
        .with_retention(countersign::audit::trail::DEFAULT_RETENTION_MONTHS);
    warnings.extend(audit.damage().map(str::to_owned));
    let pending_path = data_dir.join(PENDING_FILE);
    let now = SystemClock.now();
    let loaded = persist::load_or_quarantine(&pending_path, now).map_err(|e| e.to_string())?;
    let mut quarantined = loaded.quarantined;
    let store = PluginPendingStore::open(manager, pending_path.clone())?;
    let parts = Parts {
        policy: Policy::default(),
        template: Template::default_english(),
        key,
        store,
        audit,
        clock: SystemClock,
        rng: OsRng,
    };
    let mut desk = match Desk::new(parts, loaded.document) {
        Ok(desk) => desk,
        Err((e, parts)) => {
            // Entries that do not open with this desk's key: set the file
            // aside like any other unreadable file, and start empty.
            let q = persist::quarantine(&pending_path, Corruption::WrongShape(e.to_string()), now)
                .map_err(|e| e.to_string())?;
            quarantined = Some(q);
            Desk::new(parts, PendingDocument::default()).map_err(|(e, _)| e.to_string())?
        }
    };
    desk.audit_event(AuditEvent::new(now, EventKind::AppStarted));
    if let Some(q) = quarantined {
        let mut e = AuditEvent::new(now, EventKind::StoreQuarantined);
        e.detail = Some(format!("{} ({})", q.moved_to.display(), q.reason));
        desk.audit_event(e);
        warnings.push(q.message());
    }
    Ok(desk)
}
