//! The one error shape that crosses IPC: `{ kind, message }`.
//!
//! `kind` is a stable slug the UI may switch on; `message` is written for the
//! operator and is safe to show (no code, token or full number: the core's
//! messages are written that way, and internal details are logged here, once,
//! and replaced by a generic sentence).

use serde::Serialize;

use countersign::desk::DeskError;
use countersign::gateway::GatewayError;
use countersign::phone::PhoneError;
use countersign::purpose::PurposeError;
use countersign::verification::OperatorError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpcError {
    pub kind: String,
    pub message: String,
}

impl IpcError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    /// For faults the operator cannot act on: details go to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            "internal",
            "Something went wrong inside Countersign. Nothing was sent or approved; try again, and tell IT if it repeats.",
        )
    }

    pub fn unknown_verification() -> Self {
        Self::new(
            "not_found",
            "This verification is not on this desk. Start a new one.",
        )
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl From<DeskError> for IpcError {
    fn from(e: DeskError) -> Self {
        if let DeskError::Storage(inner) = &e {
            tracing::error!(error = %inner, "pending store write failed");
        }
        Self::new(e.kind(), e.to_string())
    }
}

impl From<PhoneError> for IpcError {
    fn from(e: PhoneError) -> Self {
        let kind = match e {
            PhoneError::CountryNotAllowed(..) => "country_not_allowed",
            PhoneError::CannotReceiveSms(_) => "number_cannot_receive_sms",
            _ => "invalid_number",
        };
        Self::new(kind, e.to_string())
    }
}

impl From<PurposeError> for IpcError {
    fn from(e: PurposeError) -> Self {
        Self::new("invalid_purpose", e.to_string())
    }
}

impl From<OperatorError> for IpcError {
    fn from(e: OperatorError) -> Self {
        Self::new("invalid_operator", e.to_string())
    }
}

impl From<GatewayError> for IpcError {
    fn from(e: GatewayError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
