//! Branch mode of desk-bench (S24): N desks, each a thread with its own
//! key for codes, its own in-memory store and audit, and its own ledger
//! connection as its own desk role, share one branch database and one
//! branch key. Every desk sends to numbers of its own, so what limits the
//! branch is the ledger's cost, not S6 or S8.
//!
//! The desks' stores are in memory on purpose: in a branch each desk is a
//! machine with its own disk, and N journals fsyncing on this one disk
//! would measure the disk, not the branch database.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use countersign::audit::MemoryAudit;
use countersign::branch::postgres::{connect, uses_tls, LedgerClock, LedgerConfig, PgLedger};
use countersign::branch::{schema, Branch, BranchKey, DeskName};
use countersign::desk::Desk;
use countersign::keys::DigestKey;
use countersign::persist::{MemoryStore, PendingDocument};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use url::Url;

use super::{cycle, ms, parts, print_latency, Gw, Steps};

/// At most this many desks: a connection each, within the server's
/// `max_connections` of 200 less its reserved ones.
pub const MAX_DESKS: usize = 190;
/// Untimed cycles each desk runs before the clock starts.
const WARM_UP: usize = 10;
/// The numbers the desks share out: +44 7400 100000 to +44 7400 999999.
const NUMBERS: usize = 900_000;

#[derive(Debug)]
pub struct BranchArgs {
    /// `postgres://host:port/db[?sslmode=…]`, with no role: each desk signs
    /// in as `bench_desk_<i>`.
    pub store: Url,
    pub admin: Option<String>,
    pub desks: usize,
}

/// Checks the branch flags together; `--desks` is 1 when not given.
pub fn args(
    store: Option<String>,
    admin: Option<String>,
    desks: Option<String>,
) -> Result<Option<BranchArgs>, String> {
    let Some(raw) = store else {
        if admin.is_some() || desks.is_some() {
            return Err("--desks and --branch-admin-url go with --branch-store".into());
        }
        return Ok(None);
    };
    let store = Url::parse(&raw).map_err(|e| format!("--branch-store: {e}"))?;
    if !matches!(store.scheme(), "postgres" | "postgresql") || !store.has_host() {
        return Err("--branch-store: expected postgres://host:port/database".into());
    }
    if !store.username().is_empty() || store.password().is_some() {
        return Err("--branch-store: name no role, each desk signs in as bench_desk_<i>".into());
    }
    let desks = match desks.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if (1..=MAX_DESKS).contains(&n) => n,
        Some(_) => return Err(format!("--desks: a whole number from 1 to {MAX_DESKS}")),
    };
    Ok(Some(BranchArgs {
        store,
        admin,
        desks,
    }))
}

fn role(i: usize) -> DeskName {
    DeskName::parse(&format!("bench_desk_{i}")).expect("a constant pattern of a role name")
}

/// Applies the schema and makes the desk roles, each with a new random
/// password, which the bench then signs in with.
async fn provision(admin: &str, desks: usize) -> Result<Vec<SecretString>, String> {
    let pg: tokio_postgres::Config = admin
        .parse()
        .map_err(|e| format!("--branch-admin-url: {e}"))?;
    let tls = uses_tls(&pg).map_err(|host| format!("--branch-admin-url: {host} needs TLS"))?;
    let mut client = connect(&pg, tls, None).await?;
    let applied = schema::migrate(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "schema:   version {} (applied now: {applied:?})",
        schema::SCHEMA_VERSION
    );
    let mut passwords = Vec::with_capacity(desks);
    for i in 0..desks {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        let password = hex::encode(bytes);
        schema::add_desk(&client, &role(i), Some(&password))
            .await
            .map_err(|e| e.to_string())?;
        passwords.push(SecretString::from(password));
    }
    Ok(passwords)
}

/// One desk's timed share of the run.
struct DeskRun {
    began: Instant,
    ended: Instant,
    latencies: Vec<Duration>,
    steps: Steps,
    trips: u64,
}

type BranchDesk = Desk<MemoryStore, MemoryAudit, countersign::clock::SystemClock, OsRng>;

fn desk(
    i: usize,
    args: &BranchArgs,
    password: Option<SecretString>,
) -> Result<(BranchDesk, PgLedger), String> {
    let mut url = args.store.clone();
    url.set_username(role(i).as_str())
        .map_err(|()| "--branch-store: no role can be set on this URL".to_owned())?;
    let mut ledger = PgLedger::start(&LedgerConfig {
        url: url.into(),
        password,
        ca_bundle: None,
        clock: LedgerClock::Server,
    })
    .map_err(|e| e.to_string())?;
    // Connected before the clock starts, as a desk is at its start.
    ledger.probe().map_err(|e| format!("{}: {e}", role(i)))?;
    let own = DigestKey::generate(&mut OsRng);
    let parts = parts(&own, MemoryStore::default(), MemoryAudit::default());
    let d = Desk::new(parts, PendingDocument::default()).map_err(|(e, _)| e.to_string())?;
    Ok((d, ledger))
}

fn run_desk(
    mut d: BranchDesk,
    key: BranchKey,
    ledger: PgLedger,
    gateway: (Url, String, String),
    first: usize,
    cycles: usize,
    start: Arc<Barrier>,
) -> Result<DeskRun, String> {
    let counter = ledger.round_trips();
    d.join_branch(Branch {
        key,
        ledger: Box::new(ledger),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let (url, token, account) = gateway;
        let gw = Gw::new(url, token, account)?;
        let mut steps = Steps::default();
        for n in first..first + WARM_UP {
            cycle(&mut d, &gw, n, &mut steps).await?;
        }
        start.wait();
        let trips0 = counter.get();
        let mut steps = Steps::default();
        let mut latencies = Vec::with_capacity(cycles);
        let began = Instant::now();
        for n in first + WARM_UP..first + WARM_UP + cycles {
            let t = Instant::now();
            cycle(&mut d, &gw, n, &mut steps).await?;
            latencies.push(t.elapsed());
        }
        Ok(DeskRun {
            began,
            ended: Instant::now(),
            latencies,
            steps,
            trips: counter.get() - trips0,
        })
    })
}

pub async fn run(
    args: BranchArgs,
    cycles: usize,
    gateway: (Url, String, String),
) -> Result<(), String> {
    let n = args.desks;
    let per_desk = cycles.div_ceil(n);
    let span = NUMBERS / n;
    if WARM_UP + per_desk > span {
        return Err(format!(
            "--cycles: at most {} per desk at {n} desks (each desk its own numbers)",
            span - WARM_UP
        ));
    }
    let passwords = match &args.admin {
        Some(admin) => provision(admin, n).await?.into_iter().map(Some).collect(),
        None => vec![None; n],
    };
    let key = BranchKey::new(DigestKey::generate(&mut OsRng));
    let shown = format!(
        "{}:{}{}",
        args.store.host_str().unwrap_or("?"),
        args.store.port().unwrap_or(5432),
        args.store.path()
    );
    println!(
        "branch:   {n} desks (bench_desk_0..{}) on {shown}, server clock; {per_desk} timed cycles each after {WARM_UP} untimed",
        n - 1
    );
    let start = Arc::new(Barrier::new(n));
    let mut threads = Vec::with_capacity(n);
    for (i, password) in passwords.into_iter().enumerate() {
        let (d, ledger) = desk(i, &args, password)?;
        let (key, gateway, start) = (key.clone(), gateway.clone(), start.clone());
        let thread = std::thread::Builder::new()
            .name(format!("desk-{i}"))
            .spawn(move || run_desk(d, key, ledger, gateway, i * span, per_desk, start))
            .map_err(|e| format!("desk {i}: no thread: {e}"))?;
        threads.push(thread);
    }
    let runs = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("a desk thread panicked".into()))
            })
            .collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|e| e.to_string())??;
    report(&runs, n, per_desk);
    Ok(())
}

fn report(runs: &[DeskRun], n: usize, per_desk: usize) {
    let began = runs.iter().map(|r| r.began).min();
    let ended = runs.iter().map(|r| r.ended).max();
    let elapsed = match (began, ended) {
        (Some(b), Some(e)) => e - b,
        _ => return,
    };
    let total = n * per_desk;
    let mut latencies: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
    let c = total as f64;
    println!(
        "cycles:   {total} in {:.2} s: {:.0} cycles/s across the branch",
        elapsed.as_secs_f64(),
        c / elapsed.as_secs_f64()
    );
    print_latency(&mut latencies);
    let sum = |f: fn(&Steps) -> Duration| runs.iter().map(|r| ms(f(&r.steps))).sum::<f64>() / c;
    println!(
        "mean ms:  start (with the ledger's claim) {:.2}, send (HTTP) {:.2}, record_send {:.2}, read code (HTTP) {:.2}, check (with the ledger's release) {:.2}",
        sum(|s| s.start),
        sum(|s| s.send_http),
        sum(|s| s.record_send),
        sum(|s| s.read_http),
        sum(|s| s.check)
    );
    let trips: u64 = runs.iter().map(|r| r.trips).sum();
    println!(
        "database: {:.2} round trips per cycle (claim: BEGIN, lock and time, history, 2 inserts, COMMIT; release: 1 insert), 2 commits",
        trips as f64 / c
    );
}
