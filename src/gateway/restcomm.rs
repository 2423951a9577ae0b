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
//! loopback (the demo emulator), so a token never crosses a network in clear.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tracing::debug;
use url::Url;

use super::proxy::{effective_route, ProxyRoute};
use super::{
    DeliveryReport, DeliveryStatus, Gateway, GatewayError, MessageError, MessageSid, OutboundSms,
    SendReceipt,
};

/// Restcomm's API version, the mount point of its REST servlet.
pub const RESTCOMM_API_VERSION: &str = "2012-04-24";
/// Twilio's API version.
pub const TWILIO_API_VERSION: &str = "2010-04-01";
/// The hosted Restcomm cloud. Some deployments use `/api` instead of `/restcomm`.
pub const DEFAULT_BASE_URL: &str = "https://cloud.restcomm.com/restcomm";

/// Largest answer body the client reads; the API's answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Longest gateway text kept in a [`GatewayError::Rejected`].
const MAX_REASON_CHARS: usize = 200;

/// Which dialect of the API the gateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Flavour {
    /// `…/{api_version}/Accounts/{sid}/SMS/Messages.json`, 200 + `sending`.
    #[default]
    Restcomm,
    /// `…/{api_version}/Accounts/{sid}/Messages.json`, 201 + `queued`.
    TwilioCompatible,
}

impl Flavour {
    /// The API version this flavour is normally served under.
    pub fn default_api_version(self) -> &'static str {
        match self {
            Self::Restcomm => RESTCOMM_API_VERSION,
            Self::TwilioCompatible => TWILIO_API_VERSION,
        }
    }

    fn resource(self) -> &'static [&'static str] {
        match self {
            Self::Restcomm => &["SMS", "Messages"],
            Self::TwilioCompatible => &["Messages"],
        }
    }
}

/// Where and as whom to send.
#[derive(Clone)]
pub struct RestcommSettings {
    /// Up to, not including, the API version: `https://host/restcomm` (or `/api`).
    pub base_url: Url,
    pub api_version: String,
    pub account_sid: String,
    pub auth_token: SecretString,
    /// The `From` of every message (a number or an alphanumeric sender).
    pub sender: String,
    pub flavour: Flavour,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How an `https://` gateway is reached (IT's `gateway_proxy`, decided
    /// by [`super::proxy::route`]); a loopback `http://` one is always
    /// reached directly.
    pub proxy: ProxyRoute,
    /// IT's CA bundle (`ca_bundle_file`): when set, only its certificates
    /// are trusted; `None` is the OS's roots. Never taken from the environment.
    pub ca_bundle_file: Option<PathBuf>,
}

impl RestcommSettings {
    /// Restcomm flavour, hosted cloud, default version and timeouts (5 s / 15 s).
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: SecretString,
        sender: impl Into<String>,
    ) -> Self {
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("constant URL"),
            api_version: RESTCOMM_API_VERSION.to_owned(),
            account_sid: account_sid.into(),
            auth_token,
            sender: sender.into(),
            flavour: Flavour::Restcomm,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            proxy: ProxyRoute::Direct,
            ca_bundle_file: None,
        }
    }

    /// Same settings through IT's proxy (`None`: direct).
    pub fn with_proxy(self, proxy: Option<Url>) -> Self {
        self.with_proxy_route(proxy.map_or(ProxyRoute::Direct, |url| ProxyRoute::Via {
            url,
            no_proxy: None,
        }))
    }

    /// Same settings, reaching the gateway by `route`.
    pub fn with_proxy_route(mut self, route: ProxyRoute) -> Self {
        self.proxy = route;
        self
    }

    /// Same settings trusting only IT's CA bundle (`None`: the OS's roots).
    pub fn with_ca_bundle(mut self, ca_bundle_file: Option<PathBuf>) -> Self {
        self.ca_bundle_file = ca_bundle_file;
        self
    }

    /// Same settings, another base URL.
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Same settings, another flavour, with that flavour's default API version.
    pub fn with_flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self.api_version = flavour.default_api_version().to_owned();
        self
    }

    /// Checks everything that can be checked before talking to the gateway.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let bad = |m: &str| Err(GatewayError::Misconfigured(m.to_owned()));
        check_base_url(&self.base_url).or_else(bad)?;
        check_account_sid(&self.account_sid).or_else(bad)?;
        let v = &self.api_version;
        if v.is_empty()
            || v.len() > 32
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return bad("the API version must be like 2012-04-24");
        }
        check_sender(&self.sender).or_else(bad)?;
        if self.auth_token.expose_secret().is_empty() {
            return bad("the auth token is empty");
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return bad("the timeouts must be longer than zero");
        }
        if let ProxyRoute::Via { url, .. } = &self.proxy {
            check_proxy_url(url).or_else(bad)?;
        }
        if let Some(path) = &self.ca_bundle_file {
            if !path.is_absolute() {
                return bad("the CA bundle file must be an absolute path");
            }
        }
        Ok(())
    }
}

/// What [`check_base_url`] says about the scheme.
pub const HTTPS_ONLY: &str = "the gateway address must start with https://; http:// is accepted only for a gateway on this computer (localhost, 127.0.0.0/8 or ::1)";

/// The gateway address: `https://`, or `http://` on loopback only (the
/// token and the code must not cross a network in clear); a host; no
/// credentials in it. Shared by [`RestcommSettings::validate`] and the
/// settings screen's field check.
pub fn check_base_url(url: &Url) -> Result<(), &'static str> {
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err("the gateway address has no host");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        _ => return Err(HTTPS_ONLY),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the gateway address must not contain credentials; use the Account SID and auth token fields");
    }
    Ok(())
}

/// Whether `url` names this computer: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// IT's proxy: `http://` or `https://`, a host and perhaps a port, nothing
/// else (no credentials: settings are shown and audited; no path).
pub fn check_proxy_url(url: &Url) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the gateway proxy must start with http:// or https://");
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err("the gateway proxy has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the gateway proxy must not contain a user name or password");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("the gateway proxy must be only a scheme, a host and a port, such as http://proxy.bank.example:3128");
    }
    Ok(())
}

pub fn check_account_sid(sid: &str) -> Result<(), &'static str> {
    if !(2..=64).contains(&sid.len()) || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the Account SID must be 2 to 64 letters and digits");
    }
    Ok(())
}

/// A sender is a number (`+` and up to 15 digits) or an alphanumeric name of
/// up to 11 characters, the most any network carries.
pub fn check_sender(sender: &str) -> Result<(), &'static str> {
    let s = sender.trim();
    if s.is_empty() {
        return Err("the sender (From) is empty");
    }
    let number = s.strip_prefix('+').unwrap_or(s);
    let is_number =
        !number.is_empty() && number.len() <= 15 && number.bytes().all(|b| b.is_ascii_digit());
    let is_name = s.len() <= 11
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ');
    if is_number || is_name {
        Ok(())
    } else {
        Err("the sender must be a number such as +15550001111 or a name of up to 11 letters and digits")
    }
}

impl fmt::Debug for RestcommSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestcommSettings")
            .field("base_url", &self.base_url.as_str())
            .field("api_version", &self.api_version)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("sender", &self.sender)
            .field("flavour", &self.flavour)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("proxy", &self.proxy)
            .field("ca_bundle_file", &self.ca_bundle_file)
            .finish()
    }
}

/// How a status read is retried: `attempts` tries in all, waiting
/// `first_backoff`, then twice that, and so on, between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_millis(200),
        }
    }
}

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
    /// IT chose ([`super::proxy`]), the trust roots are IT's CA bundle or the
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
                super::trust::client_config(settings.ca_bundle_file.as_deref())
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

/// The fields the client uses from an SMS resource.
struct MessageAnswer {
    sid: MessageSid,
    status: Option<DeliveryStatus>,
}

/// Reads `sid`, `status`, `error_code` (number or string) from a JSON SMS
/// resource. Extra keys, `null`s and any date format are ignored.
fn parse_message(body: &[u8]) -> Result<MessageAnswer, GatewayError> {
    let unreadable = |m: &str| GatewayError::UnreadableAnswer(m.to_owned());
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| unreadable("not JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| unreadable("not a JSON object"))?;
    let sid = object
        .get("sid")
        .and_then(|v| v.as_str())
        .ok_or_else(|| unreadable("no message SID"))?;
    let sid = MessageSid::parse(sid).ok_or_else(|| unreadable("invalid message SID"))?;
    let error = object.get("error_code").and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let error = error.and_then(|c| u32::try_from(c).ok()).map(MessageError);
    let status = match object.get("status").and_then(|v| v.as_str()) {
        None => None,
        Some(word) => Some(
            DeliveryStatus::from_gateway(word, error)
                .ok_or_else(|| unreadable("unrecognised message status"))?,
        ),
    };
    Ok(MessageAnswer { sid, status })
}

/// Maps a non-success HTTP answer (API.md §3).
fn classify_failure(code: u16, body: &[u8]) -> GatewayError {
    let text = String::from_utf8_lossy(body);
    match code {
        400 => GatewayError::Rejected(reason(&text)),
        401 => GatewayError::Unauthorized,
        403 => {
            if error_word(&text).as_deref() == Some("SMS_LIMIT_EXCEEDED") {
                GatewayError::SmsLimitExceeded
            } else if text.to_ascii_lowercase().contains("not active") {
                GatewayError::AccountNotActive
            } else {
                GatewayError::AccountForbidden
            }
        }
        404 => GatewayError::NotFound,
        300..=399 => GatewayError::Redirected(code),
        500..=599 => GatewayError::ServerError(code),
        other => GatewayError::UnexpectedStatus(other),
    }
}

/// The `error` of Restcomm's `{"message","error"}` body, or the `<Error>` of
/// its XML form.
fn error_word(text: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
        return o
            .get("error")
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_owned());
    }
    xml_element_text(text, "Error")
}

fn xml_element_text(text: &str, name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => inside = e.name().as_ref() == name.as_bytes(),
            Ok(Event::Text(t)) if inside => {
                return t.unescape().ok().map(|s| s.trim().to_owned());
            }
            Ok(Event::End(_)) => inside = false,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// Restcomm's 400 text (or a JSON error's `message`), made safe for an
/// operator message: one line, runs of 6+ digits masked, at most 200 chars.
fn reason(text: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned));
    let raw = from_json.unwrap_or_else(|| text.to_owned());
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let masked = mask_digit_runs(one_line.trim());
    let mut out: String = masked.chars().take(MAX_REASON_CHARS).collect();
    if out.is_empty() {
        out = "no reason given".to_owned();
    }
    out
}

/// Replaces every run of six or more ASCII digits with `•••`.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str("•••");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The client's answer parsers, reachable from the fuzz targets and the
/// property tests. Not an API: the client is the only real caller.
#[doc(hidden)]
pub mod fuzzing {
    use super::{DeliveryStatus, GatewayError, MessageSid};

    /// What the client reads from a 200/201 body: the SID and the status.
    pub fn parse_message(
        body: &[u8],
    ) -> Result<(MessageSid, Option<DeliveryStatus>), GatewayError> {
        super::parse_message(body).map(|a| (a.sid, a.status))
    }

    /// How the client reads a non-success answer (JSON, XML or text).
    pub fn classify_failure(code: u16, body: &[u8]) -> GatewayError {
        super::classify_failure(code, body)
    }

    /// The `error` word of a JSON body or the `<Error>` of an XML one.
    pub fn error_word(text: &str) -> Option<String> {
        super::error_word(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn masks_long_digit_runs_and_truncates() {
        assert_eq!(
            mask_digit_runs("To +447700900123 code 12345"),
            "To +••• code 12345"
        );
        let long = "x".repeat(500);
        assert_eq!(reason(&long).chars().count(), 200);
        assert_eq!(reason("  From can not be null.\n"), "From can not be null.");
    }

    #[test]
    fn reads_optional_keys_and_tolerates_extras() {
        let a = parse_message(br#"{"sid":"SMab","status":"FAILED","error_code":"30003","x":[1]}"#)
            .unwrap();
        assert_eq!(
            a.status,
            Some(DeliveryStatus::Failed {
                error: Some(MessageError(30003))
            })
        );
        let a = parse_message(br#"{"sid":"SMab","error_code":null}"#).unwrap();
        assert_eq!(a.status, None);
        assert!(parse_message(br#"{"status":"sent"}"#).is_err());
        assert!(parse_message(br#"{"sid":"SM/../x","status":"sent"}"#).is_err());
    }

    #[test]
    fn classifies_403_bodies() {
        let json = b"{\"message\":\"Now allowed to create SmsSession\",\n\"error\":\"SMS_LIMIT_EXCEEDED\"}";
        assert_eq!(classify_failure(403, json), GatewayError::SmsLimitExceeded);
        let xml = b"<RestcommResponse><Message>Now allowed to create SmsSession</Message><Error>SMS_LIMIT_EXCEEDED</Error></RestcommResponse>";
        assert_eq!(classify_failure(403, xml), GatewayError::SmsLimitExceeded);
        assert_eq!(
            classify_failure(403, b"Provided Account is not active"),
            GatewayError::AccountNotActive
        );
        assert_eq!(classify_failure(403, b""), GatewayError::AccountForbidden);
        assert_eq!(classify_failure(502, b""), GatewayError::ServerError(502));
        assert_eq!(
            classify_failure(418, b""),
            GatewayError::UnexpectedStatus(418)
        );
    }
}
