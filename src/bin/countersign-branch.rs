//! IT's tool for a branch database (S24): applies the schema and makes
//! the desks' roles. Run with an administrator role, never by a desk.
//!
//! The password of that role may be in the URL (IT's own terminal), so
//! neither the URL nor anything read from a password file is ever printed:
//! messages name the host, the role and the server's own words only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use countersign::audit::{verify_copy, AuditKey, KeyFileError};
use countersign::branch::postgres::{connect, uses_tls};
use countersign::branch::schema::{self, SCHEMA_VERSION};
use countersign::branch::DeskName;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

const USAGE: &str = "\
usage: countersign-branch migrate  --url postgres://ADMIN@host:port/db [--ca-bundle FILE]
       countersign-branch add-desk --url postgres://ADMIN@host:port/db --desk NAME
                                   [--password-file FILE] [--ca-bundle FILE]
       countersign-branch prune    --url postgres://ADMIN@host:port/db [--keep-hours N]
                                   [--ca-bundle FILE]
       countersign-branch verify-audit --url postgres://ADMIN@host:port/db
                                   --audit-key-file FILE [--desk NAME] [--ca-bundle FILE]
       countersign-branch --help

  migrate         brings the branch database's schema to this build's version
                  (creates the countersign_desk group role if missing)
  add-desk        creates the desk's login role, or updates it, as a member of
                  countersign_desk; with --password-file, sets its password
  prune           deletes number_events older than --keep-hours (default 24,
                  at least 2: longer than every window a rule reads); the
                  audit records are never touched
  verify-audit    checks every desk's audit chain as the branch holds it
                  (or --desk's alone) with IT's audit key (the policy's
                  audit_key_file); exit 1 when one is broken
  --url           an administrator's connection URL; a host other than this
                  machine needs ?sslmode=require
  --desk          the desk's role: lowercase letters, digits and _, starting
                  with a letter, at most 63
  --password-file the desk's password, on the file's first line (a trailing
                  newline is dropped); never given on the command line
  --ca-bundle     the certificates to trust for TLS (default: the OS's)

Exit status: 0 done, 1 the database refused or could not be reached,
2 a usage error (arguments, the password file).";

/// What went wrong, and the exit status that says so.
enum Failure {
    Usage(String),
    Database(String),
}

#[derive(Debug, PartialEq)]
enum Command {
    Help,
    Migrate(Target),
    AddDesk {
        target: Target,
        desk: DeskName,
        password_file: Option<PathBuf>,
    },
    Prune {
        target: Target,
        keep_hours: u32,
    },
    VerifyAudit {
        target: Target,
        key_file: PathBuf,
        desk: Option<DeskName>,
    },
}

/// Rows younger than this are never pruned: the longest window any rule
/// reads is an hour (S5), and a claim lives at most ten minutes.
const MIN_KEEP_HOURS: u32 = 2;

#[derive(Debug, PartialEq)]
struct Target {
    url: String,
    ca_bundle: Option<PathBuf>,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let sub = match args.next() {
        None => {
            return Err("a subcommand is needed: migrate, add-desk, prune or verify-audit".into())
        }
        Some(h) if h == "--help" || h == "-h" || h == "help" => return Ok(Command::Help),
        Some(s) => s,
    };
    let (mut url, mut ca_bundle, mut desk, mut password_file) = (None, None, None, None);
    let (mut keep_hours, mut key_file) = (None, None);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let slot = match flag.as_str() {
            "--url" => &mut url,
            "--ca-bundle" => &mut ca_bundle,
            "--desk" if sub == "add-desk" || sub == "verify-audit" => &mut desk,
            "--audit-key-file" if sub == "verify-audit" => &mut key_file,
            "--password-file" if sub == "add-desk" => &mut password_file,
            "--keep-hours" if sub == "prune" => &mut keep_hours,
            // Not echoed: a mistyped flag may be followed by a secret.
            _ => return Err(format!("unknown argument for {sub}: {flag}")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("{flag} is given twice"));
        }
    }
    let target = Target {
        url: url.ok_or("--url is needed")?,
        ca_bundle: ca_bundle.map(PathBuf::from),
    };
    match sub.as_str() {
        "migrate" => Ok(Command::Migrate(target)),
        "add-desk" => {
            let desk = desk_name(&desk.ok_or("--desk is needed")?)?;
            Ok(Command::AddDesk {
                target,
                desk,
                password_file: password_file.map(PathBuf::from),
            })
        }
        "prune" => {
            let keep_hours = match keep_hours {
                None => 24,
                Some(raw) => raw
                    .parse::<u32>()
                    .ok()
                    .filter(|h| *h >= MIN_KEEP_HOURS)
                    .ok_or_else(|| {
                        format!("--keep-hours must be a whole number of hours, at least {MIN_KEEP_HOURS}")
                    })?,
            };
            Ok(Command::Prune { target, keep_hours })
        }
        "verify-audit" => Ok(Command::VerifyAudit {
            target,
            key_file: key_file
                .map(PathBuf::from)
                .ok_or("--audit-key-file is needed")?,
            desk: desk.map(|raw| desk_name(&raw)).transpose()?,
        }),
        _ => Err(format!(
            "unknown subcommand {sub:?}: migrate, add-desk, prune or verify-audit"
        )),
    }
}

fn desk_name(raw: &str) -> Result<DeskName, String> {
    DeskName::parse(raw).ok_or_else(|| {
        format!("--desk {raw:?} is not a desk role name (lowercase letters, digits and _, starting with a letter, at most 63)")
    })
}

/// The password on the file's first line; an empty one is a mistake, not
/// "no password".
fn read_password(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--password-file {}: {e}", path.display())))?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() || password.contains(['\n', '\r']) {
        return Err(Failure::Usage(format!(
            "--password-file {}: must hold one non-empty line",
            path.display()
        )));
    }
    Ok(password.to_owned())
}

/// Where the URL points, for messages: never the URL itself.
fn shown(pg: &Config) -> String {
    let user = pg.get_user().unwrap_or("(default role)");
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "(default host)".into(),
    };
    format!("{user} at {host}")
}

async fn open(target: &Target) -> Result<(Client, String), Failure> {
    // The parser's messages name the option at fault, not its value.
    let pg: Config = target
        .url
        .parse()
        .map_err(|e| Failure::Usage(format!("--url is not a PostgreSQL URL ({e})")))?;
    let tls = uses_tls(&pg).map_err(|host| {
        Failure::Usage(format!(
            "--url points at {host}, which is not this machine: add ?sslmode=require"
        ))
    })?;
    let who = shown(&pg);
    let client = connect(&pg, tls, target.ca_bundle.as_deref())
        .await
        .map_err(|e| Failure::Database(format!("could not connect as {who}: {e}")))?;
    Ok((client, who))
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Migrate(target) => {
            let (mut client, who) = open(&target).await?;
            let applied = schema::migrate(&mut client)
                .await
                .map_err(|e| Failure::Database(format!("as {who}: {e}")))?;
            if applied.is_empty() {
                println!("already at version {SCHEMA_VERSION}");
            } else {
                for version in applied {
                    println!("applied version {version}");
                }
                println!("now at version {SCHEMA_VERSION}");
            }
        }
        Command::AddDesk {
            target,
            desk,
            password_file,
        } => {
            // Read before connecting: a wrong file changes nothing.
            let password = password_file.as_deref().map(read_password).transpose()?;
            let (client, who) = open(&target).await?;
            schema::add_desk(&client, &desk, password.as_deref())
                .await
                .map_err(|e| Failure::Database(format!("as {who}: {e}")))?;
            let how = if password.is_some() {
                "with the password from the file"
            } else {
                "with no password (the server must trust it another way)"
            };
            println!(
                "desk role {desk} is ready, a member of {}, {how}",
                schema::DESK_GROUP
            );
        }
        Command::Prune { target, keep_hours } => {
            let (client, who) = open(&target).await?;
            let keep = std::time::Duration::from_secs(u64::from(keep_hours) * 3600);
            let deleted = schema::prune(&client, keep)
                .await
                .map_err(|e| Failure::Database(format!("as {who}: {e}")))?;
            println!("deleted {deleted} number events older than {keep_hours} hours");
        }
        Command::VerifyAudit {
            target,
            key_file,
            desk,
        } => verify_audit(&target, &key_file, desk.as_ref()).await?,
    }
    Ok(())
}

/// Each desk's chain as the branch holds it, checked with IT's key.
async fn verify_audit(
    target: &Target,
    key_file: &Path,
    only: Option<&DeskName>,
) -> Result<(), Failure> {
    let key = AuditKey::read_file(key_file).map_err(|e| {
        Failure::Usage(match e {
            KeyFileError::Unreadable(e) => format!("--audit-key-file {}: {e}", key_file.display()),
            KeyFileError::NotAKey => format!(
                "--audit-key-file {}: must hold 64 hexadecimal digits",
                key_file.display()
            ),
        })
    })?;
    let (client, who) = open(target).await?;
    let db = |e: tokio_postgres::Error| Failure::Database(format!("as {who}: {e}"));
    let desks: Vec<String> = match only {
        Some(d) => vec![d.as_str().to_owned()],
        None => client
            .query(
                "SELECT DISTINCT desk::text FROM audit_records ORDER BY 1",
                &[],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.get(0))
            .collect(),
    };
    let mut broken = Vec::new();
    for desk in &desks {
        let lines: Vec<(u64, String)> = client
            .query(
                "SELECT seq, line FROM audit_records WHERE desk = $1::text ORDER BY seq",
                &[desk],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| (u64::try_from(r.get::<_, i64>(0)).unwrap_or(0), r.get(1)))
            .collect();
        let report = verify_copy(&lines, &key)
            .map_err(|e| Failure::Database(format!("{desk}: the copy cannot be checked ({e})")))?;
        println!("{desk}: {}", report.describe());
        if !report.is_intact() {
            broken.push(desk.clone());
        }
    }
    match (desks.is_empty(), broken.is_empty()) {
        (true, _) => println!("no audit records in the branch yet"),
        (false, true) => {}
        (false, false) => {
            return Err(Failure::Database(format!(
                "broken chains: {}",
                broken.join(", ")
            )))
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let result = match parse(std::env::args().skip(1)) {
        Ok(command) => run(command).await,
        Err(e) => Err(Failure::Usage(format!("{e}\n\n{USAGE}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("countersign-branch: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Database(e)) => {
            eprintln!("countersign-branch: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn subcommands_and_their_flags() {
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        let Ok(Command::AddDesk { desk, .. }) = args(&[
            "add-desk",
            "--url",
            "postgres://a@127.0.0.1/b",
            "--desk",
            "d1",
        ]) else {
            panic!("add-desk parses");
        };
        assert_eq!(desk.as_str(), "d1");
        for (bad, says) in [
            (&[][..], "subcommand"),
            (&["frob", "--url", "x"], "unknown subcommand"),
            (&["migrate"], "--url is needed"),
            (&["migrate", "--url"], "needs a value"),
            (&["migrate", "--url", "a", "--url", "b"], "twice"),
            (
                &["migrate", "--url", "a", "--desk", "d"],
                "unknown argument",
            ),
            (&["add-desk", "--url", "a"], "--desk is needed"),
            (&["prune", "--url", "a", "--keep-hours", "1"], "at least 2"),
            (
                &["prune", "--url", "a", "--keep-hours", "x"],
                "whole number",
            ),
            (
                &["migrate", "--url", "a", "--keep-hours", "5"],
                "unknown argument",
            ),
            (
                &["add-desk", "--url", "a", "--desk", "Desk-1"],
                "not a desk role",
            ),
        ] {
            let e = args(bad).err().unwrap_or_default();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
