//! The branch ledger held in this process: desks given clones of one
//! [`MemoryLedger`] share their limits as desks on one database do. The
//! same [`decide`] under one lock, with no I/O: for the rule tests (which
//! run the branch scenarios on it and on PostgreSQL alike) and for a demo
//! of several desks in one process. It keeps every event it is told of:
//! not for a desk that runs for months.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{
    decide, BranchLedger, BranchRefusal, Claim, ClaimKind, DeskName, NumberEvents, Released,
    SendClaim, Unreachable,
};
use crate::clock::Timestamp;
use crate::keys::NumberId;
use crate::policy::FAILURE_WINDOW;
use crate::verification::VerificationId;

#[derive(Clone)]
pub struct MemoryLedger {
    desk: DeskName,
    numbers: Arc<Mutex<BTreeMap<NumberId, NumberEvents>>>,
}

impl MemoryLedger {
    /// A new branch, as seen from its first desk.
    pub fn new(desk: DeskName) -> Self {
        Self {
            desk,
            numbers: Arc::default(),
        }
    }

    /// The same branch, as seen from another desk.
    pub fn for_desk(&self, desk: DeskName) -> Self {
        Self {
            desk,
            numbers: self.numbers.clone(),
        }
    }

    fn with_number<T>(&self, number: &NumberId, f: impl FnOnce(&mut NumberEvents) -> T) -> T {
        let mut numbers = self.numbers.lock().unwrap_or_else(PoisonError::into_inner);
        f(numbers.entry(number.clone()).or_default())
    }
}

impl BranchLedger for MemoryLedger {
    fn claim_send(&mut self, claim: &SendClaim) -> Result<(), BranchRefusal> {
        let desk = self.desk.clone();
        self.with_number(&claim.number, |events| {
            let now = claim.at;
            decide(events, claim, &desk, now)?;
            events.sends.push(now);
            if let (Some(v), false) = (&claim.verification, claim.kind == ClaimKind::Test) {
                events.claims.push(Claim {
                    desk,
                    verification: v.clone(),
                    expires_at: now.plus(claim.validity),
                });
            }
            Ok(())
        })
    }

    fn record_failure(
        &mut self,
        number: &NumberId,
        _verification: &VerificationId,
        at: Timestamp,
    ) -> Result<usize, Unreachable> {
        Ok(self.with_number(number, |events| {
            events.failures.push(at);
            let cutoff = at.minus(FAILURE_WINDOW);
            events.failures.iter().filter(|t| **t > cutoff).count()
        }))
    }

    fn release(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        _at: Timestamp,
    ) -> Result<(), Unreachable> {
        let desk = self.desk.clone();
        self.with_number(number, |events| {
            events.released.push(Released {
                desk,
                verification: verification.clone(),
            })
        });
        Ok(())
    }

    fn desk(&self) -> &DeskName {
        &self.desk
    }
}
