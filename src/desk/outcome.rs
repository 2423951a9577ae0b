//! What a check, a cancel, an expiry or a failed send tells the staff.
//!
//! The words are decided here, once; the UI shows them as they are. Staff
//! may be told why a check failed (wrong code, expired, locked): they are the
//! authorised party at the desk (PSD2 RTS Art. 4(3)(a)).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::gateway::{DeliveryStatus, GatewayError};
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

    fn message(&self) -> String {
        match self {
            Self::Gateway(e) => {
                format!("{e} The verification was closed; its code was destroyed.")
            }
            Self::Delivery(status) => format!(
                "The SMS did not reach the phone ({}). The verification was closed; its code was destroyed. Check the number with the customer, then send a new code.",
                status.describe()
            ),
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
    pub title: String,
    pub message: String,
    pub tries_left: Option<u32>,
    pub masked_number: String,
    pub reference: String,
    pub operator: String,
    pub at: i64,
    /// The still-pending verification after a wrong code; `None` once ended.
    pub verification: Option<VerificationView>,
}

impl Outcome {
    pub(super) fn wrong_code(view: VerificationView, now: Timestamp) -> Self {
        let tries = view.tries_left;
        let plural = if tries == 1 { "try" } else { "tries" };
        Self {
            id: view.id.clone(),
            outcome: OutcomeKind::WrongCode,
            title: "Not verified".into(),
            message: format!(
                "Wrong code. {tries} {plural} left. Ask the customer to read the code again."
            ),
            tries_left: Some(tries),
            masked_number: view.masked_number.clone(),
            reference: view.reference.clone(),
            operator: view.operator.clone(),
            at: now.millis(),
            verification: Some(view),
        }
    }

    pub(super) fn ended(
        status: Status,
        view: VerificationView,
        now: Timestamp,
        reason: Option<NotSentReason<'_>>,
    ) -> Self {
        let (outcome, title, message) = match status {
            Status::Approved => (OutcomeKind::Approved, "Verified", "The customer read the right code.".to_owned()),
            Status::Locked => (
                OutcomeKind::Locked,
                "Not verified",
                "Too many wrong codes: this verification is locked and its code destroyed. Verify the customer another way.".to_owned(),
            ),
            Status::Expired => (OutcomeKind::Expired, "Not verified", "The code expired. Start a new verification.".to_owned()),
            Status::Cancelled => (OutcomeKind::Cancelled, "Cancelled", "The verification was cancelled; its code no longer works.".to_owned()),
            Status::NotSent | Status::Pending => (
                OutcomeKind::NotSent,
                "Not sent",
                match reason {
                    Some(r) => r.message(),
                    None => "The SMS was not sent. The verification was closed.".to_owned(),
                },
            ),
        };
        Self {
            id: view.id,
            outcome,
            title: title.into(),
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
