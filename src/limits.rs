//! The per-number limits, S5 (wrong codes per hour) and S8 (send pace and
//! cap), as pure decisions on a number's history.
//!
//! One place for both stores of that history: the desk's own journal and,
//! in branch mode, the branch database (`crate::branch`), whose ledger
//! reads the number's history under a lock and asks the same questions
//! here before it records anything.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::policy::{Policy, FAILURE_WINDOW};

/// Why a number may not have a code sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitRefusal {
    /// S5: too many wrong codes within the hour.
    Blocked { minutes: u64 },
    /// S8: the cap on sends per window is reached.
    SendLimit { minutes: u64 },
    /// S8: the pause after the last send has not passed.
    Cooldown { seconds: u64 },
}

/// The limits a decision needs, copied out of the policy so that a branch
/// ledger on another thread can be handed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberLimits {
    pub failures_per_hour: u32,
    pub sends_per_window: u32,
    pub send_window: Duration,
    pub cooldown: Duration,
}

impl NumberLimits {
    pub fn of(policy: &Policy) -> Self {
        Self {
            failures_per_hour: policy.number_failures_per_hour(),
            sends_per_window: policy.sends_per_window(),
            send_window: policy.send_window(),
            cooldown: policy.resend_cooldown(),
        }
    }

    /// How far back any rule here looks.
    pub fn horizon(&self) -> Duration {
        self.send_window.max(FAILURE_WINDOW)
    }
}

/// Wrong codes within the hour before `now`.
pub fn recent_failures(failures: &[Timestamp], now: Timestamp) -> usize {
    let cutoff = now.minus(FAILURE_WINDOW);
    failures.iter().filter(|t| **t > cutoff).count()
}

/// S5: blocked while `cap` wrong codes lie within the hour; unblocked when
/// enough of them have aged out.
pub fn blocked(failures: &[Timestamp], cap: u32, now: Timestamp) -> Option<LimitRefusal> {
    let until = nth_newest_within(failures, cap, FAILURE_WINDOW, now)?;
    Some(LimitRefusal::Blocked {
        minutes: now.until(until).as_secs().div_ceil(60).max(1),
    })
}

/// S8: the cap per window, then (for a new verification, not a resend of
/// one whose own pause the caller checks) the pause after the last send to
/// the number: a new verification right after a cancelled one is still a
/// send to the same phone.
pub fn send_refusal(
    sends: &[Timestamp],
    limits: &NumberLimits,
    resending: bool,
    now: Timestamp,
) -> Option<LimitRefusal> {
    if let Some(until) = nth_newest_within(sends, limits.sends_per_window, limits.send_window, now)
    {
        return Some(LimitRefusal::SendLimit {
            minutes: now.until(until).as_secs().div_ceil(60).max(1),
        });
    }
    if resending {
        return None;
    }
    let last = sends
        .iter()
        .filter(|t| **t > now.minus(limits.send_window))
        .max()?;
    let ready = last.plus(limits.cooldown);
    (now < ready).then(|| LimitRefusal::Cooldown {
        seconds: now.until(ready).as_secs().max(1),
    })
}

/// When `cap` or more events lie within `window` before `now`: the time the
/// cap-th newest leaves the window, which is when the limit lifts.
fn nth_newest_within(
    events: &[Timestamp],
    cap: u32,
    window: Duration,
    now: Timestamp,
) -> Option<Timestamp> {
    let cap = cap as usize;
    let mut recent: Vec<Timestamp> = events
        .iter()
        .copied()
        .filter(|t| *t > now.minus(window))
        .collect();
    if recent.len() < cap || cap == 0 {
        return None;
    }
    recent.sort_unstable();
    Some(recent[recent.len() - cap].plus(window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    const LIMITS: NumberLimits = NumberLimits {
        failures_per_hour: 3,
        sends_per_window: 2,
        send_window: Duration::from_secs(600),
        cooldown: Duration::from_secs(30),
    };

    #[test]
    fn blocked_lifts_when_the_oldest_counted_failure_leaves_the_hour() {
        let failures = [at(0), at(100), at(200)];
        assert_eq!(
            blocked(&failures, 3, at(300)),
            Some(LimitRefusal::Blocked { minutes: 55 })
        );
        assert_eq!(blocked(&failures, 3, at(3600)), None);
        assert_eq!(blocked(&failures[..2], 3, at(300)), None);
    }

    #[test]
    fn history_out_of_order_decides_as_if_sorted() {
        let failures = [at(200), at(0), at(100)];
        assert_eq!(
            blocked(&failures, 3, at(300)),
            Some(LimitRefusal::Blocked { minutes: 55 })
        );
    }

    #[test]
    fn cap_then_cooldown_and_a_resend_skips_only_the_cooldown() {
        assert_eq!(
            send_refusal(&[at(0)], &LIMITS, false, at(10)),
            Some(LimitRefusal::Cooldown { seconds: 20 })
        );
        assert_eq!(send_refusal(&[at(0)], &LIMITS, true, at(10)), None);
        assert_eq!(
            send_refusal(&[at(0), at(40)], &LIMITS, true, at(100)),
            Some(LimitRefusal::SendLimit { minutes: 9 })
        );
        assert_eq!(
            send_refusal(&[at(0), at(40)], &LIMITS, false, at(640)),
            None
        );
    }
}
