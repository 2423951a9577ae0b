//! Branch mode in the shell (S24): when IT's policy names a branch store,
//! the desk joins it at start. Everything it needs comes from `[locked]`
//! (the policy refuses branch keys anywhere else): the database URL, the
//! branch key file, the password file and the CA bundle. A branch the desk
//! cannot join refuses every send; it never falls back to counting alone.

use countersign::i18n::Text;
use std::time::Duration;

use countersign::audit::AuditEvent;
use countersign::branch::forward::{forward_trail, ForwardError};
use countersign::branch::postgres::{LedgerClock, LedgerConfig, LedgerConfigError, PgLedger};
use countersign::branch::{Branch, BranchKey, DeskName};
use countersign::clock::Clock;
use countersign::config::Key;
use countersign::keys::DigestKey;
use secrecy::SecretString;

use tauri::{AppHandle, Manager, Runtime};

use super::{Engine, Shell};
use crate::settings::ConfigState;

/// Largest key or password file read: both are a line of text.
const MAX_SECRET_FILE: u64 = 4096;

/// How often the desk's new audit records are sent to the branch.
const FORWARD_EVERY: Duration = Duration::from_secs(5);

/// Joins `desk` to its branch when the policy says so, and says on screen
/// when the branch store cannot be used or reached now. Returns the
/// ledger the shell keeps for the branch's audit trail (forwarding, and
/// Activity across the branch).
pub(crate) fn join(
    config: &ConfigState,
    desk: &mut Engine,
    warnings: &mut Vec<Text>,
) -> Option<PgLedger> {
    let Ok(policy) = &config.policy.policy else {
        return None;
    };
    let locked = |key: Key| {
        policy
            .locked
            .get(&key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let url = locked(Key::BranchStore)?;
    let config = LedgerConfig {
        url,
        password: None,
        ca_bundle: locked(Key::CaBundleFile).map(Into::into),
        clock: LedgerClock::Server,
    };
    match open(
        config,
        locked(Key::BranchKeyFile),
        locked(Key::BranchPasswordFile),
    ) {
        Ok((branch, mut ledger)) => {
            let desk_name = probe_name(&ledger);
            desk.join_branch(branch);
            tracing::info!(desk = %desk_name, "joined the branch store");
            if let Err(e) = ledger.probe() {
                tracing::warn!(error = %e, "branch store unreachable at start");
                warnings.push(Text::plain(format!(
                    "The branch store cannot be reached ({e}). No code can be sent until it is back; codes already sent can still be checked."
                )));
            }
            Some(ledger)
        }
        Err((desk_name, reason)) => {
            warnings.push(Text::plain(format!(
                "Branch mode is set by IT but cannot be used: {reason}. No code can be sent until IT fixes it."
            )));
            desk.join_branch(Branch::unusable(desk_name, reason.to_string()));
            None
        }
    }
}

/// Sends the desk's new audit records to the branch every few seconds, off
/// the desk's lock; what was made while the store was away follows when it
/// returns. A local trail that no longer matches the branch's copy is said
/// on screen and in the trail, once.
pub(crate) fn spawn_forwarding<R: Runtime>(app: AppHandle<R>) {
    let shell = app.state::<Shell>();
    let Some(ledger) = shell.branch.clone() else {
        return;
    };
    let trail = countersign::audit::Trail::in_folder(&shell.data_dir)
        .current()
        .to_owned();
    let handle = app.clone();
    let task = tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(FORWARD_EVERY);
        let mut mismatch_told = false;
        loop {
            tick.tick().await;
            let (mut ledger, trail) = (ledger.clone(), trail.clone());
            let round = tauri::async_runtime::spawn_blocking(move || {
                match forward_trail(&mut ledger, &trail) {
                    // Once more before calling it a mismatch: the month may
                    // have rotated between listing the files and reading.
                    Err(ForwardError::Diverged { .. } | ForwardError::Behind { .. }) => {
                        forward_trail(&mut ledger, &trail)
                    }
                    other => other,
                }
            })
            .await;
            match round {
                Ok(Ok(0)) | Ok(Err(ForwardError::Unreachable(_))) => {}
                Ok(Ok(sent)) => tracing::debug!(sent, "audit records forwarded to the branch"),
                Ok(Err(e)) if !mismatch_told => {
                    mismatch_told = true;
                    let shell = handle.state::<Shell>();
                    let message = format!(
                        "The audit trail on this desk does not match the branch: {e}. Tell IT."
                    );
                    shell.audit(AuditEvent::branch_trail_mismatch(shell.clock.now(), &e));
                    shell.warn(message);
                }
                Ok(Err(_)) => {}
                Err(e) => tracing::error!(error = %e, "audit forwarding task failed"),
            }
        }
    });
    app.state::<Shell>().keep_task(task);
}

/// The desk's name in its branch, from IT's `branch_store` (an IT-only
/// key: a value in `settings.json` is never read for it).
pub(crate) fn desk_of(layers: &countersign::config::Layers) -> Option<String> {
    let url = layers.get(Key::BranchStore)?.as_str()?.to_owned();
    let config = LedgerConfig {
        url,
        password: None,
        ca_bundle: None,
        clock: LedgerClock::Server,
    };
    countersign::branch::postgres::parse(&config)
        .ok()
        .map(|(_, desk, _)| desk.to_string())
}

fn probe_name(ledger: &PgLedger) -> DeskName {
    countersign::branch::BranchLedger::desk(ledger).clone()
}

type Opened = (Branch, PgLedger);

/// Why IT's branch settings cannot be used; the desk then refuses every
/// send rather than count alone.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    /// The store's address or TLS settings.
    #[error("{0}")]
    Store(#[from] LedgerConfigError),
    #[error("branch_key_file is not set")]
    NoKeyFile,
    #[error("the branch key file {path} cannot be read ({source})")]
    KeyFileUnreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("the branch key file {path} does not hold 64 hexadecimal digits (a 256-bit key)")]
    NotAKey { path: String },
    #[error("the branch store password file {path} cannot be read ({source})")]
    PasswordFileUnreadable {
        path: String,
        source: std::io::Error,
    },
}

fn open(
    mut config: LedgerConfig,
    key_file: Option<String>,
    password_file: Option<String>,
) -> Result<Opened, (DeskName, Unusable)> {
    // The policy checked the URL already; this cannot fail short of a
    // policy read by another version.
    let desk = countersign::branch::postgres::parse(&config)
        .map(|(_, desk, _)| desk)
        .map_err(|e| (DeskName::unknown(), e.into()))?;
    let fail = |reason: Unusable| (desk.clone(), reason);
    let path = key_file.ok_or_else(|| fail(Unusable::NoKeyFile))?;
    let text = read_small(&path).map_err(|source| {
        fail(Unusable::KeyFileUnreadable {
            path: path.clone(),
            source,
        })
    })?;
    let key = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| DigestKey::from_bytes(&bytes))
        .ok_or_else(|| fail(Unusable::NotAKey { path }))?;
    if let Some(path) = password_file {
        let text = read_small(&path)
            .map_err(|source| fail(Unusable::PasswordFileUnreadable { path, source }))?;
        config.password = Some(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    let ledger = PgLedger::start(&config).map_err(|e| fail(e.into()))?;
    let branch = Branch {
        key: BranchKey::new(key),
        ledger: Box::new(ledger.clone()),
    };
    Ok((branch, ledger))
}

fn read_small(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_SECRET_FILE).read_to_string(&mut text))?;
    Ok(text)
}
