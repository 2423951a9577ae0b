//! A desk on a hand-moved clock, seeded randomness, an in-memory store and an
//! in-memory audit sink, so each rule test reads like a scenario at the desk.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use countersign::audit::{AuditEvent, EventKind, MemoryAudit};
use countersign::clock::{ManualClock, Timestamp};
use countersign::desk::{Desk, DeskError, Parts, SendRecorded, Started};
use countersign::gateway::{DeliveryStatus, GatewayError, MessageSid, OutboundSms, SendReceipt};
use countersign::keys::DigestKey;
use countersign::persist::{MemoryStore, Op, PendingDocument, PendingStore, StoreError};
use countersign::phone::PhoneNumber;
use countersign::policy::{Policy, PolicySettings};
use countersign::purpose::Purpose;
use countersign::sms::Template;
use countersign::verification::{Operator, VerificationId, VerificationView};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub const A: &str = "+447400123456";
pub const B: &str = "+447400123457";
pub const C: &str = "+447400123458";
/// The digits of `A` without the plus: what must never be at rest or on screen.
pub const A_DIGITS: &str = "447400123456";
pub const A_NATIONAL: &str = "7400123456";

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// A [`MemoryStore`] the test keeps a handle on while the desk owns it, so
/// a save can be made to fail (`fail_next`) and the saved document read.
/// `fail_in`: when non-zero, counts saves down and fails the one that
/// reaches zero (1 = the next save), to break the second save of an action.
#[derive(Clone, Default)]
pub struct SharedStore(pub Arc<Mutex<MemoryStore>>, pub Arc<Mutex<usize>>);

impl PendingStore for SharedStore {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        let mut inner = self.0.lock().unwrap();
        let mut fail_in = self.1.lock().unwrap();
        if *fail_in > 0 {
            *fail_in -= 1;
            inner.fail_next |= *fail_in == 0;
        }
        inner.append(change)
    }
}

pub type TestDesk = Desk<SharedStore, MemoryAudit, ManualClock, StdRng>;

pub struct Harness {
    pub desk: TestDesk,
    pub clock: ManualClock,
    pub store: SharedStore,
    pub key: DigestKey,
    pub policy: Policy,
    sids: u32,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_policy(PolicySettings::default())
    }

    pub fn with_policy(settings: PolicySettings) -> Self {
        Self::with(settings, Template::default_english())
    }

    pub fn with(settings: PolicySettings, template: Template) -> Self {
        Self::seeded(settings, template, 42)
    }

    pub fn seeded(settings: PolicySettings, template: Template, seed: u64) -> Self {
        let policy = Policy::from_settings(&settings).expect("test policy within bounds");
        let mut key_rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let key = DigestKey::generate(&mut key_rng);
        let clock = ManualClock::at(T0);
        let store = SharedStore::default();
        let desk = Desk::new(
            Parts {
                policy: policy.clone(),
                templates: countersign::templates::MessageTemplates::single(template),
                key: key.clone(),
                store: store.clone(),
                audit: MemoryAudit::default(),
                clock: clock.clone(),
                rng: StdRng::seed_from_u64(seed),
            },
            PendingDocument::default(),
        )
        .expect("an empty document always loads");
        Self {
            desk,
            clock,
            store,
            key,
            policy,
            sids: 0,
        }
    }

    /// Parses a number the way the desk screen does (allow-list applied).
    pub fn number(&self, raw: &str) -> PhoneNumber {
        PhoneNumber::parse(
            raw,
            self.policy.default_country(),
            self.policy.allowed_countries(),
        )
        .expect("test number parses")
    }

    pub fn operator() -> Operator {
        Operator::parse("Sam Teller").unwrap()
    }

    pub fn start(&mut self, number: &str) -> Result<Started, DeskError> {
        self.start_for(number, Purpose::Unspecified)
    }

    pub fn start_for(&mut self, number: &str, purpose: Purpose) -> Result<Started, DeskError> {
        let n = self.number(number);
        self.desk.start(n, purpose, Self::operator())
    }

    /// Starts a verification that must be new; returns its view and SMS.
    pub fn start_new(&mut self, number: &str, purpose: Purpose) -> (VerificationView, OutboundSms) {
        match self.start_for(number, purpose).expect("start succeeds") {
            Started::New { view, sms } => (view, sms),
            Started::AlreadyPending { .. } => panic!("expected a new verification"),
        }
    }

    /// Like [`Harness::start_new`], with the SMS in `language`.
    pub fn start_new_in(
        &mut self,
        number: &str,
        purpose: Purpose,
        language: countersign::language::Language,
    ) -> (VerificationView, OutboundSms) {
        let n = self.number(number);
        match self
            .desk
            .start_in(n, purpose, Self::operator(), language)
            .expect("start succeeds")
        {
            Started::New { view, sms } => (view, sms),
            Started::AlreadyPending { .. } => panic!("expected a new verification"),
        }
    }

    /// Starts, has the gateway accept the SMS, and returns the id and code.
    pub fn start_and_send(&mut self, number: &str) -> (VerificationId, String) {
        self.start_and_send_for(number, Purpose::Unspecified)
    }

    pub fn start_and_send_for(
        &mut self,
        number: &str,
        purpose: Purpose,
    ) -> (VerificationId, String) {
        let (view, sms) = self.start_new(number, purpose);
        self.accept(&view.id);
        (view.id, code_of(&sms))
    }

    /// The gateway accepted the latest SMS of `id`.
    pub fn accept(&mut self, id: &VerificationId) -> VerificationView {
        match self.accept_late(id) {
            SendRecorded::Accepted(view) => view,
            other => panic!("expected the send to be accepted, got {other:?}"),
        }
    }

    /// The gateway accepted the latest SMS of `id`, whatever became of the
    /// verification meanwhile: the engine's answer as it is.
    pub fn accept_late(&mut self, id: &VerificationId) -> SendRecorded {
        self.sids += 1;
        let sid = MessageSid::parse(&format!("SM{:032x}", self.sids)).unwrap();
        self.desk
            .record_send(
                id,
                Ok(SendReceipt {
                    sid,
                    status: DeliveryStatus::Sending,
                }),
            )
            .expect("record_send succeeds")
    }

    /// The gateway refused the latest SMS of `id`.
    pub fn refuse(&mut self, id: &VerificationId, error: GatewayError) -> SendRecorded {
        self.desk
            .record_send(id, Err(error))
            .expect("record_send succeeds")
    }

    /// Resends and has the gateway accept the new SMS; returns the new code.
    pub fn resend_and_send(&mut self, id: &VerificationId) -> String {
        let resent = self.desk.resend(id).expect("resend succeeds");
        self.accept(id);
        code_of(&resent.sms)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    /// The document as last saved.
    pub fn saved(&self) -> PendingDocument {
        self.store
            .0
            .lock()
            .unwrap()
            .saved
            .clone()
            .unwrap_or_default()
    }

    pub fn saves(&self) -> usize {
        self.store.0.lock().unwrap().saves
    }

    pub fn fail_next_save(&self) {
        self.store.0.lock().unwrap().fail_next = true;
    }

    /// Fails the `n`-th save from now (1 = the next one).
    pub fn fail_save_number(&self, n: usize) {
        *self.store.1.lock().unwrap() = n;
    }

    pub fn events(&self) -> &[AuditEvent] {
        &self.desk.audit_sink().events
    }

    pub fn event_kinds(&self) -> Vec<EventKind> {
        self.events().iter().map(|e| e.event).collect()
    }

    pub fn tries_left(&self, id: &VerificationId) -> u32 {
        self.desk.get(id).expect("still pending").tries_left
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// The code in an SMS, as the customer reads it ([`countersign::sms::code_in`]).
pub fn code_of(sms: &OutboundSms) -> String {
    code_in(sms.body_text())
}

pub fn code_in(body: &str) -> String {
    countersign::sms::code_in(body)
        .expect("no code in the SMS body")
        .to_owned()
}

/// A code of the same length that is not `code`.
pub fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

/// A different wrong code for each `n`, never `code`.
pub fn wrong_n(code: &str, n: usize) -> String {
    let len = code.len();
    let mut candidate = n;
    loop {
        let s = format!("{candidate:0len$}");
        if s != code {
            return s;
        }
        candidate += 1;
    }
}
