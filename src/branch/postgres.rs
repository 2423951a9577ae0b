//! The branch ledger on PostgreSQL.
//!
//! The desk's engine is synchronous and is called from the shell's async
//! commands, so the connection lives on a thread of its own with its own
//! small runtime; the engine hands it one request at a time and waits for
//! the answer on a plain channel, which blocks no runtime and cannot panic
//! inside one. A lost connection is opened again at the next request; until
//! then every request answers "unreachable".
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

struct Worker {
    /// This desk's role: its own claims are its own S6 check's business.
    desk: DeskName,
    trips: RoundTrips,
    pg: Config,
    /// `Some` when TLS is used, with IT's CA bundle if any.
    tls: Option<Option<PathBuf>>,
    password: Option<SecretString>,
    clock: LedgerClock,
    client: Option<Client>,
    backlog: std::collections::VecDeque<Deferred>,
}

/// Why one request failed: the connection (try again later) or a refusal.
enum Failed {
    Connection(String),
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        Failed::Connection(describe(&e))
    }
}

impl Worker {
    fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Request>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the branch ledger has no runtime");
                return;
            }
        };
        runtime.block_on(async move {
            while let Some(request) = inbox.recv().await {
                self.handle(request).await;
            }
        });
    }

    async fn handle(&mut self, request: Request) {
        // What was told while the store was away goes first, in order; if
        // it still cannot be recorded, the store is away for this request
        // too, and a claim is refused without trying again.
        let reachable = self.flush_backlog().await;
        match request {
            Request::Probe(reply) => {
                let result =
                    timeout(REQUEST_TIMEOUT, async { self.client().await.map(drop) }).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::BranchHead(reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.branch_head()).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::ReadAudit { desk, limit, reply } => {
                let result = timeout(REQUEST_TIMEOUT, self.read_audit(desk, limit)).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::Forward(records, reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.forward(&records)).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::Claim(_, deadline, reply) if Instant::now() >= deadline => {
                let _ = reply.send(Err(BranchRefusal::Unreachable("not asked in time".into())));
            }
            Request::Claim(_, _, reply) if !reachable => {
                let why = "earlier events could not be recorded yet".into();
                let _ = reply.send(Err(BranchRefusal::Unreachable(why)));
            }
            Request::Claim(claim, _, reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.claim(&claim)).await;
                let _ = reply.send(match self.settle(result) {
                    Ok(decision) => decision,
                    Err(Failed::Connection(e)) => Err(BranchRefusal::Unreachable(e)),
                });
            }
            Request::Failure {
                number,
                verification,
                at,
                reply,
            } => {
                let told = Deferred::Failure {
                    number,
                    verification,
                    at,
                };
                let result = match reachable {
                    true => self.record(&told).await,
                    false => Err(Failed::Connection("the store is away".into())),
                };
                if result.is_err() {
                    self.defer(told);
                }
                let _ = reply.send(result.map_err(unreachable));
            }
            Request::Release(told, reply) => {
                if !reachable || self.record(&told).await.is_err() {
                    self.defer(told);
                }
                let _ = reply.send(());
            }
        }
    }

    /// Records one told event; a failure answers the number's count.
    async fn record(&mut self, told: &Deferred) -> Result<usize, Failed> {
        let result = match told {
            Deferred::Failure {
                number,
                verification,
                at,
            } => timeout(REQUEST_TIMEOUT, self.failure(number, verification, *at)).await,
            Deferred::Release {
                number,
                verification,
                at,
            } => {
                timeout(REQUEST_TIMEOUT, async {
                    self.release(number, verification, *at).await.map(|()| 0)
                })
                .await
            }
        };
        self.settle(result)
    }

    fn defer(&mut self, told: Deferred) {
        if self.backlog.len() >= MAX_BACKLOG {
            tracing::error!("branch backlog full: the oldest told event is dropped");
            self.backlog.pop_front();
        }
        self.backlog.push_back(told);
    }

    /// Records the backlog, oldest first; whether the store took it all.
    async fn flush_backlog(&mut self) -> bool {
        while let Some(told) = self.backlog.front().cloned() {
            if self.record(&told).await.is_err() {
                return false;
            }
            self.backlog.pop_front();
        }
        true
    }

    /// A request that failed or ran out of time drops the connection, so
    /// the next one starts clean (an abandoned transaction included).
    fn settle<T>(
        &mut self,
        result: Result<Result<T, Failed>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failed> {
        let result = result.unwrap_or_else(|_| {
            Err(Failed::Connection(
                "the branch database did not answer in time".into(),
            ))
        });
        if result.is_err() {
            self.client = None;
        }
        result
    }

    async fn client(&mut self) -> Result<&mut Client, Failed> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return self
                .client
                .as_mut()
                .ok_or(Failed::Connection("gone".into()));
        }
        self.client = None;
        let mut pg = self.pg.clone();
        pg.connect_timeout(CONNECT_TIMEOUT);
        if let Some(password) = &self.password {
            pg.password(password.expose_secret());
        }
        let ca_bundle = self.tls.as_ref().and_then(|b| b.as_deref());
        let client = connect(&pg, self.tls.is_some(), ca_bundle)
            .await
            .map_err(Failed::Connection)?;
        schema::check_version(&client)
            .await
            .map_err(|e| Failed::Connection(e.to_string()))?;
        Ok(self.client.insert(client))
    }

    async fn claim(&mut self, claim: &SendClaim) -> Result<Result<(), BranchRefusal>, Failed> {
        let (clock, trips, me) = (self.clock, self.trips.clone(), self.desk.clone());
        let client = self.client().await?;
        let tx = client.transaction().await?;
        let now = lock_number(&tx, &claim.number, clock, claim.at).await?;
        let events = history(&tx, &claim.number, now.minus(claim.limits.horizon())).await?;
        trips.add(3);
        if let Err(refusal) = decide(&events, claim, &me, now) {
            tx.rollback().await?;
            trips.add(1);
            return Ok(Err(refusal));
        }
        let verification = claim.verification.as_ref().map(|v| v.as_str().to_owned());
        let number = claim.number.as_str();
        let at = now.millis();
        insert(&tx, number, "send", verification.as_deref(), at, None).await?;
        trips.add(1);
        if let (Some(v), false) = (&verification, claim.kind == ClaimKind::Test) {
            let expires = now.plus(claim.validity).millis();
            insert(&tx, number, "claim", Some(v), at, Some(expires)).await?;
            trips.add(1);
        }
        tx.commit().await?;
        trips.add(1);
        Ok(Ok(()))
    }

    async fn failure(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<usize, Failed> {
        let (clock, trips) = (self.clock, self.trips.clone());
        let client = self.client().await?;
        let tx = client.transaction().await?;
        let now = lock_number(&tx, number, clock, at).await?;
        let v = verification.as_str();
        insert(&tx, number.as_str(), "failure", Some(v), now.millis(), None).await?;
        let cutoff = now.minus(crate::policy::FAILURE_WINDOW).millis();
        let rows = tx
            .query_typed(
                "SELECT count(*) FROM public.number_events \
                 WHERE number_id = $1 AND kind = 'failure' AND at_ms > $2",
                &[(&number.as_str(), Type::TEXT), (&cutoff, Type::INT8)],
            )
            .await?;
        let count: i64 = rows.first().map_or(0, |r| r.get(0));
        tx.commit().await?;
        trips.add(5);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    async fn branch_head(&mut self) -> Result<Option<BranchHead>, Failed> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                "SELECT seq, line FROM public.audit_records WHERE desk = current_user \
                 ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
        self.trips.add(1);
        Ok(rows.first().map(|r| BranchHead {
            seq: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
            line: r.get(1),
        }))
    }

    async fn read_audit(
        &mut self,
        desk: Option<DeskName>,
        limit: i64,
    ) -> Result<Vec<(String, String)>, Failed> {
        let desk = desk.map(|d| d.as_str().to_owned());
        let client = self.client().await?;
        let params: [(&(dyn ToSql + Sync), Type); 2] = [(&desk, Type::TEXT), (&limit, Type::INT8)];
        let rows = client
            .query_typed(
                "SELECT desk::text, line FROM public.audit_records \
                 WHERE $1::text IS NULL OR desk = $1::text \
                 ORDER BY received_at DESC, seq DESC LIMIT $2",
                &params,
            )
            .await?;
        self.trips.add(1);
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn forward(&mut self, records: &[(u64, String)]) -> Result<(), Failed> {
        let seqs: Vec<i64> = records
            .iter()
            .map(|(seq, _)| i64::try_from(*seq).unwrap_or(i64::MAX))
            .collect();
        let lines: Vec<&str> = records.iter().map(|(_, line)| line.as_str()).collect();
        let client = self.client().await?;
        let params: [(&(dyn ToSql + Sync), Type); 2] =
            [(&seqs, Type::INT8_ARRAY), (&lines, Type::TEXT_ARRAY)];
        client
            .query_typed(
                "INSERT INTO public.audit_records (seq, line) \
                 SELECT * FROM unnest($1::bigint[], $2::text[]) \
                 ON CONFLICT (desk, seq) DO NOTHING",
                &params,
            )
            .await?;
        self.trips.add(1);
        Ok(())
    }

    async fn release(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<(), Failed> {
        let trips = self.trips.clone();
        // Under the server's clock the time is taken in the statement
        // itself, so an end costs one round trip.
        let at = match self.clock {
            LedgerClock::Server => None,
            LedgerClock::Desk => Some(at.millis()),
        };
        let client = self.client().await?;
        let v = verification.as_str();
        let params: [(&(dyn ToSql + Sync), Type); 3] = [
            (&number.as_str(), Type::TEXT),
            (&v, Type::TEXT),
            (&at, Type::INT8),
        ];
        client
            .query_typed(
                &format!(
                    "INSERT INTO public.number_events (number_id, kind, verification, at_ms) \
                     VALUES ($1, 'release', $2, coalesce($3, {SERVER_NOW}))"
                ),
                &params,
            )
            .await?;
        trips.add(1);
        Ok(())
    }
}

fn unreachable(f: Failed) -> Unreachable {
    match f {
        Failed::Connection(e) => Unreachable(e),
    }
}

const SERVER_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Takes the number's lock for the rest of the transaction, and the time
/// the decision is made at (read after the lock is held).
async fn lock_number(
    tx: &tokio_postgres::Transaction<'_>,
    number: &NumberId,
    clock: LedgerClock,
    desk_now: Timestamp,
) -> Result<Timestamp, Failed> {
    let key = lock_key(number);
    let rows = tx
        .query_typed(
            &format!("SELECT {SERVER_NOW} FROM (SELECT pg_advisory_xact_lock($1)) AS held"),
            &[(&key, Type::INT8)],
        )
        .await?;
    let server: i64 = rows.first().map_or(0, |r| r.get(0));
    Ok(match clock {
        LedgerClock::Server => Timestamp::from_millis(server),
        LedgerClock::Desk => desk_now,
    })
}

/// The advisory lock's key: the number digest's first 64 bits. Two numbers
/// sharing it only wait for each other.
fn lock_key(number: &NumberId) -> i64 {
    let hex = number.as_str().get(..16).unwrap_or("0");
    u64::from_str_radix(hex, 16).map_or(0, |k| k as i64)
}

async fn history(
    tx: &tokio_postgres::Transaction<'_>,
    number: &NumberId,
    since: Timestamp,
) -> Result<NumberEvents, Failed> {
    let rows = tx
        .query_typed(
            "SELECT kind, desk::text, verification, at_ms, expires_ms FROM public.number_events \
             WHERE number_id = $1 AND at_ms > $2",
            &[
                (&number.as_str(), Type::TEXT),
                (&since.millis(), Type::INT8),
            ],
        )
        .await?;
    let mut events = NumberEvents::default();
    for row in rows {
        let kind: &str = row.get(0);
        let at = Timestamp::from_millis(row.get(3));
        let verification = row
            .get::<_, Option<&str>>(2)
            .and_then(VerificationId::parse);
        match kind {
            "send" => events.sends.push(at),
            "failure" => events.failures.push(at),
            "release" => {
                if let (Some(desk), Some(verification)) =
                    (DeskName::parse(row.get(1)), verification)
                {
                    events.released.push(Released { desk, verification });
                }
            }
            "claim" => {
                // A claim no desk could have written (hand-made by a desk
                // role) names nothing to wait for.
                let desk = DeskName::parse(row.get(1));
                let expires = row.get::<_, Option<i64>>(4).map(Timestamp::from_millis);
                if let (Some(desk), Some(verification), Some(expires_at)) =
                    (desk, verification, expires)
                {
                    events.claims.push(Claim {
                        desk,
                        verification,
                        expires_at,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(events)
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    number: &str,
    kind: &str,
    verification: Option<&str>,
    at_ms: i64,
    expires_ms: Option<i64>,
) -> Result<(), Failed> {
    let params: [(&(dyn ToSql + Sync), Type); 5] = [
        (&number, Type::TEXT),
        (&kind, Type::TEXT),
        (&verification, Type::TEXT),
        (&at_ms, Type::INT8),
        (&expires_ms, Type::INT8),
    ];
    tx.query_typed(
        "INSERT INTO public.number_events (number_id, kind, verification, at_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
        &params,
    )
    .await?;
    Ok(())
}
