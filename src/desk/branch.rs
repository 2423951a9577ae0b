//! The desk in a branch (S24): before an SMS leaves, the branch ledger
//! decides on the number's history across every desk; a wrong code and an
//! ended verification are told to it. The desk's own limits still apply
//! first, so a desk never allows more in a branch than alone.

use rand::{CryptoRng, RngCore};

use super::{Desk, DeskError};
use crate::audit::AuditSink;
use crate::branch::{Branch, BranchRefusal, ClaimKind, DeskName, SendClaim};
use crate::clock::{Clock, Timestamp};
use crate::limits::NumberLimits;
use crate::persist::{Op, PendingStore};
use crate::phone::PhoneNumber;
use crate::verification::VerificationId;

impl<S, A, C, R> Desk<S, A, C, R>
where
    S: PendingStore,
    A: AuditSink,
    C: Clock,
    R: RngCore + CryptoRng + Send,
{
    /// From now on, every send is the branch's to allow.
    pub fn join_branch(&mut self, branch: Branch) {
        self.branch = Some(branch);
    }

    /// The desk's name in its branch, when it is in one.
    pub fn branch_desk(&self) -> Option<&DeskName> {
        self.branch.as_ref().map(|b| b.ledger.desk())
    }

    /// Asks the branch for a send slot for `number`; outside a branch,
    /// always yes. A ledger that cannot be reached is a refusal: no desk
    /// sends on limits it cannot see (fail closed).
    pub(super) fn claim_branch_send(
        &mut self,
        number: &PhoneNumber,
        verification: Option<&VerificationId>,
        kind: ClaimKind,
        now: Timestamp,
    ) -> Result<(), DeskError> {
        let Some(branch) = self.branch.as_mut() else {
            return Ok(());
        };
        let claim = SendClaim {
            number: branch.key.number_id(number),
            verification: verification.cloned(),
            kind,
            limits: NumberLimits::of(&self.parts.policy),
            validity: self.parts.policy.validity(),
            at: now,
        };
        branch
            .ledger
            .claim_send(&claim)
            .map_err(|refusal| match refusal {
                BranchRefusal::Limit(limit) => limit.into(),
                BranchRefusal::PendingElsewhere { desk } => {
                    DeskError::PendingAtDesk(desk.to_string())
                }
                BranchRefusal::Unreachable(detail) => {
                    tracing::warn!(%detail, "branch store unreachable: send refused");
                    DeskError::BranchUnreachable
                }
            })
    }

    /// Tells the branch of a wrong code and returns the number's wrong codes
    /// within the hour across the branch; 0 outside a branch or when the
    /// ledger cannot be reached (the desk's own count still applies).
    pub(super) fn record_branch_failure(
        &mut self,
        number: &PhoneNumber,
        verification: &VerificationId,
        now: Timestamp,
    ) -> usize {
        let Some(branch) = self.branch.as_mut() else {
            return 0;
        };
        let number = branch.key.number_id(number);
        match branch.ledger.record_failure(&number, verification, now) {
            Ok(count) => count,
            Err(e) => {
                tracing::warn!(error = %e, "a wrong code could not be told to the branch");
                0
            }
        }
    }

    /// Frees the number a new verification claimed but could not save.
    pub(super) fn release_unsaved_claim(
        &mut self,
        number: &PhoneNumber,
        id: &VerificationId,
        now: Timestamp,
    ) {
        let Some(branch) = self.branch.as_mut() else {
            return;
        };
        let number = branch.key.number_id(number);
        if let Err(e) = branch.ledger.release(&number, id, now) {
            tracing::warn!(error = %e, "an unsaved verification could not be told to the branch");
        }
    }

    /// Frees the numbers of the verifications `change` ends, at every desk.
    /// An end the ledger does not hear of holds the number until its claim
    /// lapses with the code: stricter, never looser.
    pub(super) fn release_branch_claims(&mut self, change: &[Op], now: Timestamp) {
        let Some(branch) = self.branch.as_mut() else {
            return;
        };
        for op in change {
            let Op::End { id, .. } = op else { continue };
            let Some(v) = self.pending.get(id) else {
                continue;
            };
            let number = branch.key.number_id(&v.number);
            if let Err(e) = branch.ledger.release(&number, id, now) {
                tracing::warn!(error = %e, "an ended verification could not be told to the branch");
            }
        }
    }
}
