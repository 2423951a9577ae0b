//! The SMS gateway: what the desk needs from Restcomm, and nothing more.
//!
//! A [`Gateway`] sends one SMS and reads back its delivery status. The one real
//! implementation is the Restcomm client ([`restcomm`]), which also speaks the
//! Twilio-compatible flavour; the [`emulator`] is a Restcomm-compatible server on
//! loopback that demo mode and the tests talk to over real HTTP, so demo and
//! production take the same code path.
//!
//! The engine never calls a gateway itself: the shell asks the engine for the
//! message to send, sends it, and hands the engine the [`SendReceipt`] or the
//! [`GatewayError`]. That keeps the engine synchronous and free of I/O.

use std::fmt;
use std::future::Future;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::i18n::Text;
use crate::phone::PhoneNumber;

pub mod emulator;
pub mod error;
pub mod proxy;
pub mod restcomm;
pub mod tracking;
pub mod trust;

pub use error::GatewayError;

/// Which kind of gateway an SMS went through: the embedded emulator (demo
/// mode, nothing reaches a phone) or a real service. Audit records carry it,
/// so a trail shows at a glance whether a "Verified" involved a real phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    Demo,
    Restcomm,
    Twilio,
}

impl GatewayMode {
    pub const ALL: [GatewayMode; 3] = [Self::Demo, Self::Restcomm, Self::Twilio];

    /// The name written in the audit trail and its CSV export.
    pub fn name(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Restcomm => "restcomm",
            Self::Twilio => "twilio",
        }
    }

    pub fn is_real(self) -> bool {
        self != Self::Demo
    }
}

/// One SMS to send. The body holds the one-time code, so it is secret: it is
/// redacted in `Debug` and only ever exposed to be written into the request.
pub struct OutboundSms {
    pub to: PhoneNumber,
    pub body: SecretString,
}

impl OutboundSms {
    pub fn body_text(&self) -> &str {
        self.body.expose_secret()
    }
}

impl fmt::Debug for OutboundSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSms")
            .field("to", &self.to)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// The gateway's identifier of an accepted message (`SM…` for Restcomm).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageSid(String);

impl MessageSid {
    /// Accepts what a gateway may answer: 2 to 64 ASCII letters and digits.
    /// Anything else is refused, since the SID is later put into a URL path.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (2..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the gateway said when it took the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    pub sid: MessageSid,
    pub status: DeliveryStatus,
}

/// Where a message is on its way to the handset, as the gateway reports it.
///
/// Restcomm answers `sending`; Twilio `queued` or `accepted`; both then move to
/// `sent` and end `delivered`, `undelivered` or `failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// Accepted by the gateway, not yet handed to a carrier.
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The handset has it.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered { error: Option<MessageError> },
    /// The gateway or carrier refused it.
    Failed { error: Option<MessageError> },
}

impl DeliveryStatus {
    /// Reads a gateway's status word, case-insensitively. `None` for a word
    /// that is not a delivery status (e.g. `received`).
    pub fn from_gateway(status: &str, error: Option<MessageError>) -> Option<Self> {
        match status.trim().to_ascii_lowercase().as_str() {
            "sending" | "queued" | "accepted" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "undelivered" => Some(Self::Undelivered { error }),
            "failed" => Some(Self::Failed { error }),
            _ => None,
        }
    }

    /// A final status never changes again, so tracking stops there.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered { .. } | Self::Failed { .. }
        )
    }

    /// Words for the staff screen.
    pub fn text(&self) -> Text {
        let with_reason = |status: &'static str, error: &Option<MessageError>| match error {
            Some(e) => Text::new("delivery.with_reason")
                .arg("status", Text::new(status))
                .arg("reason", e.message()),
            None => Text::new(status),
        };
        match self {
            Self::Sending => Text::new("delivery.sending"),
            Self::Sent => Text::new("delivery.sent"),
            Self::Delivered => Text::new("delivery.delivered"),
            Self::Undelivered { error } => with_reason("delivery.undelivered", error),
            Self::Failed { error } => with_reason("delivery.failed", error),
        }
    }

    /// English words for the audit record, which is not translated.
    pub fn describe(&self) -> String {
        match self {
            Self::Sending => "Sending".to_owned(),
            Self::Sent => "Sent to the carrier".to_owned(),
            Self::Delivered => "Delivered to the phone".to_owned(),
            Self::Undelivered { error } => with_reason("Not delivered", error),
            Self::Failed { error } => with_reason("Failed", error),
        }
    }
}

fn with_reason(head: &str, error: &Option<MessageError>) -> String {
    match error {
        Some(e) => format!("{head}: {}", e.text()),
        None => head.to_owned(),
    }
}

/// A message error code, 30001–30010 in Restcomm (the same numbers as Twilio's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageError(pub u32);

impl MessageError {
    /// The carrier's reason, for staff.
    pub fn message(self) -> Text {
        Text::new(match self.0 {
            30001 => "carrier.30001",
            30002 => "carrier.30002",
            30003 => "carrier.30003",
            30004 => "carrier.30004",
            30005 => "carrier.30005",
            30006 => "carrier.30006",
            30007 => "carrier.30007",
            30008 => "carrier.30008",
            30009 => "carrier.30009",
            30010 => "carrier.30010",
            _ => "carrier.other",
        })
    }

    /// The human text Restcomm's `MessageError` gives each code.
    pub fn text(self) -> &'static str {
        match self.0 {
            30001 => "Queue overflow",
            30002 => "Account suspended",
            30003 => "Unreachable destination handset",
            30004 => "Message blocked",
            30005 => "Unknown destination handset",
            30006 => "Landline or unreachable carrier",
            30007 => "Carrier violation",
            30008 => "Unknown error",
            30009 => "Missing segment",
            30010 => "Message price exceeds max price.",
            _ => "Unrecognised error code",
        }
    }
}

/// A delivery report read back by SID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sid: MessageSid,
    pub status: DeliveryStatus,
}

/// Sends SMS and reads their delivery status.
pub trait Gateway: Send + Sync {
    /// Sends once. Never retried inside: a POST that may have reached the
    /// server could otherwise put two codes on the customer's phone.
    fn send(
        &self,
        sms: &OutboundSms,
    ) -> impl Future<Output = Result<SendReceipt, GatewayError>> + Send;

    /// Reads the delivery status of an accepted message.
    fn status(
        &self,
        sid: &MessageSid,
    ) -> impl Future<Output = Result<DeliveryReport, GatewayError>> + Send;
}
