//! Branch mode in the shell (S24): when IT's policy names a branch store,
//! the desk joins it at start. Everything it needs comes from `[locked]`
//! (the policy refuses branch keys anywhere else): the database URL, the
//! branch key file, the password file and the CA bundle. A branch the desk
//! cannot join refuses every send; it never falls back to counting alone.

use countersign::i18n::Text;
use std::time::Duration;

use countersign::audit::{AuditEvent, EventKind};
use countersign::branch::forward::{forward_trail, ForwardError};
use countersign::branch::postgres::{LedgerClock, LedgerConfig, PgLedger};
use countersign::branch::{Branch, BranchKey, DeskName};
use countersign::clock::Clock;
use countersign::config::Key;
use countersign::keys::DigestKey;
use secrecy::SecretString;

use tauri::{AppHandle, Manager, Runtime};

use countersign::audit::AuditRecord;

use crate::activity::list::FilterInput;
use crate::config_state::ConfigState;
use crate::error::{IpcError, IpcResult};
use crate::state::{Engine, Shell, AUDIT_FILE};

/// Largest key or password file read: both are a line of text.
const MAX_SECRET_FILE: u64 = 4096;

/// How many of the branch's newest records one Activity query reads before
/// filtering: a branch's day, bounded so a query stays quick.
const BRANCH_SCAN: usize = 5000;

/// How often the desk's new audit records are sent to the branch.
const FORWARD_EVERY: Duration = Duration::from_secs(5);

/// Joins `desk` to its branch when the policy says so, and says on screen
/// when the branch store cannot be used or reached now. Returns the
/// ledger the shell keeps for the branch's audit trail (forwarding, and
/// Activity across the branch).
pub fn join(config: &ConfigState, desk: &mut Engine, warnings: &mut Vec<Text>) -> Option<PgLedger> {
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
            desk.join_branch(Branch::unusable(desk_name, reason));
            None
        }
    }
}

/// Sends the desk's new audit records to the branch every few seconds, off
/// the desk's lock; what was made while the store was away follows when it
/// returns. A local trail that no longer matches the branch's copy is said
/// on screen and in the trail, once.
pub fn spawn_forwarding<R: Runtime>(app: AppHandle<R>) {
    let shell = app.state::<Shell>();
    let Some(ledger) = shell.branch.clone() else {
        return;
    };
    let trail = shell.data_dir.join(AUDIT_FILE);
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
                    let mut event =
                        AuditEvent::new(shell.clock.now(), EventKind::BranchTrailMismatch);
                    event.detail = Some(e.to_string());
                    shell.audit(event);
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
pub fn desk_of(layers: &countersign::config::Layers) -> Option<String> {
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

fn open(
    mut config: LedgerConfig,
    key_file: Option<String>,
    password_file: Option<String>,
) -> Result<Opened, (DeskName, String)> {
    // The policy checked the URL already; this cannot fail short of a
    // policy read by another version.
    let desk = countersign::branch::postgres::parse(&config)
        .map(|(_, desk, _)| desk)
        .map_err(|e| (DeskName::unknown(), e.to_string()))?;
    let fail = |reason: String| (desk.clone(), reason);
    let key_file = key_file.ok_or_else(|| fail("branch_key_file is not set".to_owned()))?;
    let key = read_small(&key_file)
        .and_then(|text| {
            hex::decode(text.trim())
                .ok()
                .and_then(|bytes| DigestKey::from_bytes(&bytes))
                .ok_or_else(|| "does not hold 64 hexadecimal digits (a 256-bit key)".to_owned())
        })
        .map_err(|e| fail(format!("the branch key file {key_file} {e}")))?;
    if let Some(path) = password_file {
        let text = read_small(&path)
            .map_err(|e| fail(format!("the branch store password file {path} {e}")))?;
        config.password = Some(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    let ledger = PgLedger::start(&config).map_err(|e| fail(e.to_string()))?;
    let branch = Branch {
        key: BranchKey::new(key),
        ledger: Box::new(ledger.clone()),
    };
    Ok((branch, ledger))
}

fn read_small(path: &str) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE).read_to_string(&mut text))
        .map_err(|e| format!("cannot be read ({e})"))?;
    Ok(text)
}

/// Records the branch holds that match the filter, newest first, each with
/// the desk whose record it is, and whether the search stopped at the
/// newest [`BRANCH_SCAN`] (older matches may exist). The branch's store is
/// read once per call and filtered here: the filter's digest and text
/// fields are not columns there, so paging in SQL would page the unfiltered
/// records.
pub async fn branch_records(
    shell: &Shell,
    mut filter: FilterInput,
) -> IpcResult<(Vec<(AuditRecord, String)>, bool)> {
    shell.session.require_operator()?;
    let Some(mut ledger) = shell.branch.clone() else {
        return Err(IpcError::text(
            "not_in_branch",
            Text::new("branch.not_in_branch"),
        ));
    };
    if filter.has_phone() {
        return Err(IpcError::text(
            "invalid_filter",
            Text::new("branch.phone_filter"),
        ));
    }
    let desk =
        match filter.take_desk() {
            None => None,
            Some(raw) => Some(DeskName::parse(&raw).ok_or_else(|| {
                IpcError::text("invalid_filter", Text::new("branch.bad_desk_name"))
            })?),
        };
    let filter = filter.parse(shell)?;
    let lines = tauri::async_runtime::spawn_blocking(move || ledger.read_audit(desk, BRANCH_SCAN))
        .await
        .map_err(IpcError::internal)?
        .map_err(|e| {
            tracing::warn!(error = %e, "branch audit read failed");
            IpcError::text(
                "branch_unreachable",
                Text::new("branch.records_unreachable"),
            )
        })?;
    let partial = lines.len() >= BRANCH_SCAN;
    let matches = lines
        .into_iter()
        .filter_map(|(desk, line)| {
            let record = serde_json::from_str::<AuditRecord>(&line).ok()?;
            filter.matches(&record.event).then_some((record, desk))
        })
        .collect();
    Ok((matches, partial))
}
