//! One verification and its lifecycle:
//! `Pending → Approved | Locked | Expired | Cancelled | NotSent`.
//!
//! A [`VerificationRecord`] is what is kept on disk: a digest of the code,
//! never the code; the number sealed, never in clear. A [`Verification`]
//! adds the opened number for the engine's use in memory. A
//! [`VerificationView`] is what the staff screen may see: masked, no digest.

use crate::i18n::Text;
use std::fmt;

use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::code::CodeDigest;
use crate::gateway::{DeliveryStatus, GatewayMode, MessageSid};
use crate::keys::{NumberId, SealedNumber};
use crate::language::Language;
use crate::phone::{PhoneNumber, Region};
use crate::purpose::Purpose;

/// Unambiguous characters (no 0/O, 1/I/L): ids are read aloud and retyped.
const ID_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const ID_LEN: usize = 20;
const SHORT_REFERENCE_LEN: usize = 4;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VerificationId(String);

impl VerificationId {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let id = (0..ID_LEN)
            .map(|_| char::from(ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())]))
            .collect();
        Self(id)
    }

    /// Parses an id that came back from the UI or a file.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == ID_LEN && raw.bytes().all(|b| ID_ALPHABET.contains(&b));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The few characters staff and customer both see when no purpose was typed.
    pub fn short_reference(&self) -> String {
        self.0[..SHORT_REFERENCE_LEN].to_ascii_uppercase()
    }
}

impl TryFrom<String> for VerificationId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| "not a verification id".to_owned())
    }
}

impl From<VerificationId> for String {
    fn from(id: VerificationId) -> Self {
        id.0
    }
}

impl fmt::Debug for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerificationId({})", self.0)
    }
}

impl fmt::Display for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is serving the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    pub name: String,
    /// The bank's staff number, when the operator signed in with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    Name,
    StaffId,
}

impl OperatorError {
    /// A stable slug the UI can switch on: one for every operator refusal.
    pub fn kind(&self) -> &'static str {
        "invalid_operator"
    }

    pub fn text(&self) -> Text {
        match self {
            Self::Name => Text::new("operator.name"),
            Self::StaffId => Text::new("operator.staff_id"),
        }
    }
}

impl std::fmt::Display for OperatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl Operator {
    pub fn parse(raw: &str) -> Result<Self, OperatorError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(OperatorError::Name);
        }
        Ok(Self {
            name: name.to_owned(),
            staff_id: None,
        })
    }

    /// A signed-in operator: staff ID and name.
    pub fn signed_in(staff_id: &str, name: &str) -> Result<Self, OperatorError> {
        let id = staff_id.trim();
        let ok = (1..=32).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(OperatorError::StaffId);
        }
        Ok(Self {
            staff_id: Some(id.to_owned()),
            ..Self::parse(name)?
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pending,
    Approved,
    Locked,
    Expired,
    Cancelled,
    NotSent,
}

impl Status {
    /// The status as staff read it.
    pub fn text(self) -> Text {
        Text::new(match self {
            Self::Pending => "status.pending",
            Self::Approved => "status.approved",
            Self::Locked => "status.locked",
            Self::Expired => "status.expired",
            Self::Cancelled => "status.cancelled",
            Self::NotSent => "status.not_sent",
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::NotSent => "not-sent",
        }
    }
}

/// Where the latest code's SMS is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "kebab-case")]
pub enum Delivery {
    /// Handed to the gateway; no answer yet. After a crash this may remain:
    /// the SMS may or may not have left.
    AwaitingGateway,
    Accepted {
        sid: MessageSid,
        status: DeliveryStatus,
    },
}

impl Delivery {
    pub fn state(&self) -> &'static str {
        match self {
            Self::AwaitingGateway => "awaiting-gateway",
            Self::Accepted { status, .. } => match status {
                DeliveryStatus::Sending => "sending",
                DeliveryStatus::Sent => "sent",
                DeliveryStatus::Delivered => "delivered",
                DeliveryStatus::Undelivered { .. } => "undelivered",
                DeliveryStatus::Failed { .. } => "failed",
            },
        }
    }

    /// Where the SMS is, for staff.
    pub fn text(&self) -> Text {
        match self {
            Self::AwaitingGateway => Text::new("delivery.awaiting_gateway"),
            Self::Accepted { status, .. } => status.text(),
        }
    }

    pub fn sid(&self) -> Option<&MessageSid> {
        match self {
            Self::AwaitingGateway => None,
            Self::Accepted { sid, .. } => Some(sid),
        }
    }
}

/// A pending verification as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationRecord {
    pub id: VerificationId,
    pub number_id: NumberId,
    pub sealed_number: SealedNumber,
    pub region: Region,
    pub masked_number: String,
    pub purpose: Purpose,
    pub operator: Operator,
    pub created_at: Timestamp,
    /// When the current code was issued: resend pacing counts from here.
    pub code_issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub digest: CodeDigest,
    pub failed_attempts: u32,
    pub delivery: Delivery,
    /// The SMS language; resends use it too. Absent in files written before
    /// languages existed: those were English.
    #[serde(default)]
    pub language: Language,
    /// Digits of the current code; the policy's length may change after.
    /// Absent in older files, whose codes had the then fixed 6 digits.
    #[serde(default = "six_digits")]
    pub code_length: u8,
    /// The gateway its SMS went through. Absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_mode: Option<GatewayMode>,
}

fn six_digits() -> u8 {
    6
}

/// Written out because `CodeDigest` has no `==` (S11): its digest is
/// compared in constant time. Both sides are destructured in full, so a new
/// field fails to compile here until it is compared too.
impl PartialEq for VerificationRecord {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        let Self {
            id,
            number_id,
            sealed_number,
            region,
            masked_number,
            purpose,
            operator,
            created_at,
            code_issued_at,
            expires_at,
            digest,
            failed_attempts,
            delivery,
            language,
            code_length,
            gateway_mode,
        } = self;
        let Self {
            id: id_b,
            number_id: number_id_b,
            sealed_number: sealed_number_b,
            region: region_b,
            masked_number: masked_number_b,
            purpose: purpose_b,
            operator: operator_b,
            created_at: created_at_b,
            code_issued_at: code_issued_at_b,
            expires_at: expires_at_b,
            digest: digest_b,
            failed_attempts: failed_attempts_b,
            delivery: delivery_b,
            language: language_b,
            code_length: code_length_b,
            gateway_mode: gateway_mode_b,
        } = other;
        bool::from(digest.ct_eq(digest_b))
            && id == id_b
            && number_id == number_id_b
            && sealed_number == sealed_number_b
            && region == region_b
            && masked_number == masked_number_b
            && purpose == purpose_b
            && operator == operator_b
            && created_at == created_at_b
            && code_issued_at == code_issued_at_b
            && expires_at == expires_at_b
            && failed_attempts == failed_attempts_b
            && delivery == delivery_b
            && language == language_b
            && code_length == code_length_b
            && gateway_mode == gateway_mode_b
    }
}

impl Eq for VerificationRecord {}

/// A pending verification in memory: the record plus its opened number.
#[derive(Clone, Debug)]
pub struct Verification {
    pub record: VerificationRecord,
    pub number: PhoneNumber,
}

/// What the staff screen may know of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationView {
    pub id: VerificationId,
    pub status: Status,
    pub masked_number: String,
    pub reference: String,
    pub operator: String,
    pub delivery: DeliveryView,
    pub created_at: i64,
    pub expires_at: i64,
    pub resend_available_at: i64,
    pub tries_left: u32,
    pub server_now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    pub state: &'static str,
    pub text: Text,
}
