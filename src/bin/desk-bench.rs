//! The full verification cycle, timed: start → SMS accepted by a Restcomm
//! emulator over loopback HTTP → the code read back from the emulator →
//! check. Every change is durable, as in the app: the sealed journal of a
//! real `JournalStore` (compacted from another thread once a second, as the
//! shell's timer does) and the hash-chained audit log, in a fresh data
//! folder.
//!
//! ```text
//! desk-bench [--pending 1000] [--cycles 2000] [--data-dir DIR]
//!            [--gateway-url URL --token TOKEN [--account SID]]
//! desk-bench --branch-store postgres://HOST:PORT/DB [--desks N]
//!            [--branch-admin-url postgres://ADMIN@HOST:PORT/DB] [--cycles N] [--gateway-…]
//! ```
//!
//! Without `--gateway-url` the emulator runs inside this process; with it,
//! an emulator started on its own (`restcomm-emulator --port 8089`) is used.
//! With `--branch-store`, N desks share a branch database (`desk_bench/branch.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use countersign::audit::{AuditError, AuditEvent, AuditLog, AuditSink};
use countersign::clock::SystemClock;
use countersign::desk::{Desk, OutcomeKind, Parts, SendRecorded, Started};
use countersign::gateway::emulator::{self, EmulatorConfig, DEMO_ACCOUNT_SID};
use countersign::gateway::restcomm::{RestcommClient, RestcommSettings};
use countersign::gateway::{DeliveryStatus, Gateway, MessageSid, SendReceipt};
use countersign::journal::{journal_path, JournalStore, OpenOptions};
use countersign::keys::DigestKey;
use countersign::persist::{self, Op, PendingDocument, PendingStore, StoreError};
use countersign::phone::PhoneNumber;
use countersign::policy::{NumberUse, Policy};
use countersign::purpose::Purpose;
use countersign::templates::MessageTemplates;
use countersign::verification::Operator;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

const USAGE: &str = "\
usage: desk-bench [--pending N] [--cycles N] [--data-dir DIR]
                  [--gateway-url URL --token TOKEN [--account SID]]

  --pending      verifications left pending before the timed cycles (default 1000, at most 100000)
  --cycles       timed cycles (default 2000, at most 100000); 50 untimed ones warm up first
  --data-dir     where the pending file and audit log go (default: a new folder in the temp dir, removed after)
  --gateway-url  an emulator already running, e.g. http://127.0.0.1:8089/restcomm (default: one in this process)
  --token        that emulator's auth token (restcomm-emulator prints it)
  --account      that emulator's account SID (default: the demo SID)

branch mode (S24), N desks in threads sharing one branch database:
  --branch-store      postgres://HOST:PORT/DB with no role: desk i signs in as bench_desk_<i>
  --desks             how many desks (default 1, at most 190)
  --branch-admin-url  an administrator's URL: the bench applies the schema and makes the
                      desk roles itself (else IT made them with countersign-branch, trusted
                      without a password)
  --cycles            then counts the cycles of all desks together
  (stores and audit are in memory: --pending and --data-dir do not apply)";

const WARM_UP: usize = 50;

#[path = "desk_bench/branch.rs"]
mod branch;
const SENDER: &str = "Countersign";

struct Args {
    pending: usize,
    cycles: usize,
    data_dir: Option<PathBuf>,
    gateway: Option<(Url, String, String)>,
    branch: Option<branch::BranchArgs>,
}

fn count(flag: &str, v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n <= 100_000 => Ok(n),
        _ => Err(format!(
            "{flag}: `{v}` is not a whole number from 0 to 100000"
        )),
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args {
        pending: 1000,
        cycles: 2000,
        data_dir: None,
        gateway: None,
        branch: None,
    };
    let (mut url, mut token, mut account) = (None, None, None);
    let (mut store, mut admin, mut desks, mut on_disk) = (None, None, None, false);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pending" => (out.pending, on_disk) = (count(&flag, &v)?, true),
            "--cycles" => out.cycles = count(&flag, &v)?,
            "--data-dir" => (out.data_dir, on_disk) = (Some(PathBuf::from(v)), true),
            "--branch-store" => store = Some(v),
            "--branch-admin-url" => admin = Some(v),
            "--desks" => desks = Some(v),
            "--gateway-url" => {
                url = Some(Url::parse(&v).map_err(|e| format!("--gateway-url: `{v}`: {e}"))?)
            }
            "--token" => token = Some(v),
            "--account" => account = Some(v),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if out.cycles == 0 {
        return Err("--cycles: at least one cycle is needed".to_owned());
    }
    out.branch = branch::args(store, admin, desks)?;
    if out.branch.is_some() && on_disk {
        return Err("--pending and --data-dir do not go with --branch-store".to_owned());
    }
    out.gateway = match (url, token) {
        (Some(u), Some(t)) => Some((u, t, account.unwrap_or(DEMO_ACCOUNT_SID.to_owned()))),
        (None, None) if account.is_none() => None,
        (Some(_), None) => return Err("--gateway-url needs --token".to_owned()),
        _ => return Err("--token and --account go with --gateway-url".to_owned()),
    };
    Ok(Some(out))
}

/// Counts what reaches the disk, to report durable writes per cycle.
struct Counted<T>(T, u64);

impl PendingStore for Counted<JournalStore> {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        self.1 += 1;
        self.0.append(change)
    }
}

impl AuditSink for Counted<AuditLog> {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError> {
        self.1 += 1;
        self.0.record(event)
    }
}

type BenchDesk = Desk<Counted<JournalStore>, Counted<AuditLog>, SystemClock, OsRng>;

/// A null store for building the starting document in memory: writing it
/// entry by entry would take minutes at 10,000 entries and time nothing.
struct Discard;
impl PendingStore for Discard {
    fn append(&mut self, _: &[Op]) -> Result<(), StoreError> {
        Ok(())
    }
}
struct Silent;
impl AuditSink for Silent {
    fn record(&mut self, _: AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

fn parts<S, A>(key: &DigestKey, store: S, audit: A) -> Parts<S, A, SystemClock, OsRng> {
    Parts {
        policy: Policy::default(),
        templates: MessageTemplates::default(),
        key: key.clone(),
        store,
        audit,
        clock: SystemClock,
        rng: OsRng,
    }
}

/// The n-th distinct GB mobile (+44 7400 100000 onwards): a number is sent
/// to once per run, so no rate limit (30 s between sends) is met.
fn number(n: usize) -> Result<PhoneNumber, String> {
    let p = Policy::default();
    let raw = format!("+4474{:08}", 100_000 + n);
    p.parse_number(&raw, NumberUse::Send)
        .map_err(|e| format!("{raw}: {e}"))
}

fn operator() -> Operator {
    Operator::parse("Bench Teller").expect("a valid constant name")
}

/// Made in chunks of 250 and merged, with ids from the OS's randomness.
fn prefill(key: &DigestKey, pending: usize) -> Result<PendingDocument, String> {
    let mut doc = PendingDocument::default();
    for first in (0..pending).step_by(250) {
        let mut d = Desk::new(parts(key, Discard, Silent), PendingDocument::default())
            .map_err(|(e, _)| e.to_string())?;
        for n in first..pending.min(first + 250) {
            // Above every number the timed cycles use.
            let view = match d.start(number(200_000 + n)?, Purpose::Unspecified, operator()) {
                Ok(Started::New { view, .. }) => view,
                other => return Err(format!("prefill {n}: {other:?}")),
            };
            let receipt = SendReceipt {
                sid: MessageSid::parse(&format!("SM{n:032x}")).ok_or("a SID")?,
                status: DeliveryStatus::Sending,
            };
            d.record_send(&view.id, Ok(receipt))
                .map_err(|e| format!("prefill {n}: {e}"))?;
        }
        let part = d.document();
        doc.verifications.extend(part.verifications);
        doc.numbers.extend(part.numbers);
    }
    Ok(doc)
}

/// Time spent in each step, summed over the timed cycles.
#[derive(Default)]
struct Steps {
    start: Duration,
    send_http: Duration,
    record_send: Duration,
    read_http: Duration,
    check: Duration,
}

struct Gw {
    client: RestcommClient,
    http: reqwest::Client,
    messages: Url,
    account: String,
    token: SecretString,
}

impl Gw {
    fn new(base: Url, token: String, account: String) -> Result<Self, String> {
        let settings = RestcommSettings::new(&account, SecretString::from(token.clone()), SENDER)
            .with_base_url(base.clone());
        let client = RestcommClient::new(settings).map_err(|e| e.to_string())?;
        let messages = Url::parse(&format!(
            "{}/2012-04-24/Accounts/{account}/SMS/Messages/",
            base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            http: reqwest::Client::new(),
            messages,
            account,
            token: SecretString::from(token),
        })
    }

    /// What the phone received: the message's body, read back by SID.
    async fn body(&self, sid: &str) -> Result<String, String> {
        let url = self
            .messages
            .join(&format!("{sid}.json"))
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = self
            .http
            .get(url)
            .basic_auth(&self.account, Some(self.token.expose_secret()))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("reading {sid}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("reading {sid}: {e}"))?;
        v["body"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("message {sid} has no body"))
    }
}

async fn cycle<S: PendingStore, A: AuditSink>(
    d: &mut Desk<S, A, SystemClock, OsRng>,
    gw: &Gw,
    n: usize,
    steps: &mut Steps,
) -> Result<(), String> {
    let e = |what: &str, x: &dyn std::fmt::Debug| format!("cycle {n}: {what}: {x:?}");
    let mut lap = Instant::now();
    let mut split = |into: &mut Duration| {
        *into += lap.elapsed();
        lap = Instant::now();
    };
    let (view, sms) = match d.start(number(n)?, Purpose::Unspecified, operator()) {
        Ok(Started::New { view, sms }) => (view, sms),
        other => return Err(e("start", &other)),
    };
    split(&mut steps.start);
    let sent = gw.client.send(&sms).await;
    split(&mut steps.send_http);
    let sid = sent.as_ref().map(|r| r.sid.clone()).ok();
    match d.record_send(&view.id, sent) {
        Ok(SendRecorded::Accepted(_)) => {}
        other => return Err(e("record_send", &other)),
    }
    split(&mut steps.record_send);
    let sid = sid.ok_or_else(|| e("no SID", &()))?;
    let body = gw.body(sid.as_str()).await?;
    let code =
        countersign::sms::code_in(&body).ok_or_else(|| e("no code in the SMS", &body.len()))?;
    split(&mut steps.read_http);
    match d.check(&view.id, code) {
        Ok(o) if o.outcome == OutcomeKind::Approved => {}
        other => return Err(e("check", &other)),
    }
    split(&mut steps.check);
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} cores, {model}; load average {}", load.join(" "))
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The p50, p99 and worst cycle, as both modes report them.
fn print_latency(latencies: &mut [Duration]) {
    latencies.sort_unstable();
    let Some(worst) = latencies.last().copied() else {
        return;
    };
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "latency:  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(worst)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(args: Args) -> Result<(), String> {
    println!("machine:  {}", machine());
    let (_embedded, gateway, label) = match args.gateway {
        Some((url, token, account)) => {
            let label = format!("emulator in another process at {url}");
            (None, (url, token, account), label)
        }
        None => {
            let em = emulator::start(EmulatorConfig::demo())
                .await
                .map_err(|e| format!("the emulator could not start: {e}"))?;
            let a = em.accounts()[0].clone();
            let label = format!("emulator in this process at {}", em.base_url());
            let gateway = (em.base_url(), a.token, a.sid);
            (Some(em), gateway, label)
        }
    };
    println!("gateway:  {label}");
    if let Some(b) = args.branch {
        return branch::run(b, args.cycles, gateway).await;
    }
    let (url, token, account) = gateway;
    let gw = Gw::new(url, token, account)?;

    let (dir, remove_after) = match args.data_dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("desk-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = DigestKey::generate(&mut OsRng);
    let t = Instant::now();
    let doc = prefill(&key, args.pending)?;
    let pending_file = dir.join("pending.json");
    // Written as a desk from before the journal had it, then taken over
    // (sealed) by the store, as the app does at its first start.
    let bytes = persist::to_bytes(&doc);
    persist::atomic_write(&pending_file, &bytes).map_err(|e| e.to_string())?;
    let now = countersign::clock::Clock::now(&SystemClock);
    let opened = JournalStore::open(&pending_file, &key, &OpenOptions::default(), now)
        .map_err(|e| e.to_string())?;
    let doc = opened.document;
    println!(
        "data:     {} ({} pending, snapshot {} KB, made in {:.1} s)",
        dir.display(),
        args.pending,
        file_size(&pending_file) / 1024,
        t.elapsed().as_secs_f64()
    );
    let audit = AuditLog::open(&dir.join("audit.jsonl")).map_err(|e| e.to_string())?;
    let compactor = opened.store.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut compactions = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                match compactor.compact() {
                    Ok(true) => compactions += 1,
                    Ok(false) => {}
                    Err(e) => eprintln!("desk-bench: compaction failed: {e}"),
                }
            }
            compactions
        })
    };
    let store = Counted(opened.store, 0);
    let mut d: BenchDesk =
        Desk::new(parts(&key, store, Counted(audit, 0)), doc).map_err(|(e, _)| e.to_string())?;

    let mut steps = Steps::default();
    for n in 0..WARM_UP {
        cycle(&mut d, &gw, n, &mut steps).await?;
    }
    let (saves0, records0) = (d.store().1, d.audit_sink().1);
    let mut steps = Steps::default();
    let mut latencies = Vec::with_capacity(args.cycles);
    let all = Instant::now();
    for n in WARM_UP..WARM_UP + args.cycles {
        let t = Instant::now();
        cycle(&mut d, &gw, n, &mut steps).await?;
        latencies.push(t.elapsed());
    }
    let elapsed = all.elapsed();
    let per_cycle = |x: u64| x as f64 / args.cycles as f64;
    let saves = per_cycle(d.store().1 - saves0);
    let records = per_cycle(d.audit_sink().1 - records0);

    let c = args.cycles as f64;
    println!(
        "cycles:   {} in {:.2} s: {:.0} cycles/s",
        args.cycles,
        elapsed.as_secs_f64(),
        c / elapsed.as_secs_f64()
    );
    print_latency(&mut latencies);
    println!(
        "mean ms:  start {:.2}, send (HTTP) {:.2}, record_send {:.2}, read code (HTTP) {:.2}, check {:.2}",
        ms(steps.start) / c,
        ms(steps.send_http) / c,
        ms(steps.record_send) / c,
        ms(steps.read_http) / c,
        ms(steps.check) / c
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let compactions = timer.join().unwrap_or(0);
    println!(
        "durable:  per cycle {saves:.2} journal appends (1 fdatasync each), {records:.2} audit records (each 3 fsyncs: the record's fdatasync, then its head replaced atomically: the temp file's fsync and the folder's); {compactions} compactions during the run"
    );
    println!(
        "files:    snapshot {} KB, journal {} KB, audit log {} KB",
        file_size(&pending_file) / 1024,
        file_size(&journal_path(&pending_file)) / 1024,
        file_size(&dir.join("audit.jsonl")) / 1024
    );
    if remove_after {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("desk-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("desk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Option<Args>, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let a = args(&[]).unwrap().unwrap();
        assert_eq!((a.pending, a.cycles), (1000, 2000));
        let a = args(&["--pending", "10", "--cycles", "5"])
            .unwrap()
            .unwrap();
        assert_eq!((a.pending, a.cycles), (10, 5));
        let a = args(&[
            "--gateway-url",
            "http://127.0.0.1:8089/restcomm",
            "--token",
            "t",
        ]);
        assert_eq!(a.unwrap().unwrap().gateway.unwrap().2, DEMO_ACCOUNT_SID);
    }

    #[test]
    fn bad_arguments_are_named() {
        for (bad, says) in [
            (&["--pending", "x"][..], "--pending"),
            (&["--cycles", "0"], "at least one"),
            (&["--cycles"], "needs a value"),
            (&["--gateway-url", "http://x"], "needs --token"),
            (&["--token", "t"], "go with --gateway-url"),
            (
                &["--gateway-url", "not a url", "--token", "t"],
                "--gateway-url",
            ),
            (&["--frobnicate", "1"], "unknown argument"),
        ] {
            let e = args(bad).err().unwrap_or_default();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
