//! The engine: every rule of a desk verification, in one place.
//!
//! The desk starts verifications, records what the gateway did with each
//! SMS, checks codes, resends, cancels and expires. It owns no I/O of its
//! own: the clock, the randomness, the store and the audit sink are given to
//! it, so every rule runs in tests in microseconds without sleeping.
//!
//! Sending is split in two so the engine stays synchronous: [`Desk::start`]
//! (or [`Desk::resend`]) returns the SMS to send, the caller sends it, and
//! [`Desk::record_send`] takes the gateway's answer. Every change is decided
//! as data (a list of [`Op`]s), handed to the store, and applied to the
//! in-memory state only once the store has made it durable: if the save
//! fails, nothing was applied and the caller gets the error. A change costs
//! the same whatever the number of pending verifications.

use std::collections::{BTreeMap, BTreeSet};

use rand::{CryptoRng, RngCore};
use secrecy::SecretString;

use crate::audit::{AuditEvent, AuditOutcome, AuditSink, EventKind};
use crate::branch::ClaimKind;
use crate::clock::{Clock, Timestamp};
use crate::code::{Binding, Code, CodeInput};
use crate::gateway::{DeliveryStatus, GatewayError, GatewayMode, OutboundSms, SendReceipt};
use crate::keys::{DigestKey, NumberId};
use crate::language::Language;
use crate::limits::{self, NumberLimits};
use crate::persist::{
    apply_history, EndedRecord, NumberHistory, Op, PendingDocument, PendingStore,
};
use crate::phone::{PhoneError, PhoneNumber};
use crate::policy::{Policy, FAILURE_WINDOW};
use crate::purpose::Purpose;
use crate::sms::{purpose_display, Fill};
use crate::templates::MessageTemplates;
use crate::verification::{
    Delivery, DeliveryView, Operator, Status, Verification, VerificationId, VerificationRecord,
    VerificationView,
};

mod branch;
mod error;
mod outcome;

pub use error::DeskError;
pub use outcome::{NotSentReason, Outcome, OutcomeKind};

/// How long an ended verification is remembered for precise late answers.
pub const ENDED_MEMORY: std::time::Duration = std::time::Duration::from_secs(3600);

/// What a start did.
#[derive(Debug)]
pub enum Started {
    /// A new verification; send `sms` and report with [`Desk::record_send`].
    New {
        view: VerificationView,
        sms: OutboundSms,
    },
    /// The number already has a pending verification (S6): nothing to send.
    AlreadyPending { view: VerificationView },
}

/// A new code to send for an existing verification.
#[derive(Debug)]
pub struct Resent {
    pub view: VerificationView,
    pub sms: OutboundSms,
}

/// What recording a send did.
#[derive(Debug)]
pub enum SendRecorded {
    Accepted(VerificationView),
    /// The gateway refused or never answered: the verification ended.
    NotSent(Outcome),
    /// The verification ended while its SMS was on its way.
    AlreadyEnded,
}

/// What recording a delivery report did.
#[derive(Debug)]
pub enum DeliveryRecorded {
    /// A new status for a verification still pending.
    Changed(VerificationView),
    /// A final failure (failed, undelivered): the verification ended (S23).
    Ended(Outcome),
}

/// Whether the shell has a gateway to send with, as the engine must know
/// it: no code is made for an SMS that cannot leave (S23), and every record
/// says which kind of gateway its SMS went through (S22).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sending {
    Via(GatewayMode),
    /// Why no SMS can be sent (a policy error, a missing token…).
    Unavailable(String),
}

/// A document the desk could not open, with the parts handed back.
pub type Refused<S, A, C, R> = (DeskError, Parts<S, A, C, R>);

/// The parts the engine is given.
pub struct Parts<S, A, C, R> {
    pub policy: Policy,
    pub templates: MessageTemplates,
    pub key: DigestKey,
    pub store: S,
    pub audit: A,
    pub clock: C,
    pub rng: R,
}

/// Shown in test failures; the key and the rest stay out of it.
impl<S, A, C, R> std::fmt::Debug for Parts<S, A, C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Oldest {
    failure: Option<Timestamp>,
    send: Option<Timestamp>,
}

impl Oldest {
    fn of(numbers: &BTreeMap<NumberId, NumberHistory>) -> Self {
        let min = |f: fn(&NumberHistory) -> &Vec<Timestamp>| {
            numbers
                .values()
                .filter_map(|h| f(h).iter().min())
                .min()
                .copied()
        };
        Self {
            failure: min(|h| &h.failures),
            send: min(|h| &h.sends),
        }
    }
}

pub struct Desk<S, A, C, R> {
    parts: Parts<S, A, C, R>,
    pending: BTreeMap<VerificationId, Verification>,
    /// Pending verifications by number (S6) and by expiry (purge), so
    /// neither scans every entry.
    by_number: BTreeMap<NumberId, BTreeSet<VerificationId>>,
    by_expiry: BTreeSet<(Timestamp, VerificationId)>,
    /// The oldest wrong code and send in `numbers`, so that finding out
    /// whether there is history to forget does not read every number.
    oldest: Oldest,
    numbers: BTreeMap<NumberId, NumberHistory>,
    ended: Vec<EndedRecord>,
    audit_failures: u64,
    /// Verifications whose SMS this process handed out and whose gateway
    /// answer has not been recorded yet.
    /// The number each is for: a send that lands after its verification
    /// ended (cancelled meanwhile) still counts towards S8.
    in_flight: BTreeMap<VerificationId, NumberId>,
    /// Tests and tools send through the emulator until told otherwise.
    sending: Sending,
    /// In branch mode, where the branch's limits are decided (S24).
    branch: Option<crate::branch::Branch>,
}

impl<S, A, C, R> Desk<S, A, C, R>
where
    S: PendingStore,
    A: AuditSink,
    C: Clock,
    R: RngCore + CryptoRng + Send,
{
    /// Builds the desk from a loaded document. Entries whose number does not
    /// open with this key are an error, and the parts come back with it so
    /// the caller can quarantine the file and start empty.
    #[allow(clippy::result_large_err)]
    pub fn new(
        parts: Parts<S, A, C, R>,
        doc: PendingDocument,
    ) -> Result<Self, Refused<S, A, C, R>> {
        let mut pending = BTreeMap::new();
        for record in doc.verifications {
            match parts.key.open(&record.sealed_number, record.region) {
                Ok(number) => pending.insert(record.id.clone(), Verification { record, number }),
                Err(e) => return Err((DeskError::UnreadableEntry(e.to_string()), parts)),
            };
        }
        let mut desk = Self {
            parts,
            pending: BTreeMap::new(),
            by_number: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            oldest: Oldest::of(&doc.numbers),
            numbers: doc.numbers,
            ended: doc.ended,
            audit_failures: 0,
            in_flight: Default::default(),
            sending: Sending::Via(GatewayMode::Demo),
            branch: None,
        };
        for v in pending.into_values() {
            desk.insert_pending(v);
        }
        Ok(desk)
    }

    /// Adds or replaces a pending verification, with its index entries.
    fn insert_pending(&mut self, v: Verification) {
        self.remove_pending(&v.record.id);
        let (id, r) = (v.record.id.clone(), &v.record);
        self.by_number
            .entry(r.number_id.clone())
            .or_default()
            .insert(id.clone());
        self.by_expiry.insert((r.expires_at, id.clone()));
        self.pending.insert(id, v);
    }

    fn remove_pending(&mut self, id: &VerificationId) -> Option<Verification> {
        let old = self.pending.remove(id)?;
        self.unindex(&old.record);
        Some(old)
    }

    fn unindex(&mut self, r: &VerificationRecord) {
        self.by_expiry.remove(&(r.expires_at, r.id.clone()));
        if let Some(ids) = self.by_number.get_mut(&r.number_id) {
            ids.remove(&r.id);
            if ids.is_empty() {
                self.by_number.remove(&r.number_id);
            }
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.parts.policy
    }

    pub fn templates(&self) -> &MessageTemplates {
        &self.parts.templates
    }

    /// Takes new settings. Pending verifications keep their code, language
    /// and expiry; the new limits apply to what happens next (a lower try
    /// cap, say, locks at the next wrong code).
    pub fn reconfigure(&mut self, policy: Policy, templates: MessageTemplates) {
        self.parts.policy = policy;
        self.parts.templates = templates;
    }

    /// Tells the engine which gateway the shell now sends with, or why
    /// there is none.
    pub fn set_sending(&mut self, sending: Sending) {
        self.sending = sending;
    }

    pub fn sending(&self) -> &Sending {
        &self.sending
    }

    /// The gateway in use, or the refusal to make a code no SMS can carry.
    /// The refusal is audited as `not_sent` with its reason.
    fn gateway_mode_or_refuse(
        &mut self,
        number: &PhoneNumber,
        number_id: &NumberId,
        operator: &Operator,
        now: Timestamp,
    ) -> Result<GatewayMode, DeskError> {
        match &self.sending {
            Sending::Via(mode) => Ok(*mode),
            Sending::Unavailable(why) => {
                let why = why.clone();
                self.audit(AuditEvent::not_sent(now, operator, number, number_id, &why));
                Err(DeskError::NoGateway(why))
            }
        }
    }

    /// The keyed digest a number is known by in counters and the audit log,
    /// so a typed number can be looked up without being stored.
    pub fn number_id(&self, number: &PhoneNumber) -> NumberId {
        self.parts.key.number_id(number)
    }

    pub fn now(&self) -> Timestamp {
        self.parts.clock.now()
    }

    /// Audit writes that failed since start (each was logged).
    pub fn audit_failures(&self) -> u64 {
        self.audit_failures
    }

    pub fn store(&self) -> &S {
        &self.parts.store
    }

    pub fn audit_sink(&self) -> &A {
        &self.parts.audit
    }

    pub fn audit_sink_mut(&mut self) -> &mut A {
        &mut self.parts.audit
    }

    /// Starts a verification in the default language.
    pub fn start(
        &mut self,
        number: PhoneNumber,
        purpose: Purpose,
        operator: Operator,
    ) -> Result<Started, DeskError> {
        let language = self.parts.templates.default_language();
        self.start_in(number, purpose, operator, language)
    }

    /// Starts a verification for `number` with its SMS in `language`, or
    /// returns the one already pending.
    pub fn start_in(
        &mut self,
        number: PhoneNumber,
        purpose: Purpose,
        operator: Operator,
        language: Language,
    ) -> Result<Started, DeskError> {
        self.refuse_if_country_not_allowed(&number)?;
        self.purge()?;
        let now = self.now();
        let number_id = self.parts.key.number_id(&number);
        let existing = self
            .by_number
            .get(&number_id)
            .and_then(|ids| ids.iter().next())
            .and_then(|id| self.pending.get(id));
        if let Some(existing) = existing {
            return Ok(Started::AlreadyPending {
                view: self.view(existing, now),
            });
        }
        self.refuse_if_blocked(&number_id, now)?;
        self.refuse_if_send_limited(&number_id, None, now)?;
        let gateway_mode = self.gateway_mode_or_refuse(&number, &number_id, &operator, now)?;

        let id = VerificationId::generate(&mut self.parts.rng);
        self.claim_branch_send(&number, Some(&id), ClaimKind::New, now)?;
        let code = Code::generate(&mut self.parts.rng, self.parts.policy.code_length());
        let body = self.render(&code, &purpose, &id, language)?;
        let binding = Binding {
            id: &id,
            number: &number,
            purpose: &purpose,
        };
        let record = VerificationRecord {
            digest: binding.digest(&self.parts.key, &code),
            sealed_number: self.parts.key.seal(&number, &mut self.parts.rng),
            id: id.clone(),
            number_id,
            region: number.region(),
            masked_number: number.masked(),
            purpose,
            operator,
            created_at: now,
            code_issued_at: now,
            expires_at: now.plus(self.parts.policy.validity()),
            failed_attempts: 0,
            delivery: Delivery::AwaitingGateway,
            language,
            code_length: code.digits().len() as u8,
            gateway_mode: Some(gateway_mode),
        };
        let op = Op::put(record.clone());
        let v = Verification {
            record,
            number: number.clone(),
        };
        if let Err(e) = self.commit(vec![op], Some(v)) {
            // Not saved here, so nothing is pending here: free the number
            // at the other desks rather than hold it until the claim lapses.
            self.release_unsaved_claim(&number, &id, now);
            return Err(e);
        }
        let v = &self.pending[&id];
        let (event, view) = (self.event(EventKind::Started, v, now), self.view(v, now));
        self.audit(event);
        let number_id = self.pending[&id].record.number_id.clone();
        self.in_flight.insert(id, number_id);
        Ok(Started::New {
            view,
            sms: OutboundSms { to: number, body },
        })
    }

    /// Takes the gateway's answer for the latest SMS of `id`.
    pub fn record_send(
        &mut self,
        id: &VerificationId,
        result: Result<SendReceipt, GatewayError>,
    ) -> Result<SendRecorded, DeskError> {
        let now = self.now();
        let in_flight_for = self.in_flight.remove(id);
        let Some(v) = self.pending.get(id) else {
            // Ended (cancelled, say) while its SMS was on its way: the code
            // is gone, but an SMS that left, or may have, is still a send to
            // that phone (S8), and the trail says so.
            let sent = match &result {
                Ok(_) => true,
                Err(e) => e.may_have_been_sent(),
            };
            if let (true, Some(number_id)) = (sent, in_flight_for) {
                let op = Op::Send {
                    number: number_id.clone(),
                    at: now,
                };
                self.commit(vec![op], None)?;
                let mode = match &self.sending {
                    Sending::Via(mode) => Some(*mode),
                    Sending::Unavailable(_) => None,
                };
                let sid = result.as_ref().ok().map(|r| r.sid.to_string());
                self.audit(AuditEvent::sent_after_end(now, id, &number_id, sid, mode));
            }
            return Ok(SendRecorded::AlreadyEnded);
        };
        let number_id = v.record.number_id.clone();
        // An answer that already says the message failed is the end of it,
        // as a delivery report would be (S23).
        if let Ok(SendReceipt {
            status: status @ (DeliveryStatus::Failed { .. } | DeliveryStatus::Undelivered { .. }),
            sid,
        }) = &result
        {
            let mut ended = v.clone();
            ended.record.delivery = Delivery::Accepted {
                sid: sid.clone(),
                status: status.clone(),
            };
            let ops = vec![
                Op::Send {
                    number: number_id,
                    at: now,
                },
                Op::End {
                    id: id.clone(),
                    status: Status::NotSent,
                    at: now,
                },
            ];
            self.commit(ops, None)?;
            // The gateway took it (a send, as the trail must show for the
            // S8 windows read back from it), then reported it failed.
            let mut sent = self.event(EventKind::Sent, &ended, now);
            sent.gateway_sid = Some(sid.to_string());
            self.audit(sent);
            let reason = NotSentReason::Delivery(status);
            let outcome = self.report_end(&ended, Status::NotSent, now, Some(reason));
            return Ok(SendRecorded::NotSent(outcome));
        }
        match result {
            Ok(receipt) => {
                let sid = receipt.sid.clone();
                let mut record = v.record.clone();
                record.delivery = Delivery::Accepted {
                    sid: receipt.sid,
                    status: receipt.status,
                };
                self.commit(
                    vec![
                        Op::put(record),
                        Op::Send {
                            number: number_id,
                            at: now,
                        },
                    ],
                    None,
                )?;
                let v = &self.pending[id];
                let (mut e, view) = (self.event(EventKind::Sent, v, now), self.view(v, now));
                e.gateway_sid = Some(sid.to_string());
                self.audit(e);
                Ok(SendRecorded::Accepted(view))
            }
            Err(error) => {
                // No code may live for an SMS that never left (S23). One
                // that may have left anyway still counts as a send (S8): a
                // gateway that times out must not hand out unpaced sends.
                let v = v.clone();
                let mut ops = Vec::with_capacity(2);
                if error.may_have_been_sent() {
                    ops.push(Op::Send {
                        number: number_id,
                        at: now,
                    });
                }
                ops.push(Op::End {
                    id: id.clone(),
                    status: Status::NotSent,
                    at: now,
                });
                self.commit(ops, None)?;
                let reason = NotSentReason::Gateway(&error);
                Ok(SendRecorded::NotSent(self.report_end(
                    &v,
                    Status::NotSent,
                    now,
                    Some(reason),
                )))
            }
        }
    }

    /// Issues a new code for a pending verification (S7): the old code stops
    /// working, the wrong-try count stays.
    pub fn resend(&mut self, id: &VerificationId) -> Result<Resent, DeskError> {
        let now = self.now();
        let v = self.pending_or_error(id)?;
        if now >= v.record.expires_at {
            self.end(id, Status::Expired, now)?;
            return Err(DeskError::Expired);
        }
        self.refuse_if_country_not_allowed(&v.number)?;
        // Only a send made by this process can still be on its way. An entry
        // that was awaiting the gateway when the app died may be resent.
        if matches!(v.record.delivery, Delivery::AwaitingGateway) && self.in_flight.contains_key(id)
        {
            return Err(DeskError::StillSending);
        }
        let number_id = v.record.number_id.clone();
        let ready_at = v
            .record
            .code_issued_at
            .plus(self.parts.policy.resend_cooldown());
        if now < ready_at {
            return Err(DeskError::Cooldown {
                seconds: now.until(ready_at).as_secs().max(1),
            });
        }
        self.refuse_if_send_limited(&number_id, Some(id), now)?;
        // The old code stays as it was: its SMS was accepted.
        let (number, operator) = (v.number.clone(), v.record.operator.clone());
        let gateway_mode = self.gateway_mode_or_refuse(&number, &number_id, &operator, now)?;
        self.claim_branch_send(&number, Some(id), ClaimKind::Resend, now)?;

        let code = Code::generate(&mut self.parts.rng, self.parts.policy.code_length());
        let v = &self.pending[id];
        let body = self.render(&code, &v.record.purpose, id, v.record.language)?;
        let binding = Binding {
            id,
            number: &v.number,
            purpose: &v.record.purpose,
        };
        let digest = binding.digest(&self.parts.key, &code);
        let mut record = v.record.clone();
        record.digest = digest;
        record.code_issued_at = now;
        record.expires_at = now.plus(self.parts.policy.validity());
        record.delivery = Delivery::AwaitingGateway;
        record.code_length = code.digits().len() as u8;
        record.gateway_mode = Some(gateway_mode);
        self.commit(vec![Op::put(record)], None)?;
        let v = &self.pending[id];
        let (event, view, to) = (
            self.event(EventKind::Resent, v, now),
            self.view(v, now),
            v.number.clone(),
        );
        self.audit(event);
        self.in_flight.insert(id.clone(), number_id);
        Ok(Resent {
            view,
            sms: OutboundSms { to, body },
        })
    }

    /// Checks what the customer read out. Input that is not exactly N digits
    /// is refused before anything else and uses no try.
    pub fn check(&mut self, id: &VerificationId, typed: &str) -> Result<Outcome, DeskError> {
        // The length the code was issued with: settings may change meanwhile.
        let issued_length = self
            .pending
            .get(id)
            .map_or(self.parts.policy.code_length(), |v| v.record.code_length);
        let input = CodeInput::parse(typed, issued_length)?;
        let now = self.now();
        let v = self.pending_or_error(id)?;
        if now >= v.record.expires_at {
            return self.end(id, Status::Expired, now);
        }
        let binding = Binding {
            id,
            number: &v.number,
            purpose: &v.record.purpose,
        };
        if binding.matches(&self.parts.key, &input, &v.record.digest) {
            return self.end(id, Status::Approved, now);
        }

        let number_id = v.record.number_id.clone();
        // Saturating: a damaged or edited pending file may hold any count,
        // and a count that wrapped to zero would hand back every try.
        let attempts = v.record.failed_attempts.saturating_add(1);
        let number = v.number.clone();
        let here = self.recent_failures(&number_id, now) + 1;
        let recent_failures = here.max(self.record_branch_failure(&number, id, now));
        let v = &self.pending[id];
        let number_capped =
            recent_failures >= self.parts.policy.number_failures_per_hour() as usize;
        let verification_capped = attempts >= self.parts.policy.max_attempts();
        let capped = verification_capped || number_capped;
        let mut v = v.clone();
        v.record.failed_attempts = attempts;
        // The failure and, at a cap, the lock are saved together: a save that
        // fails between them must not leave a capped code that still works.
        let second = if capped {
            Op::End {
                id: id.clone(),
                status: Status::Locked,
                at: now,
            }
        } else {
            Op::put(v.record.clone())
        };
        let failure = Op::Failure {
            number: number_id,
            at: now,
        };
        self.commit(vec![failure, second], None)?;
        let (mut e, view) = (
            self.event(EventKind::CheckFailed, &v, now),
            self.view(&v, now),
        );
        e.detail = Some(format!("wrong code, try {attempts}"));
        self.audit(e);
        if capped {
            if number_capped {
                let mut e = self.event(EventKind::NumberBlocked, &v, now);
                e.detail = Some(format!("{recent_failures} failures within an hour"));
                self.audit(e);
            }
            return Ok(self.report_end(&v, Status::Locked, now, None));
        }
        Ok(Outcome::wrong_code(view, now))
    }

    pub fn cancel(&mut self, id: &VerificationId) -> Result<Outcome, DeskError> {
        let now = self.now();
        self.pending_or_error(id)?;
        self.end(id, Status::Cancelled, now)
    }

    /// Takes a send slot for a test SMS (settings screen, no code) to
    /// `number`, or refuses. It is a send like any other: the country list
    /// and the S8 pause and cap apply, so the test button cannot be used to
    /// flood a phone. The slot is saved before the HTTP call and kept
    /// whatever the gateway answers, so parallel clicks cannot burst past
    /// the pace while the first is on its way.
    /// Returns the number's digest and the slot's time: the test SMS's
    /// audit record carries that time, so the trail read back after damage
    /// puts the send where the state has it.
    pub fn reserve_test_sms(
        &mut self,
        number: &PhoneNumber,
    ) -> Result<(NumberId, Timestamp), DeskError> {
        self.refuse_if_country_not_allowed(number)?;
        let now = self.now();
        let number_id = self.parts.key.number_id(number);
        self.refuse_if_blocked(&number_id, now)?;
        self.refuse_if_send_limited(&number_id, None, now)?;
        if let Sending::Unavailable(why) = &self.sending {
            return Err(DeskError::NoGateway(why.clone()));
        }
        self.claim_branch_send(number, None, ClaimKind::Test, now)?;
        let op = Op::Send {
            number: number_id.clone(),
            at: now,
        };
        self.commit(vec![op], None)?;
        Ok((number_id, now))
    }

    /// Records a delivery report for the latest SMS of `id`: `None` when
    /// nothing changed. A final failure ends the verification and destroys
    /// its code (S23): a code whose SMS never reached the phone can only
    /// have come from somewhere else.
    pub fn record_delivery(
        &mut self,
        id: &VerificationId,
        sid: &crate::gateway::MessageSid,
        status: DeliveryStatus,
    ) -> Result<Option<DeliveryRecorded>, DeskError> {
        let now = self.now();
        let Some(v) = self.pending.get(id) else {
            return Ok(None);
        };
        match &v.record.delivery {
            Delivery::Accepted {
                sid: current,
                status: old,
            } if current == sid && *old != status => {}
            _ => return Ok(None),
        }
        let text = status.describe();
        if matches!(
            status,
            DeliveryStatus::Failed { .. } | DeliveryStatus::Undelivered { .. }
        ) {
            let mut ended = v.clone();
            ended.record.delivery = Delivery::Accepted {
                sid: sid.clone(),
                status: status.clone(),
            };
            let op = Op::End {
                id: id.clone(),
                status: Status::NotSent,
                at: now,
            };
            self.commit(vec![op], None)?;
            let reason = NotSentReason::Delivery(&status);
            let outcome = self.report_end(&ended, Status::NotSent, now, Some(reason));
            return Ok(Some(DeliveryRecorded::Ended(outcome)));
        }
        let mut record = v.record.clone();
        record.delivery = Delivery::Accepted {
            sid: sid.clone(),
            status,
        };
        self.commit(vec![Op::put(record)], None)?;
        let v = &self.pending[id];
        let (mut e, view) = (
            self.event(EventKind::DeliveryStatus, v, now),
            self.view(v, now),
        );
        e.gateway_sid = Some(sid.to_string());
        e.detail = Some(text);
        self.audit(e);
        Ok(Some(DeliveryRecorded::Changed(view)))
    }

    /// Ends every verification whose code has expired, and forgets history
    /// older than any rule looks at. Returns the expiries.
    pub fn purge(&mut self) -> Result<Vec<Outcome>, DeskError> {
        let now = self.now();
        let mut expired: Vec<VerificationId> = self
            .by_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect();
        // In id order, as they are listed.
        expired.sort();
        let mut outcomes = Vec::new();
        for id in expired {
            outcomes.push(self.end(&id, Status::Expired, now)?);
        }
        if self.history_is_stale(now) {
            let op = Op::Forget {
                failures_upto: now.minus(FAILURE_WINDOW),
                sends_upto: now.minus(self.parts.policy.send_window()),
                ended_upto: now.minus(ENDED_MEMORY),
            };
            self.commit(vec![op], None)?;
        }
        Ok(outcomes)
    }

    /// Every pending verification, newest first.
    pub fn list(&self) -> Vec<VerificationView> {
        let now = self.now();
        let mut views: Vec<_> = self.pending.values().map(|v| self.view(v, now)).collect();
        views.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        views
    }

    pub fn get(&self, id: &VerificationId) -> Option<VerificationView> {
        self.pending.get(id).map(|v| self.view(v, self.now()))
    }

    /// Pending verifications whose SMS the gateway accepted and whose
    /// delivery is not final: what a restarted app must keep tracking.
    pub fn tracked_messages(&self) -> Vec<(VerificationId, crate::gateway::MessageSid)> {
        self.pending
            .values()
            .filter_map(|v| match &v.record.delivery {
                Delivery::Accepted { sid, status } if !status.is_final() => {
                    Some((v.record.id.clone(), sid.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Appends an event that is not about one verification (app start,
    /// quarantine, settings).
    pub fn audit_event(&mut self, event: AuditEvent) {
        self.audit(event);
    }

    fn history_is_stale(&self, now: Timestamp) -> bool {
        let send_cutoff = now.minus(self.parts.policy.send_window());
        let fail_cutoff = now.minus(FAILURE_WINDOW);
        self.oldest.failure.is_some_and(|t| t <= fail_cutoff)
            || self.oldest.send.is_some_and(|t| t <= send_cutoff)
            || self.ended.iter().any(|e| e.at <= now.minus(ENDED_MEMORY))
    }

    fn render(
        &self,
        code: &Code,
        purpose: &Purpose,
        id: &VerificationId,
        language: Language,
    ) -> Result<SecretString, DeskError> {
        let fill = Fill {
            minutes: self.parts.policy.validity().as_secs().div_ceil(60),
            purpose,
            short_reference: &id.short_reference(),
        };
        let template = self.parts.templates.get(language);
        Ok(SecretString::from(template.render(code, &fill)?))
    }

    fn pending_or_error(&self, id: &VerificationId) -> Result<&Verification, DeskError> {
        if let Some(v) = self.pending.get(id) {
            return Ok(v);
        }
        match self.ended.iter().rev().find(|e| &e.id == id) {
            Some(e) => Err(DeskError::AlreadyEnded(e.status)),
            None => Err(DeskError::NotFound),
        }
    }

    fn recent_failures(&self, number_id: &NumberId, now: Timestamp) -> usize {
        self.numbers
            .get(number_id)
            .map_or(0, |h| limits::recent_failures(&h.failures, now))
    }

    /// S9: the allow-list is the engine's to enforce, whatever parsed the
    /// number (`PhoneNumber::parse_any` skips it, and settings may have
    /// narrowed it since the number was typed).
    fn refuse_if_country_not_allowed(&self, number: &PhoneNumber) -> Result<(), DeskError> {
        let allowed = self.parts.policy.allowed_countries();
        if allowed.contains(number.region()) {
            return Ok(());
        }
        let list = allowed
            .iter()
            .map(|r| r.code().to_owned())
            .collect::<Vec<_>>()
            .join(", ");
        Err(DeskError::InvalidNumber(PhoneError::CountryNotAllowed(
            number.region().code().to_owned(),
            list,
        )))
    }

    /// S5: too many wrong codes for this number within the hour.
    fn refuse_if_blocked(&self, number_id: &NumberId, now: Timestamp) -> Result<(), DeskError> {
        let cap = self.parts.policy.number_failures_per_hour();
        match self.numbers.get(number_id) {
            Some(h) => limits::blocked(&h.failures, cap, now).map_or(Ok(()), |r| Err(r.into())),
            None => Ok(()),
        }
    }

    /// S8: pacing and the cap on sends per number.
    fn refuse_if_send_limited(
        &self,
        number_id: &NumberId,
        resending: Option<&VerificationId>,
        now: Timestamp,
    ) -> Result<(), DeskError> {
        let Some(h) = self.numbers.get(number_id) else {
            return Ok(());
        };
        let limits = NumberLimits::of(&self.parts.policy);
        limits::send_refusal(&h.sends, &limits, resending.is_some(), now)
            .map_or(Ok(()), |r| Err(r.into()))
    }

    /// Ends a verification: its digest is destroyed with the entry.
    fn end(
        &mut self,
        id: &VerificationId,
        status: Status,
        now: Timestamp,
    ) -> Result<Outcome, DeskError> {
        let Some(v) = self.pending.get(id).cloned() else {
            return Err(DeskError::NotFound);
        };
        let op = Op::End {
            id: id.clone(),
            status,
            at: now,
        };
        self.commit(vec![op], None)?;
        Ok(self.report_end(&v, status, now, None))
    }

    /// Audits an end that is already saved, and words it for staff.
    fn report_end(
        &mut self,
        v: &Verification,
        status: Status,
        now: Timestamp,
        reason: Option<NotSentReason<'_>>,
    ) -> Outcome {
        let kind = match status {
            Status::Approved => EventKind::Approved,
            Status::Locked => EventKind::Locked,
            Status::Expired => EventKind::Expired,
            Status::Cancelled => EventKind::Cancelled,
            Status::NotSent => EventKind::NotSent,
            Status::Pending => unreachable!("end() is never asked to end as pending"),
        };
        let mut e = self.event(kind, v, now);
        e.detail = reason.map(|r| r.detail());
        self.audit(e);
        let view = self.view(v, now);
        Outcome::ended(status, view, now, reason)
    }

    /// Hands `change` to the store and, once it is durable, applies it:
    /// nothing is acknowledged that is not on disk, and a failed save leaves
    /// the state untouched. `fresh` is the verification a `Put` of a new
    /// entry stands for (its number opened, which the record only holds
    /// sealed).
    fn commit(
        &mut self,
        change: Vec<Op>,
        mut fresh: Option<Verification>,
    ) -> Result<(), DeskError> {
        self.parts.store.append(&change)?;
        self.release_branch_claims(&change, self.now());
        for op in change {
            self.apply(op, &mut fresh);
        }
        Ok(())
    }

    fn apply(&mut self, op: Op, fresh: &mut Option<Verification>) {
        apply_history(&mut self.numbers, &mut self.ended, &op);
        let min = |old: Option<Timestamp>, at: Timestamp| Some(old.map_or(at, |o| o.min(at)));
        match &op {
            Op::Send { at, .. } => self.oldest.send = min(self.oldest.send, *at),
            Op::Failure { at, .. } => self.oldest.failure = min(self.oldest.failure, *at),
            // Forgetting reads every number anyway.
            Op::Forget { .. } => self.oldest = Oldest::of(&self.numbers),
            Op::Put { .. } | Op::End { .. } => {}
        }
        match op {
            Op::Put { record } => {
                let record = *record;
                if let Some(old) = self.remove_pending(&record.id) {
                    let number = old.number;
                    self.insert_pending(Verification { record, number });
                    return;
                }
                let number = match fresh.take() {
                    Some(v) if v.record.id == record.id => v.number,
                    _ => match self.parts.key.open(&record.sealed_number, record.region) {
                        Ok(number) => number,
                        // Sealed by this desk a moment ago: cannot happen
                        // short of memory corruption.
                        Err(e) => {
                            tracing::error!(error = %e, "a new entry could not be opened");
                            return;
                        }
                    },
                };
                self.insert_pending(Verification { record, number });
            }
            Op::End { id, .. } => {
                self.remove_pending(&id);
            }
            Op::Send { .. } | Op::Failure { .. } | Op::Forget { .. } => {}
        }
    }

    /// The state as it is saved: a full copy, for tests, tools and
    /// compaction, never made per change.
    pub fn document(&self) -> PendingDocument {
        PendingDocument {
            verifications: self.pending.values().map(|v| v.record.clone()).collect(),
            numbers: self.numbers.clone(),
            ended: self.ended.clone(),
            ..PendingDocument::default()
        }
    }

    fn event(&self, kind: EventKind, v: &Verification, now: Timestamp) -> AuditEvent {
        let r = &v.record;
        AuditEvent {
            outcome: AuditOutcome::of(kind).map(|o| o.name().to_owned()),
            delivery: Some(r.delivery.state().to_owned()),
            staff_id: r.operator.staff_id.clone(),
            operator: Some(r.operator.name.clone()),
            verification: Some(r.id.to_string()),
            masked_number: Some(r.masked_number.clone()),
            number_id: Some(r.number_id.as_str().to_owned()),
            reference: Some(purpose_display(&r.purpose, &r.id.short_reference())),
            gateway_sid: r.delivery.sid().map(ToString::to_string),
            gateway_mode: r.gateway_mode.map(|m| m.name().to_owned()),
            ..AuditEvent::new(now, kind)
        }
    }

    fn audit(&mut self, event: AuditEvent) {
        if let Err(e) = self.parts.audit.record(event) {
            self.audit_failures += 1;
            tracing::error!(error = %e, "audit record lost");
        }
    }

    fn view(&self, v: &Verification, now: Timestamp) -> VerificationView {
        let r = &v.record;
        let resend_available_at = r.code_issued_at.plus(self.parts.policy.resend_cooldown());
        VerificationView {
            id: r.id.clone(),
            status: Status::Pending,
            masked_number: r.masked_number.clone(),
            reference: purpose_display(&r.purpose, &r.id.short_reference()),
            operator: r.operator.name.clone(),
            delivery: DeliveryView {
                state: r.delivery.state(),
                text: r.delivery.text(),
            },
            created_at: r.created_at.millis(),
            expires_at: r.expires_at.millis(),
            resend_available_at: resend_available_at.millis(),
            tries_left: self
                .parts
                .policy
                .max_attempts()
                .saturating_sub(r.failed_attempts),
            server_now: now.millis(),
        }
    }
}
