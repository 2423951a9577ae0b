//! Which gateway the desk talks to: the real Restcomm (or Twilio-compatible)
//! service when one is configured, otherwise demo mode on the embedded
//! emulator (S17). Either way the desk uses the same Restcomm client over
//! HTTP, so demo mode exercises the production path.
//!
//! The settings screen and the IT policy file configure the gateway. The
//! environment can too, over both (operations scripts and tests):
//! `COUNTERSIGN_RESTCOMM_URL`, `…_ACCOUNT_SID`, `…_AUTH_TOKEN`, `…_SENDER`,
//! and optionally `…_FLAVOUR` (`restcomm` or `twilio`) and
//! `…_TIMEOUT_SECONDS`. Those keys then show as locked "by the environment".

use secrecy::SecretString;
use serde_json::json;

use countersign::config::{GatewayKind, Key, RealGateway, Values};
use countersign::gateway::emulator::{self, EmulatorConfig, EmulatorHandle, DEMO_ACCOUNT_SID};
use countersign::gateway::restcomm::{Flavour, RestcommClient, RestcommSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Demo,
    Restcomm,
    Twilio,
}

pub struct GatewaySetup {
    pub mode: Mode,
    pub client: RestcommClient,
    pub label: String,
    /// Kept alive for as long as demo mode runs.
    pub emulator: Option<EmulatorHandle>,
}

const DEMO_SENDER: &str = "Countersign";

/// A gateway configured in the environment: its settings, locked, and its token.
#[derive(Clone)]
pub struct EnvGateway {
    pub values: Values,
    pub token: SecretString,
}

/// Reads the gateway from the environment. `Ok(None)` when none is set; an
/// error naming the variable when some are set but not usable, so a
/// half-configured desk never silently falls back to demo.
pub fn configured_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<EnvGateway>, String> {
    const VARS: [(&str, Key); 4] = [
        ("COUNTERSIGN_RESTCOMM_URL", Key::BaseUrl),
        ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", Key::AccountSid),
        ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", Key::Gateway),
        ("COUNTERSIGN_RESTCOMM_SENDER", Key::Sender),
    ];
    let values: Vec<Option<String>> = VARS
        .iter()
        .map(|(v, _)| {
            get(v)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(((missing, _), _)) = VARS.iter().zip(&values).find(|(_, v)| v.is_none()) {
        let names: Vec<&str> = VARS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "{missing} is not set; set all of {} or none.",
            names.join(", ")
        ));
    }
    let mut out = Values::new();
    let mut put = |var: &str, key: Key, raw: serde_json::Value| -> Result<(), String> {
        let v = key.check(&raw).map_err(|m| format!("{var}: {m}"))?;
        out.insert(key, v);
        Ok(())
    };
    let flavour = match get("COUNTERSIGN_RESTCOMM_FLAVOUR")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("restcomm") => "restcomm",
        Some("twilio") => "twilio",
        Some(_) => {
            return Err("COUNTERSIGN_RESTCOMM_FLAVOUR must be restcomm or twilio.".to_owned())
        }
    };
    put("COUNTERSIGN_RESTCOMM_FLAVOUR", Key::Gateway, json!(flavour))?;
    let [url, sid, token, sender] = [0, 1, 2, 3].map(|i| values[i].clone().unwrap_or_default());
    put(VARS[0].0, Key::BaseUrl, json!(url))?;
    put(VARS[1].0, Key::AccountSid, json!(sid))?;
    put(VARS[3].0, Key::Sender, json!(sender))?;
    const TIMEOUT: &str = "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS";
    if let Some(raw) = get(TIMEOUT).filter(|s| !s.trim().is_empty()) {
        put(TIMEOUT, Key::RequestTimeoutSeconds, json!(raw))?;
    }
    Ok(Some(EnvGateway {
        values: out,
        token: SecretString::from(token),
    }))
}

/// The real gateway's client. Nothing is sent to check it: the settings
/// screen's "Send a test SMS" does that, on purpose.
pub fn real(gateway: &RealGateway, token: SecretString) -> Result<GatewaySetup, String> {
    let (mode, flavour) = match gateway.kind {
        GatewayKind::Twilio => (Mode::Twilio, Flavour::TwilioCompatible),
        _ => (Mode::Restcomm, Flavour::Restcomm),
    };
    let mut settings =
        RestcommSettings::new(gateway.account_sid.clone(), token, gateway.sender.clone())
            .with_base_url(gateway.base_url.clone())
            .with_flavour(flavour);
    settings.request_timeout = gateway.request_timeout;
    settings.validate().map_err(|e| e.to_string())?;
    let label = format!(
        "{} at {}",
        if mode == Mode::Twilio {
            "Twilio-compatible"
        } else {
            "Restcomm"
        },
        host_of(&settings.base_url)
    );
    let client = RestcommClient::new(settings).map_err(|e| e.to_string())?;
    Ok(GatewaySetup {
        mode,
        client,
        label,
        emulator: None,
    })
}

/// Starts the embedded emulator on an ephemeral loopback port and points the
/// real client at it.
pub async fn demo() -> Result<GatewaySetup, String> {
    let config = EmulatorConfig::demo();
    let token = config.accounts[0].token.clone();
    let emulator = emulator::start(config)
        .await
        .map_err(|e| format!("the demo SMS gateway could not start: {e}"))?;
    let settings = RestcommSettings::new(DEMO_ACCOUNT_SID, SecretString::from(token), DEMO_SENDER)
        .with_base_url(emulator.base_url());
    let client = RestcommClient::new(settings).map_err(|e| e.to_string())?;
    Ok(GatewaySetup {
        mode: Mode::Demo,
        client,
        label: "Built-in demo gateway (no real SMS)".to_owned(),
        emulator: Some(emulator),
    })
}

fn host_of(url: &url::Url) -> String {
    url.host_str().unwrap_or("?").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_means_demo() {
        assert!(configured_from_env(env(&[])).unwrap().is_none());
    }

    #[test]
    fn a_half_configured_gateway_names_the_missing_variable() {
        let err = configured_from_env(env(&[(
            "COUNTERSIGN_RESTCOMM_URL",
            "https://x.example/restcomm",
        )]))
        .err()
        .unwrap();
        assert!(
            err.starts_with("COUNTERSIGN_RESTCOMM_ACCOUNT_SID is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_full_configuration_selects_the_flavour_and_keeps_the_token_apart() {
        let g = configured_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_FLAVOUR", "twilio")])))
            .unwrap()
            .unwrap();
        assert_eq!(g.values[&Key::Gateway], json!("twilio"));
        assert_eq!(g.values[&Key::Sender], json!("+15550001111"));
        assert!(!g.values.values().any(|v| v == &json!("token")));
        assert_eq!(secrecy::ExposeSecret::expose_secret(&g.token), "token");
    }

    fn full(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs = vec![
            ("COUNTERSIGN_RESTCOMM_URL", "http://127.0.0.1:8089/restcomm"),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", "ACxxxx"),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", "token"),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
        ];
        pairs.extend_from_slice(extra);
        pairs
    }

    #[test]
    fn the_request_timeout_is_checked_like_the_setting() {
        let default = configured_from_env(env(&full(&[]))).unwrap().unwrap();
        assert!(!default.values.contains_key(&Key::RequestTimeoutSeconds));
        for (raw, secs) in [("1", 1), (" 60 ", 60), ("7", 7)] {
            let g =
                configured_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                    .unwrap()
                    .unwrap();
            assert_eq!(g.values[&Key::RequestTimeoutSeconds], json!(secs), "{raw}");
        }
        for raw in ["0", "61", "-1", "1.5", "ten"] {
            let err =
                configured_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                    .err()
                    .unwrap();
            assert!(
                err.starts_with(
                    "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS: The request timeout must be"
                ),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = configured_from_env(env(&full(&[(
            "COUNTERSIGN_RESTCOMM_URL",
            "ftp://x.example/",
        )])))
        .err()
        .unwrap();
        assert!(
            err.starts_with(
                "COUNTERSIGN_RESTCOMM_URL: The gateway address must start with https://"
            ),
            "{err}"
        );
    }
}
