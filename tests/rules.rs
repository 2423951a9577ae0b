//! One scenario per security rule (shared/security.md), named after it. Each
//! test drives the real engine on a hand-moved clock and asserts what staff,
//! the store and the audit trail would see.

mod support;

use countersign::audit::EventKind;
use countersign::code::{Binding, Code, CodeInput, CodeInputError};
use countersign::desk::{DeliveryRecorded, DeskError, OutcomeKind, SendRecorded, Sending, Started};
use countersign::gateway::{DeliveryStatus, GatewayError, GatewayMode, MessageError};
use countersign::keys::{DigestKey, KEY_LEN};
use countersign::persist;
use countersign::phone::{AllowedCountries, PhoneError, PhoneNumber, Region};
use countersign::policy::PolicySettings;
use countersign::purpose::{Purpose, MAX_PAYEE_CHARS, MAX_REFERENCE_CHARS};
use countersign::sms::{self, Encoding, Template, DEFAULT_TEMPLATE, DESK_WARNING};
use countersign::verification::Status;
use rand::rngs::StdRng;
use rand::SeedableRng;
use support::*;

fn gb() -> Region {
    "GB".parse().unwrap()
}

// ---------------------------------------------------------------- S1

#[test]
fn s1_codes_have_the_policy_length_and_only_digits() {
    for length in [6u32, 7, 8, 9, 10] {
        let mut h = Harness::with_policy(PolicySettings {
            code_length: length,
            ..Default::default()
        });
        for number in [A, B, C] {
            let (_, sms) = h.start_new(number, Purpose::Unspecified);
            let code = code_of(&sms);
            assert_eq!(code.len(), length as usize, "{length}-digit policy");
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}

#[test]
fn s1_default_code_length_is_six() {
    let mut h = Harness::new();
    let (_, code) = h.start_and_send(A);
    assert_eq!(code.len(), 6);
}

#[test]
fn s1_code_length_outside_bounds_is_refused_not_clamped() {
    for bad in [5, 11] {
        let e = countersign::policy::Policy::from_settings(&PolicySettings {
            code_length: bad,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("code_length"), "{e}");
    }
}

#[test]
fn s1_successive_codes_differ() {
    // Not a statistical test (see code_uniformity.rs): proves the code is not
    // a constant or derived from the number.
    let mut h = Harness::new();
    let codes: std::collections::BTreeSet<String> = [A, B, C]
        .into_iter()
        .map(|n| h.start_and_send(n).1)
        .collect();
    assert_eq!(codes.len(), 3);
}

// ---------------------------------------------------------------- S2

#[test]
fn s2_code_expires_after_validity_and_is_refused() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.advance(300);
    let out = h.desk.check(&id, &code).unwrap();
    assert_eq!(out.outcome, OutcomeKind::Expired);
    assert!(out.verification.is_none());
    assert!(h.saved().verifications.is_empty(), "digest destroyed");
    assert!(matches!(
        h.desk.check(&id, &code),
        Err(DeskError::AlreadyEnded(Status::Expired))
    ));
}

#[test]
fn s2_code_works_until_the_last_millisecond_of_validity() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.advance_ms(300_000 - 1);
    assert_eq!(
        h.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn s2_validity_follows_the_policy() {
    let mut h = Harness::with_policy(PolicySettings {
        validity_seconds: 60,
        ..Default::default()
    });
    let (id, code) = h.start_and_send(A);
    let view = h.desk.get(&id).unwrap();
    assert_eq!(view.expires_at - view.created_at, 60_000);
    h.advance(60);
    assert_eq!(
        h.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Expired
    );
}

#[test]
fn s2_validity_above_ten_minutes_is_refused() {
    assert!(countersign::policy::Policy::from_settings(&PolicySettings {
        validity_seconds: 601,
        ..Default::default()
    })
    .is_err());
}

#[test]
fn s2_purge_expires_pending_verifications_without_a_check() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A);
    h.advance(299);
    assert!(h.desk.purge().unwrap().is_empty());
    h.advance(1);
    let ended = h.desk.purge().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].outcome, OutcomeKind::Expired);
    assert_eq!(ended[0].id, id);
    assert!(h.desk.list().is_empty());
    assert!(h.saved().verifications.is_empty());
}

#[test]
fn s2_resend_after_expiry_is_refused() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A);
    h.advance(300);
    assert!(matches!(h.desk.resend(&id), Err(DeskError::Expired)));
    assert!(h.desk.get(&id).is_none());
}

// ---------------------------------------------------------------- S3

#[test]
fn s3_code_accepted_once_then_verification_ended() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    let out = h.desk.check(&id, &code).unwrap();
    assert_eq!(out.outcome, OutcomeKind::Approved);
    assert!(h.saved().verifications.is_empty());
    let again = h.desk.check(&id, &code);
    assert!(
        matches!(again, Err(DeskError::AlreadyEnded(Status::Approved))),
        "{again:?}"
    );
}

#[test]
fn s3_code_of_one_verification_fails_on_another() {
    let mut h = Harness::new();
    let (id_a, code_a) = h.start_and_send(A);
    let (id_b, code_b) = h.start_and_send(B);
    assert_ne!(
        code_a, code_b,
        "seeded codes differ, so the test means something"
    );
    let out = h.desk.check(&id_b, &code_a).unwrap();
    assert_eq!(out.outcome, OutcomeKind::WrongCode);
    assert_eq!(h.tries_left(&id_b), 4);
    // And each still works for its own verification.
    assert_eq!(
        h.desk.check(&id_a, &code_a).unwrap().outcome,
        OutcomeKind::Approved
    );
    assert_eq!(
        h.desk.check(&id_b, &code_b).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn s3_digest_binds_the_verification_id_and_number() {
    let mut rng = StdRng::seed_from_u64(9);
    let key = DigestKey::generate(&mut rng);
    let id = countersign::verification::VerificationId::generate(&mut rng);
    let other_id = countersign::verification::VerificationId::generate(&mut rng);
    let a = PhoneNumber::parse_any(A, gb()).unwrap();
    let b = PhoneNumber::parse_any(B, gb()).unwrap();
    let purpose = Purpose::Unspecified;
    let code = Code::generate(&mut rng, 6);
    let digest = Binding {
        id: &id,
        number: &a,
        purpose: &purpose,
    }
    .digest(&key, &code);
    let input = CodeInput::parse(code.digits(), 6).unwrap();
    let matches = |id: &countersign::verification::VerificationId, number: &PhoneNumber| {
        Binding {
            id,
            number,
            purpose: &purpose,
        }
        .matches(&key, &input, &digest)
    };
    assert!(matches(&id, &a));
    assert!(!matches(&other_id, &a), "another verification");
    assert!(!matches(&id, &b), "another number");
}

#[test]
fn s3_cancelled_verification_code_no_longer_works() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    assert_eq!(h.desk.cancel(&id).unwrap().outcome, OutcomeKind::Cancelled);
    assert!(h.saved().verifications.is_empty());
    assert!(matches!(
        h.desk.check(&id, &code),
        Err(DeskError::AlreadyEnded(Status::Cancelled))
    ));
}

// ---------------------------------------------------------------- S4

#[test]
fn s4_fifth_wrong_code_locks_and_destroys_digest() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    for n in 1..=4u32 {
        let out = h.desk.check(&id, &wrong_n(&code, n as usize)).unwrap();
        assert_eq!(out.outcome, OutcomeKind::WrongCode);
        assert_eq!(out.tries_left, Some(5 - n));
        assert_eq!(h.saved().verifications[0].failed_attempts, n);
    }
    let out = h.desk.check(&id, &wrong_n(&code, 5)).unwrap();
    assert_eq!(out.outcome, OutcomeKind::Locked);
    assert_eq!(out.tries_left, Some(0));
    assert!(out.verification.is_none());
    assert!(
        h.saved().verifications.iter().all(|v| v.id != id),
        "the stored document no longer has the entry"
    );
    assert!(h.desk.get(&id).is_none());
    // Even the right code is refused now.
    assert!(matches!(
        h.desk.check(&id, &code),
        Err(DeskError::AlreadyEnded(Status::Locked))
    ));
    assert!(h.event_kinds().contains(&EventKind::Locked));
}

#[test]
fn s4_lock_is_atomic_a_failed_save_never_leaves_a_capped_code_alive() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    for n in 1..=4 {
        h.desk.check(&id, &wrong_n(&code, n)).unwrap();
    }
    let before = h.saved();
    // The fifth wrong code while the store fails: nothing changes.
    h.fail_next_save();
    let r = h.desk.check(&id, &wrong_n(&code, 5));
    assert!(matches!(r, Err(DeskError::Storage(_))), "{r:?}");
    assert_eq!(h.saved(), before);
    assert_eq!(h.tries_left(&id), 1);
    // Again, with the store failing on the save after the next: the failure
    // and the lock must not be two saves with a window between them.
    h.fail_save_number(2);
    let r = h.desk.check(&id, &wrong_n(&code, 5));
    h.fail_save_number(0);
    match r {
        Ok(o) => assert_eq!(o.outcome, OutcomeKind::Locked),
        Err(DeskError::Storage(_)) => assert_eq!(h.saved(), before, "half a lock saved"),
        other => panic!("{other:?}"),
    }
    // Either way the right code is refused now.
    let r = h.desk.check(&id, &code);
    assert!(
        !matches!(&r, Ok(o) if o.outcome == OutcomeKind::Approved),
        "approved after the fifth wrong code: {r:?}"
    );
    assert!(h.saved().verifications.is_empty());
}

#[test]
fn s5_number_cap_lock_is_atomic_too() {
    let mut h = Harness::with_policy(PolicySettings {
        number_failures_per_hour: 2,
        ..Default::default()
    });
    let (id, code) = h.start_and_send(A);
    h.desk.check(&id, &wrong_n(&code, 1)).unwrap();
    h.fail_save_number(2);
    let _ = h.desk.check(&id, &wrong_n(&code, 2));
    h.fail_save_number(0);
    // Whatever the failed save left, the right code must not pass now that
    // the number has had its second failure recorded.
    let recorded = h
        .saved()
        .numbers
        .values()
        .next()
        .map_or(0, |n| n.failures.len());
    let r = h.desk.check(&id, &code);
    if recorded >= 2 {
        assert!(
            !matches!(&r, Ok(o) if o.outcome == OutcomeKind::Approved),
            "approved after the number was capped: {r:?}"
        );
    }
}

#[test]
fn s4_invalid_input_uses_no_try() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    let saves = h.saves();
    for typed in [
        "",
        "   ",
        "12a456",
        "12345",
        "1234567",
        "１２３４５６",
        "12.456",
    ] {
        let e = h.desk.check(&id, typed).unwrap_err();
        assert!(
            matches!(e, DeskError::InvalidCodeInput(_)),
            "{typed:?}: {e}"
        );
        assert_eq!(h.tries_left(&id), 5, "{typed:?}");
    }
    assert_eq!(h.saves(), saves, "nothing saved for invalid input");
    assert!(!h.event_kinds().contains(&EventKind::CheckFailed));
    assert_eq!(
        h.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn s4_attempt_cap_follows_the_policy() {
    let mut h = Harness::with_policy(PolicySettings {
        max_attempts: 1,
        ..Default::default()
    });
    let (id, code) = h.start_and_send(A);
    assert_eq!(
        h.desk.check(&id, &wrong(&code)).unwrap().outcome,
        OutcomeKind::Locked
    );
    assert!(countersign::policy::Policy::from_settings(&PolicySettings {
        max_attempts: 6,
        ..Default::default()
    })
    .is_err());
}

// ---------------------------------------------------------------- S5

#[test]
fn s5_ten_failures_in_an_hour_block_the_number_and_it_unblocks_after() {
    let mut h = Harness::new();
    // Verification 1: five wrong codes, locked (failures 1–5 at T0).
    let (v1, c1) = h.start_and_send(A);
    for n in 1..=5 {
        h.desk.check(&v1, &wrong_n(&c1, n)).unwrap();
    }
    assert!(h.desk.get(&v1).is_none());
    // Verification 2: three wrong codes, then cancelled (failures 6–8).
    h.advance(30);
    let (v2, c2) = h.start_and_send(A);
    for n in 1..=3 {
        h.desk.check(&v2, &wrong_n(&c2, n)).unwrap();
    }
    h.desk.cancel(&v2).unwrap();
    // Verification 3: its second wrong code is the number's tenth: locked
    // although the verification itself had tries left.
    h.advance(30);
    let (v3, c3) = h.start_and_send(A);
    assert_eq!(
        h.desk.check(&v3, &wrong_n(&c3, 1)).unwrap().outcome,
        OutcomeKind::WrongCode
    );
    let out = h.desk.check(&v3, &wrong_n(&c3, 2)).unwrap();
    assert_eq!(out.outcome, OutcomeKind::Locked);
    assert!(h.event_kinds().contains(&EventKind::NumberBlocked));

    // Blocked: a new verification for the number is refused, nothing sent.
    h.advance(30);
    match h.start(A) {
        Err(DeskError::NumberBlocked { minutes }) => assert_eq!(minutes, 59),
        other => panic!("expected NumberBlocked, got {other:?}"),
    }
    // In another format, the same number is still blocked; another number is not.
    assert!(matches!(
        h.start("07400 123456"),
        Err(DeskError::NumberBlocked { .. })
    ));
    h.start_and_send(B);

    // Still blocked one second before the first failure is an hour old.
    h.advance(3600 - 90 - 1);
    assert!(matches!(h.start(A), Err(DeskError::NumberBlocked { .. })));
    // Unblocked once it is.
    h.advance(1);
    assert!(matches!(h.start(A), Ok(Started::New { .. })));
}

#[test]
fn s5_failures_older_than_an_hour_do_not_count() {
    let mut h = Harness::new();
    let (v1, c1) = h.start_and_send(A);
    for n in 1..=5 {
        h.desk.check(&v1, &wrong_n(&c1, n)).unwrap();
    }
    h.advance(3600);
    let (v2, c2) = h.start_and_send(A);
    for n in 1..=4 {
        assert_eq!(
            h.desk.check(&v2, &wrong_n(&c2, n)).unwrap().outcome,
            OutcomeKind::WrongCode
        );
    }
    assert!(!h.event_kinds().contains(&EventKind::NumberBlocked));
}

/// History no rule looks at any more is forgotten by the purge, sends
/// after the send window and wrong codes after the hour, and not before.
#[test]
fn purge_forgets_sends_and_failures_once_their_windows_have_passed() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.desk.check(&id, &wrong(&code)).unwrap();
    h.desk.cancel(&id).unwrap();
    let history = |h: &Harness| {
        h.saved()
            .numbers
            .values()
            .next()
            .map_or((0, 0), |n| (n.sends.len(), n.failures.len()))
    };
    assert_eq!(history(&h), (1, 1));
    h.advance(600 - 1);
    h.desk.purge().unwrap();
    assert_eq!(history(&h), (1, 1), "the send window has not passed");
    h.advance(1);
    h.desk.purge().unwrap();
    assert_eq!(
        history(&h),
        (0, 1),
        "the send is forgotten, the failure kept"
    );
    h.advance(3000);
    h.desk.purge().unwrap();
    assert_eq!(history(&h), (0, 0));
    assert!(h.saved().numbers.is_empty());
    // And it comes back with the next send, and goes again.
    let (id, _) = h.start_and_send(A);
    h.desk.cancel(&id).unwrap();
    assert_eq!(history(&h), (1, 0));
    h.advance(600);
    h.desk.purge().unwrap();
    assert!(h.saved().numbers.is_empty());
}

#[test]
fn s5_number_block_survives_a_restart() {
    let mut h = Harness::with_policy(PolicySettings {
        number_failures_per_hour: 2,
        ..Default::default()
    });
    let (v1, c1) = h.start_and_send(A);
    h.desk.check(&v1, &wrong_n(&c1, 1)).unwrap();
    h.desk.check(&v1, &wrong_n(&c1, 2)).unwrap();
    // The counters are in the saved document, keyed by number id.
    let doc = h.saved();
    let history = doc.numbers.values().next().expect("history saved");
    assert_eq!(history.failures.len(), 2);
    let mut restarted = countersign::desk::Desk::new(
        countersign::desk::Parts {
            policy: h.policy.clone(),
            templates: countersign::templates::MessageTemplates::default(),
            key: h.key.clone(),
            store: persist::MemoryStore::default(),
            audit: countersign::audit::MemoryAudit::default(),
            clock: h.clock.clone(),
            rng: StdRng::seed_from_u64(1),
        },
        doc,
    )
    .unwrap();
    h.advance(60);
    assert!(matches!(
        restarted.start(h.number(A), Purpose::Unspecified, Harness::operator()),
        Err(DeskError::NumberBlocked { .. })
    ));
}

// ---------------------------------------------------------------- S6

#[test]
fn s6_second_start_for_same_number_returns_pending_and_sends_nothing() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A);
    let saves = h.saves();
    for form in [A, "07400 123456", "+44 7400-123456"] {
        match h
            .start_for(form, Purpose::reference("another").unwrap())
            .unwrap()
        {
            Started::AlreadyPending { view } => {
                assert_eq!(view.id, id);
                assert_eq!(view.reference, h.desk.get(&id).unwrap().reference);
            }
            Started::New { .. } => panic!("a second SMS for a pending number"),
        }
    }
    assert_eq!(h.desk.list().len(), 1);
    assert_eq!(h.saves(), saves, "nothing changed");
    let started = h
        .event_kinds()
        .iter()
        .filter(|k| **k == EventKind::Started)
        .count();
    assert_eq!(started, 1);
}

#[test]
fn s6_pending_while_still_awaiting_the_gateway() {
    let mut h = Harness::new();
    let (view, _) = h.start_new(A, Purpose::Unspecified);
    assert!(matches!(
        h.start(A).unwrap(),
        Started::AlreadyPending { view: v } if v.id == view.id
    ));
}

// ---------------------------------------------------------------- S7

#[test]
fn s7_resend_invalidates_old_code_keeps_try_count() {
    let mut h = Harness::new();
    let (id, old) = h.start_and_send(A);
    h.desk.check(&id, &wrong(&old)).unwrap();
    assert_eq!(h.tries_left(&id), 4);
    h.advance(30);
    let resent = h.desk.resend(&id).unwrap();
    let new = code_of(&resent.sms);
    assert_ne!(new, old, "a NEW code");
    assert_eq!(resent.view.tries_left, 4, "the try count is not reset");
    assert_eq!(resent.view.id, id, "same verification");
    h.accept(&id);
    // The old code is now a wrong code, and costs a try.
    let out = h.desk.check(&id, &old).unwrap();
    assert_eq!(out.outcome, OutcomeKind::WrongCode);
    assert_eq!(out.tries_left, Some(3));
    assert_eq!(
        h.desk.check(&id, &new).unwrap().outcome,
        OutcomeKind::Approved
    );
    assert!(h.event_kinds().contains(&EventKind::Resent));
}

/// A resend gives the new code a full validity: the purge that would have
/// ended the first code leaves it, and ends it at its own expiry.
#[test]
fn s7_resend_moves_the_expiry_and_the_purge_follows_it() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A);
    let (other, _) = h.start_and_send(B);
    h.advance(200);
    let new = h.resend_and_send(&id);
    h.advance(150); // past the first code's expiry, not the new one's
    let expired = h.desk.purge().unwrap();
    assert_eq!(expired.len(), 1, "only the code that was not resent");
    assert_eq!(expired[0].id, other);
    assert!(h.desk.get(&id).is_some());
    h.advance(149);
    assert!(h.desk.purge().unwrap().is_empty());
    assert_eq!(
        h.desk.check(&id, &new).unwrap().outcome,
        OutcomeKind::Approved
    );
    let (id, _) = h.start_and_send(C);
    h.advance(300);
    let expired = h.desk.purge().unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, id);
    assert!(h.desk.list().is_empty());
}

#[test]
fn s7_resend_waits_for_the_gateway_answer() {
    let mut h = Harness::new();
    let (view, _) = h.start_new(A, Purpose::Unspecified);
    h.advance(60);
    assert!(matches!(
        h.desk.resend(&view.id),
        Err(DeskError::StillSending)
    ));
}

// ---------------------------------------------------------------- S8

#[test]
fn s8_resend_waits_for_cooldown() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.advance(29);
    match h.desk.resend(&id) {
        Err(DeskError::Cooldown { seconds }) => assert_eq!(seconds, 1),
        other => panic!("expected a cooldown, got {other:?}"),
    }
    // The refused resend changed nothing: the first code still works.
    h.advance(1);
    let new = h.resend_and_send(&id);
    assert_ne!(new, code);
    // And the next resend counts its cooldown from the new code.
    h.advance(29);
    assert!(matches!(
        h.desk.resend(&id),
        Err(DeskError::Cooldown { .. })
    ));
}

#[test]
fn s8_cooldown_follows_the_policy() {
    let mut h = Harness::with_policy(PolicySettings {
        resend_cooldown_seconds: 120,
        ..Default::default()
    });
    let (id, _) = h.start_and_send(A);
    h.advance(119);
    assert!(matches!(
        h.desk.resend(&id),
        Err(DeskError::Cooldown { seconds: 1 })
    ));
    h.advance(1);
    h.resend_and_send(&id);
}

#[test]
fn s8_new_verification_after_cancel_still_waits_for_cooldown() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A);
    h.desk.cancel(&id).unwrap();
    h.advance(10);
    assert!(matches!(
        h.start(A),
        Err(DeskError::Cooldown { seconds: 20 })
    ));
    h.advance(20);
    h.start_and_send(A);
}

#[test]
fn s8_at_most_five_sends_per_ten_minutes() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(A); // send 1 at T0
    for _ in 2..=5 {
        h.advance(30);
        h.resend_and_send(&id); // sends 2–5 at T0+30 … T0+120
    }
    h.advance(30);
    match h.desk.resend(&id) {
        Err(DeskError::SendLimit { minutes }) => assert_eq!(minutes, 8),
        other => panic!("expected the send cap, got {other:?}"),
    }
    // A new verification for the number is capped too.
    h.desk.cancel(&id).unwrap();
    assert!(matches!(h.start(A), Err(DeskError::SendLimit { .. })));
    assert_eq!(h.saved().numbers.values().next().unwrap().sends.len(), 5);
    // Other numbers are not affected.
    h.start_and_send(B);
    // Once the first send is ten minutes old, one more is allowed.
    h.advance(600 - 150 - 1);
    assert!(matches!(h.start(A), Err(DeskError::SendLimit { .. })));
    h.advance(1);
    h.start_and_send(A);
}

#[test]
fn s8_sends_cap_skips_sends_the_gateway_refused_before_taking_them() {
    let mut h = Harness::new();
    // Six SMS refused before the gateway took them: none left, none
    // counts, no cooldown.
    for _ in 0..6 {
        let (view, _) = h.start_new(A, Purpose::Unspecified);
        assert!(matches!(
            h.refuse(&view.id, GatewayError::CannotConnect),
            SendRecorded::NotSent(_)
        ));
    }
    assert!(h.saved().numbers.is_empty(), "no send recorded");
    // An accepted one counts: the cooldown now applies to a new start.
    let (id, _) = h.start_and_send(A);
    assert_eq!(h.saved().numbers.values().next().unwrap().sends.len(), 1);
    h.desk.cancel(&id).unwrap();
    assert!(matches!(h.start(A), Err(DeskError::Cooldown { .. })));
}

// ---------------------------------------------------------------- S9

#[test]
fn s9_country_outside_allow_list_refused() {
    let allowed = AllowedCountries::only(gb());
    let e = PhoneNumber::parse("+33 6 12 34 56 78", gb(), &allowed).unwrap_err();
    assert!(
        matches!(&e, PhoneError::CountryNotAllowed(c, list) if c == "FR" && list == "GB"),
        "{e:?}"
    );
    // Allowed once the policy lists it.
    let h = Harness::with_policy(PolicySettings {
        allowed_countries: vec!["GB".into(), "FR".into()],
        ..Default::default()
    });
    assert_eq!(h.number("+33 6 12 34 56 78").e164(), "+33612345678");
}

#[test]
fn s9_desk_refuses_a_number_outside_its_allow_list_however_it_was_parsed() {
    // parse_any skips the allow-list (it is for numbers read back from the
    // store); the engine still must not send to a country its policy forbids.
    let mut h = Harness::new();
    let fr = PhoneNumber::parse_any("+33 6 12 34 56 78", gb()).unwrap();
    let e = h
        .desk
        .start(fr, Purpose::Unspecified, Harness::operator())
        .unwrap_err();
    assert_eq!(e.kind(), "invalid_number", "{e}");
    assert!(h.desk.list().is_empty());
    assert_eq!(h.saves(), 0);
}

#[test]
fn s9_landline_refused() {
    let allowed = AllowedCountries::only(gb());
    assert_eq!(
        PhoneNumber::parse("020 7946 0000", gb(), &allowed),
        Err(PhoneError::CannotReceiveSms("line.fixed_line"))
    );
}

#[test]
fn s9_numbers_that_cannot_take_sms_are_refused() {
    let allowed = AllowedCountries::only(gb());
    for (number, kind) in [
        ("0800 123 4567", "line.toll_free"),
        ("0909 879 0000", "line.premium_rate"),
    ] {
        assert_eq!(
            PhoneNumber::parse(number, gb(), &allowed),
            Err(PhoneError::CannotReceiveSms(kind)),
            "{number}"
        );
    }
    assert!(PhoneNumber::parse("07400 123456", gb(), &allowed).is_ok());
}

// ---------------------------------------------------------------- S10

#[test]
fn s10_store_holds_digest_not_code_nor_number() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    let doc = h.saved();
    let text = String::from_utf8(persist::to_bytes(&doc)).unwrap();
    assert!(!text.contains(&code), "code in clear at rest");
    assert!(!text.contains(A_DIGITS), "full number at rest");
    assert!(!text.contains(A_NATIONAL), "national number at rest");
    // What is there is HMAC(K, id, number, purpose, code).
    let record = &doc.verifications[0];
    let number = h.number(A);
    let binding = Binding {
        id: &id,
        number: &number,
        purpose: &record.purpose,
    };
    let input = CodeInput::parse(&code, 6).unwrap();
    assert!(binding.matches(&h.key, &input, &record.digest));
    assert!(!binding.matches(
        &h.key,
        &CodeInput::parse(&wrong(&code), 6).unwrap(),
        &record.digest
    ));
    // Under another key the same digest means nothing.
    let other = DigestKey::generate(&mut StdRng::seed_from_u64(77));
    assert!(!binding.matches(&other, &input, &record.digest));
}

#[test]
fn s10_key_is_256_bits() {
    let key = DigestKey::generate(&mut StdRng::seed_from_u64(1));
    assert_eq!(key.as_bytes().len() * 8, 256);
    assert_eq!(KEY_LEN, 32);
    assert!(DigestKey::from_bytes(&[0u8; 16]).is_none());
    assert!(!format!("{key:?}").contains(&hex::encode(key.as_bytes())));
}

// ---------------------------------------------------------------- S11

#[test]
fn s11_wrong_length_input_refused_without_try() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    for (typed, got) in [(&code[..5], 5), (&format!("{code}1")[..], 7)] {
        match h.desk.check(&id, typed) {
            Err(DeskError::InvalidCodeInput(CodeInputError::WrongLength { expected, got: g })) => {
                assert_eq!((expected, g), (6, got));
            }
            other => panic!("expected WrongLength, got {other:?}"),
        }
    }
    assert_eq!(h.tries_left(&id), 5);
    let msg = h.desk.check(&id, "12345").unwrap_err().to_string();
    assert!(msg.contains("no try was used"), "{msg}");
}

#[test]
fn s11_spaces_and_dashes_are_normalised() {
    let mut h = Harness::new();
    for (number, form) in [
        (A, "{0}{1}{2} {3}{4}{5}"),
        (B, "{0}{1}{2}-{3}{4}{5}"),
        (C, " {0} {1} {2} - {3} {4} {5} "),
    ] {
        let (id, code) = h.start_and_send(number);
        let d: Vec<char> = code.chars().collect();
        let mut typed = form.to_owned();
        for (i, c) in d.iter().enumerate() {
            typed = typed.replace(&format!("{{{i}}}"), &c.to_string());
        }
        assert_eq!(
            h.desk.check(&id, &typed).unwrap().outcome,
            OutcomeKind::Approved,
            "{form}"
        );
    }
}

#[test]
fn s11_only_ascii_digits_count() {
    assert_eq!(
        CodeInput::parse("١٢٣٤٥٦", 6).unwrap_err(),
        CodeInputError::NotDigits
    );
    assert_eq!(
        CodeInput::parse("12345x", 6).unwrap_err(),
        CodeInputError::NotDigits
    );
    assert_eq!(
        CodeInput::parse(" - ", 6).unwrap_err(),
        CodeInputError::Empty
    );
    assert_eq!(CodeInput::parse("12 34 56", 6).unwrap().digits(), "123456");
}

// ---------------------------------------------------------------- S13

fn assert_masked(text: &str) {
    assert!(!text.contains(A_DIGITS), "full number in {text}");
    assert!(!text.contains(A_NATIONAL), "national number in {text}");
}

#[test]
fn s13_views_show_masked_number_only() {
    let mut h = Harness::new();
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    assert_eq!(view.masked_number, "+44 •••• 456");
    assert_masked(&serde_json::to_string(&view).unwrap());
    let view = h.accept(&view.id);
    assert_masked(&serde_json::to_string(&view).unwrap());
    assert_masked(&serde_json::to_string(&h.desk.list()).unwrap());
    assert_masked(&serde_json::to_string(&h.desk.get(&view.id)).unwrap());
    assert_masked(&format!("{sms:?}"));
    let code = code_of(&sms);
    assert!(!format!("{sms:?}").contains(&code));
    let out = h.desk.check(&view.id, &code).unwrap();
    assert_eq!(out.masked_number, "+44 •••• 456");
    assert_masked(&serde_json::to_string(&out).unwrap());
}

#[test]
fn s13_outcomes_and_errors_never_repeat_the_typed_code() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    let typed = wrong(&code);
    let out = h.desk.check(&id, &typed).unwrap();
    let text = serde_json::to_string(&out).unwrap();
    assert!(!text.contains(&typed) && !text.contains(&code), "{text}");
    for bad in [format!("{typed}9"), format!("{}x", &typed[..5])] {
        let e = h.desk.check(&id, &bad).unwrap_err();
        assert!(!e.to_string().contains(&typed[..5]), "{e}");
        assert!(!format!("{e:?}").contains(&typed[..5]), "{e:?}");
    }
}

// ---------------------------------------------------------------- S15

#[test]
fn s15_default_sms_names_brand_reference_validity_and_desk_warning() {
    let mut h = Harness::new();
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    let body = sms.body_text();
    assert!(body.starts_with("Countersign "), "{body}");
    assert!(
        body.contains(&view.reference),
        "the SMS names the reference shown on the staff screen ({}): {body}",
        view.reference
    );
    assert!(view.reference.starts_with("ref "));
    assert!(body.contains("Valid 5 min"), "{body}");
    assert!(body.contains(DESK_WARNING), "{body}");
    assert!(!body.to_lowercase().contains("never ask"), "{body}");
    let m = sms::measure(body);
    assert_eq!(m.encoding, Encoding::Gsm7);
    assert!(m.units <= 160);

    let (view, sms) = h.start_new(B, Purpose::reference("Loan 4471 renewal").unwrap());
    assert_eq!(view.reference, "Loan 4471 renewal");
    assert!(sms.body_text().contains("for Loan 4471 renewal."));
}

#[test]
fn s15_validity_in_the_sms_follows_the_policy() {
    let mut h = Harness::with_policy(PolicySettings {
        validity_seconds: 90,
        ..Default::default()
    });
    let (_, sms) = h.start_new(A, Purpose::Unspecified);
    // 90 s is rounded up: the SMS never promises less time than there is.
    assert!(
        sms.body_text().contains("Valid 2 min"),
        "{}",
        sms.body_text()
    );
}

fn worst_case_harness() -> Harness {
    let brand = "B".repeat(sms::MAX_BRAND_CHARS);
    Harness::with(
        PolicySettings {
            code_length: 10,
            validity_seconds: 600,
            ..Default::default()
        },
        Template::parse(DEFAULT_TEMPLATE, &brand).unwrap(),
    )
}

#[test]
fn s15_worst_case_purpose_still_fits_one_segment() {
    let mut h = worst_case_harness();
    let payment = Purpose::payment("9,999,999.99", "EUR", &"P".repeat(MAX_PAYEE_CHARS)).unwrap();
    let reference = Purpose::reference(&"R".repeat(MAX_REFERENCE_CHARS)).unwrap();
    for (number, purpose) in [(A, payment), (B, reference)] {
        let (_, sms) = h.start_new(number, purpose);
        let m = sms::measure(sms.body_text());
        assert_eq!(m.encoding, Encoding::Gsm7);
        assert!(m.units <= 160, "{} units: {}", m.units, sms.body_text());
        assert_eq!(code_of(&sms).len(), 10);
        assert!(sms.body_text().contains("Valid 10 min"));
        assert!(sms.body_text().contains(DESK_WARNING));
    }
}

#[test]
fn s15_worst_case_with_double_width_gsm_characters_still_fits() {
    // GSM-7 extension characters (€ [ ] { } ^ ~ | \) take two septets. A
    // purpose the parser accepts must still fit, or be refused when typed.
    let mut h = worst_case_harness();
    let candidates = [
        Purpose::payment("9,999,999.99", "EUR", &"€".repeat(MAX_PAYEE_CHARS)),
        Purpose::reference(&"[".repeat(MAX_REFERENCE_CHARS)),
        Purpose::reference(&format!("{}€", "R".repeat(MAX_REFERENCE_CHARS - 1))),
    ];
    for (number, purpose) in [A, B, C].into_iter().zip(candidates) {
        let Ok(purpose) = purpose else {
            continue; // refused when typed: fine
        };
        let (_, sms) = h.start_new(number, purpose);
        let m = sms::measure(sms.body_text());
        assert!(m.units <= 160, "{} units: {}", m.units, sms.body_text());
    }
    // The bounds are in septets: 16 × € is the longest reference of €.
    assert!(Purpose::reference(&"€".repeat(MAX_REFERENCE_CHARS / 2)).is_ok());
    assert!(Purpose::reference(&"€".repeat(MAX_REFERENCE_CHARS / 2 + 1)).is_err());
    assert!(Purpose::payment("1", "EUR", &"€".repeat(MAX_PAYEE_CHARS / 2)).is_ok());
    assert!(Purpose::payment("1", "EUR", &"€".repeat(MAX_PAYEE_CHARS / 2 + 1)).is_err());
    // A brand of extension characters is held to the same bound.
    if let Ok(t) = Template::parse(DEFAULT_TEMPLATE, &"€".repeat(sms::MAX_BRAND_CHARS)) {
        let mut h = Harness::with(
            PolicySettings {
                code_length: 10,
                validity_seconds: 600,
                ..Default::default()
            },
            t,
        );
        let payment =
            Purpose::payment("9,999,999.99", "EUR", &"P".repeat(MAX_PAYEE_CHARS)).unwrap();
        let (_, sms) = h.start_new(A, payment);
        assert!(sms::measure(sms.body_text()).units <= 160);
    }
}

#[test]
fn s15_message_too_long_is_an_error_not_cut() {
    let long = format!("{{code}} {}", "x".repeat(155));
    let mut h = Harness::with(
        PolicySettings::default(),
        Template::parse(&long, "Bank").unwrap(),
    );
    match h.start(A) {
        Err(DeskError::MessageTooLong(sms::TemplateError::TooLong {
            units,
            limit,
            encoding,
        })) => {
            assert_eq!((units, limit, encoding), (162, 160, Encoding::Gsm7));
        }
        other => panic!("expected MessageTooLong, got {other:?}"),
    }
    assert!(h.desk.list().is_empty(), "no verification without an SMS");
    assert_eq!(h.saves(), 0);
    assert!(h.events().is_empty());
    // A template that fits exactly is fine.
    let exact = format!("{{code}} {}", "x".repeat(153));
    let mut h = Harness::with(
        PolicySettings::default(),
        Template::parse(&exact, "Bank").unwrap(),
    );
    let (_, sms) = h.start_new(A, Purpose::Unspecified);
    assert_eq!(sms::measure(sms.body_text()).units, 160);
}

#[test]
fn s15_non_gsm_text_is_held_to_seventy_characters() {
    let long = format!("{{code}} Łódź {}", "x".repeat(60));
    let mut h = Harness::with(
        PolicySettings::default(),
        Template::parse(&long, "Bank").unwrap(),
    );
    assert!(matches!(
        h.start(A),
        Err(DeskError::MessageTooLong(sms::TemplateError::TooLong {
            limit: 70,
            encoding: Encoding::Ucs2,
            ..
        }))
    ));
}

// ---------------------------------------------------------------- S16

#[test]
fn s16_amount_and_payee_in_sms_and_bound_into_digest() {
    let mut h = Harness::new();
    let purpose = Purpose::payment("2,500.00", "eur", "J. Smith").unwrap();
    let (id, _) = h.start_and_send_for(A, purpose.clone());
    let view = h.desk.get(&id).unwrap();
    assert_eq!(view.reference, "2,500.00 EUR to J. Smith");
    // The SMS (re-issued, to read its body) names both.
    h.advance(30);
    let resent = h.desk.resend(&id).unwrap();
    let body = resent.sms.body_text().to_owned();
    let code = code_of(&resent.sms);
    assert!(body.contains("2,500.00 EUR"), "{body}");
    assert!(body.contains("J. Smith"), "{body}");
    h.accept(&id);

    // Bound: the stored digest matches only with the exact purpose.
    let record = h.saved().verifications[0].clone();
    let number = h.number(A);
    let input = CodeInput::parse(&code, 6).unwrap();
    let matches = |p: &Purpose| {
        Binding {
            id: &id,
            number: &number,
            purpose: p,
        }
        .matches(&h.key, &input, &record.digest)
    };
    assert!(matches(&purpose));
    for other in [
        Purpose::payment("2,500.01", "EUR", "J. Smith").unwrap(),
        Purpose::payment("25,000.00", "EUR", "J. Smith").unwrap(),
        Purpose::payment("2,500.00", "GBP", "J. Smith").unwrap(),
        Purpose::payment("2,500.00", "EUR", "J. Smyth").unwrap(),
        Purpose::reference("2,500.00 EUR to J. Smith").unwrap(),
        Purpose::Unspecified,
    ] {
        assert!(!matches(&other), "{other:?}");
    }
    assert_eq!(
        h.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn s16_code_issued_for_one_payment_fails_for_another() {
    let mut rng = StdRng::seed_from_u64(16);
    let key = DigestKey::generate(&mut rng);
    let id = countersign::verification::VerificationId::generate(&mut rng);
    let n = PhoneNumber::parse_any(A, gb()).unwrap();
    let issued = Purpose::payment("100", "EUR", "Alice").unwrap();
    let code = Code::generate(&mut rng, 8);
    let digest = Binding {
        id: &id,
        number: &n,
        purpose: &issued,
    }
    .digest(&key, &code);
    let input = CodeInput::parse(code.digits(), 8).unwrap();
    let check = |p: &Purpose| {
        Binding {
            id: &id,
            number: &n,
            purpose: p,
        }
        .matches(&key, &input, &digest)
    };
    assert!(check(&issued));
    assert!(!check(&Purpose::payment("1000", "EUR", "Alice").unwrap()));
    assert!(!check(&Purpose::payment("100", "EUR", "Mallory").unwrap()));
}

// ------------------------------------------------- gateway, store, audit

#[test]
fn not_sent_on_gateway_error_destroys_the_digest() {
    let mut h = Harness::new();
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    let code = code_of(&sms);
    assert_eq!(h.saved().verifications.len(), 1);
    let SendRecorded::NotSent(out) = h.refuse(&view.id, GatewayError::Timeout) else {
        panic!("expected NotSent");
    };
    assert_eq!(out.outcome, OutcomeKind::NotSent);
    assert_eq!(out.title.to_string(), "Not sent");
    assert!(
        out.message.to_string().contains("code was destroyed"),
        "{}",
        out.message
    );
    assert!(out.verification.is_none());
    assert!(h.saved().verifications.is_empty(), "entry gone");
    assert!(h.desk.get(&view.id).is_none());
    assert!(matches!(
        h.desk.check(&view.id, &code),
        Err(DeskError::AlreadyEnded(Status::NotSent))
    ));
    let e = h.events().last().unwrap();
    assert_eq!(e.event, EventKind::NotSent);
    assert_eq!(e.detail.as_deref(), Some("gateway_timeout"));
    // A late answer for an ended verification changes nothing.
    assert!(matches!(
        h.desk
            .record_send(&view.id, Err(GatewayError::Timeout))
            .unwrap(),
        SendRecorded::AlreadyEnded
    ));
}

#[test]
fn failed_store_save_leaves_state_unchanged_and_returns_an_error() {
    let mut h = Harness::new();
    // Start: nothing pending, nothing audited.
    h.fail_next_save();
    assert!(matches!(h.start(A), Err(DeskError::Storage(_))));
    assert!(h.desk.list().is_empty());
    assert!(h.events().is_empty());

    let (id, code) = h.start_and_send(A);
    let before = h.saved();
    let view_before = h.desk.get(&id).unwrap();
    let events_before = h.events().len();

    // Wrong code: no try counted in memory or on disk.
    h.fail_next_save();
    assert!(matches!(
        h.desk.check(&id, &wrong(&code)),
        Err(DeskError::Storage(_))
    ));
    assert_eq!(h.desk.get(&id).unwrap(), view_before);
    assert_eq!(h.saved(), before);
    // The right code: not approved while the save fails, still pending.
    h.fail_next_save();
    assert!(matches!(
        h.desk.check(&id, &code),
        Err(DeskError::Storage(_))
    ));
    assert_eq!(h.desk.get(&id).unwrap(), view_before);
    // Cancel and resend likewise.
    h.fail_next_save();
    assert!(h.desk.cancel(&id).is_err());
    h.advance(30);
    h.fail_next_save();
    assert!(h.desk.resend(&id).is_err());
    assert_eq!(h.saved(), before);
    assert_eq!(h.events().len(), events_before, "nothing audited");
    let msg = {
        h.fail_next_save();
        h.desk.cancel(&id).unwrap_err().to_string()
    };
    assert!(msg.contains("Nothing was changed"), "{msg}");
    // Once the store works again, the original code still works.
    assert_eq!(
        h.desk.check(&id, &code).unwrap().outcome,
        OutcomeKind::Approved
    );
}

#[test]
fn audit_records_every_event_without_code_or_full_number() {
    let mut h = Harness::new();
    let mut codes = Vec::new();
    // started, sent, check_failed, resent, sent, approved
    let (v1, c1) = h.start_and_send(A);
    codes.push(c1.clone());
    h.desk.check(&v1, &wrong(&c1)).unwrap();
    h.advance(30);
    let c1b = h.resend_and_send(&v1);
    codes.push(c1b.clone());
    h.desk.check(&v1, &c1b).unwrap();
    // locked
    let (v2, c2) = h.start_and_send(B);
    codes.push(c2.clone());
    for n in 1..=5 {
        h.desk.check(&v2, &wrong_n(&c2, n)).unwrap();
    }
    // cancelled
    let (v3, c3) = h.start_and_send(C);
    codes.push(c3);
    h.desk.cancel(&v3).unwrap();
    // expired
    h.advance(30);
    let (_, c4) = h.start_and_send(A);
    codes.push(c4);
    h.advance(300);
    h.desk.purge().unwrap();
    // not sent
    h.advance(30);
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    codes.push(code_of(&sms));
    h.refuse(&view.id, GatewayError::CannotConnect);

    let kinds = h.event_kinds();
    for k in [
        EventKind::Started,
        EventKind::Sent,
        EventKind::CheckFailed,
        EventKind::Approved,
        EventKind::Locked,
        EventKind::Expired,
        EventKind::Cancelled,
        EventKind::Resent,
        EventKind::NotSent,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    let sent = h
        .events()
        .iter()
        .find(|e| e.event == EventKind::Sent)
        .unwrap();
    assert!(sent.gateway_sid.as_deref().unwrap().starts_with("SM"));
    for e in h.events() {
        let text = serde_json::to_string(e).unwrap();
        for code in &codes {
            assert!(!text.contains(code.as_str()), "code in audit: {text}");
        }
        for digits in ["447400123456", "447400123457", "447400123458", "7400123456"] {
            assert!(!text.contains(digits), "full number in audit: {text}");
        }
        assert!(e.masked_number.as_deref().unwrap().starts_with("+44 •••• "));
        assert_eq!(e.operator.as_deref(), Some("Sam Teller"));
        assert!(e.verification.is_some() && e.number_id.is_some());
    }
    // The audit shows events in the order they happened, with UTC times.
    assert!(h.events().windows(2).all(|w| w[0].at <= w[1].at));
}

// ---------------------------------------------------------------- S23

#[test]
fn s23_no_code_is_made_when_no_gateway_can_take_the_message() {
    let mut h = Harness::new();
    h.desk
        .set_sending(Sending::Unavailable("the IT policy file is broken.".into()));
    for _ in 0..2 {
        // Refused again, never "already pending": no code was left behind.
        match h.start(A) {
            Err(e @ DeskError::NoGateway(_)) => {
                assert_eq!(e.kind(), "gateway_unavailable");
                assert!(e.to_string().contains("No code was made"), "{e}");
            }
            other => panic!("expected NoGateway, got {other:?}"),
        }
    }
    assert!(h.saved().verifications.is_empty());
    assert!(h.desk.list().is_empty());
    let audited = h.events().last().unwrap();
    assert_eq!(audited.event, EventKind::NotSent);
    assert_eq!(audited.outcome.as_deref(), Some("not-sent"));
    assert_eq!(
        audited.detail.as_deref(),
        Some("no gateway: the IT policy file is broken.")
    );
    assert!(audited.number_id.is_some() && audited.masked_number.is_some());
    // Once a gateway is back, the same number starts normally.
    h.desk.set_sending(Sending::Via(GatewayMode::Demo));
    assert!(matches!(h.start(A), Ok(Started::New { .. })));
}

#[test]
fn s23_resend_without_a_gateway_leaves_the_sent_code_as_it_was() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.advance(31);
    h.desk.set_sending(Sending::Unavailable("no token".into()));
    assert!(matches!(h.desk.resend(&id), Err(DeskError::NoGateway(_))));
    let outcome = h.desk.check(&id, &code).unwrap();
    assert_eq!(outcome.outcome, OutcomeKind::Approved);
}

fn deliver(
    h: &mut Harness,
    id: &countersign::verification::VerificationId,
    status: DeliveryStatus,
) -> Option<DeliveryRecorded> {
    let sid = match h.desk.document().verifications.iter().find(|v| &v.id == id) {
        Some(v) => v.delivery.sid().cloned().expect("accepted"),
        None => panic!("not pending"),
    };
    h.desk.record_delivery(id, &sid, status).unwrap()
}

#[test]
fn s23_a_failed_or_undelivered_report_ends_the_verification_and_destroys_its_code() {
    for (status, words) in [
        (
            DeliveryStatus::Failed {
                error: Some(MessageError(30003)),
            },
            "Unreachable destination handset",
        ),
        (
            DeliveryStatus::Undelivered {
                error: Some(MessageError(30005)),
            },
            "Unknown destination handset",
        ),
    ] {
        let mut h = Harness::new();
        let (id, code) = h.start_and_send(A);
        assert!(matches!(
            deliver(&mut h, &id, DeliveryStatus::Sent),
            Some(DeliveryRecorded::Changed(_))
        ));
        let outcome = match deliver(&mut h, &id, status) {
            Some(DeliveryRecorded::Ended(o)) => o,
            other => panic!("expected the verification to end, got {other:?}"),
        };
        assert_eq!(outcome.outcome, OutcomeKind::NotSent);
        assert!(
            outcome.message.to_string().contains(words),
            "{}",
            outcome.message
        );
        assert!(
            outcome.message.to_string().contains("send a new code"),
            "{}",
            outcome.message
        );
        assert!(h.saved().verifications.is_empty(), "digest destroyed");
        assert!(matches!(
            h.desk.check(&id, &code),
            Err(DeskError::AlreadyEnded(Status::NotSent))
        ));
        let audited = h.events().last().unwrap();
        assert_eq!(audited.event, EventKind::NotSent);
        assert!(
            audited
                .detail
                .as_deref()
                .unwrap()
                .starts_with("delivery_failed: "),
            "{:?}",
            audited.detail
        );
        assert_eq!(
            audited.delivery.as_deref(),
            Some(if words.starts_with("Unreachable") {
                "failed"
            } else {
                "undelivered"
            })
        );
    }
}

#[test]
fn s23_a_send_answer_that_already_says_failed_ends_the_verification() {
    let mut h = Harness::new();
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    let receipt = countersign::gateway::SendReceipt {
        sid: countersign::gateway::MessageSid::parse("SM0123456789abcdef").unwrap(),
        status: DeliveryStatus::Failed {
            error: Some(MessageError(30003)),
        },
    };
    let outcome = match h.desk.record_send(&view.id, Ok(receipt)).unwrap() {
        SendRecorded::NotSent(o) => o,
        other => panic!("expected NotSent, got {other:?}"),
    };
    assert!(
        outcome
            .message
            .to_string()
            .contains("did not reach the phone"),
        "{}",
        outcome.message
    );
    assert!(h.saved().verifications.is_empty());
    assert!(matches!(
        h.desk.check(&view.id, &code_of(&sms)),
        Err(DeskError::AlreadyEnded(Status::NotSent))
    ));
    // The gateway took it: it counts as a send.
    assert!(matches!(h.start(A), Err(DeskError::Cooldown { .. })));
}

#[test]
fn s8_a_send_that_lands_after_a_cancel_still_counts_and_is_audited() {
    let mut h = Harness::new();
    // Cancel while the SMS is on its way, then the gateway accepts it.
    let (view, _) = h.start_new(A, Purpose::Unspecified);
    h.desk.cancel(&view.id).unwrap();
    assert!(matches!(
        h.accept_late(&view.id),
        SendRecorded::AlreadyEnded
    ));
    assert!(matches!(h.start(A), Err(DeskError::Cooldown { .. })));
    let sent = h.events().last().unwrap();
    assert_eq!(sent.event, EventKind::Sent);
    assert_eq!(sent.verification.as_deref(), Some(view.id.as_str()));
    assert!(sent.gateway_sid.is_some() && sent.number_id.is_some());
    // A refusal after a cancel is no send.
    h.advance(31);
    let (view, _) = h.start_new(B, Purpose::Unspecified);
    h.desk.cancel(&view.id).unwrap();
    h.refuse(&view.id, GatewayError::CannotConnect);
    h.advance(1);
    assert!(matches!(h.start(B), Ok(Started::New { .. })));
}

#[test]
fn s23_a_send_that_timed_out_counts_towards_the_pace_and_cap() {
    let mut h = Harness::new();
    let (view, _) = h.start_new(A, Purpose::Unspecified);
    h.refuse(&view.id, GatewayError::Timeout);
    // The SMS may still arrive: the number waits like after any send.
    assert!(matches!(h.start(A), Err(DeskError::Cooldown { .. })));
    // Five unknown fates fill the cap as five sends would.
    for _ in 0..4 {
        h.advance(31);
        let (view, _) = h.start_new(A, Purpose::Unspecified);
        h.refuse(&view.id, GatewayError::ConnectionDropped);
    }
    h.advance(31);
    assert!(matches!(h.start(A), Err(DeskError::SendLimit { .. })));
}

#[test]
fn s23_a_test_sms_takes_its_send_slot_before_it_is_sent() {
    let mut h = Harness::new();
    let number = h.number(A);
    h.desk.reserve_test_sms(&number).unwrap();
    // The first is still on its way (or failed): a second click waits.
    assert!(matches!(
        h.desk.reserve_test_sms(&number),
        Err(DeskError::Cooldown { .. })
    ));
    assert_eq!(h.saved().numbers.values().next().unwrap().sends.len(), 1);
    h.advance(31);
    h.desk
        .set_sending(Sending::Unavailable("no gateway".into()));
    assert!(matches!(
        h.desk.reserve_test_sms(&number),
        Err(DeskError::NoGateway(_))
    ));
}

// ---------------------------------------------------------------- S22 (records)

#[test]
fn s22_send_and_outcome_records_carry_the_gateway_mode() {
    let mut h = Harness::new();
    h.desk.set_sending(Sending::Via(GatewayMode::Restcomm));
    let (id, code) = h.start_and_send(A);
    h.desk.check(&id, &code).unwrap();
    for kind in [EventKind::Started, EventKind::Sent, EventKind::Approved] {
        let e = h.events().iter().find(|e| e.event == kind).unwrap();
        assert_eq!(e.gateway_mode.as_deref(), Some("restcomm"), "{kind:?}");
    }
    // Demo sends say so, too: a trail shows which approvals had a phone.
    h.desk.set_sending(Sending::Via(GatewayMode::Demo));
    let (id, _) = h.start_and_send(B);
    h.desk.cancel(&id).unwrap();
    let e = h.events().last().unwrap();
    assert_eq!(
        (e.event, e.gateway_mode.as_deref()),
        (EventKind::Cancelled, Some("demo"))
    );
}
