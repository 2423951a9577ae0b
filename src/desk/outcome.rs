//! What a check, a cancel, an expiry or a failed send tells the staff.
//!
//! The words are decided here, once; the UI shows them as they are. Staff
//! may be told why a check failed (wrong code, expired, locked): they are the
//! authorised party at the desk (PSD2 RTS Art. 4(3)(a)).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::gateway::{DeliveryStatus, GatewayError};
use crate::i18n::Text;
use crate::verification::{Status, VerificationId, VerificationView};

/// Why a verification ended without its SMS reaching the phone (S23).
#[derive(Clone, Copy, Debug)]
pub enum NotSentReason<'a> {
    /// The gateway refused the message, or its fate is unknown.
    Gateway(&'a GatewayError),
    /// The gateway took it, and its final delivery report is failed or
    /// undelivered.
    Delivery(&'a DeliveryStatus),
}

impl NotSentReason<'_> {
    /// The audit record's `detail`: a stable slug, then the carrier's words.
    pub fn detail(&self) -> String {
        match self {
            Self::Gateway(e) => e.kind().to_owned(),
            Self::Delivery(status) => format!("delivery_failed: {}", status.describe()),
        }
    }

    fn message(&self) -> Text {
        match self {
            Self::Gateway(e) => Text::new("outcome.not_sent.gateway").arg("reason", e.text()),
            Self::Delivery(status) => {
                Text::new("outcome.not_sent.delivery").arg("status", status.text())
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    Approved,
    WrongCode,
    Expired,
    Locked,
    Cancelled,
    NotSent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub id: VerificationId,
    pub outcome: OutcomeKind,
    pub title: Text,
    pub message: Text,
    pub tries_left: Option<u32>,
    pub masked_number: String,
    pub reference: String,
    pub operator: String,
    pub at: i64,
    /// The still-pending verification after a wrong code; `None` once ended.
    pub verification: Option<Box<VerificationView>>,
}

impl Outcome {
    pub(super) fn wrong_code(view: VerificationView, now: Timestamp) -> Self {
        let tries = view.tries_left;
        Self {
            id: view.id.clone(),
            outcome: OutcomeKind::WrongCode,
            title: Text::new("outcome.title.not_verified"),
            message: Text::new("outcome.wrong_code").count("tries", tries.into()),
            tries_left: Some(tries),
            masked_number: view.masked_number.clone(),
            reference: view.reference.clone(),
            operator: view.operator.clone(),
            at: now.millis(),
            verification: Some(Box::new(view)),
        }
    }

    pub(super) fn ended(
        status: Status,
        view: VerificationView,
        now: Timestamp,
        reason: Option<NotSentReason<'_>>,
    ) -> Self {
        let (outcome, title, message) = match status {
            Status::Approved => (
                OutcomeKind::Approved,
                "outcome.title.verified",
                Text::new("outcome.approved"),
            ),
            Status::Locked => (
                OutcomeKind::Locked,
                "outcome.title.not_verified",
                Text::new("outcome.locked"),
            ),
            Status::Expired => (
                OutcomeKind::Expired,
                "outcome.title.not_verified",
                Text::new("outcome.expired"),
            ),
            Status::Cancelled => (
                OutcomeKind::Cancelled,
                "outcome.title.cancelled",
                Text::new("outcome.cancelled"),
            ),
            Status::NotSent | Status::Pending => (
                OutcomeKind::NotSent,
                "outcome.title.not_sent",
                match reason {
                    Some(r) => r.message(),
                    None => Text::new("outcome.not_sent"),
                },
            ),
        };
        Self {
            id: view.id,
            outcome,
            title: Text::new(title),
            message,
            tries_left: matches!(status, Status::Locked).then_some(0),
            masked_number: view.masked_number,
            reference: view.reference,
            operator: view.operator,
            at: now.millis(),
            verification: None,
        }
    }
}
