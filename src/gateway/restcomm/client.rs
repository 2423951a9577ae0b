//! The HTTP side: one POST per SMS, never retried (a retried POST can put
//! two codes on the customer's phone), and a GET by SID for the delivery
//! status, retried with a short backoff on transient failures only. The
//! client is built from [`RestcommSettings`] alone (S19): no redirect, no
//! proxy or trust root from the environment.

use std::fmt;

use secrecy::ExposeSecret;
use tracing::debug;
use url::Url;

use super::answer::{classify_failure, parse_message};
use super::settings::{RestcommSettings, RetryPolicy};
use crate::gateway::proxy::{effective_route, ProxyRoute};
use crate::gateway::{
    DeliveryReport, DeliveryStatus, Gateway, GatewayError, MessageSid, OutboundSms, SendReceipt,
};

/// Largest answer body the client reads; the API's answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A [`Gateway`] over Restcomm's (or a Twilio-compatible) REST API.
#[derive(Clone)]
pub struct RestcommClient {
    http: reqwest::Client,
    settings: RestcommSettings,
    retry: RetryPolicy,
}

impl fmt::Debug for RestcommClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestcommClient")
            .field("settings", &self.settings)
            .field("retry", &self.retry)
            .finish()
    }
}

impl RestcommClient {
    /// Validates the settings and builds the HTTP client. Nothing in it comes
    /// from the environment (S19): no redirect is followed, the proxy is as
    /// IT chose ([`crate::gateway::proxy`]), the trust roots are IT's CA bundle or the
    /// OS's.
    pub fn new(settings: RestcommSettings) -> Result<Self, GatewayError> {
        settings.validate()?;
        let misconfigured = |m: String| GatewayError::Misconfigured(m);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            // A 307/308 would re-post the body (the code) and the token.
            .redirect(reqwest::redirect::Policy::none());
        builder = match effective_route(&settings.base_url, &settings.proxy) {
            // HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and the OS's proxy are ignored.
            ProxyRoute::Direct => builder.no_proxy(),
            ProxyRoute::Via { url, no_proxy } => {
                let proxy = reqwest::Proxy::all(url.as_str())
                    .map_err(|_| {
                        misconfigured("the gateway proxy is not a usable address".to_owned())
                    })?
                    .no_proxy(no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
                builder.no_proxy().proxy(proxy)
            }
            // reqwest's own lookup: left on only here.
            ProxyRoute::Os => builder,
        };
        if settings.base_url.scheme() == "https" {
            builder = builder.use_preconfigured_tls(
                crate::gateway::trust::client_config(settings.ca_bundle_file.as_deref())
                    .map_err(misconfigured)?,
            );
        } else {
            // Plain HTTP is loopback only (validated): no proxy can reach it,
            // and no certificate is trusted should anything ask for TLS.
            builder = builder.tls_built_in_root_certs(false);
        }
        let http = builder
            .build()
            .map_err(|_| misconfigured("the HTTPS client could not be set up".to_owned()))?;
        Ok(Self {
            http,
            settings,
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the status-read retry policy (tests use a tiny backoff).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn settings(&self) -> &RestcommSettings {
        &self.settings
    }

    /// `{base}/{version}/Accounts/{sid}/SMS/Messages[/{extra}]` plus `.json` on the last segment.
    fn url(&self, message: Option<&MessageSid>) -> Url {
        let s = &self.settings;
        let mut url = s.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        let resource = s.flavour.resource();
        {
            let mut segs = url.path_segments_mut().expect("validated: has a base");
            segs.pop_if_empty();
            segs.push(&s.api_version)
                .push("Accounts")
                .push(&s.account_sid);
            let (last, init) = resource.split_last().expect("non-empty");
            segs.extend(init.iter().copied());
            match message {
                None => {
                    segs.push(&format!("{last}.json"));
                }
                Some(sid) => {
                    segs.push(last).push(&format!("{}.json", sid.as_str()));
                }
            }
        }
        url
    }

    async fn send_once(&self, sms: &OutboundSms) -> Result<SendReceipt, GatewayError> {
        let s = &self.settings;
        let form = [
            ("From", s.sender.as_str()),
            ("To", sms.to.e164()),
            ("Body", sms.body_text()),
        ];
        let request = self
            .http
            .post(self.url(None))
            .basic_auth(&s.account_sid, Some(s.auth_token.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let (status, body) = self.exchange(request).await?;
        let answer = match status {
            200 | 201 => parse_message(&body)?,
            code => return Err(classify_failure(code, &body)),
        };
        let status = answer.status.unwrap_or(DeliveryStatus::Sending);
        debug!(to = %sms.to.masked(), sid = %answer.sid, status = ?status, "SMS accepted by the gateway");
        Ok(SendReceipt {
            sid: answer.sid,
            status,
        })
    }

    async fn status_once(&self, sid: &MessageSid) -> Result<DeliveryReport, GatewayError> {
        let s = &self.settings;
        let request = self
            .http
            .get(self.url(Some(sid)))
            .basic_auth(&s.account_sid, Some(s.auth_token.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json");
        let (status, body) = self.exchange(request).await?;
        let answer = match status {
            200 => parse_message(&body)?,
            code => return Err(classify_failure(code, &body)),
        };
        if &answer.sid != sid {
            return Err(GatewayError::UnreadableAnswer(
                "the answer is about another message".to_owned(),
            ));
        }
        let status = answer
            .status
            .ok_or_else(|| GatewayError::UnreadableAnswer("no message status".to_owned()))?;
        debug!(sid = %sid, status = ?status, "SMS status read");
        Ok(DeliveryReport {
            sid: answer.sid,
            status,
        })
    }

    /// Sends the request and reads the whole answer (bounded), mapping
    /// transport failures.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), GatewayError> {
        let https = self.settings.base_url.scheme() == "https";
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, https))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&e, https))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(GatewayError::UnreadableAnswer(
                    "the answer is too large".to_owned(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

impl Gateway for RestcommClient {
    async fn send(&self, sms: &OutboundSms) -> Result<SendReceipt, GatewayError> {
        // Never retried: the POST may have reached the gateway.
        self.send_once(sms).await
    }

    async fn status(&self, sid: &MessageSid) -> Result<DeliveryReport, GatewayError> {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            match self.status_once(sid).await {
                Err(e) if e.is_transient() && attempt < attempts => {
                    debug!(sid = %sid, error = e.kind(), attempt, "status read failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Maps a reqwest failure to what the operator can act on.
fn transport_error(e: &reqwest::Error, https: bool) -> GatewayError {
    if e.is_timeout() {
        return GatewayError::Timeout;
    }
    if e.is_builder() {
        return GatewayError::Misconfigured("the request could not be built".to_owned());
    }
    if https && e.is_connect() && looks_like_tls(e) {
        return GatewayError::Tls;
    }
    if e.is_connect() {
        return GatewayError::CannotConnect;
    }
    // A request or body error after connecting: the connection closed (or
    // was reset) before a whole answer came back.
    GatewayError::ConnectionDropped
}

fn looks_like_tls(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // tokio-rustls reports every rustls failure as InvalidData.
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if [
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "peer sent",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::gateway::restcomm::Flavour;

    fn settings() -> RestcommSettings {
        RestcommSettings::new("ACabc", SecretString::from("tok"), "+15550001111")
    }

    #[test]
    fn builds_restcomm_and_twilio_urls() {
        let c = RestcommClient::new(settings()).unwrap();
        assert_eq!(
            c.url(None).as_str(),
            "https://cloud.restcomm.com/restcomm/2012-04-24/Accounts/ACabc/SMS/Messages.json"
        );
        let sid = MessageSid::parse("SM1234").unwrap();
        assert_eq!(
            c.url(Some(&sid)).as_str(),
            "https://cloud.restcomm.com/restcomm/2012-04-24/Accounts/ACabc/SMS/Messages/SM1234.json"
        );
        let t = RestcommClient::new(
            settings()
                .with_base_url(Url::parse("https://api.example.com/").unwrap())
                .with_flavour(Flavour::TwilioCompatible),
        )
        .unwrap();
        assert_eq!(
            t.url(Some(&sid)).as_str(),
            "https://api.example.com/2010-04-01/Accounts/ACabc/Messages/SM1234.json"
        );
    }

    #[test]
    fn validation_refuses_bad_settings() {
        let mut s = settings();
        s.base_url = Url::parse("ftp://x/").unwrap();
        assert!(matches!(
            RestcommClient::new(s),
            Err(GatewayError::Misconfigured(_))
        ));
        let mut s = settings();
        s.account_sid = "AC-1".into();
        assert!(matches!(
            RestcommClient::new(s),
            Err(GatewayError::Misconfigured(_))
        ));
        let mut s = settings();
        s.account_sid = "A".into();
        assert!(matches!(
            RestcommClient::new(s),
            Err(GatewayError::Misconfigured(_))
        ));
        let mut s = settings();
        s.sender = "  ".into();
        assert!(matches!(
            RestcommClient::new(s),
            Err(GatewayError::Misconfigured(_))
        ));
    }

    #[test]
    fn debug_redacts_the_token() {
        let s = RestcommSettings::new("ACabc", SecretString::from("hunter2tok"), "x");
        let shown = format!("{s:?} {:?}", RestcommClient::new(s.clone()).unwrap());
        assert!(!shown.contains("hunter2tok"));
        assert!(shown.contains("[redacted]"));
    }
}
