//! What the trail records: the kinds of event, the record itself, and one
//! named constructor per event the desk and its shell write, so the fields
//! each kind fills are decided here, once, from typed values. The shell
//! hands over an operator, a number or a gateway answer, never a
//! hand-filled `Option<String>`.
//!
//! Records on disk are evidence: every constructor fills exactly the
//! fields, and writes exactly the words, that records written before it
//! existed carry, so old and new logs read and verify alike.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::config::Key;
use crate::gateway::{GatewayError, GatewayMode, SendReceipt};
use crate::keys::NumberId;
use crate::phone::PhoneNumber;
use crate::verification::{Operator, VerificationId};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Sent,
    NotSent,
    Resent,
    DeliveryStatus,
    CheckFailed,
    Approved,
    Locked,
    Expired,
    Cancelled,
    NumberBlocked,
    StoreQuarantined,
    AppStarted,
    AppStopped,
    SettingsChanged,
    OperatorSignedIn,
    OperatorLocked,
    /// A plain test message from the settings screen (no code in it).
    TestSmsSent,
    /// The hand-over: records from here on are keyed (S22).
    #[serde(rename = "audit_chain_keyed")]
    ChainKeyed,
    /// The audit key and the trail's anchor were exported (Activity,
    /// "Export audit key for IT") to verify the trail off the desk.
    AuditKeyExported,
    /// Branch mode: the local trail no longer matches the copy the branch
    /// already holds (rewritten or cut after its records were forwarded).
    BranchTrailMismatch,
}

impl EventKind {
    /// Every kind, for the catalogue test: each has its label
    /// (`event.<name>`) there, the one place the screens take it from.
    pub const ALL: [EventKind; 21] = [
        Self::Started,
        Self::Sent,
        Self::NotSent,
        Self::Resent,
        Self::DeliveryStatus,
        Self::CheckFailed,
        Self::Approved,
        Self::Locked,
        Self::Expired,
        Self::Cancelled,
        Self::NumberBlocked,
        Self::StoreQuarantined,
        Self::AppStarted,
        Self::AppStopped,
        Self::SettingsChanged,
        Self::OperatorSignedIn,
        Self::OperatorLocked,
        Self::TestSmsSent,
        Self::ChainKeyed,
        Self::AuditKeyExported,
        Self::BranchTrailMismatch,
    ];

    /// The name records carry (`check_failed`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The `outcome` a record carries: how a verification ended (or a wrong
/// code), or what the gateway made of a test SMS. The Activity screen's
/// filter and its outcome column take the names and labels from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    Approved,
    WrongCode,
    Locked,
    Expired,
    Cancelled,
    NotSent,
    /// A test SMS the gateway took.
    Accepted,
    /// A test SMS the gateway refused (or whose fate is unknown).
    Refused,
}

impl AuditOutcome {
    /// The outcomes of a verification, in the order the filter offers them.
    pub const VERIFICATION: [AuditOutcome; 6] = [
        Self::Approved,
        Self::WrongCode,
        Self::Locked,
        Self::Expired,
        Self::Cancelled,
        Self::NotSent,
    ];

    /// The name records carry (`wrong-code`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::WrongCode => "wrong-code",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::NotSent => "not-sent",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
        }
    }

    /// The catalogue key the screens show it by; `None` for a test SMS's
    /// outcome, which the list shows as written.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Self::Approved => Some("ui.verified"),
            Self::WrongCode => Some("ui.wrong_code"),
            Self::Locked => Some("ui.locked"),
            Self::Expired => Some("ui.expired"),
            Self::Cancelled => Some("ui.cancelled"),
            Self::NotSent => Some("ui.not_sent"),
            Self::Accepted | Self::Refused => None,
        }
    }

    /// The outcome a verification's record of `kind` carries, if any.
    pub fn of(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Approved => Some(Self::Approved),
            EventKind::CheckFailed => Some(Self::WrongCode),
            EventKind::Locked => Some(Self::Locked),
            EventKind::Expired => Some(Self::Expired),
            EventKind::Cancelled => Some(Self::Cancelled),
            EventKind::NotSent => Some(Self::NotSent),
            _ => None,
        }
    }
}

/// One audited event. Every field is safe to show to an auditor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub event: EventKind,
    pub operator: Option<String>,
    pub staff_id: Option<String>,
    /// Stamped by the sink: where the desk stands.
    pub branch: Option<String>,
    pub workstation: Option<String>,
    pub verification: Option<String>,
    pub masked_number: Option<String>,
    pub number_id: Option<String>,
    pub reference: Option<String>,
    pub outcome: Option<String>,
    pub gateway_sid: Option<String>,
    pub delivery: Option<String>,
    pub detail: Option<String>,
    /// `demo`, `restcomm` or `twilio`: which gateway the SMS went through.
    /// Left out when absent, so records written before it existed keep
    /// their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_mode: Option<String>,
    /// The OS account signed in to the desk PC, as the OS reports it
    /// (sign-in records); absent as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_account: Option<String>,
}

/// One thing a `settings_changed` record names as changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsChange {
    /// A setting, by its name (never its value: settings can hold secrets).
    Key(Key),
    /// The operator's name, remembered for the next sign-in.
    OperatorName,
    /// The gateway's auth token was replaced.
    TokenReplaced,
    /// Demo mode was chosen on a desk set up for a real gateway.
    DemoChosen,
}

impl SettingsChange {
    /// How the record names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Key(key) => key.name(),
            Self::OperatorName => "operatorName",
            Self::TokenReplaced => "auth token (replaced; value not recorded)",
            Self::DemoChosen => {
                "gateway (demo mode chosen explicitly on a desk set up for a real gateway)"
            }
        }
    }
}

impl AuditEvent {
    /// A record with only its time and kind; the constructors below fill
    /// the rest for each kind.
    pub fn new(at: Timestamp, event: EventKind) -> Self {
        Self {
            at,
            event,
            operator: None,
            staff_id: None,
            branch: None,
            workstation: None,
            verification: None,
            masked_number: None,
            number_id: None,
            reference: None,
            outcome: None,
            gateway_sid: None,
            delivery: None,
            detail: None,
            gateway_mode: None,
            os_account: None,
        }
    }

    /// A record of `event` by `operator`.
    fn by(at: Timestamp, event: EventKind, operator: &Operator) -> Self {
        Self {
            operator: Some(operator.name.clone()),
            staff_id: operator.staff_id.clone(),
            ..Self::new(at, event)
        }
    }

    /// The event's name as written in the log (`check_failed`).
    pub fn name(&self) -> String {
        self.event.name()
    }

    /// The desk opened; `detail` says how its trail stood.
    pub fn app_started(at: Timestamp, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(at, EventKind::AppStarted)
        }
    }

    /// The desk closed.
    pub fn app_stopped(at: Timestamp) -> Self {
        Self::new(at, EventKind::AppStopped)
    }

    /// An operator signed in, on the PC account the OS names.
    pub fn signed_in(at: Timestamp, operator: &Operator, os_account: Option<String>) -> Self {
        Self {
            os_account,
            ..Self::by(at, EventKind::OperatorSignedIn, operator)
        }
    }

    /// An operator was signed out (Lock, or the inactivity lock): `why`.
    pub fn operator_locked(at: Timestamp, operator: &Operator, why: &str) -> Self {
        Self {
            detail: Some(why.to_owned()),
            ..Self::by(at, EventKind::OperatorLocked, operator)
        }
    }

    /// `operator` saved `changes`, named, never with their values.
    pub fn settings_changed(
        at: Timestamp,
        operator: &Operator,
        changes: &[SettingsChange],
    ) -> Self {
        let names: Vec<&str> = changes.iter().map(|c| c.name()).collect();
        Self {
            detail: Some(format!("changed: {}", names.join(", "))),
            ..Self::by(at, EventKind::SettingsChanged, operator)
        }
    }

    /// A test SMS from the settings screen and what the gateway answered.
    pub fn test_sms_sent(
        at: Timestamp,
        operator: &Operator,
        to: &PhoneNumber,
        number_id: &NumberId,
        mode: GatewayMode,
        answer: Result<&SendReceipt, &GatewayError>,
    ) -> Self {
        let outcome = match answer {
            Ok(_) => AuditOutcome::Accepted,
            Err(_) => AuditOutcome::Refused,
        };
        Self {
            masked_number: Some(to.masked()),
            number_id: Some(number_id.as_str().to_owned()),
            gateway_mode: Some(mode.name().to_owned()),
            outcome: Some(outcome.name().to_owned()),
            gateway_sid: answer.ok().map(|r| r.sid.to_string()),
            detail: answer.err().map(|e| e.kind().to_owned()),
            ..Self::by(at, EventKind::TestSmsSent, operator)
        }
    }

    /// `operator` exported the audit key for IT to `to`.
    pub fn audit_key_exported(
        at: Timestamp,
        operator: &Operator,
        os_account: Option<String>,
        to: &Path,
    ) -> Self {
        Self {
            os_account,
            detail: Some(format!("written to {}", to.display())),
            ..Self::by(at, EventKind::AuditKeyExported, operator)
        }
    }

    /// Branch mode: the local trail no longer matches the branch's copy.
    pub fn branch_trail_mismatch(at: Timestamp, reason: &dyn fmt::Display) -> Self {
        Self {
            detail: Some(reason.to_string()),
            ..Self::new(at, EventKind::BranchTrailMismatch)
        }
    }

    /// No SMS could leave for `number` because no gateway was usable: `why`.
    pub fn not_sent(
        at: Timestamp,
        operator: &Operator,
        number: &PhoneNumber,
        number_id: &NumberId,
        why: &str,
    ) -> Self {
        Self {
            masked_number: Some(number.masked()),
            number_id: Some(number_id.as_str().to_owned()),
            outcome: Some(AuditOutcome::NotSent.name().to_owned()),
            detail: Some(format!("no gateway: {why}")),
            ..Self::by(at, EventKind::NotSent, operator)
        }
    }

    /// An SMS the gateway took after its verification had ended: it counts
    /// towards the number's limits (S8), and its code was already gone.
    pub fn sent_after_end(
        at: Timestamp,
        verification: &VerificationId,
        number_id: &NumberId,
        gateway_sid: Option<String>,
        mode: Option<GatewayMode>,
    ) -> Self {
        Self {
            verification: Some(verification.to_string()),
            number_id: Some(number_id.as_str().to_owned()),
            gateway_sid,
            gateway_mode: mode.map(|m| m.name().to_owned()),
            detail: Some("after the verification ended; its code was already destroyed".to_owned()),
            ..Self::new(at, EventKind::Sent)
        }
    }

    /// The pending list could not be read and was moved aside to `moved_to`.
    pub fn store_quarantined(
        at: Timestamp,
        moved_to: &[String],
        reason: &dyn fmt::Display,
    ) -> Self {
        Self {
            detail: Some(format!("{} ({reason})", moved_to.join(", "))),
            ..Self::new(at, EventKind::StoreQuarantined)
        }
    }

    /// The hand-over to the keyed chain, from record `keyed_from` on.
    pub fn chain_keyed(at: Timestamp, keyed_from: u64) -> Self {
        Self {
            detail: Some(format!(
                "records from {keyed_from} on are keyed (HMAC-SHA256)"
            )),
            ..Self::new(at, EventKind::ChainKeyed)
        }
    }
}

/// Where this desk stands; stamped on every record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub branch: String,
    pub workstation: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::catalogue;
    use crate::language::Language;

    #[test]
    fn every_verification_outcome_has_its_label_in_every_language() {
        for language in Language::ALL {
            for outcome in AuditOutcome::VERIFICATION {
                let key = outcome.label().expect("a label");
                assert!(catalogue(language).contains_key(key), "{language:?} {key}");
            }
        }
    }

    #[test]
    fn each_verification_kind_names_the_outcome_records_always_carried() {
        let named: Vec<(EventKind, &str)> = EventKind::ALL
            .into_iter()
            .filter_map(|k| AuditOutcome::of(k).map(|o| (k, o.name())))
            .collect();
        assert_eq!(
            named,
            [
                (EventKind::NotSent, "not-sent"),
                (EventKind::CheckFailed, "wrong-code"),
                (EventKind::Approved, "approved"),
                (EventKind::Locked, "locked"),
                (EventKind::Expired, "expired"),
                (EventKind::Cancelled, "cancelled"),
            ]
        );
    }

    #[test]
    fn settings_changed_names_what_changed_as_records_always_did() {
        let operator = Operator {
            name: "Ana".into(),
            staff_id: Some("S1".into()),
        };
        let e = AuditEvent::settings_changed(
            Timestamp::from_millis(0),
            &operator,
            &[
                SettingsChange::Key(Key::Sender),
                SettingsChange::TokenReplaced,
            ],
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("changed: sender, auth token (replaced; value not recorded)")
        );
        assert_eq!(
            (e.operator.as_deref(), e.staff_id.as_deref()),
            (Some("Ana"), Some("S1"))
        );
    }
}
