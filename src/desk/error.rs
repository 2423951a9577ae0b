//! Why the desk refused an action. `Display` is the operator's message; it
//! never carries a code or a full number.

use crate::code::CodeInputError;
use crate::i18n::Text;
use crate::persist::StoreError;
use crate::phone::PhoneError;
use crate::sms::TemplateError;
use crate::verification::Status;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The number may not receive a code from this desk (S9).
    InvalidNumber(#[from] PhoneError),
    InvalidCodeInput(#[from] CodeInputError),
    NotFound,
    AlreadyEnded(Status),
    Expired,
    StillSending,
    NumberBlocked {
        minutes: u64,
    },
    Cooldown {
        seconds: u64,
    },
    SendLimit {
        minutes: u64,
    },
    MessageTooLong(#[from] TemplateError),
    Storage(#[from] StoreError),
    UnreadableEntry(String),
    /// No gateway can take an SMS now, so no code is made (S23).
    NoGateway(String),
    /// S6 across a branch: the desk holding the code is named, so staff can
    /// walk over or wait.
    PendingAtDesk(String),
    /// S24: the branch's limits cannot be read, so nothing is sent.
    BranchUnreachable,
}

impl DeskError {
    /// What staff are told, in any language.
    pub fn text(&self) -> Text {
        match self {
            Self::InvalidNumber(e) => e.text(),
            Self::InvalidCodeInput(e) => e.text(),
            Self::NotFound => Text::new("desk.not_found"),
            Self::AlreadyEnded(status) => {
                Text::new("desk.already_ended").arg("status", status.text())
            }
            Self::Expired => Text::new("desk.expired"),
            Self::StillSending => Text::new("desk.still_sending"),
            Self::NumberBlocked { minutes } => {
                Text::new("desk.number_blocked").count("minutes", *minutes)
            }
            Self::Cooldown { seconds } => Text::new("desk.cooldown").count("seconds", *seconds),
            Self::SendLimit { minutes } => Text::new("desk.send_limit").count("minutes", *minutes),
            Self::MessageTooLong(e) => e.text(),
            // The OS's words (a path, "no space left"): IT reads them as they are.
            Self::Storage(e) => Text::plain(e.to_string()),
            Self::UnreadableEntry(reason) => {
                Text::new("desk.unreadable_entry").arg("reason", reason.as_str())
            }
            Self::NoGateway(reason) => Text::new("desk.no_gateway").arg("reason", reason.clone()),
            Self::PendingAtDesk(desk) => {
                Text::new("desk.pending_at_desk").arg("desk", desk.as_str())
            }
            Self::BranchUnreachable => Text::new("desk.branch_unreachable"),
        }
    }

    /// A stable slug the UI can switch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidNumber(_) => "invalid_number",
            Self::InvalidCodeInput(_) => "invalid_code_input",
            Self::NotFound => "not_found",
            Self::AlreadyEnded(_) => "already_ended",
            Self::Expired => "code_expired",
            Self::StillSending => "still_sending",
            Self::NumberBlocked { .. } => "number_blocked",
            Self::Cooldown { .. } => "resend_cooldown",
            Self::SendLimit { .. } => "send_limit",
            Self::MessageTooLong(_) => "message_too_long",
            Self::Storage(_) => "storage",
            Self::UnreadableEntry(_) => "unreadable_entry",
            Self::NoGateway(_) => "gateway_unavailable",
            Self::PendingAtDesk(_) => "pending_at_other_desk",
            Self::BranchUnreachable => "branch_unreachable",
        }
    }
}

impl std::fmt::Display for DeskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl From<crate::limits::LimitRefusal> for DeskError {
    fn from(r: crate::limits::LimitRefusal) -> Self {
        use crate::limits::LimitRefusal;
        match r {
            LimitRefusal::Blocked { minutes } => Self::NumberBlocked { minutes },
            LimitRefusal::SendLimit { minutes } => Self::SendLimit { minutes },
            LimitRefusal::Cooldown { seconds } => Self::Cooldown { seconds },
        }
    }
}
