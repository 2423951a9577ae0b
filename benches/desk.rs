//! Engine benchmarks (BENCHMARKS.md has the figures and the commands).
//!
//! `engine/*`: `start` and `check` with a store and an audit sink that do
//! nothing, so only the engine's own work is timed (rules, HMAC, sealing, and
//! nothing else: changes are applied in place, no copy of the state is
//! made). `durable/*`: one change of the start → record_send → check cycle,
//! each appended (fdatasync) to the sealed journal of a real `JournalStore`
//! in a temp folder, at 10, 1,000 and 10,000 pending entries. After each benchmark the p50/p99 of the
//! timed calls is printed, since Criterion reports means and medians only.
//! `purge`: the size of the pending file over a long run, to show it is
//! bounded.
//!
//!     cargo bench --bench desk                 # everything
//!     cargo bench --bench desk -- engine       # a filter, as usual

use std::hint::black_box;
use std::time::{Duration, Instant};

use countersign::audit::{AuditError, AuditEvent, AuditSink};
use countersign::clock::{ManualClock, Timestamp};
use countersign::desk::{Desk, Parts, SendRecorded, Started};
use countersign::gateway::{DeliveryStatus, MessageSid, SendReceipt};
use countersign::journal::{JournalStore, OpenOptions};
use countersign::keys::DigestKey;
use countersign::persist::{self, Op, PendingDocument, PendingStore, StoreError};
use countersign::phone::PhoneNumber;
use countersign::policy::Policy;
use countersign::purpose::Purpose;
use countersign::templates::MessageTemplates;
use countersign::verification::Operator;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// Cycles before the desk is rebuilt from its starting document. Every cycle
/// uses a fresh number (a number cannot be sent to again for 30 s, and the
/// clock stands still), which adds one rate-limit history entry; rebuilding
/// keeps the document at the size the benchmark names.
const EPOCH: usize = 200;

struct NullStore;
impl PendingStore for NullStore {
    fn append(&mut self, _: &[Op]) -> Result<(), StoreError> {
        Ok(())
    }
}

struct NullAudit;
impl AuditSink for NullAudit {
    fn record(&mut self, _: AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

type BenchDesk<S> = Desk<S, NullAudit, ManualClock, StdRng>;

fn key() -> DigestKey {
    DigestKey::generate(&mut StdRng::seed_from_u64(7))
}

/// `seed` picks the ids the desk makes: desks whose entries end up in one
/// document need different seeds, or their ids collide and overwrite.
fn desk<S: PendingStore>(
    store: S,
    doc: PendingDocument,
    clock: ManualClock,
    seed: u64,
) -> BenchDesk<S> {
    let parts = Parts {
        policy: Policy::default(),
        templates: MessageTemplates::default(),
        key: key(),
        store,
        audit: NullAudit,
        clock,
        rng: StdRng::seed_from_u64(seed),
    };
    Desk::new(parts, doc)
        .map_err(|(e, _)| e)
        .expect("a document made by the same key opens")
}

/// The n-th distinct GB mobile (+44 7400 100000 onwards).
fn number(n: usize) -> PhoneNumber {
    let policy = Policy::default();
    let raw = format!("+4474{:08}", 100_000 + n);
    PhoneNumber::parse(&raw, policy.default_country(), policy.allowed_countries())
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn operator() -> Operator {
    Operator::parse("Sam Teller").expect("a valid name")
}

fn receipt(n: usize) -> SendReceipt {
    SendReceipt {
        sid: MessageSid::parse(&format!("SM{n:032x}")).expect("a valid SID"),
        status: DeliveryStatus::Sending,
    }
}

/// How long each call of one cycle took.
#[derive(Default)]
struct CycleTimes {
    start: Duration,
    send: Duration,
    check: Duration,
}

/// start → record_send (accepted) → check (right code), timing each call.
fn cycle<S: PendingStore>(d: &mut BenchDesk<S>, n: usize) -> CycleTimes {
    // Parsed untimed: the shell parses the typed number before the engine.
    let (number, operator) = (number(n), operator());
    let t = Instant::now();
    let started = d.start(number, Purpose::Unspecified, operator);
    let start = t.elapsed();
    let Ok(Started::New { view, sms }) = started else {
        panic!("cycle {n}: start did not make a new verification: {started:?}");
    };
    let code = countersign::sms::code_in(sms.body_text()).expect("the SMS holds a code");
    let t = Instant::now();
    let sent = d.record_send(&view.id, Ok(receipt(n)));
    let send = t.elapsed();
    assert!(matches!(sent, Ok(SendRecorded::Accepted(_))), "{sent:?}");
    let t = Instant::now();
    let checked = black_box(d.check(&view.id, code));
    let check = t.elapsed();
    assert!(checked.is_ok_and(|o| o.verification.is_none()), "approved");
    CycleTimes { start, send, check }
}

/// A document with `pending` verifications awaiting a check, made by the
/// engine itself so it is exactly what the app would hold. Made in chunks
/// and merged: every commit copies the whole state, so one desk would take
/// minutes to reach 10,000.
fn document_with(pending: usize) -> PendingDocument {
    let mut doc = PendingDocument::default();
    for first in (0..pending).step_by(250) {
        let seed = 1_000 + first as u64;
        let mut d = desk(
            NullStore,
            PendingDocument::default(),
            ManualClock::at(T0),
            seed,
        );
        for n in first..pending.min(first + 250) {
            // Offset so these numbers never meet the cycles' numbers.
            let Ok(Started::New { view, .. }) =
                d.start(number(500_000 + n), Purpose::Unspecified, operator())
            else {
                panic!("prefill {n} did not start");
            };
            d.record_send(&view.id, Ok(receipt(500_000 + n)))
                .expect("the null store never fails");
        }
        let part = d.document();
        doc.verifications.extend(part.verifications);
        doc.numbers.extend(part.numbers);
    }
    assert_eq!(
        desk(NullStore, doc.clone(), ManualClock::at(T0), 0)
            .list()
            .len(),
        pending
    );
    doc
}

fn percentiles(label: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        return;
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: n={} p50={:.1?} p99={:.1?} max={:.1?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}

/// Which call of a cycle a benchmark times.
type Pick = fn(&CycleTimes) -> Duration;

/// Times one step of the cycle, `iters` times, rebuilding the desk every
/// [`EPOCH`] cycles (untimed).
fn run_steps<S: PendingStore>(
    make: &mut dyn FnMut() -> BenchDesk<S>,
    iters: u64,
    pick: Pick,
    samples: &mut Vec<Duration>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut d = make();
    for i in 0..iters as usize {
        if i > 0 && i.is_multiple_of(EPOCH) {
            d = make();
        }
        let t = pick(&cycle(&mut d, i % EPOCH));
        samples.push(t);
        total += t;
    }
    total
}

/// `cargo test --all-targets` runs each benchmark once as a smoke test
/// (Criterion's test mode); the large documents are for `cargo bench` only.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn sizes(large: &'static [usize]) -> &'static [usize] {
    if benchmarking() {
        large
    } else {
        &[10]
    }
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    for &pending in sizes(&[10, 10_000]) {
        let doc = document_with(pending);
        g.sample_size(if pending > 10 { 20 } else { 100 });
        let steps: [(&str, Pick); 2] = [("start", |t| t.start), ("check", |t| t.check)];
        for (name, pick) in steps {
            let mut samples = Vec::new();
            let mut make = || desk(NullStore, doc.clone(), ManualClock::at(T0), 1);
            g.bench_function(BenchmarkId::new(name, pending), |b| {
                b.iter_custom(|iters| run_steps(&mut make, iters, pick, &mut samples))
            });
            percentiles(&format!("engine/{name}/{pending}"), &mut samples);
        }
    }
    g.finish();
}

fn durable(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable");
    g.sample_size(10);
    let dir = tempfile::tempdir().expect("a temp folder");
    let path = dir.path().join("pending.json");
    for &pending in sizes(&[10, 1_000, 10_000]) {
        let doc = document_with(pending);
        // The store is made from the document as a desk from before the
        // journal would be: its version-1 file taken over and sealed.
        let make_store = || {
            let _ = std::fs::remove_file(countersign::journal::journal_path(&path));
            persist::atomic_write(&path, &persist::to_bytes(&doc)).expect("written");
            JournalStore::open(&path, &key(), &OpenOptions::default(), T0)
                .expect("opens")
                .store
        };
        println!(
            "durable/{pending}: document {} bytes",
            persist::to_bytes(&doc).len()
        );
        g.measurement_time(Duration::from_secs(if pending > 1_000 { 20 } else { 10 }));
        let mut samples: [Vec<Duration>; 3] = Default::default();
        let make = || desk(make_store(), doc.clone(), ManualClock::at(T0), 1);
        g.bench_function(BenchmarkId::new("cycle", pending), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut d = make();
                for i in 0..iters as usize {
                    if i > 0 && i.is_multiple_of(EPOCH) {
                        d = make();
                    }
                    let t = cycle(&mut d, i % EPOCH);
                    for (s, step) in samples.iter_mut().zip([t.start, t.send, t.check]) {
                        s.push(step);
                    }
                    total += t.start + t.send + t.check;
                }
                total
            })
        });
        for (name, s) in ["start", "record_send", "check"].iter().zip(&mut samples) {
            percentiles(&format!("durable/{name}/{pending}"), s);
        }
    }
    g.finish();
}

/// Not a timing: the pending file's size over 6,000 cycles (1,800 in test
/// mode) with the clock moving one second per cycle, one left pending (never
/// checked) every 10 cycles. Expiry (5 min), the send window (10 min) and
/// the 200-record memory of ended verifications bound it; printed so the
/// bound is visible. Both run lengths pass the settling point with samples to
/// spare, so the bound is asserted by `cargo test --bench desk` too.
fn purge_bound(_: &mut Criterion) {
    let clock = ManualClock::at(T0);
    let mut d = desk(NullStore, PendingDocument::default(), clock.clone(), 1);
    let mut sizes = Vec::new();
    let cycles: usize = if benchmarking() { 6_000 } else { 1_800 };
    // Twenty samples over the run, whatever its length.
    let every = cycles / 20;
    // From 20 minutes on (twice the longest window, the send window's 10)
    // every window has filled: the size must stay put.
    let settled_from = 1_200;
    for n in 0..cycles {
        clock.advance(Duration::from_secs(1));
        d.purge().expect("the null store never fails");
        if n.is_multiple_of(10) {
            // Abandoned at the desk: left to expire.
            let started = d.start(number(n), Purpose::Unspecified, operator());
            let Ok(Started::New { view, .. }) = started else {
                panic!("start {n}");
            };
            d.record_send(&view.id, Ok(receipt(n))).expect("null store");
        } else {
            cycle(&mut d, n);
        }
        if (n + 1).is_multiple_of(every) {
            sizes.push((n + 1, persist::to_bytes(&d.document()).len()));
        }
    }
    let shown: Vec<String> = sizes.iter().map(|(t, b)| format!("{t}s:{b}B")).collect();
    println!("purge: pending file size over time: {}", shown.join(" "));
    let settled: Vec<usize> = sizes
        .iter()
        .filter(|(t, _)| *t >= settled_from)
        .map(|s| s.1)
        .collect();
    // Enough settled samples that growth would show: never skip the check.
    assert!(settled.len() >= 5, "too few settled samples: {shown:?}");
    let (lo, hi) = (
        settled.iter().min().unwrap_or(&0),
        settled.iter().max().unwrap_or(&0),
    );
    assert!(
        *hi <= *lo + *lo / 20,
        "the pending file keeps growing: {shown:?}"
    );
}

criterion_group!(benches, engine, durable, purge_bound);
criterion_main!(benches);
