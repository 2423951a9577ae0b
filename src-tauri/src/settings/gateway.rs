//! Building the gateway client the desk talks to: the real Restcomm (or
//! Twilio-compatible) service when one is configured, otherwise demo mode
//! on the embedded emulator (S17). Either way the desk uses the same Restcomm client over
//! HTTP, so demo mode exercises the production path.
//!
//! The settings screen and the IT policy file configure the gateway. The
//! environment can too where IT has not locked it (scripts, tests); the
//! rules for that are the core's (`config::environment`).

use secrecy::SecretString;

use countersign::config::{GatewayKind, RealGateway};
use countersign::gateway::emulator::{self, EmulatorConfig, EmulatorHandle, DEMO_ACCOUNT_SID};
use countersign::gateway::proxy::{self, ProxyEnvironment, ProxyPlatform, ProxyRouteError};
use countersign::gateway::restcomm::{Flavour, RestcommClient, RestcommSettings};
use countersign::gateway::{GatewayError, GatewayMode};

/// Why no gateway client could be built: the reason no SMS can be sent,
/// in the words the core or the emulator gave.
#[derive(Debug, thiserror::Error)]
pub enum GatewaySetupError {
    /// The proxy setting cannot be followed here (the core's words).
    #[error("{0}")]
    Proxy(#[from] ProxyRouteError),
    /// The gateway's settings or its client were refused.
    #[error("{0}")]
    Client(#[from] GatewayError),
    /// Demo mode's emulator could not listen on loopback.
    #[error("the demo SMS gateway could not start: {0}")]
    DemoEmulator(std::io::Error),
}

pub struct GatewaySetup {
    pub mode: GatewayMode,
    pub client: RestcommClient,
    pub label: String,
    /// Kept alive for as long as demo mode runs.
    pub emulator: Option<EmulatorHandle>,
}

const DEMO_SENDER: &str = "Countersign";

/// The real gateway's client. Nothing is sent to check it: the settings
/// screen's "Send a test SMS" does that, on purpose. `proxy_env` is what
/// `gateway_proxy = "system"` is decided against (S19).
pub(crate) fn real(
    gateway: &RealGateway,
    token: SecretString,
    proxy_env: &ProxyEnvironment,
) -> Result<GatewaySetup, GatewaySetupError> {
    let route = proxy::route(&gateway.proxy, proxy_env, ProxyPlatform::CURRENT)?;
    let (mode, flavour) = match gateway.kind {
        GatewayKind::Twilio => (GatewayMode::Twilio, Flavour::TwilioCompatible),
        _ => (GatewayMode::Restcomm, Flavour::Restcomm),
    };
    let mut settings =
        RestcommSettings::new(gateway.account_sid.clone(), token, gateway.sender.clone())
            .with_base_url(gateway.base_url.clone())
            .with_flavour(flavour)
            .with_proxy_route(route)
            .with_ca_bundle(gateway.ca_bundle_file.clone());
    settings.request_timeout = gateway.request_timeout;
    settings.validate()?;
    let label = format!(
        "{} at {}",
        if mode == GatewayMode::Twilio {
            "Twilio-compatible"
        } else {
            "Restcomm"
        },
        host_of(&settings.base_url)
    );
    let client = RestcommClient::new(settings)?;
    Ok(GatewaySetup {
        mode,
        client,
        label,
        emulator: None,
    })
}

/// Starts the embedded emulator on an ephemeral loopback port and points the
/// real client at it, directly: no proxy, whatever IT or the environment
/// says (the client reaches any `http://` gateway directly).
pub async fn demo() -> Result<GatewaySetup, GatewaySetupError> {
    let config = EmulatorConfig::demo();
    let token = config.accounts[0].token.clone();
    let emulator = emulator::start(config)
        .await
        .map_err(GatewaySetupError::DemoEmulator)?;
    let settings = RestcommSettings::new(DEMO_ACCOUNT_SID, SecretString::from(token), DEMO_SENDER)
        .with_base_url(emulator.base_url());
    let client = RestcommClient::new(settings)?;
    Ok(GatewaySetup {
        mode: GatewayMode::Demo,
        client,
        label: "Built-in demo gateway (no real SMS)".to_owned(),
        emulator: Some(emulator),
    })
}

fn host_of(url: &url::Url) -> String {
    url.host_str().unwrap_or("?").to_owned()
}
