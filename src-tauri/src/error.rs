//! The one error shape that crosses IPC: `{ kind, message, text }`.
//!
//! `kind` is a stable slug the UI may switch on; `text` is the message as
//! a catalogue key with its arguments, which the UI renders in the language
//! staff chose; `message` is the same in English, for logs and tools. Both
//! are safe to show (no code, token or full number: the core's messages are
//! written that way). A core error keeps its own kind and words (`#[from]`,
//! the core's `kind()` and `text()`); the shell's own refusals are the
//! variants below. Internal details are logged once, at the edge, and
//! replaced by a generic sentence.

use serde::ser::SerializeStruct;
use serde::Serialize;

use countersign::config::SaveError;
use countersign::desk::DeskError;
use countersign::gateway::GatewayError;
use countersign::i18n::Text;
use countersign::language::UnknownLanguage;
use countersign::phone::PhoneError;
use countersign::purpose::PurposeError;
use countersign::verification::OperatorError;

use crate::settings::file::SettingsFileError;

/// Why a command failed, as the window is told.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The engine refused or failed; its kind and words are the core's.
    Desk(#[from] DeskError),
    /// The typed number is not one a code may be sent to.
    Phone(#[from] PhoneError),
    /// The reference or payment the code is for is not well formed.
    Purpose(#[from] PurposeError),
    /// The staff ID or name is not well formed.
    Operator(#[from] OperatorError),
    /// The gateway refused or failed (a test SMS, a status query).
    Gateway(#[from] GatewayError),
    /// The message language asked for is not one the desk has.
    Language(#[from] UnknownLanguage),
    /// The SMS did not go, so the verification ended `NotSent` with its
    /// code destroyed: the outcome's words, the gateway's kind when it
    /// answered with one.
    NotSent {
        cause: Option<GatewayError>,
        text: Text,
    },
    /// The verification ended (checked, cancelled, expired) while its SMS
    /// was on its way.
    EndedWhileSending,
    /// No verification has that id (or the id is not one).
    UnknownVerification,
    /// Nobody is signed in: customer work waits for a sign-in.
    DeskLocked,
    /// The desk could not be opened, has shut down, or lacks what the
    /// command needs (the audit key).
    DeskUnavailable(Text),
    /// No gateway can take an SMS now, and why.
    NoGateway { reason: String },
    /// A file of the desk's could not be written.
    Storage(Text),
    /// The credential store could not keep or record something.
    Credentials(Text),
    /// A setting's value is refused by its check.
    InvalidSetting(Text),
    /// A settings save refused by the core's rules (`config::save`): an
    /// unknown key, a broken policy file, a bad or locked token.
    Save(#[from] SaveError),
    /// The text given is not a gateway message SID.
    InvalidSid,
    /// An Activity filter cannot be read.
    InvalidFilter(Text),
    /// Branch-wide Activity asked on a desk that is not in a branch.
    NotInBranch,
    /// The branch's store cannot be read now.
    BranchUnreachable,
    /// An export (CSV, audit key) could not be written.
    ExportFailed(Text),
    /// A fault staff cannot act on; its detail is in the log only.
    Internal,
}

pub type IpcResult<T> = Result<T, IpcError>;

impl IpcError {
    /// For faults the operator cannot act on: details go to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::Internal
    }

    /// The stable slug the UI switches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Desk(e) => e.kind(),
            Self::Phone(e) => e.kind(),
            Self::Purpose(e) => e.kind(),
            Self::Operator(e) => e.kind(),
            Self::Gateway(e) => e.kind(),
            Self::Language(e) => e.kind(),
            Self::NotSent { cause, .. } => cause.as_ref().map_or("not_sent", GatewayError::kind),
            Self::EndedWhileSending => "already_ended",
            Self::UnknownVerification => "not_found",
            Self::DeskLocked => "desk_locked",
            Self::DeskUnavailable(_) => "desk_unavailable",
            Self::NoGateway { .. } => "gateway_unavailable",
            Self::Storage(_) => "storage",
            Self::Credentials(_) => "credentials",
            Self::InvalidSetting(_) => "invalid_setting",
            Self::Save(e) => e.kind(),
            Self::InvalidSid => "invalid_sid",
            Self::InvalidFilter(_) => "invalid_filter",
            Self::NotInBranch => "not_in_branch",
            Self::BranchUnreachable => "branch_unreachable",
            Self::ExportFailed(_) => "export_failed",
            Self::Internal => "internal",
        }
    }

    /// What staff are told, in any language.
    pub fn text(&self) -> Text {
        match self {
            Self::Desk(e) => e.text(),
            Self::Phone(e) => e.text(),
            Self::Purpose(e) => e.text(),
            Self::Operator(e) => e.text(),
            Self::Gateway(e) => e.text(),
            // The core words it in English only.
            Self::Language(e) => Text::plain(e.to_string()),
            Self::NotSent { text, .. }
            | Self::DeskUnavailable(text)
            | Self::Storage(text)
            | Self::Credentials(text)
            | Self::InvalidSetting(text)
            | Self::InvalidFilter(text)
            | Self::ExportFailed(text) => text.clone(),
            Self::EndedWhileSending => Text::new("ipc.ended_while_sending"),
            Self::UnknownVerification => Text::new("desk.not_found"),
            Self::DeskLocked => Text::new("ipc.desk_locked"),
            Self::NoGateway { reason } => Text::new("ipc.no_sms").arg("reason", reason.as_str()),
            Self::Save(e) => e.text(),
            Self::InvalidSid => Text::plain("That is not a message SID.".to_owned()),
            Self::NotInBranch => Text::new("branch.not_in_branch"),
            Self::BranchUnreachable => Text::new("branch.records_unreachable"),
            Self::Internal => Text::new("ipc.internal"),
        }
    }

    /// The English message, for logs and the shell's own tests.
    pub fn message(&self) -> String {
        self.text().to_string()
    }
}

/// A settings file that cannot be written is a `storage` refusal, in IT's
/// English (the path and the OS's words are what IT acts on).
impl From<SettingsFileError> for IpcError {
    fn from(e: SettingsFileError) -> Self {
        Self::Storage(Text::plain(e.to_string()))
    }
}

/// The edge: an error leaves for the window here, so what only IT can
/// use (the OS's words for a failed write) is logged here, once.
impl Serialize for IpcError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Self::Desk(DeskError::Storage(inner)) = self {
            tracing::error!(error = %inner, "pending store write failed");
        }
        let text = self.text();
        let mut out = s.serialize_struct("IpcError", 3)?;
        out.serialize_field("kind", self.kind())?;
        out.serialize_field("message", &text.to_string())?;
        out.serialize_field("text", &text)?;
        out.end()
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn wire(e: &IpcError) -> Value {
        serde_json::to_value(e).expect("an error serialises")
    }

    /// The window and the E2E suite read `kind`, `message` and `text`:
    /// the shape and the slugs are a contract.
    #[test]
    fn an_error_crosses_ipc_as_kind_message_and_text() {
        let locked = wire(&IpcError::DeskLocked);
        let text = Text::new("ipc.desk_locked");
        assert_eq!(
            locked,
            json!({ "kind": "desk_locked", "message": text.to_string(), "text": text })
        );
        assert_eq!(locked.as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn a_core_refusal_keeps_the_core_s_kind_and_words() {
        let far = PhoneError::CountryNotAllowed("FR".into(), "GB".into());
        let e = IpcError::from(far.clone());
        assert_eq!(wire(&e)["kind"], "country_not_allowed");
        assert_eq!(wire(&e)["text"], serde_json::to_value(far.text()).unwrap());
        let e = IpcError::from(DeskError::Cooldown { seconds: 20 });
        assert_eq!(wire(&e)["kind"], "resend_cooldown");
    }

    #[test]
    fn an_sms_that_did_not_go_is_named_by_the_gateway_when_it_answered() {
        let text = Text::new("desk.not_found");
        let answered = IpcError::NotSent {
            cause: Some(GatewayError::Timeout),
            text: text.clone(),
        };
        assert_eq!(answered.kind(), GatewayError::Timeout.kind());
        let silent = IpcError::NotSent { cause: None, text };
        assert_eq!(silent.kind(), "not_sent");
    }
}
