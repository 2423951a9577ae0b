//! The branch ledger on PostgreSQL.
//!
//! The desk's engine is synchronous and is called from the shell's async
//! commands, so the connection lives on a thread of its own with its own
//! small runtime (`postgres/worker.rs`); the engine hands it one request at a time
//! and waits for the answer on a plain channel, which cannot panic inside
//! the shell's runtime. The wait does block the calling thread (a tokio
//! worker for a send, the window's thread for a check), so it is bounded:
//! 15 s for a send, 3 s for a wrong code or an end, whose events are kept
//! and recorded later when the store is slow or away. A lost connection is
//! opened again at the next request.
//!
//! Each decision is one transaction under an advisory lock on the number
//! (`pg_advisory_xact_lock`, released at commit): read the number's history,
//! [`decide`], insert what passed, commit. Statements are sent unnamed
//! (`query_typed`) and nothing outlives a transaction, so a desk works
//! behind PgBouncer in transaction mode.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};

use super::forward::BranchHead;
use super::schema::{self, describe};
use super::{
    decide, BranchLedger, BranchRefusal, Claim, ClaimKind, DeskName, NumberEvents, Released,
    SendClaim, Unreachable,
};
use crate::clock::Timestamp;
use crate::keys::NumberId;
use crate::verification::VerificationId;

/// How long a desk waits for the server before it calls it unreachable.
mod worker;

use worker::Worker;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a single request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose clock dates the branch's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerClock {
    /// The database server's: a desk whose clock was changed cannot move a
    /// window for the whole branch. What the app uses.
    Server,
    /// The time each request carries: for tests that step time without
    /// sleeping, and for the benchmark.
    Desk,
}

/// How to reach the branch database, as IT's policy gives it.
#[derive(Clone)]
pub struct LedgerConfig {
    /// `postgres://desk_role@host:port/database`; a password in it is
    /// refused (it belongs in the credential store or IT's file).
    pub url: String,
    pub password: Option<SecretString>,
    /// The certificates to trust for TLS; else the OS's, as for the gateway.
    pub ca_bundle: Option<PathBuf>,
    pub clock: LedgerClock,
}

impl std::fmt::Debug for LedgerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerConfig")
            .field("url", &self.url)
            .field("ca_bundle", &self.ca_bundle)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A configuration that can never work; shown to staff and IT as is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerConfigError {
    #[error("branch_store is not a PostgreSQL URL ({0})")]
    Url(String),
    #[error("branch_store must name the desk's database role (postgres://ROLE@host/database)")]
    NoRole,
    #[error("branch_store names the role {0:?}, which is not a desk role name (lowercase letters, digits, _)")]
    BadRole(String),
    #[error("branch_store must not carry a password; IT provisions it in branch_password_file or the credential store")]
    PasswordInUrl,
    #[error("branch_store points at {0}, which is not this machine: the connection must use TLS (sslmode=require or stronger)")]
    TlsRequired(String),
}

/// Checks a configuration without connecting: the desk role it names, and
/// TLS for every host that is not this machine.
pub fn parse(config: &LedgerConfig) -> Result<(Config, DeskName, bool), LedgerConfigError> {
    let pg: Config = config
        .url
        .parse()
        .map_err(|e: tokio_postgres::Error| LedgerConfigError::Url(e.to_string()))?;
    if pg.get_password().is_some() {
        return Err(LedgerConfigError::PasswordInUrl);
    }
    let role = pg.get_user().ok_or(LedgerConfigError::NoRole)?;
    let desk = DeskName::parse(role).ok_or_else(|| LedgerConfigError::BadRole(role.to_owned()))?;
    let tls = uses_tls(&pg).map_err(LedgerConfigError::TlsRequired)?;
    Ok((pg, desk, tls))
}

/// Whether a connection to `pg` uses TLS: when it asks for it
/// (`sslmode=require`), and it must for every host that is not this
/// machine, whose traffic crosses a network. The error names that host.
/// Desks and IT's admin tool both decide by this one rule.
pub fn uses_tls(pg: &Config) -> Result<bool, String> {
    let tls = pg.get_ssl_mode() == SslMode::Require;
    // `hostaddr` is where the connection really goes when it is given.
    if let (Some(addr), false) = (pg.get_hostaddrs().iter().find(|a| !a.is_loopback()), tls) {
        return Err(addr.to_string());
    }
    let remote = pg.get_hosts().iter().find(|h| !is_loopback(h));
    match (remote, tls) {
        (Some(Host::Tcp(name)), false) => Err(name.clone()),
        #[cfg(unix)]
        (Some(Host::Unix(path)), false) => Err(path.display().to_string()),
        _ => Ok(tls),
    }
}

/// Opens a connection as [`uses_tls`] decided, trusting `ca_bundle` or
/// else the OS's roots (as the gateway client does), and drives it on the
/// current runtime. The error is the server's own words, which name no
/// secret.
pub async fn connect(pg: &Config, tls: bool, ca_bundle: Option<&Path>) -> Result<Client, String> {
    if !tls {
        let (client, connection) = pg.connect(NoTls).await.map_err(|e| describe(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(client);
    }
    let mut config = crate::gateway::trust::client_config(ca_bundle)?;
    config.alpn_protocols.clear();
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let (client, connection) = pg.connect(connector).await.map_err(|e| describe(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

enum Request {
    Probe(std_mpsc::SyncSender<Result<(), Unreachable>>),
    BranchHead(std_mpsc::SyncSender<Result<Option<BranchHead>, Unreachable>>),
    Forward(
        Vec<(u64, String)>,
        std_mpsc::SyncSender<Result<(), Unreachable>>,
    ),
    ReadAudit {
        desk: Option<DeskName>,
        limit: i64,
        reply: std_mpsc::SyncSender<Result<Vec<(String, String)>, Unreachable>>,
    },
    /// With the time the desk stops waiting: a claim no one waits for any
    /// more is not made (it would count a send the desk refused).
    Claim(
        SendClaim,
        Instant,
        std_mpsc::SyncSender<Result<(), BranchRefusal>>,
    ),
    Failure {
        number: NumberId,
        verification: VerificationId,
        at: Timestamp,
        reply: std_mpsc::SyncSender<Result<usize, Unreachable>>,
    },
    /// Waited for briefly (the next desk should find the number free at
    /// once), never failed: a release the store cannot take now is kept
    /// until it can. The answer says it was recorded or kept.
    Release(Deferred, std_mpsc::SyncSender<()>),
}

/// What a desk told the branch that must reach it even if the store is
/// away when told: kept in order and recorded before anything else once it
/// is back (while the app runs; at most [`MAX_BACKLOG`]).
#[derive(Clone)]
enum Deferred {
    Failure {
        number: NumberId,
        verification: VerificationId,
        at: Timestamp,
    },
    Release {
        number: NumberId,
        verification: VerificationId,
        at: Timestamp,
    },
}

/// Told ends and wrong codes kept while the store is away.
const MAX_BACKLOG: usize = 10_000;
/// How long a wrong code's check waits for the branch's count before it
/// goes on with the desk's own (the store is told all the same), and an
/// end for its release: short, since a check runs on the window's thread.
const FAILURE_WAIT: Duration = Duration::from_secs(3);

/// Statements the server answered for a ledger, each one round trip (BEGIN
/// and COMMIT included; the connection's start-up and a failed request's
/// statements not): what a desk costs the branch database, for the
/// benchmark and for sizing.
#[derive(Clone, Debug, Default)]
pub struct RoundTrips(Arc<AtomicU64>);

impl RoundTrips {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A desk's ledger on the branch database. Clones share the connection's
/// thread (a probe from the shell while the desk owns the ledger).
#[derive(Clone)]
pub struct PgLedger {
    desk: DeskName,
    requests: mpsc::UnboundedSender<Request>,
    trips: RoundTrips,
}

impl PgLedger {
    /// Starts the ledger's thread. It connects at the first request, so a
    /// desk that starts while the database is away starts all the same and
    /// refuses sends until it is back.
    pub fn start(config: &LedgerConfig) -> Result<Self, LedgerConfigError> {
        let (pg, desk, tls) = parse(config)?;
        let (requests, inbox) = mpsc::unbounded_channel();
        let trips = RoundTrips::default();
        let worker = Worker {
            desk: desk.clone(),
            trips: trips.clone(),
            pg,
            tls: tls.then(|| config.ca_bundle.clone()),
            password: config.password.clone(),
            clock: config.clock,
            client: None,
            backlog: Default::default(),
        };
        std::thread::Builder::new()
            .name(format!("branch-ledger-{desk}"))
            .spawn(move || worker.run(inbox))
            .map_err(|e| LedgerConfigError::Url(format!("no thread for the ledger: {e}")))?;
        Ok(Self {
            desk,
            requests,
            trips,
        })
    }

    /// Connects now and checks the schema version: for the desk's start,
    /// so a mismatch is shown at once rather than at the first send.
    pub fn probe(&mut self) -> Result<(), Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.send(Request::Probe(reply))?;
        wait(answer)?
    }

    /// The newest audit record the branch holds from this desk.
    pub fn branch_head(&mut self) -> Result<Option<BranchHead>, Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.send(Request::BranchHead(reply))?;
        wait(answer)?
    }

    /// Stores `records` (in order, `(seq, line)`) in one transaction; a
    /// record the branch already holds is left as it is.
    pub fn forward(&mut self, records: Vec<(u64, String)>) -> Result<(), Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.send(Request::Forward(records, reply))?;
        wait(answer)?
    }

    /// The branch's newest audit lines, newest first, as `(desk, line)`:
    /// every desk's, or `desk`'s alone. At most `limit`.
    pub fn read_audit(
        &mut self,
        desk: Option<DeskName>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.send(Request::ReadAudit { desk, limit, reply })?;
        wait(answer)?
    }

    /// The count of this ledger's round trips, readable after the ledger
    /// is handed to a desk.
    pub fn round_trips(&self) -> RoundTrips {
        self.trips.clone()
    }

    fn send(&self, request: Request) -> Result<(), Unreachable> {
        self.requests
            .send(request)
            .map_err(|_| Unreachable("the ledger's thread has stopped".into()))
    }
}

fn wait<T>(answer: std_mpsc::Receiver<T>) -> Result<T, Unreachable> {
    answer
        .recv_timeout(REQUEST_TIMEOUT + CONNECT_TIMEOUT)
        .map_err(|_| Unreachable("no answer in time".into()))
}

impl BranchLedger for PgLedger {
    fn claim_send(&mut self, claim: &SendClaim) -> Result<(), BranchRefusal> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let patience = REQUEST_TIMEOUT + CONNECT_TIMEOUT;
        let deadline = Instant::now() + patience;
        self.send(Request::Claim(claim.clone(), deadline, reply))
            .map_err(|e| BranchRefusal::Unreachable(e.0))?;
        wait(answer).map_err(|e| BranchRefusal::Unreachable(e.0))?
    }

    fn record_failure(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<usize, Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.send(Request::Failure {
            number: number.clone(),
            verification: verification.clone(),
            at,
            reply,
        })?;
        answer
            .recv_timeout(FAILURE_WAIT)
            .map_err(|_| Unreachable("no answer in time; the wrong code is told later".into()))?
    }

    fn release(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<(), Unreachable> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let told = Deferred::Release {
            number: number.clone(),
            verification: verification.clone(),
            at,
        };
        self.send(Request::Release(told, reply))?;
        // Recorded, or kept for later: either way nothing is lost, so a
        // slow store only ends the wait.
        let _ = answer.recv_timeout(FAILURE_WAIT);
        Ok(())
    }

    fn desk(&self) -> &DeskName {
        &self.desk
    }
}
