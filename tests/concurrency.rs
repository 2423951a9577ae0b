//! Many commands at once, the way the shell runs them: one
//! `Arc<Mutex<Desk>>`, each command taking the lock for its engine call, and
//! the gateway call made outside the lock (start or resend under the lock,
//! send unlocked, `record_send` under the lock again).
//!
//! Each race runs `RACE_ITERATIONS` times (default 200) on a fresh desk,
//! with a barrier so both sides start together, and asserts what must hold
//! whichever side wins: one SMS per double-click, one approval per code, no
//! code accepted at or after its expiry, no SMS for a verification that
//! ended, no lost update.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use countersign::audit::{EventKind, MemoryAudit};
use countersign::clock::{Clock, ManualClock};
use countersign::desk::{
    Desk, DeskError, Outcome, OutcomeKind, Parts, Resent, SendRecorded, Started,
};
use countersign::gateway::{DeliveryStatus, MessageSid, OutboundSms, SendReceipt};
use countersign::keys::DigestKey;
use countersign::persist::{MemoryStore, PendingDocument};
use countersign::phone::PhoneNumber;
use countersign::policy::Policy;
use countersign::purpose::Purpose;
use countersign::verification::{Status, VerificationId};
use rand::rngs::StdRng;
use rand::SeedableRng;
use support::{wrong, wrong_n, Harness, A, T0};

type SharedDesk = Arc<Mutex<Desk<MemoryStore, MemoryAudit, ManualClock, StdRng>>>;

fn iterations() -> u64 {
    std::env::var("RACE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// The desk as the shell holds it, with a fake gateway that counts SMS.
#[derive(Clone)]
struct Shell {
    desk: SharedDesk,
    clock: ManualClock,
    sms_sent: Arc<AtomicU32>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Shell {
    fn new(seed: u64) -> Self {
        let clock = ManualClock::at(T0);
        let desk = Desk::new(
            Parts {
                policy: Policy::default(),
                templates: countersign::templates::MessageTemplates::default(),
                key: DigestKey::generate(&mut StdRng::seed_from_u64(seed ^ 0xfeed)),
                store: MemoryStore::default(),
                audit: MemoryAudit::default(),
                clock: clock.clone(),
                rng: StdRng::seed_from_u64(seed),
            },
            PendingDocument::default(),
        )
        .map_err(|(e, _)| e)
        .unwrap();
        Self {
            desk: Arc::new(Mutex::new(desk)),
            clock,
            sms_sent: Arc::default(),
            bodies: Arc::default(),
        }
    }

    /// The gateway call, made with the desk unlocked.
    fn gateway_send(&self, sms: &OutboundSms) -> SendReceipt {
        let n = self.sms_sent.fetch_add(1, Ordering::SeqCst) + 1;
        self.bodies.lock().unwrap().push(sms.body_text().to_owned());
        // Let the other side run while the "HTTP call" is in flight.
        thread::yield_now();
        SendReceipt {
            sid: MessageSid::parse(&format!("SM{n:032x}")).unwrap(),
            status: DeliveryStatus::Sending,
        }
    }

    /// `start_verification`: start under the lock, send unlocked, record.
    fn start(&self, raw: &str) -> Result<bool, DeskError> {
        let number = PhoneNumber::parse_any(raw, "GB".parse().unwrap()).unwrap();
        let started =
            self.desk
                .lock()
                .unwrap()
                .start(number, Purpose::Unspecified, Harness::operator())?;
        let Started::New { view, sms } = started else {
            return Ok(false);
        };
        let receipt = self.gateway_send(&sms);
        let recorded = self
            .desk
            .lock()
            .unwrap()
            .record_send(&view.id, Ok(receipt))?;
        assert!(matches!(recorded, SendRecorded::Accepted(_)));
        Ok(true)
    }

    /// `resend_code`: resend under the lock, send unlocked, record.
    fn resend(&self, id: &VerificationId) -> Result<SendRecorded, DeskError> {
        let Resent { sms, .. } = self.desk.lock().unwrap().resend(id)?;
        let receipt = self.gateway_send(&sms);
        self.desk.lock().unwrap().record_send(id, Ok(receipt))
    }

    fn check(&self, id: &VerificationId, typed: &str) -> Result<Outcome, DeskError> {
        self.desk.lock().unwrap().check(id, typed)
    }

    /// One verification for `A`, sent and accepted; its id and code.
    fn sent(&self) -> (VerificationId, String) {
        assert!(self.start(A).unwrap());
        let id = self.desk.lock().unwrap().list()[0].id.clone();
        let code = support::code_in(self.bodies.lock().unwrap().last().unwrap());
        (id, code)
    }

    fn events_for(&self, id: &VerificationId, kind: EventKind) -> usize {
        let desk = self.desk.lock().unwrap();
        desk.audit_sink()
            .events
            .iter()
            .filter(|e| e.event == kind && e.verification.as_deref() == Some(id.as_str()))
            .count()
    }

    fn ended_as(&self, id: &VerificationId) -> Vec<Status> {
        let desk = self.desk.lock().unwrap();
        desk.document()
            .ended
            .iter()
            .filter(|e| &e.id == id)
            .map(|e| e.status)
            .collect()
    }

    fn saved(&self) -> PendingDocument {
        let desk = self.desk.lock().unwrap();
        desk.store().saved.clone().unwrap_or_default()
    }
}

/// Runs `a` and `b` on two threads released together.
fn race<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let ha = s.spawn(|| {
            barrier.wait();
            a()
        });
        let hb = s.spawn(|| {
            barrier.wait();
            b()
        });
        (ha.join().unwrap(), hb.join().unwrap())
    })
}

#[test]
fn double_clicked_send_sends_one_sms() {
    for i in 0..iterations() {
        let shell = Shell::new(i);
        let (a, b) = race(|| shell.start(A), || shell.start(A));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a ^ b, "iteration {i}: exactly one start is new ({a}, {b})");
        assert_eq!(shell.sms_sent.load(Ordering::SeqCst), 1, "iteration {i}");
        let desk = shell.desk.lock().unwrap();
        assert_eq!(desk.list().len(), 1, "iteration {i}");
        assert_eq!(desk.list()[0].delivery.state, "sending");
        drop(desk);
        let saved = shell.saved();
        assert_eq!(saved.verifications.len(), 1);
        let sends: usize = saved.numbers.values().map(|h| h.sends.len()).sum();
        assert_eq!(sends, 1, "iteration {i}");
    }
}

#[test]
fn two_checks_with_the_right_code_approve_once() {
    for i in 0..iterations() {
        let shell = Shell::new(i);
        let (id, code) = shell.sent();
        let (a, b) = race(|| shell.check(&id, &code), || shell.check(&id, &code));
        let approved = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Ok(o) if o.outcome == OutcomeKind::Approved))
            .count();
        assert_eq!(approved, 1, "iteration {i}: {a:?} / {b:?}");
        let other = if a.is_ok() { &b } else { &a };
        assert!(
            matches!(other, Err(DeskError::AlreadyEnded(Status::Approved))),
            "iteration {i}: {other:?}"
        );
        assert_eq!(shell.events_for(&id, EventKind::Approved), 1);
        assert_eq!(shell.ended_as(&id), vec![Status::Approved]);
    }
}

#[test]
fn two_wrong_codes_at_once_both_count() {
    for i in 0..iterations() {
        let shell = Shell::new(i);
        let (id, code) = shell.sent();
        let (w1, w2) = (wrong_n(&code, 1), wrong_n(&code, 2));
        let (a, b) = race(|| shell.check(&id, &w1), || shell.check(&id, &w2));
        let tries: Vec<u32> = [a, b]
            .into_iter()
            .map(|r| {
                let o = r.unwrap();
                assert_eq!(o.outcome, OutcomeKind::WrongCode);
                o.tries_left.unwrap()
            })
            .collect();
        let mut sorted = tries.clone();
        sorted.sort();
        assert_eq!(sorted, [3, 4], "iteration {i}: no lost update ({tries:?})");
        let desk = shell.desk.lock().unwrap();
        assert_eq!(desk.get(&id).unwrap().tries_left, 3);
        let saved = desk.store().saved.clone().unwrap();
        assert_eq!(saved.verifications[0].failed_attempts, 2);
        let failures: usize = saved.numbers.values().map(|h| h.failures.len()).sum();
        assert_eq!(failures, 2, "iteration {i}");
    }
}

#[test]
fn a_check_racing_the_expiry_never_accepts_an_expired_code() {
    let mut approvals = 0;
    for i in 0..iterations() {
        let shell = Shell::new(i);
        let (id, code) = shell.sent();
        let expires_at = shell.desk.lock().unwrap().get(&id).unwrap().expires_at;
        // One millisecond before the end of validity.
        shell
            .clock
            .set(countersign::clock::Timestamp::from_millis(expires_at - 1));
        let (checked, purged) = race(
            || shell.check(&id, &code),
            || {
                // The sweep's clock moves on from another thread, then it
                // purges.
                shell.clock.advance(Duration::from_millis(1));
                shell.desk.lock().unwrap().purge().unwrap()
            },
        );
        let ended = shell.ended_as(&id);
        assert_eq!(ended.len(), 1, "iteration {i}: one ending ({ended:?})");
        match &checked {
            Ok(o) if o.outcome == OutcomeKind::Approved => {
                approvals += 1;
                assert!(purged.is_empty(), "iteration {i}");
                assert_eq!(ended, [Status::Approved]);
                // Approved only while the code was valid.
                assert!(o.at < expires_at, "iteration {i}: approved at {}", o.at);
            }
            Ok(o) => {
                assert_eq!(o.outcome, OutcomeKind::Expired, "iteration {i}");
                assert!(purged.is_empty());
                assert_eq!(ended, [Status::Expired]);
            }
            Err(e) => {
                assert!(
                    matches!(e, DeskError::AlreadyEnded(Status::Expired)),
                    "iteration {i}: {e:?}"
                );
                assert_eq!(purged.len(), 1);
                assert_eq!(ended, [Status::Expired]);
            }
        }
        assert_eq!(
            shell.events_for(&id, EventKind::Approved) + shell.events_for(&id, EventKind::Expired),
            1,
            "iteration {i}"
        );
        // Whatever happened, the code is dead now.
        assert!(shell.check(&id, &code).is_err());
        let now = shell.clock.now();
        assert!(now.millis() >= expires_at);
    }
    println!(
        "check-vs-expiry: {approvals} approvals in {} races",
        iterations()
    );
}

#[test]
fn a_resend_racing_a_check_sends_at_most_one_more_sms_and_no_code_works_twice() {
    let mut resends_won = 0;
    for i in 0..iterations() {
        let shell = Shell::new(i);
        let (id, old) = shell.sent();
        // Past the resend cooldown.
        shell.clock.advance(Duration::from_secs(31));
        let (resent, checked) = race(|| shell.resend(&id), || shell.check(&id, &old));
        let sms = shell.sms_sent.load(Ordering::SeqCst);
        match (&resent, &checked) {
            (Ok(SendRecorded::Accepted(_)), Ok(o)) if o.outcome == OutcomeKind::WrongCode => {
                // The resend won: the old code stopped working and used a try.
                resends_won += 1;
                assert_eq!(sms, 2, "iteration {i}");
                assert_eq!(o.tries_left, Some(4));
                let new = support::code_in(shell.bodies.lock().unwrap().last().unwrap());
                assert_eq!(
                    shell.check(&id, &new).unwrap().outcome,
                    OutcomeKind::Approved
                );
            }
            (Ok(SendRecorded::AlreadyEnded), Ok(o)) if o.outcome == OutcomeKind::Approved => {
                // Resent under the lock, then the check approved the old code
                // before the new one was recorded. That ordering is only
                // possible if the old code still worked after the resend,
                // which S7 forbids.
                panic!("iteration {i}: old code approved after a resend was issued");
            }
            (Err(DeskError::AlreadyEnded(Status::Approved)), Ok(o))
                if o.outcome == OutcomeKind::Approved =>
            {
                // The check won: nothing more was sent.
                assert_eq!(sms, 1, "iteration {i}: an SMS for an approved verification");
            }
            other => panic!("iteration {i}: unexpected pair {other:?}"),
        }
        // No code is accepted twice, the old one never again.
        assert_eq!(
            shell.events_for(&id, EventKind::Approved),
            1,
            "iteration {i}"
        );
        assert!(!matches!(
            shell.check(&id, &old),
            Ok(Outcome {
                outcome: OutcomeKind::Approved,
                ..
            })
        ));
        assert!(shell.check(&id, &wrong(&old)).is_err());
        assert_eq!(shell.ended_as(&id), vec![Status::Approved]);
    }
    println!(
        "resend-vs-check: the resend won {resends_won} of {} races",
        iterations()
    );
}
