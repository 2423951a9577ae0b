//! The Restcomm Connect SMS client (and its Twilio-compatible flavour).
//!
//! One POST sends a message (never retried: a retry could put two codes on
//! the customer's phone); a GET by SID reads its delivery status, retried with
//! a short backoff on transient failures only. Every HTTP outcome of the API
//! (`shared/restcomm/API.md` §3) maps to one [`GatewayError`].
//!
//! Secrets: the SMS body is only ever written into the `Body` form field, the
//! auth token only into the `Authorization` header. Neither is logged; debug
//! logs carry the masked number, the SID and the status.
//!
//! S19: the client holds its own. No redirect is followed (a 307/308 would
//! re-post the body, code included, and the token to wherever it points); no
//! proxy comes from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`) unless IT's `gateway_proxy` is `system` ([`super::proxy`]);
//! the trust roots are IT's
//! `ca_bundle_file` or the OS's, never `SSL_CERT_FILE`/`SSL_CERT_DIR`
//! ([`super::trust`]); and `http://` is accepted only for a gateway on
//! loopback (the demo emulator), so a token never crosses a network in clear.//!
//! The parts: `settings.rs` (what the client is told, and the checks the
//! settings screen shares), `client.rs` (the requests) and `answer.rs`
//! (reading what comes back).

mod answer;
mod client;
mod settings;

pub use answer::mask_digit_runs;
pub use client::RestcommClient;
pub use settings::{
    check_account_sid, check_base_url, check_proxy_url, check_sender, is_loopback, Flavour,
    RestcommSettings, RetryPolicy, DEFAULT_BASE_URL, HTTPS_ONLY, RESTCOMM_API_VERSION,
    TWILIO_API_VERSION,
};

/// The client's answer parsers, reachable from the fuzz targets and the
/// property tests. Not an API: the client is the only real caller.
#[doc(hidden)]
pub mod fuzzing {
    use super::answer;
    use crate::gateway::{DeliveryStatus, GatewayError, MessageSid};

    /// What the client reads from a 200/201 body: the SID and the status.
    pub fn parse_message(
        body: &[u8],
    ) -> Result<(MessageSid, Option<DeliveryStatus>), GatewayError> {
        answer::parse_message(body).map(|a| (a.sid, a.status))
    }

    /// How the client reads a non-success answer (JSON, XML or text).
    pub fn classify_failure(code: u16, body: &[u8]) -> GatewayError {
        answer::classify_failure(code, body)
    }

    /// The `error` word of a JSON body or the `<Error>` of an XML one.
    pub fn error_word(text: &str) -> Option<String> {
        answer::error_word(text)
    }
}
