//! Opening the desk at start: the configuration's sources, then, from the
//! data folder, the settings file, the key, the sealed facts, the audit
//! log and the pending store (checked, then handed to the store plugin),
//! and the engine over all of them. What cannot be opened becomes a reason
//! on screen, never a crash: pending codes can still be checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};

use countersign::audit::{AuditEvent, AuditKey, Station, Trail};
use countersign::clock::{Clock, SharedClock};
use countersign::config::it_policy::PolicyFileError;
use countersign::config::{DeskConfig, FieldError, GatewayChoice, Layers};
use countersign::desk::{Desk, DeskError, Parts, Sending};
use countersign::facts::{FactsRead, FactsStore};
use countersign::folder_lock::DataFolderLock;
use countersign::i18n::Text;
use countersign::journal::{JournalStore, OpenOptions};
use countersign::keys::DigestKey;
use countersign::persist::StoreError;
use countersign::secrets::{self, SecretError};
use rand::rngs::OsRng;
use tauri::Runtime;

use super::pending_store::{Compactor, PluginPendingStore, PluginStoreError};
use super::session::{Session, DEFAULT_LOCK_AFTER};
use super::{Engine, NoGateway, Shell, KEY_FILE, PENDING_FILE};
use crate::activity::trail::TrailError;
use crate::settings::ConfigState;
use crate::settings::{default_operator, default_workstation, SettingsFile};

/// The branch and workstation audit records carry.
pub(crate) fn station_of(layers: &Layers) -> Station {
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
    let workstation = match super::branch::desk_of(layers) {
        Some(desk) => desk,
        None if workstation.is_empty() => default_workstation(),
        None => workstation,
    };
    Station {
        branch: text(countersign::config::Key::Branch),
        workstation,
    }
}

/// Why the desk could not be opened: said on screen in IT's English, and
/// what every command that needs the desk then answers.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// The data folder could not be made.
    #[error("The data folder {} cannot be created: {source}", .path.display())]
    DataFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The desk key could not be read or made.
    #[error("{0}")]
    Key(SecretError),
    /// The desk's sealed facts could not be read.
    #[error("The desk's sealed record cannot be read: {0}")]
    FactsUnreadable(SecretError),
    /// The desk's sealed facts could not be written.
    #[error("The desk's sealed record cannot be written: {0}")]
    FactsUnwritten(SecretError),
    /// IT's audit key file, or the audit log, could not be opened.
    #[error("{0}")]
    Audit(TrailError),
    /// The pending store could not be opened (one set aside does open).
    #[error("{0}")]
    Pending(StoreError),
    /// The store plugin could not be given `pending.json`.
    #[error("{0}")]
    PluginStore(#[from] PluginStoreError),
    /// A sealed entry does not open with this key.
    #[error("{0}")]
    Engine(DeskError),
}

/// Builds everything the desk needs from the data folder. Failures that leave
/// the desk unusable become an on-screen reason, never a crash.
///
/// `folder_lock` must hold `data_dir` (S20): it is taken before anything
/// in the folder is read, and the shell keeps it until `shutdown`.
pub(crate) fn assemble<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    data_dir: &Path,
    folder_lock: DataFolderLock,
    mut config: ConfigState,
    launch: &crate::Launch,
) -> (Shell, Result<DeskConfig, ConfigRefusal>) {
    let clock = launch.clock.clone();
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
            warnings.push(Text::plain(e.to_string()));
            (None, default_operator())
        }
    };
    warnings.extend(config.notes.iter().cloned().map(Text::plain));
    let key = open_key(data_dir, &config);
    if let Ok(key) = &key {
        match open_facts(&config, key, data_dir) {
            Ok((facts, problem)) => {
                warnings.extend(problem);
                config.facts = Some(facts);
            }
            Err(e) => warnings.push(Text::plain(e.to_string())),
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
    let keys = key.and_then(|key| {
        let audit_key =
            crate::activity::trail::audit_key(&config, &key).map_err(OpenError::Audit)?;
        Ok((key, audit_key))
    });
    let audit_key = keys.as_ref().ok().map(|(_, audit_key)| audit_key.clone());
    let desk = keys.and_then(|(key, audit_key)| {
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
            branch = super::branch::join(&config, &mut engine, &mut warnings);
            (Ok(Mutex::new(Some(engine))), Some(compactor))
        }
        Err(reason) => {
            warnings.push(Text::plain(reason.to_string()));
            (Err(reason), None)
        }
    };
    let shell = Shell {
        desk,
        gateway: RwLock::new(Err(NoGateway::Starting)),
        gateway_built_from: Mutex::new(None),
        config: Mutex::new(config),
        settings_lock: tokio::sync::Mutex::new(()),
        prefill: Mutex::new(prefill),
        settings_file,
        session: Session::new(DEFAULT_LOCK_AFTER),
        warnings: Mutex::new(warnings),
        data_dir: data_dir.to_owned(),
        clock,
        log_dir: launch.log_dir.clone(),
        trackers: Mutex::new(HashMap::new()),
        audit_key,
        branch,
        os_locale: launch.os_locale.clone(),
        compactor,
        tasks: Mutex::new(Vec::new()),
        folder_lock: Mutex::new(Some(folder_lock)),
        closed: AtomicBool::new(false),
    };
    (shell, resolved)
}

/// Makes sure the data folder exists and opens the desk key (made on
/// first use). Without it nothing can be checked or sealed.
fn open_key(data_dir: &Path, config: &ConfigState) -> Result<DigestKey, OpenError> {
    std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataFolder {
        path: data_dir.to_owned(),
        source,
    })?;
    secrets::load_or_create_digest_key(
        config.credentials.as_ref(),
        &data_dir.join(KEY_FILE),
        &mut OsRng,
    )
    .map_err(OpenError::Key)
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
) -> Result<(FactsStore, Option<Text>), OpenError> {
    let (facts, read) = FactsStore::open(config.credentials.clone(), key.clone())
        .map_err(OpenError::FactsUnreadable)?;
    let problem = match read {
        FactsRead::Intact => None,
        FactsRead::Distrusted(why) => Some(Text::plain(why)),
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
                    .map_err(OpenError::FactsUnwritten)?;
            }
            let used =
                std::fs::metadata(Trail::in_folder(data_dir).current()).is_ok_and(|m| m.len() > 0);
            used.then(|| {
                Text::plain("The desk's sealed record was missing, though this desk has an audit trail (the first start after an upgrade, or the record was deleted). A stored auth token must be typed again; IT should verify the audit log.".to_owned())
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

/// Why the configuration in force cannot send: said in Settings, on the
/// banner, and as the reason there is no gateway.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ConfigRefusal {
    /// IT's policy file is broken.
    #[error("{0}")]
    PolicyFile(PolicyFileError),
    /// The environment names a gateway that cannot be used.
    #[error("The SMS gateway set in the environment is not usable: {0}")]
    Environment(String),
    /// The settings, taken together, fail their checks.
    #[error("The settings are not usable ({}); fix them in Settings.", list(.0))]
    Settings(Vec<FieldError>),
}

fn list(errors: &[FieldError]) -> String {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    list.join("; ")
}

/// The configuration to start on, or why real mode cannot start.
pub(crate) fn resolve_for_start(config: &ConfigState) -> Result<DeskConfig, ConfigRefusal> {
    if let Err(e) = &config.policy.policy {
        return Err(ConfigRefusal::PolicyFile(e.clone()));
    }
    if let Some(e) = &config.env_problem {
        return Err(ConfigRefusal::Environment(e.clone()));
    }
    config.resolve().map_err(ConfigRefusal::Settings)
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
) -> Result<(Engine, Compactor), OpenError> {
    let audit = crate::activity::trail::open(data_dir, audit_key, facts, station)
        .map_err(OpenError::Audit)?;
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
        audit_trail: Some(Trail::in_folder(data_dir).current().to_owned()),
    };
    let opened =
        JournalStore::open(&pending_path, &key, &options, now).map_err(OpenError::Pending)?;
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
            .map_err(OpenError::FactsUnwritten)?;
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
    let mut desk = Desk::new(parts, opened.document).map_err(|(e, _)| OpenError::Engine(e))?;
    // Until the gateway is built: no code without a way to send it.
    desk.set_sending(Sending::Unavailable(NoGateway::Starting.to_string()));
    desk.audit_event(AuditEvent::app_started(now, start_detail));
    Ok((desk, compactor))
}
