//! The audit trail as the desk opens it (S22): keyed with the audit key
//! (IT's, from the file the policy names, else derived from the desk key),
//! and anchored in the desk's sealed facts after every record, so a log
//! deleted, cut short or rewritten in the data folder shows at the next
//! start and at every "Verify log".

use std::path::{Path, PathBuf};

use countersign::audit::{
    AuditError, AuditKey, AuditLog, KeyFileError, Station, Trail, TrailAnchor,
};
use countersign::config::Key;
use countersign::facts::FactsStore;
use countersign::keys::DigestKey;
use countersign::secrets::SecretError;

use crate::error::IpcError;
use crate::settings::ConfigState;

/// Why the trail, its key or its export failed. At start the words are a
/// banner warning and the reason the desk cannot open; on export they are
/// the reason in "not exported".
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrailError {
    /// IT's audit key file could not be read.
    #[error("The audit key file {path} cannot be read ({source}); ask IT.")]
    KeyFileUnreadable {
        path: String,
        source: std::io::Error,
    },
    /// IT's audit key file holds something other than a key.
    #[error("The audit key file {path} does not hold a key (64 hexadecimal digits); ask IT.")]
    KeyFileNotAKey { path: String },
    /// The audit log could not be opened.
    #[error("{0}")]
    Log(#[from] AuditError),
    /// The trail's anchor could not be kept in the desk's sealed facts.
    #[error("{0}")]
    Anchor(SecretError),
    /// There is no audit key to export: the desk key did not open.
    #[error("the desk could not open its key (see the warnings)")]
    NoKey,
    /// An exported file could not be written.
    #[error("{} cannot be written: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration could not be read.
    #[error("{}", .0.message())]
    Config(IpcError),
    /// The anchor could not be put into JSON.
    #[error("{0}")]
    Encode(serde_json::Error),
}

/// The audit key: IT-provisioned when the policy names a key file (so IT
/// can verify any desk's trail off the desk), else derived from the desk
/// key (exported for IT from the Activity screen). Only the
/// policy may name the file: `audit_key_file` is IT-only.
pub(crate) fn audit_key(
    config: &ConfigState,
    desk_key: &DigestKey,
) -> Result<AuditKey, TrailError> {
    let policy = config.policy.policy.as_ref().ok();
    let file = policy
        .and_then(|p| {
            p.locked
                .get(&Key::AuditKeyFile)
                .or(p.provisioned.get(&Key::AuditKeyFile))
        })
        .and_then(|v| v.as_str())
        .filter(|p| !p.is_empty());
    let Some(path) = file else {
        return Ok(AuditKey::derived_from(desk_key));
    };
    AuditKey::read_file(Path::new(path)).map_err(|e| match e {
        KeyFileError::Unreadable(source) => TrailError::KeyFileUnreadable {
            path: path.to_owned(),
            source,
        },
        KeyFileError::NotAKey => TrailError::KeyFileNotAKey {
            path: path.to_owned(),
        },
    })
}

/// Opens the trail in `data_dir` keyed, held to the anchor the facts keep,
/// and has every new record move that anchor.
pub(crate) fn open(
    data_dir: &Path,
    key: AuditKey,
    facts: Option<&FactsStore>,
    station: Station,
) -> Result<AuditLog, TrailError> {
    let anchor = facts.and_then(|f| f.get().audit);
    let log = AuditLog::open_keyed(Trail::in_folder(data_dir).current(), key, anchor)?
        .with_station(station)
        .with_retention(countersign::audit::trail::DEFAULT_RETENTION_MONTHS);
    let Some(facts) = facts.cloned() else {
        return Ok(log);
    };
    // The hand-over record (if any) was written before a sink could be
    // attached: anchor it now.
    keep_anchor(&facts, &log.anchor()).map_err(TrailError::Anchor)?;
    Ok(log.with_anchor_sink(Box::new(move |anchor| {
        keep_anchor(&facts, anchor).map_err(std::io::Error::other)
    })))
}

/// Writes the audit key (hex) and the trail's anchor (JSON, beside it as
/// `<name>.anchor.json`) to owner-only files for IT, who verifies the trail
/// off the desk with `countersign-verify-audit FOLDER --key-file KEY
/// --anchor-file ANCHOR`. Returns the anchor file's path.
pub(crate) fn export_key(
    shell: &crate::shell::Shell,
    target: &Path,
) -> Result<PathBuf, TrailError> {
    let key = shell.audit_key.as_ref().ok_or(TrailError::NoKey)?;
    let write = |path: &Path, bytes: &[u8]| {
        countersign::persist::atomic_write(path, bytes).map_err(|source| TrailError::Write {
            path: path.to_owned(),
            source,
        })
    };
    write(target, format!("{}\n", key.to_hex()).as_bytes())?;
    let anchor = shell
        .config(|c| c.facts.as_ref().and_then(|f| f.get().audit))
        .map_err(TrailError::Config)?;
    let anchor_path = target.with_extension("anchor.json");
    if let Some(anchor) = anchor {
        let json = serde_json::to_vec_pretty(&anchor).map_err(TrailError::Encode)?;
        write(&anchor_path, &json)?;
    }
    Ok(anchor_path)
}

fn keep_anchor(facts: &FactsStore, anchor: &TrailAnchor) -> Result<(), SecretError> {
    facts.update(|f| f.audit = Some(anchor.clone()))
}
