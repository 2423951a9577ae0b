//! Verifies a desk's audit trail off the desk, as the activity screen does
//! (S22): every kept month, the links between them and the current log,
//! with the audit key IT exported or provisioned, and held to the desk's
//! anchor when one is given.
//!
//! ```text
//! countersign-verify-audit FOLDER --key-file FILE [--anchor-file FILE]
//! ```
//!
//! FOLDER holds `audit.jsonl` and its months; the key file holds the audit
//! key as 64 hex digits; the anchor file is the anchor's JSON. Exit status:
//! 0 intact, 1 broken, 2 a usage error, a file that cannot be read, or a
//! folder with no trail in it. The key is never printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use countersign::audit::{AuditKey, KeyFileError, Trail, TrailAnchor, AUDIT_FILE};

const NAME: &str = "countersign-verify-audit";
const USAGE: &str = "\
usage: countersign-verify-audit FOLDER --key-file FILE [--anchor-file FILE]

  FOLDER         the desk's data folder: audit.jsonl and its months (audit-YYYY-MM.jsonl)
  --key-file     the audit key, 64 hex digits
  --anchor-file  the desk's anchor (JSON); without it, records cut from the
                 newest end together with their head cannot be detected

exit status: 0 intact, 1 broken, 2 usage or read error";

struct Args {
    folder: PathBuf,
    key_file: PathBuf,
    anchor_file: Option<PathBuf>,
}

/// `Ok(None)`: help was asked for.
fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Option<Args>, String> {
    let (mut folder, mut key_file, mut anchor_file) = (None, None, None);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a file"))
        };
        match arg.to_str() {
            Some("--help" | "-h") => return Ok(None),
            Some("--key-file") => key_file = Some(value("--key-file")?),
            Some("--anchor-file") => anchor_file = Some(value("--anchor-file")?),
            Some(flag) if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if folder.is_none() => folder = Some(PathBuf::from(arg)),
            _ => return Err("only one FOLDER".to_owned()),
        }
    }
    Ok(Some(Args {
        folder: folder.ok_or("FOLDER is missing")?,
        key_file: key_file.ok_or("--key-file is missing")?,
        anchor_file,
    }))
}

fn read_key(path: &Path) -> Result<AuditKey, String> {
    AuditKey::read_file(path).map_err(|e| match e {
        KeyFileError::Unreadable(e) => {
            format!("the key file {} cannot be read: {e}", path.display())
        }
        KeyFileError::NotAKey => format!(
            "the key file {} does not hold an audit key (64 hex digits)",
            path.display()
        ),
    })
}

fn read_anchor(path: &Path) -> Result<TrailAnchor, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("the anchor file {} cannot be read: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "the anchor file {} is not an audit anchor: {e}",
            path.display()
        )
    })
}

fn run(args: &Args) -> Result<bool, String> {
    if !args.folder.is_dir() {
        return Err(format!("{} is not a folder", args.folder.display()));
    }
    let key = read_key(&args.key_file)?;
    let anchor = args.anchor_file.as_deref().map(read_anchor).transpose()?;
    let report = Trail::in_folder(&args.folder)
        .verify(&key, anchor.as_ref())
        .map_err(|e| format!("the trail in {} cannot be read: {e}", args.folder.display()))?;
    if report.is_intact() && report.months == 0 {
        // Most likely the wrong folder: "intact" would mislead.
        return Err(format!(
            "{} holds no audit trail ({AUDIT_FILE} or its months)",
            args.folder.display()
        ));
    }
    println!("{}", report.describe());
    Ok(report.is_intact())
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{NAME}: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::from(2)
        }
    }
}
