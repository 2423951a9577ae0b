//! What the audit trail says about the pending state (S21).
//!
//! The audit trail records every send (`sent`; `not_sent` for a failure
//! that may have sent the SMS anyway; `test_sms_sent`, accepted or refused,
//! which takes a send slot), every wrong code (`check_failed`) with the
//! number's keyed digest, and how each verification went. The trail is
//! written after the change it records is durable, so the pending state
//! must show at least everything the trail shows for the windows the rules
//! look at. That gives two uses, both pure functions of the records:
//!
//! - rebuilding the S4/S5/S8 windows when the pending state is set aside
//!   (damaged, edited, deleted): [`AuditHistory::numbers`] and
//!   [`AuditHistory::open_verifications`];
//! - checking an intact-looking state against the trail
//!   ([`AuditHistory::disagreement`]): a journal cut at its end, or the
//!   whole store put back from an older copy, seals correctly but has lost
//!   what the trail still shows.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::audit::{AuditRecord, EventKind};
use crate::clock::Timestamp;
use crate::gateway::GatewayError;
use crate::keys::NumberId;
use crate::persist::{EndedRecord, NumberHistory, ENDED_KEEP};
use crate::verification::{Status, VerificationId, VerificationRecord};

/// How far back the rules look: the S5 hour, the S8 window (60 minutes at
/// most) and the memory of ended verifications. Reading the trail this far
/// back is enough to rebuild everything they use.
pub const RECOVERY_WINDOW: Duration = Duration::from_secs(3600);

/// A test SMS is audited after its HTTP call, its slot taken before: the
/// two times differ by up to the call's length.
const TEST_SMS_SLACK: Duration = Duration::from_secs(300);

/// One send as the trail shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SendSeen {
    pub at: Timestamp,
    /// A test SMS: its slot was taken up to [`TEST_SMS_SLACK`] earlier.
    pub test_sms: bool,
}

/// A verification as the trail shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerificationSeen {
    pub number_id: Option<NumberId>,
    pub masked_number: Option<String>,
    pub operator: Option<String>,
    pub staff_id: Option<String>,
    pub reference: Option<String>,
    /// When its latest code was issued (started or resent).
    pub code_issued_at: Option<Timestamp>,
    /// Wrong codes recorded for it.
    pub failures: u32,
    /// How and when it ended, if it did.
    pub ended: Option<(Status, Timestamp)>,
}

/// Sends, failures and verifications, per number and per verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditHistory {
    pub sends: BTreeMap<NumberId, Vec<SendSeen>>,
    pub failures: BTreeMap<NumberId, Vec<Timestamp>>,
    pub verifications: BTreeMap<VerificationId, VerificationSeen>,
}

fn terminal(kind: EventKind) -> Option<Status> {
    match kind {
        EventKind::Approved => Some(Status::Approved),
        EventKind::Locked => Some(Status::Locked),
        EventKind::Expired => Some(Status::Expired),
        EventKind::Cancelled => Some(Status::Cancelled),
        EventKind::NotSent => Some(Status::NotSent),
        _ => None,
    }
}

impl AuditHistory {
    /// Reads records as [`crate::audit::query`] or [`crate::audit::recent`]
    /// return them, in any order.
    pub fn from_records(records: &[AuditRecord]) -> Self {
        let mut ordered: Vec<&AuditRecord> = records.iter().collect();
        ordered.sort_by_key(|r| (r.event.at, r.seq));
        let mut h = Self::default();
        for r in ordered {
            let e = &r.event;
            let number = e.number_id.as_deref().and_then(NumberId::parse);
            let send = match e.event {
                EventKind::Sent => Some(false),
                EventKind::NotSent => e
                    .detail
                    .as_deref()
                    .is_some_and(GatewayError::kind_may_have_been_sent)
                    .then_some(false),
                EventKind::TestSmsSent => {
                    matches!(e.outcome.as_deref(), Some("accepted" | "refused")).then_some(true)
                }
                _ => None,
            };
            if let (Some(test_sms), Some(n)) = (send, &number) {
                h.sends
                    .entry(n.clone())
                    .or_default()
                    .push(SendSeen { at: e.at, test_sms });
            }
            if let (EventKind::CheckFailed, Some(n)) = (e.event, &number) {
                h.failures.entry(n.clone()).or_default().push(e.at);
            }
            let Some(id) = e.verification.as_deref().and_then(VerificationId::parse) else {
                continue;
            };
            let v = h.verifications.entry(id).or_default();
            if v.number_id.is_none() {
                v.number_id = number;
            }
            for (field, value) in [
                (&mut v.masked_number, &e.masked_number),
                (&mut v.operator, &e.operator),
                (&mut v.staff_id, &e.staff_id),
                (&mut v.reference, &e.reference),
            ] {
                if field.is_none() {
                    field.clone_from(value);
                }
            }
            match e.event {
                EventKind::Started | EventKind::Resent => v.code_issued_at = Some(e.at),
                EventKind::CheckFailed => v.failures = v.failures.saturating_add(1),
                kind => {
                    if let Some(status) = terminal(kind) {
                        v.ended.get_or_insert((status, e.at));
                    }
                }
            }
        }
        h
    }

    /// The S5/S8 histories the trail shows, at or after `since`.
    pub fn numbers(&self, since: Timestamp) -> BTreeMap<NumberId, NumberHistory> {
        let mut out: BTreeMap<NumberId, NumberHistory> = BTreeMap::new();
        for (n, sends) in &self.sends {
            let kept: Vec<Timestamp> = sends.iter().map(|s| s.at).filter(|t| *t >= since).collect();
            if !kept.is_empty() {
                out.entry(n.clone()).or_default().sends = kept;
            }
        }
        for (n, failures) in &self.failures {
            let kept: Vec<Timestamp> = failures.iter().copied().filter(|t| *t >= since).collect();
            if !kept.is_empty() {
                out.entry(n.clone()).or_default().failures = kept;
            }
        }
        out
    }

    /// Verifications the trail shows as started and not ended: a set-aside
    /// state may have held them, and they can no longer be checked.
    pub fn open_verifications(&self) -> Vec<(VerificationId, VerificationSeen)> {
        self.verifications
            .iter()
            .filter(|(_, v)| v.ended.is_none())
            .map(|(id, v)| (id.clone(), v.clone()))
            .collect()
    }

    /// Ended records the trail shows at or after `since`, oldest first, at
    /// most [`ENDED_KEEP`]: a late click then gets "already approved".
    pub fn ended(&self, since: Timestamp) -> Vec<EndedRecord> {
        let mut out: Vec<EndedRecord> = self
            .verifications
            .iter()
            .filter_map(|(id, v)| {
                v.ended
                    .filter(|(_, at)| *at >= since)
                    .map(|(status, at)| EndedRecord {
                        id: id.clone(),
                        status,
                        at,
                    })
            })
            .collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        let excess = out.len().saturating_sub(ENDED_KEEP);
        out.drain(..excess);
        out
    }

    /// The first thing the trail shows that `state` has lost, if any.
    /// `sends_since` and `failures_since`: the state may have forgotten
    /// history before these (purge), so older records are not compared.
    pub fn disagreement<'a>(
        &self,
        pending: impl Iterator<Item = &'a VerificationRecord>,
        numbers: &BTreeMap<NumberId, NumberHistory>,
        sends_since: Timestamp,
        failures_since: Timestamp,
    ) -> Option<String> {
        for (n, seen) in &self.sends {
            let kept = numbers.get(n).map_or(&[][..], |h| &h.sends[..]);
            let mut left: Vec<Timestamp> = kept.to_vec();
            left.sort();
            let mut missing = 0;
            for s in seen.iter().filter(|s| s.at > sends_since) {
                let slack = if s.test_sms {
                    TEST_SMS_SLACK
                } else {
                    Duration::ZERO
                };
                let earliest = s.at.minus(slack);
                match left.iter().position(|t| *t >= earliest && *t <= s.at) {
                    Some(i) => {
                        left.remove(i);
                    }
                    None => missing += 1,
                }
            }
            if missing > 0 {
                return Some(format!(
                    "{missing} send(s) to a number are in the audit trail but not in the pending state"
                ));
            }
        }
        for (n, seen) in &self.failures {
            let mut left: Vec<Timestamp> =
                numbers.get(n).map_or(Vec::new(), |h| h.failures.clone());
            let mut missing = 0;
            for at in seen.iter().filter(|t| **t > failures_since) {
                match left.iter().position(|t| t == at) {
                    Some(i) => {
                        left.swap_remove(i);
                    }
                    None => missing += 1,
                }
            }
            if missing > 0 {
                return Some(format!(
                    "{missing} wrong code(s) for a number are in the audit trail but not in the pending state"
                ));
            }
        }
        for r in pending {
            let Some(seen) = self.verifications.get(&r.id) else {
                continue;
            };
            let short = r.id.short_reference();
            if let Some((status, _)) = seen.ended {
                return Some(format!(
                    "verification {short} ended ({}) in the audit trail but is pending",
                    status.as_str()
                ));
            }
            if seen.code_issued_at.is_some_and(|t| t > r.code_issued_at) {
                return Some(format!(
                    "verification {short} had a newer code in the audit trail"
                ));
            }
            if seen.failures > r.failed_attempts {
                return Some(format!(
                    "verification {short} has {} wrong code(s) in the audit trail, {} in the pending state",
                    seen.failures, r.failed_attempts
                ));
            }
        }
        None
    }
}
