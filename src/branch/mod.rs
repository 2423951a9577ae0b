//! Branch mode: the desks of a branch share their per-number limits (S24).
//!
//! A fraudster refused at one desk must not start again at the next. In
//! branch mode every desk records, in one shared ledger, the sends, wrong
//! codes and pending codes of each number, and asks it before every send.
//! The rules themselves stay here and in [`crate::limits`]: a ledger only
//! keeps the history and makes each decision atomic, reading a number's
//! history under a lock, calling [`decide`], and recording the claim before
//! the lock is released, so two desks racing on one number cannot both
//! pass a cap.
//!
//! Numbers are known to the ledger by a digest under the branch key, which
//! IT provisions for every desk of the branch ([`BranchKey`]); codes, their
//! digests and the numbers themselves never leave the desk.
//!
//! When the ledger cannot be reached a new send is refused (fail closed);
//! checking a code already sent goes on with the desk's own limits.

pub mod forward;
pub mod memory;
pub mod postgres;
pub mod schema;

use std::time::Duration;

use crate::clock::Timestamp;
use crate::keys::{DigestKey, NumberId};
use crate::limits::{self, LimitRefusal, NumberLimits};
use crate::phone::PhoneNumber;
use crate::verification::VerificationId;

/// The key that names numbers across the branch: the same at every desk,
/// apart from each desk's own key for codes (which never leaves the desk).
#[derive(Clone, Debug)]
pub struct BranchKey(DigestKey);

impl BranchKey {
    pub fn new(key: DigestKey) -> Self {
        Self(key)
    }

    /// A number's name in the ledger.
    pub fn number_id(&self, number: &PhoneNumber) -> NumberId {
        self.0.number_id(number)
    }
}

/// A desk as the ledger knows it: the database role it signs in with, which
/// IT creates, so a desk cannot speak for another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeskName(String);

impl DeskName {
    /// A role name as PostgreSQL allows it unquoted and as IT would type it:
    /// 1 to 63 lowercase letters, digits and `_`, starting with a letter.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=63).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    /// For a desk whose configured name cannot be read.
    pub fn unknown() -> Self {
        Self("unknown_desk".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeskName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What makes a desk part of a branch: the key numbers are known by across
/// the branch, and the ledger that holds their history.
pub struct Branch {
    pub key: BranchKey,
    pub ledger: Box<dyn BranchLedger>,
}

impl Branch {
    /// A branch the desk must be in but cannot reach by configuration (a
    /// key file that cannot be read, say): every send is refused with
    /// `reason`, as when the database is away, so the desk fails closed.
    pub fn unusable(desk: DeskName, reason: String) -> Self {
        let key = DigestKey::generate(&mut rand::rngs::OsRng);
        Self {
            key: BranchKey::new(key),
            ledger: Box::new(Refusing { desk, reason }),
        }
    }
}

struct Refusing {
    desk: DeskName,
    reason: String,
}

impl BranchLedger for Refusing {
    fn claim_send(&mut self, _: &SendClaim) -> Result<(), BranchRefusal> {
        Err(BranchRefusal::Unreachable(self.reason.clone()))
    }

    fn record_failure(
        &mut self,
        _: &NumberId,
        _: &VerificationId,
        _: Timestamp,
    ) -> Result<usize, Unreachable> {
        Err(Unreachable(self.reason.clone()))
    }

    fn release(
        &mut self,
        _: &NumberId,
        _: &VerificationId,
        _: Timestamp,
    ) -> Result<(), Unreachable> {
        Err(Unreachable(self.reason.clone()))
    }

    fn desk(&self) -> &DeskName {
        &self.desk
    }
}

/// What a desk asks for before an SMS leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimKind {
    /// A new verification: S5, S6 and S8 with its pause.
    New,
    /// A new code for a verification this desk holds: S8's cap (its own
    /// pause is the desk's to check).
    Resend,
    /// A test SMS from settings, with no code: S5 and S8.
    Test,
}

/// A request for a send slot, and for a new or resent code the claim that
/// the number has a code pending here until `expires_at`.
#[derive(Clone, Debug)]
pub struct SendClaim {
    pub number: NumberId,
    pub verification: Option<VerificationId>,
    pub kind: ClaimKind,
    pub limits: NumberLimits,
    /// How long the code will be valid: a claim lapses on its own, so a
    /// desk that dies holding one cannot block the number for ever.
    pub validity: Duration,
    /// The desk's time; a ledger that keeps its own clock uses that instead.
    pub at: Timestamp,
}

/// A number's recent history across the branch, as a ledger read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberEvents {
    pub sends: Vec<Timestamp>,
    pub failures: Vec<Timestamp>,
    pub claims: Vec<Claim>,
    /// Verifications that ended, whose claims no longer hold.
    pub released: Vec<Released>,
}

/// An end a desk told the branch of. Only the desk that holds a claim can
/// release it: another desk's role may add a release row in its own name,
/// and it must not free the number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    pub desk: DeskName,
    pub verification: VerificationId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub desk: DeskName,
    pub verification: VerificationId,
    pub expires_at: Timestamp,
}

impl NumberEvents {
    /// The other desk holding a code for this number now: a claim neither
    /// lapsed nor released by the desk that made it. `me`'s own claims are
    /// left to its own S6 check, which knows which of them are live (a
    /// claim whose send the desk then refused holds nothing there).
    pub fn pending_elsewhere(&self, me: &DeskName, now: Timestamp) -> Option<&DeskName> {
        self.claims
            .iter()
            .filter(|c| c.desk != *me && c.expires_at > now)
            .find(|c| {
                !self
                    .released
                    .iter()
                    .any(|r| r.desk == c.desk && r.verification == c.verification)
            })
            .map(|c| &c.desk)
    }
}

/// Why the branch refused a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchRefusal {
    Limit(LimitRefusal),
    /// S6 across desks: the number has a code pending at `desk`.
    PendingElsewhere {
        desk: DeskName,
    },
    /// The ledger could not be asked: no send without it.
    Unreachable(String),
}

/// The ledger could not record something (a wrong code, an end).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the branch store cannot be reached ({0})")]
pub struct Unreachable(pub String);

/// The one decision a ledger makes under its lock, on a number's history
/// across the branch at `now`, for desk `me`.
pub fn decide(
    events: &NumberEvents,
    claim: &SendClaim,
    me: &DeskName,
    now: Timestamp,
) -> Result<(), BranchRefusal> {
    if claim.kind == ClaimKind::New {
        if let Some(desk) = events.pending_elsewhere(me, now) {
            return Err(BranchRefusal::PendingElsewhere { desk: desk.clone() });
        }
    }
    if claim.kind != ClaimKind::Resend {
        if let Some(r) = limits::blocked(&events.failures, claim.limits.failures_per_hour, now) {
            return Err(BranchRefusal::Limit(r));
        }
    }
    let resending = claim.kind == ClaimKind::Resend;
    match limits::send_refusal(&events.sends, &claim.limits, resending, now) {
        Some(r) => Err(BranchRefusal::Limit(r)),
        None => Ok(()),
    }
}

/// Where a branch keeps what its desks did to each number. Every method
/// is one atomic step; none may be retried by the caller on its own.
pub trait BranchLedger: Send {
    /// Decides `claim` with [`decide`] and, when it passes, records the
    /// send (and the pending claim) before any other desk can decide on
    /// the same number.
    fn claim_send(&mut self, claim: &SendClaim) -> Result<(), BranchRefusal>;

    /// Records a wrong code and returns how many the number has had within
    /// the hour across the branch, this one included (S5).
    fn record_failure(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<usize, Unreachable>;

    /// The verification ended: its claim no longer holds.
    fn release(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<(), Unreachable>;

    /// The desk's name in the ledger.
    fn desk(&self) -> &DeskName;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    fn vid(n: u8) -> VerificationId {
        let last = char::from(b'b' + n);
        VerificationId::parse(&format!("{}{last}", "a".repeat(19))).expect("an id's alphabet")
    }

    fn claim(kind: ClaimKind, verification: u8) -> SendClaim {
        SendClaim {
            number: NumberId::parse(&"a".repeat(64)).expect("64 hex digits"),
            verification: Some(vid(verification)),
            kind,
            limits: NumberLimits {
                failures_per_hour: 10,
                sends_per_window: 5,
                send_window: Duration::from_secs(600),
                cooldown: Duration::from_secs(30),
            },
            validity: Duration::from_secs(300),
            at: at(0),
        }
    }

    fn desk(name: &str) -> DeskName {
        DeskName::parse(name).expect("a role name")
    }

    #[test]
    fn a_code_pending_at_another_desk_refuses_a_new_one_until_released_or_lapsed() {
        let mut events = NumberEvents {
            claims: vec![Claim {
                desk: desk("desk_a"),
                verification: vid(1),
                expires_at: at(300),
            }],
            ..NumberEvents::default()
        };
        let b = desk("desk_b");
        assert_eq!(
            decide(&events, &claim(ClaimKind::New, 2), &b, at(100)),
            Err(BranchRefusal::PendingElsewhere {
                desk: desk("desk_a")
            })
        );
        assert_eq!(
            decide(&events, &claim(ClaimKind::New, 2), &b, at(300)),
            Ok(())
        );
        assert_eq!(
            decide(&events, &claim(ClaimKind::Test, 2), &b, at(100)),
            Ok(())
        );
        // Desk A's own claim is for desk A's own S6 check to judge.
        assert_eq!(
            decide(&events, &claim(ClaimKind::New, 2), &desk("desk_a"), at(100)),
            Ok(())
        );
        // Desk B cannot free desk A's number by telling of its end.
        events.released.push(Released {
            desk: b.clone(),
            verification: vid(1),
        });
        assert!(decide(&events, &claim(ClaimKind::New, 2), &b, at(100)).is_err());
        events.released.push(Released {
            desk: desk("desk_a"),
            verification: vid(1),
        });
        assert_eq!(
            decide(&events, &claim(ClaimKind::New, 2), &b, at(100)),
            Ok(())
        );
    }

    #[test]
    fn a_resend_is_held_to_the_cap_but_not_to_the_number_pause() {
        let events = NumberEvents {
            sends: vec![at(0)],
            ..NumberEvents::default()
        };
        let me = desk("desk_a");
        assert_eq!(
            decide(&events, &claim(ClaimKind::Resend, 1), &me, at(10)),
            Ok(())
        );
        assert_eq!(
            decide(&events, &claim(ClaimKind::New, 2), &me, at(10)),
            Err(BranchRefusal::Limit(LimitRefusal::Cooldown { seconds: 20 }))
        );
    }

    #[test]
    fn desk_names_are_plain_role_names() {
        assert!(DeskName::parse("desk_01").is_some());
        for bad in [
            "",
            "Desk",
            "1desk",
            "desk-1",
            "desk 1",
            "d\"; drop",
            &"d".repeat(64),
        ] {
            assert!(DeskName::parse(bad).is_none(), "{bad:?}");
        }
    }
}
