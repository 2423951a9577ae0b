//! IT's `gateway_proxy`: how the desk reaches an `https://` gateway.
//!
//! `none` (or unset) connects directly, an address goes through that proxy,
//! and `system` takes the OS's static proxy settings (reqwest's
//! `system-proxy`: the Windows registry's Internet Settings, macOS's network
//! settings; on Linux, the proxy variables). No PAC/WPAD script is run and
//! no NTLM/Kerberos proxy authentication is offered.
//!
//! S19: where a system policy file is in force, the desk user's environment
//! does not choose the proxy. reqwest reads `HTTPS_PROXY`/`ALL_PROXY` before
//! the OS's settings, and the process environment cannot be changed safely
//! once threads run, so:
//! - on Linux, `system` reads the machine-wide `/etc/environment` (which only
//!   an administrator can write) and never the process's variables;
//! - on Windows and macOS, a proxy variable set in the desk's environment
//!   stops sending, naming the variable, rather than silently win over the
//!   OS's settings.
//!
//! The demo emulator and any `http://` gateway are on loopback: they are
//! always reached directly, whatever is chosen here ([`effective_route`]).

use url::Url;

use super::restcomm::check_proxy_url;

/// What IT wrote in `gateway_proxy`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// Straight to the gateway (`none`, or unset).
    #[default]
    None,
    /// The OS's static proxy settings.
    System,
    /// Through this proxy.
    Url(Url),
}

/// Why a `gateway_proxy` value is not one: the tail of a sentence that
/// begins with the setting's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyChoiceError {
    /// Neither word nor a web address.
    #[error("is not a web address ({0}); it must be system, none, or a proxy address such as http://proxy.bank.example:3128")]
    NotAnAddress(url::ParseError),
    /// An address the client cannot use as a proxy, in the check's words.
    #[error("{0}")]
    Unusable(&'static str),
}

/// Why nothing can be sent through the proxy the settings chose. The words
/// name what to change; nothing is sent until then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRouteError {
    /// On Windows and macOS under a system policy, a proxy variable in the
    /// desk's environment would win over the OS's settings IT chose (S19).
    #[error("{var} is set in this desk's environment. Under the system IT policy, gateway_proxy = \"system\" means the OS's proxy settings, which {var} would override: remove it (or set gateway_proxy to the proxy's address). Nothing is sent until then.")]
    VariableOverridesOs { var: &'static str },
    /// On Linux, the machine's environment file names a proxy that cannot
    /// be used.
    #[error("{name} in {file} (gateway_proxy = \"system\" under the system IT policy) {why}; fix it or set gateway_proxy to the proxy's address. Nothing is sent until then.", file = MACHINE_ENVIRONMENT)]
    MachineProxyUnusable { name: String, why: &'static str },
}

impl ProxyChoice {
    /// Parses `gateway_proxy`; an empty value is `none`.
    pub fn parse(text: &str) -> Result<Self, ProxyChoiceError> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("none") {
            return Ok(Self::None);
        }
        if text.eq_ignore_ascii_case("system") {
            return Ok(Self::System);
        }
        let url = Url::parse(text).map_err(ProxyChoiceError::NotAnAddress)?;
        check_proxy_url(&url).map_err(ProxyChoiceError::Unusable)?;
        Ok(Self::Url(url))
    }

    /// The value's normal form, as settings show it.
    pub fn setting(&self) -> String {
        match self {
            Self::None => "none".to_owned(),
            Self::System => "system".to_owned(),
            Self::Url(url) => url.to_string(),
        }
    }
}

/// The setting the HTTP client is built with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxyRoute {
    /// No proxy at all, from anywhere.
    #[default]
    Direct,
    /// Through `url`, except to hosts `no_proxy` lists (curl's syntax).
    Via { url: Url, no_proxy: Option<String> },
    /// reqwest's system proxy: the process's proxy variables first, then the
    /// OS's settings.
    Os,
}

/// Where `system` can look on this OS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyPlatform {
    /// Linux and other Unixes: the proxy variables are the system setting.
    Variables,
    /// Windows and macOS: the OS keeps its own proxy settings.
    OsSettings,
}

impl ProxyPlatform {
    pub const CURRENT: Self = if cfg!(any(windows, target_os = "macos")) {
        Self::OsSettings
    } else {
        Self::Variables
    };
}

/// The proxy variables reqwest reads, in its order for an `https://`
/// destination (lower case is curl's and is read too).
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The machine-wide environment file on Linux (pam_env's).
pub const MACHINE_ENVIRONMENT: &str = "/etc/environment";

/// What the choice is decided against, read once at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnvironment {
    /// A system IT policy file is in force (S19).
    pub system_policy: bool,
    /// Which of [`PROXY_VARIABLES`] are set (non-empty) in the desk's own
    /// environment. Names only: a value may carry a proxy password.
    pub process_variables: Vec<&'static str>,
    /// `/etc/environment`'s text, when a system policy is in force on Linux.
    pub machine_environment: Option<String>,
}

impl ProxyEnvironment {
    /// Reads what [`route`] needs: the variables through `env`, and
    /// `/etc/environment` only when the system policy makes it the source.
    pub fn read(system_policy: bool, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let process_variables = PROXY_VARIABLES
            .into_iter()
            .filter(|v| env(v).is_some_and(|s| !s.trim().is_empty()))
            .collect();
        let machine_environment = (system_policy
            && ProxyPlatform::CURRENT == ProxyPlatform::Variables)
            .then(|| std::fs::read_to_string(MACHINE_ENVIRONMENT).unwrap_or_default());
        Self {
            system_policy,
            process_variables,
            machine_environment,
        }
    }
}

/// Decides the client's proxy setting. An error says why nothing can be
/// sent and what to change.
pub fn route(
    choice: &ProxyChoice,
    env: &ProxyEnvironment,
    platform: ProxyPlatform,
) -> Result<ProxyRoute, ProxyRouteError> {
    match choice {
        ProxyChoice::None => Ok(ProxyRoute::Direct),
        ProxyChoice::Url(url) => Ok(ProxyRoute::Via {
            url: url.clone(),
            no_proxy: None,
        }),
        ProxyChoice::System if !env.system_policy => Ok(ProxyRoute::Os),
        ProxyChoice::System => match platform {
            ProxyPlatform::Variables => {
                machine_route(env.machine_environment.as_deref().unwrap_or(""))
            }
            ProxyPlatform::OsSettings => match env.process_variables.first().copied() {
                None => Ok(ProxyRoute::Os),
                Some(var) => Err(ProxyRouteError::VariableOverridesOs { var }),
            },
        },
    }
}

/// The proxy `/etc/environment` names for an `https://` destination, or a
/// direct connection when it names none.
fn machine_route(text: &str) -> Result<ProxyRoute, ProxyRouteError> {
    let vars = parse_environment_file(text);
    let get = |names: &[&str]| {
        names.iter().find_map(|n| {
            vars.iter()
                .find(|(k, v)| k == n && !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
        })
    };
    let Some((name, value)) = get(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) else {
        return Ok(ProxyRoute::Direct);
    };
    let problem = |why: &'static str| ProxyRouteError::MachineProxyUnusable {
        name: name.clone(),
        why,
    };
    // curl and reqwest take "host:port" as an http:// proxy.
    let with_scheme = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| problem("is not a proxy address"))?;
    check_proxy_url(&url).map_err(problem)?;
    Ok(ProxyRoute::Via {
        url,
        no_proxy: get(&["NO_PROXY", "no_proxy"]).map(|(_, v)| v),
    })
}

/// `KEY=value` lines, as pam_env reads `/etc/environment`: `#` comments,
/// optional `export `, optional surrounding quotes.
pub fn parse_environment_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// The route the client really uses for `base_url`: a plain-HTTP gateway is
/// on loopback (the demo emulator, a local test one) and is always reached
/// directly; a proxy there could only misroute it.
pub fn effective_route(base_url: &Url, route: &ProxyRoute) -> ProxyRoute {
    if base_url.scheme() == "https" {
        route.clone()
    } else {
        ProxyRoute::Direct
    }
}
