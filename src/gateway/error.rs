//! Everything that can go wrong between the desk and the SMS gateway, each
//! with a message that tells the operator what to do next.
//!
//! Messages are written for staff and IT; none carries a code, a token or a
//! full phone number (S12). Restcomm's own error text is kept where it helps
//! (a 400 says which field it refused), after digits runs are masked.

use crate::i18n::Text;

/// A typed gateway failure. `Display` is the operator-facing message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// 401: the Account SID or auth token is wrong.
    Unauthorized,
    /// 403 with an empty body: valid credentials, but not for this account.
    AccountForbidden,
    /// 403 `Provided Account is not active`.
    AccountNotActive,
    /// 403 `SMS_LIMIT_EXCEEDED` from Restcomm's limit hook.
    SmsLimitExceeded,
    /// 400: Restcomm refused the request and said why.
    Rejected(String),
    /// 404: the message or account is unknown to the gateway.
    NotFound,
    /// 5xx: the gateway failed.
    ServerError(u16),
    /// 3xx: the gateway sent the request elsewhere. Redirects are never
    /// followed (S19): the body holds the code and the request the token.
    Redirected(u16),
    /// Any other status the API does not define.
    UnexpectedStatus(u16),
    /// No answer in time. The request may have reached the gateway, so the
    /// SMS may still arrive; its code will not be accepted.
    Timeout,
    /// Nothing listened at the gateway address.
    CannotConnect,
    /// The TLS handshake failed (certificate, proxy CA).
    Tls,
    /// The connection closed before a full answer came back.
    ConnectionDropped,
    /// An answer that is not what the API returns.
    UnreadableAnswer(String),
    /// The configured gateway settings are not usable.
    Misconfigured(String),
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl GatewayError {
    /// What staff are told, in any language.
    pub fn text(&self) -> Text {
        let status = |key, code: &u16| Text::new(key).arg("status", u64::from(*code));
        match self {
            Self::Unauthorized => Text::new("gateway.unauthorized"),
            Self::AccountForbidden => Text::new("gateway.forbidden"),
            Self::AccountNotActive => Text::new("gateway.account_inactive"),
            Self::SmsLimitExceeded => Text::new("gateway.limit_exceeded"),
            Self::Rejected(reason) => Text::new("gateway.rejected").arg("reason", reason.as_str()),
            Self::NotFound => Text::new("gateway.not_found"),
            Self::ServerError(code) => status("gateway.server_error", code),
            Self::Redirected(code) => status("gateway.redirected", code),
            Self::UnexpectedStatus(code) => status("gateway.unexpected_status", code),
            Self::Timeout => Text::new("gateway.timeout"),
            Self::CannotConnect => Text::new("gateway.unreachable"),
            Self::Tls => Text::new("gateway.tls"),
            Self::ConnectionDropped => Text::new("gateway.connection_dropped"),
            Self::UnreadableAnswer(reason) => {
                Text::new("gateway.unreadable_answer").arg("reason", reason.as_str())
            }
            Self::Misconfigured(reason) => {
                Text::new("gateway.misconfigured").arg("reason", reason.as_str())
            }
        }
    }

    /// A stable slug for the UI and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized => "gateway_unauthorized",
            Self::AccountForbidden => "gateway_forbidden",
            Self::AccountNotActive => "gateway_account_inactive",
            Self::SmsLimitExceeded => "gateway_limit_exceeded",
            Self::Rejected(_) => "gateway_rejected",
            Self::NotFound => "gateway_not_found",
            Self::ServerError(_) => "gateway_server_error",
            Self::Redirected(_) => "gateway_redirected",
            // A 4xx is a refusal before the gateway took the message (no S8
            // send); anything else may have been taken. The kinds differ so
            // that the audit trail, read back after damage, counts sends
            // exactly as the engine did.
            Self::UnexpectedStatus(code) if (400..500).contains(code) => {
                "gateway_unexpected_refusal"
            }
            Self::UnexpectedStatus(_) => "gateway_unexpected_status",
            Self::Timeout => "gateway_timeout",
            Self::CannotConnect => "gateway_unreachable",
            Self::Tls => "gateway_tls",
            Self::ConnectionDropped => "gateway_connection_dropped",
            Self::UnreadableAnswer(_) => "gateway_unreadable_answer",
            Self::Misconfigured(_) => "gateway_misconfigured",
        }
    }

    /// Whether the gateway may have taken the message despite the failure:
    /// no answer, a cut or unreadable answer, or a server error after the
    /// request arrived. Such a send counts towards the number's pace and cap
    /// (S8, S23), since the SMS may still reach the phone; only a refusal
    /// before the gateway took the message (cannot connect, TLS, a 4xx,
    /// settings) does not.
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Timeout
            | Self::ConnectionDropped
            | Self::UnreadableAnswer(_)
            | Self::ServerError(_) => true,
            Self::UnexpectedStatus(code) => !(400..500).contains(code),
            Self::Unauthorized
            | Self::AccountForbidden
            | Self::AccountNotActive
            | Self::SmsLimitExceeded
            | Self::Rejected(_)
            | Self::NotFound
            | Self::CannotConnect
            | Self::Tls
            // The gateway answered with a redirect and took nothing; it was
            // not followed.
            | Self::Redirected(_)
            | Self::Misconfigured(_) => false,
        }
    }

    /// [`GatewayError::may_have_been_sent`] from the slug alone, as the
    /// audit trail keeps it (`not_sent` records' `detail`). Where the slug
    /// does not say (an unexpected status, whose code is not kept), the
    /// answer is yes: rebuilding the S8 counts from the trail must never
    /// hand a number back a send.
    pub fn kind_may_have_been_sent(kind: &str) -> bool {
        matches!(
            kind,
            "gateway_timeout"
                | "gateway_connection_dropped"
                | "gateway_unreadable_answer"
                | "gateway_server_error"
                | "gateway_unexpected_status"
        )
    }

    /// Whether a status read that failed this way is worth trying again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ServerError(_) | Self::Timeout | Self::CannotConnect | Self::ConnectionDropped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::GatewayError;

    /// The audit trail keeps only the slug: every error that may have sent
    /// must be counted from its slug too (S21).
    #[test]
    fn every_error_that_may_have_sent_is_counted_from_its_slug() {
        let all = [
            GatewayError::Unauthorized,
            GatewayError::AccountForbidden,
            GatewayError::AccountNotActive,
            GatewayError::SmsLimitExceeded,
            GatewayError::Rejected("x".into()),
            GatewayError::NotFound,
            GatewayError::ServerError(503),
            GatewayError::Redirected(302),
            GatewayError::UnexpectedStatus(600),
            GatewayError::UnexpectedStatus(413),
            GatewayError::Timeout,
            GatewayError::CannotConnect,
            GatewayError::Tls,
            GatewayError::ConnectionDropped,
            GatewayError::UnreadableAnswer("x".into()),
            GatewayError::Misconfigured("x".into()),
        ];
        for e in all {
            if e.may_have_been_sent() {
                assert!(GatewayError::kind_may_have_been_sent(e.kind()), "{e:?}");
            }
        }
        assert!(!GatewayError::kind_may_have_been_sent(
            "gateway_unauthorized"
        ));
        assert!(!GatewayError::kind_may_have_been_sent(
            "no gateway: starting"
        ));
    }
}
