//! The one error shape that crosses IPC: `{ kind, message, text }`.
//!
//! `kind` is a stable slug the UI may switch on; `text` is the message as
//! a catalogue key with its arguments, which the UI renders in the language
//! staff chose; `message` is the same in English, for logs and tools. Both
//! are safe to show (no code, token or full number: the core's messages are
//! written that way, and internal details are logged here, once, and
//! replaced by a generic sentence).

use serde::ser::SerializeStruct;
use serde::Serialize;

use countersign::desk::DeskError;
use countersign::gateway::GatewayError;
use countersign::i18n::Text;
use countersign::phone::PhoneError;
use countersign::purpose::PurposeError;
use countersign::verification::OperatorError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcError {
    pub kind: String,
    pub text: Text,
}

impl Serialize for IpcError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("IpcError", 3)?;
        out.serialize_field("kind", &self.kind)?;
        out.serialize_field("message", &self.text.to_string())?;
        out.serialize_field("text", &self.text)?;
        out.end()
    }
}

impl IpcError {
    pub fn text(kind: &str, text: Text) -> Self {
        Self {
            kind: kind.to_owned(),
            text,
        }
    }

    /// A message made of words that are not in the catalogue (an OS or
    /// library error): shown as they are, in every language.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self::text(kind, Text::plain(message.into()))
    }

    /// The English message, for logs and the shell's own tests.
    pub fn message(&self) -> String {
        self.text.to_string()
    }

    /// For faults the operator cannot act on: details go to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::text("internal", Text::new("ipc.internal"))
    }

    pub fn unknown_verification() -> Self {
        Self::text("not_found", Text::new("desk.not_found"))
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.text)
    }
}

impl From<DeskError> for IpcError {
    fn from(e: DeskError) -> Self {
        if let DeskError::Storage(inner) = &e {
            tracing::error!(error = %inner, "pending store write failed");
        }
        Self::text(e.kind(), e.text())
    }
}

impl From<PhoneError> for IpcError {
    fn from(e: PhoneError) -> Self {
        let kind = match e {
            PhoneError::CountryNotAllowed(..) => "country_not_allowed",
            PhoneError::CannotReceiveSms(_) => "number_cannot_receive_sms",
            _ => "invalid_number",
        };
        Self::text(kind, e.text())
    }
}

impl From<PurposeError> for IpcError {
    fn from(e: PurposeError) -> Self {
        Self::text("invalid_purpose", e.text())
    }
}

impl From<OperatorError> for IpcError {
    fn from(e: OperatorError) -> Self {
        Self::text("invalid_operator", e.text())
    }
}

impl From<GatewayError> for IpcError {
    fn from(e: GatewayError) -> Self {
        Self::text(e.kind(), e.text())
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
