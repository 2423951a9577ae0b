//! The emulator's configuration and the records it hands back: accounts,
//! the delivery schedule, unreachable ranges, inbox messages and captured
//! requests.

use super::*;
/// Restcomm's API version, the only one its servlet is mounted at.
pub const API_VERSION: &str = "2012-04-24";
/// The Twilio-compatible route's version.
pub const TWILIO_API_VERSION: &str = "2010-04-01";
/// The demo account's SID: `ACdemo` and 28 more letters and digits (34 in all).
pub const DEMO_ACCOUNT_SID: &str = "ACdemo0000000000000000000000000001";

/// An account the emulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorAccount {
    pub sid: String,
    /// The AuthToken (in Restcomm, the MD5 hex of the password). Clients may
    /// send it or any secret whose MD5 hex it is.
    pub token: String,
    /// Restcomm also takes the account's e-mail address as the Basic user.
    pub email: Option<String>,
    /// Not active = suspended/closed/inactive: 403 `Provided Account is not active`.
    pub active: bool,
    /// After this many accepted messages, 403 `SMS_LIMIT_EXCEEDED` (the
    /// extension hook's refusal). `None`: no limit.
    pub sms_limit: Option<usize>,
}

impl EmulatorAccount {
    /// An active account, no e-mail, no limit.
    pub fn new(sid: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            sid: sid.into(),
            token: token.into(),
            email: None,
            active: true,
            sms_limit: None,
        }
    }
}

/// When an accepted message moves on, counted from its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progression {
    pub to_sent: Duration,
    pub to_delivered: Duration,
}

impl Default for Progression {
    fn default() -> Self {
        Self {
            to_sent: Duration::from_millis(300),
            to_delivered: Duration::from_secs(1),
        }
    }
}

impl Progression {
    /// Never moves by itself: only [`EmulatorHandle::advance`] moves messages.
    pub fn manual() -> Self {
        let far = Duration::from_secs(365 * 24 * 3600);
        Self {
            to_sent: far,
            to_delivered: far,
        }
    }
}

/// How a message to an unreachable number ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `failed` with 30003 "Unreachable destination handset", at the `sent` step.
    Failed,
    /// `sent`, then `undelivered` with 30005 "Unknown destination handset".
    Undelivered,
}

impl Ending {
    pub(super) fn error(self) -> (u32, &'static str) {
        match self {
            Self::Failed => (30003, "Unreachable destination handset"),
            Self::Undelivered => (30005, "Unknown destination handset"),
        }
    }
}

/// Numbers starting with `prefix` (compared on digits only, so `+4477…` and
/// `4477…` are the same) end as `ending` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreachableRange {
    pub prefix: String,
    pub ending: Ending,
}

impl UnreachableRange {
    pub fn new(prefix: impl Into<String>, ending: Ending) -> Self {
        Self {
            prefix: prefix.into(),
            ending,
        }
    }

    pub(super) fn matches(&self, number: &str) -> bool {
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let prefix = digits(&self.prefix);
        !prefix.is_empty() && digits(number).starts_with(&prefix)
    }
}

#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub accounts: Vec<EmulatorAccount>,
    pub progression: Progression,
    pub unreachable: Vec<UnreachableRange>,
}

impl EmulatorConfig {
    /// One account ([`DEMO_ACCOUNT_SID`], a fresh random token), an ephemeral
    /// port, the default progression, and two unreachable UK numbers:
    /// `+447400000666` fails (30003), `+447400000777` is undelivered (30005).
    pub fn demo() -> Self {
        let token = hex::encode(rand::random::<[u8; 16]>());
        Self {
            port: 0,
            accounts: vec![EmulatorAccount::new(DEMO_ACCOUNT_SID, token)],
            progression: Progression::default(),
            unreachable: vec![
                UnreachableRange::new("+447400000666", Ending::Failed),
                UnreachableRange::new("+447400000777", Ending::Undelivered),
            ],
        }
    }
}

/// A message the emulator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessage {
    pub sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// One HTTP request as it arrived, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body, decoded lossily as UTF-8 (still form-encoded).
    pub body: String,
}

impl CapturedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of a form field of the body.
    pub fn form_field(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}
