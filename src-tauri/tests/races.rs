//! The desk's real commands racing each other, through IPC on the mock
//! runtime, each race in a forced order rather than whatever the scheduler
//! allows.
//!
//! Two tools force the order without sleeping:
//! - the emulator holds a send (`Faults::hold_next_send`) until the test
//!   lets it go, so a second command runs while the first one's SMS is
//!   in flight, outside the desk lock, which is where the shell leaves a
//!   window open;
//! - the shell reads the test's clock (`Launch::clock`), so expiry and the
//!   resend pause are reached by moving it, and the expiry sweep is run at
//!   the chosen moment (`sweep_expired`, the timer's own pass).
//!
//! A check decides under the desk lock from start to end, so two checks
//! can only run one after the other; each such race runs both orders, and
//! then both at once from two threads, and asserts what must hold either
//! way.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use countersign::clock::{ManualClock, Timestamp};
use serde_json::{json, Value};
use support::{code_in_sms, id_of, open_at, Desk};

/// 2026-03-02 09:00 UTC.
const T0: Timestamp = Timestamp::from_millis(1_772_442_000_000);
const NUMBER: &str = "07400 123456";

fn fresh_desk() -> (
    tempfile::TempDir,
    Desk,
    ManualClock,
    Arc<countersign::gateway::emulator::Faults>,
) {
    let dir = tempfile::tempdir().expect("temp folder");
    let clock = ManualClock::at(T0);
    let (desk, faults) = open_at(&dir.path().join("desk"), Arc::new(clock.clone()));
    (dir, desk, clock, faults)
}

fn start_args(phone: &str) -> Value {
    json!({"phone": phone, "purpose": {"kind": "reference", "reference": "Cash withdrawal"}})
}

fn sms_count(desk: &Desk) -> usize {
    desk.call("demo_inbox", json!({}))
        .expect("inbox")
        .as_array()
        .map_or(0, Vec::len)
}

fn outcome_of(answer: &Result<Value, Value>) -> &str {
    match answer {
        Ok(outcome) => outcome["outcome"].as_str().expect("an outcome kind"),
        Err(_) => "refused",
    }
}

#[test]
fn start_racing_start_on_one_number_sends_one_sms() {
    // The second start arrives while the first one's SMS is in flight.
    let (_dir, desk, _clock, faults) = fresh_desk();
    let held = faults.hold_next_send();
    let window = desk.window.clone();
    let (first, second) = thread::scope(|s| {
        let first = s.spawn(|| support::call(&window, "start_verification", start_args(NUMBER)));
        assert!(held.wait_until_held().is_some(), "the first start sends");
        let second = desk.try_start(NUMBER);
        held.release();
        (first.join().expect("first start"), second)
    });
    let (first, second) = (first.expect("first start"), second.expect("second start"));
    assert_eq!(first["alreadyPending"], false);
    assert_eq!(second["alreadyPending"], true, "{second}");
    assert_eq!(id_of(&first), id_of(&second));
    assert_eq!(sms_count(&desk), 1);

    // The second start after the first one's SMS was accepted.
    let (_dir, desk, _clock, _faults) = fresh_desk();
    let first = desk.start(NUMBER);
    let second = desk.start(NUMBER);
    assert_eq!(second["alreadyPending"], true);
    assert_eq!(id_of(&first), id_of(&second));
    assert_eq!(sms_count(&desk), 1);
}

#[test]
fn two_checks_with_the_right_code_approve_once() {
    for order in ["one then the other", "both at once"] {
        let (_dir, desk, _clock, _faults) = fresh_desk();
        let id = id_of(&desk.start(NUMBER));
        let code = desk.latest_code();
        let answers = if order == "both at once" {
            both_at_once(&desk, [(&id, &code), (&id, &code)])
        } else {
            [desk.check(&id, &code), desk.check(&id, &code)]
        };
        let kinds: Vec<&str> = answers.iter().map(outcome_of).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "approved").count(),
            1,
            "{order}: {kinds:?}"
        );
        assert!(
            answers
                .iter()
                .any(|a| a.as_ref().is_err_and(|e| e["kind"] == "already_ended")),
            "{order}: the later check finds the verification ended: {answers:?}"
        );
    }
}

#[test]
fn two_wrong_codes_at_once_both_count() {
    for order in ["one then the other", "both at once"] {
        let (_dir, desk, _clock, _faults) = fresh_desk();
        let started = desk.start(NUMBER);
        let (id, tries) = (
            id_of(&started),
            started["verification"]["triesLeft"].as_u64(),
        );
        let code = desk.latest_code();
        let wrong = if code.starts_with('1') { "2" } else { "1" }.repeat(code.len());
        let answers = if order == "both at once" {
            both_at_once(&desk, [(&id, &wrong), (&id, &wrong)])
        } else {
            [desk.check(&id, &wrong), desk.check(&id, &wrong)]
        };
        let mut left: Vec<u64> = answers
            .iter()
            .map(|a| {
                a.as_ref().expect("a wrong code is an answer")["triesLeft"]
                    .as_u64()
                    .expect("tries left")
            })
            .collect();
        left.sort_unstable();
        let tries = tries.expect("tries at start");
        assert_eq!(left, vec![tries - 2, tries - 1], "{order}: no lost update");
    }
}

#[test]
fn a_check_racing_the_expiry_never_accepts_an_expired_code() {
    // The last millisecond: the check wins, the sweep then finds nothing.
    let (_dir, desk, clock, _faults) = fresh_desk();
    let started = desk.start(NUMBER);
    let (id, expires_at) = (id_of(&started), expiry_of(&started));
    let code = desk.latest_code();
    clock.set(Timestamp::from_millis(expires_at - 1));
    assert_eq!(outcome_of(&desk.check(&id, &code)), "approved");
    assert_eq!(sweep(&desk), 0);

    // At the expiry, the sweep first: the check finds the code gone.
    let (_dir, desk, clock, _faults) = fresh_desk();
    let started = desk.start(NUMBER);
    let (id, expires_at) = (id_of(&started), expiry_of(&started));
    let code = desk.latest_code();
    clock.set(Timestamp::from_millis(expires_at));
    assert_eq!(sweep(&desk), 1);
    let late = desk.check(&id, &code);
    assert_eq!(late.expect_err("refused")["kind"], "already_ended");

    // At the expiry, the check first: it ends the verification expired
    // itself, and the sweep has nothing left.
    let (_dir, desk, clock, _faults) = fresh_desk();
    let started = desk.start(NUMBER);
    let (id, expires_at) = (id_of(&started), expiry_of(&started));
    let code = desk.latest_code();
    clock.set(Timestamp::from_millis(expires_at));
    assert_eq!(outcome_of(&desk.check(&id, &code)), "expired");
    assert_eq!(sweep(&desk), 0);
}

#[test]
fn a_resend_racing_a_check_sends_at_most_one_more_sms_and_no_code_works_twice() {
    // The checks arrive while the resent SMS is in flight: the old code is
    // already dead, the new one works once, and the resend then finds its
    // verification ended.
    let (_dir, desk, clock, faults) = fresh_desk();
    let started = desk.start(NUMBER);
    let id = id_of(&started);
    let old_code = desk.latest_code();
    clock.set(Timestamp::from_millis(resend_at(&started)));
    let held = faults.hold_next_send();
    let window = desk.window.clone();
    let (resent, old, new, again) = thread::scope(|s| {
        let resent = s.spawn(|| support::call(&window, "resend_code", json!({"id": id})));
        let body = held.wait_until_held().expect("the resend sends");
        let new_code = code_in_sms(&sms_text(&body));
        assert_ne!(new_code, old_code, "a resend sends a new code");
        let old = desk.check(&id, &old_code);
        let new = desk.check(&id, &new_code);
        let again = desk.check(&id, &new_code);
        held.release();
        (resent.join().expect("resend"), old, new, again)
    });
    assert_eq!(outcome_of(&old), "wrong-code", "{old:?}");
    assert_eq!(outcome_of(&new), "approved", "{new:?}");
    assert_eq!(again.expect_err("refused")["kind"], "already_ended");
    assert_eq!(
        resent.expect_err("ended while sending")["kind"],
        "already_ended"
    );
    assert_eq!(sms_count(&desk), 2, "one more SMS, not two");

    // The check first: the resend finds nothing to resend and sends nothing.
    let (_dir, desk, clock, _faults) = fresh_desk();
    let started = desk.start(NUMBER);
    let id = id_of(&started);
    let code = desk.latest_code();
    clock.set(Timestamp::from_millis(resend_at(&started)));
    assert_eq!(outcome_of(&desk.check(&id, &code)), "approved");
    let resent = desk.call("resend_code", json!({"id": id}));
    assert_eq!(resent.expect_err("refused")["kind"], "already_ended");
    assert_eq!(
        desk.check(&id, &code).expect_err("refused")["kind"],
        "already_ended"
    );
    assert_eq!(sms_count(&desk), 1);
}

/// Two checks released together from two threads; the answers in the
/// order the pairs were given.
fn both_at_once(desk: &Desk, checks: [(&str, &str); 2]) -> [Result<Value, Value>; 2] {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let [a, b] = checks.map(|(id, code)| {
            let (window, barrier) = (desk.window.clone(), &barrier);
            s.spawn(move || {
                barrier.wait();
                support::call(&window, "check_code", json!({"id": id, "code": code}))
            })
        });
        [a.join().expect("check"), b.join().expect("check")]
    })
}

fn sweep(desk: &Desk) -> usize {
    countersign_desk::sweep_expired(desk.app.handle()).expect("the sweep runs")
}

fn expiry_of(started: &Value) -> i64 {
    started["verification"]["expiresAt"]
        .as_i64()
        .expect("expiresAt")
}

/// When the resend pause is over, by the desk's own answer.
fn resend_at(started: &Value) -> i64 {
    let at = started["verification"]["resendAvailableAt"]
        .as_i64()
        .expect("resendAvailableAt");
    assert!(at > T0.millis(), "a resend waits its pause");
    at
}

/// The SMS text of a send as it reached the gateway (its `Body` field).
fn sms_text(form: &str) -> String {
    url::form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.into_owned())
        .expect("a Body field")
}
