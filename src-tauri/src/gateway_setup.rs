//! Which gateway the desk talks to: the real Restcomm (or Twilio-compatible)
//! service when IT configured one, otherwise demo mode on the embedded
//! emulator (S17). Either way the desk uses the same Restcomm client over
//! HTTP, so demo mode exercises the production path.
//!
//! Until the settings screen exists, real mode is configured from the
//! environment: `COUNTERSIGN_RESTCOMM_URL`, `…_ACCOUNT_SID`, `…_AUTH_TOKEN`,
//! `…_SENDER`, and optionally `…_FLAVOUR` (`restcomm` or `twilio`) and
//! `…_TIMEOUT_SECONDS` (the whole-request timeout, 1 to 60 seconds).

use secrecy::SecretString;
use url::Url;

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

/// Reads the real-gateway settings from the environment. `Ok(None)` when
/// none is set (demo mode); an error naming the variable when some are set
/// but not usable, so a half-configured desk never silently falls back to demo.
pub fn configured_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<RestcommSettings>, String> {
    const VARS: [&str; 4] = [
        "COUNTERSIGN_RESTCOMM_URL",
        "COUNTERSIGN_RESTCOMM_ACCOUNT_SID",
        "COUNTERSIGN_RESTCOMM_AUTH_TOKEN",
        "COUNTERSIGN_RESTCOMM_SENDER",
    ];
    let values: Vec<Option<String>> = VARS
        .iter()
        .map(|v| get(v).filter(|s| !s.trim().is_empty()))
        .collect();
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(missing) = VARS.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(format!(
            "{} is not set; set all of {} or none.",
            missing.0,
            VARS.join(", ")
        ));
    }
    let [url, sid, token, sender] = [0, 1, 2, 3].map(|i| values[i].clone().unwrap_or_default());
    let base = Url::parse(url.trim())
        .map_err(|e| format!("COUNTERSIGN_RESTCOMM_URL is not a URL ({e})."))?;
    let flavour = match get("COUNTERSIGN_RESTCOMM_FLAVOUR")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("restcomm") => Flavour::Restcomm,
        Some("twilio") => Flavour::TwilioCompatible,
        Some(_) => {
            return Err("COUNTERSIGN_RESTCOMM_FLAVOUR must be restcomm or twilio.".to_owned())
        }
    };
    let mut settings = RestcommSettings::new(
        sid.trim(),
        SecretString::from(token.trim().to_owned()),
        sender.trim(),
    )
    .with_base_url(base)
    .with_flavour(flavour);
    if let Some(seconds) = request_timeout_from(&get)? {
        settings.request_timeout = std::time::Duration::from_secs(seconds);
    }
    settings.validate().map_err(|e| e.to_string())?;
    Ok(Some(settings))
}

/// `COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS`: unset or blank keeps the default;
/// otherwise a whole number of seconds from 1 to 60.
fn request_timeout_from(get: &impl Fn(&str) -> Option<String>) -> Result<Option<u64>, String> {
    const VAR: &str = "COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS";
    let Some(raw) = get(VAR).filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    match raw.trim().parse::<u64>() {
        Ok(seconds @ 1..=60) => Ok(Some(seconds)),
        _ => Err(format!(
            "{VAR} must be a whole number of seconds from 1 to 60."
        )),
    }
}

pub fn real(settings: RestcommSettings) -> Result<GatewaySetup, String> {
    let mode = match settings.flavour {
        Flavour::Restcomm => Mode::Restcomm,
        Flavour::TwilioCompatible => Mode::Twilio,
    };
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

fn host_of(url: &Url) -> String {
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
        .unwrap_err();
        assert!(
            err.starts_with("COUNTERSIGN_RESTCOMM_ACCOUNT_SID is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_full_configuration_selects_the_flavour() {
        let s = configured_from_env(env(&[
            ("COUNTERSIGN_RESTCOMM_URL", "http://127.0.0.1:8089/restcomm"),
            ("COUNTERSIGN_RESTCOMM_ACCOUNT_SID", "ACxxxx"),
            ("COUNTERSIGN_RESTCOMM_AUTH_TOKEN", "token"),
            ("COUNTERSIGN_RESTCOMM_SENDER", "+15550001111"),
            ("COUNTERSIGN_RESTCOMM_FLAVOUR", "twilio"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.flavour, Flavour::TwilioCompatible);
        assert!(!format!("{s:?}").contains("token\""));
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
    fn the_request_timeout_is_configurable_from_1_to_60_seconds() {
        let default = configured_from_env(env(&full(&[]))).unwrap().unwrap();
        assert_eq!(default.request_timeout, std::time::Duration::from_secs(15));
        for (raw, secs) in [("1", 1), (" 60 ", 60), ("7", 7)] {
            let s =
                configured_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                    .unwrap()
                    .unwrap();
            assert_eq!(
                s.request_timeout,
                std::time::Duration::from_secs(secs),
                "{raw}"
            );
        }
        for raw in ["0", "61", "-1", "1.5", "ten"] {
            let err =
                configured_from_env(env(&full(&[("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS", raw)])))
                    .unwrap_err();
            assert!(
                err.starts_with("COUNTERSIGN_RESTCOMM_TIMEOUT_SECONDS must be"),
                "{raw}: {err}"
            );
        }
    }
}
