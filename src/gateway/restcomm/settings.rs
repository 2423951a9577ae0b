//! What the client is told: where the gateway is, as whom to send, which
//! dialect it speaks, how it is reached (IT's proxy and CA bundle), and the
//! checks each of those passes before any request is made. The settings
//! screen uses the same checks field by field, so a value refused here is
//! refused as it is typed.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::gateway::proxy::ProxyRoute;
use crate::gateway::GatewayError;

/// Restcomm's API version, the mount point of its REST servlet.
pub const RESTCOMM_API_VERSION: &str = "2012-04-24";
/// Twilio's API version.
pub const TWILIO_API_VERSION: &str = "2010-04-01";
/// The hosted Restcomm cloud. Some deployments use `/api` instead of `/restcomm`.
pub const DEFAULT_BASE_URL: &str = "https://cloud.restcomm.com/restcomm";

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

    pub(super) fn resource(self) -> &'static [&'static str] {
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
    /// by [`crate::gateway::proxy::route`]); a loopback `http://` one is always
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
