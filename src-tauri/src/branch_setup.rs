//! Branch mode in the shell (S24): when IT's policy names a branch store,
//! the desk joins it at start. Everything it needs comes from `[locked]`
//! (the policy refuses branch keys anywhere else): the database URL, the
//! branch key file, the password file and the CA bundle. A branch the desk
//! cannot join refuses every send; it never falls back to counting alone.

use countersign::branch::postgres::{LedgerClock, LedgerConfig, PgLedger};
use countersign::branch::{Branch, BranchKey, DeskName};
use countersign::config::Key;
use countersign::keys::DigestKey;
use secrecy::SecretString;

use crate::config_state::ConfigState;
use crate::state::Engine;

/// Largest key or password file read: both are a line of text.
const MAX_SECRET_FILE: u64 = 4096;

/// Joins `desk` to its branch when the policy says so, and says on screen
/// when the branch store cannot be used or reached now.
pub fn join(config: &ConfigState, desk: &mut Engine, warnings: &mut Vec<String>) {
    let Ok(policy) = &config.policy.policy else {
        return;
    };
    let locked = |key: Key| {
        policy
            .locked
            .get(&key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let Some(url) = locked(Key::BranchStore) else {
        return;
    };
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
        Ok((branch, mut probe)) => {
            let desk_name = probe_name(&probe);
            desk.join_branch(branch);
            tracing::info!(desk = %desk_name, "joined the branch store");
            if let Err(e) = probe.probe() {
                tracing::warn!(error = %e, "branch store unreachable at start");
                warnings.push(format!(
                    "The branch store cannot be reached ({e}). No code can be sent until it is back; codes already sent can still be checked."
                ));
            }
        }
        Err((desk_name, reason)) => {
            warnings.push(format!(
                "Branch mode is set by IT but cannot be used: {reason}. No code can be sent until IT fixes it."
            ));
            desk.join_branch(Branch::unusable(desk_name, reason));
        }
    }
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
