//! Why the desk refused an action. `Display` is the operator's message; it
//! never carries a code or a full number.

use crate::code::CodeInputError;
use crate::persist::StoreError;
use crate::phone::PhoneError;
use crate::sms::TemplateError;
use crate::verification::Status;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The number may not receive a code from this desk (S9).
    #[error("{0}")]
    InvalidNumber(#[from] PhoneError),
    #[error("{0}")]
    InvalidCodeInput(#[from] CodeInputError),
    #[error("This verification is not on this desk. Start a new one.")]
    NotFound,
    #[error("This verification has already ended ({}). Start a new one if needed.", .0.as_str())]
    AlreadyEnded(Status),
    #[error("The code has expired. Start a new verification.")]
    Expired,
    #[error("The code is still on its way to the gateway. Wait a moment, then try again.")]
    StillSending,
    #[error("Too many wrong codes for this number in the last hour. It is blocked for about {minutes} more minutes; verify the customer another way.")]
    NumberBlocked { minutes: u64 },
    #[error("A code was just sent to this number. Wait {seconds} s before sending another.")]
    Cooldown { seconds: u64 },
    #[error("This number has had the maximum codes allowed in a short time. Try again in about {minutes} minutes.")]
    SendLimit { minutes: u64 },
    #[error("{0}")]
    MessageTooLong(#[from] TemplateError),
    #[error("{0}")]
    Storage(#[from] StoreError),
    #[error("A pending entry cannot be opened: {0}")]
    UnreadableEntry(String),
    /// No gateway can take an SMS now, so no code is made (S23).
    #[error("No SMS can be sent: {0} No code was made.")]
    NoGateway(String),
    /// S6 across a branch: the desk holding the code is named, so staff can
    /// walk over or wait.
    #[error("A code for this number is already pending at desk {0}. It must be finished or cancelled there, or expire, before another can be sent.")]
    PendingAtDesk(String),
    /// S24: the branch's limits cannot be read, so nothing is sent.
    #[error("The branch store cannot be reached, so no code can be sent now. Codes already sent can still be checked. Tell IT if this lasts.")]
    BranchUnreachable,
}

impl DeskError {
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
