//! The configuration as the running app holds it: the IT policy in force
//! (or the reason it could not be used), the environment's gateway where
//! the policy leaves room for it, what was saved from the settings screen,
//! the credential store and the desk's sealed facts. Every decision about
//! values is the core's ([`DeskConfig::resolve`], `config::environment`);
//! this only stacks the sources and finds the token.

use countersign::config::environment::EnvGateway;
use countersign::config::it_policy::Discovered;
use countersign::config::{
    DeskConfig, FieldError, GatewayChoice, Key, Layers, RealGateway, Values,
};
use countersign::facts::{FactsStore, GatewayBinding};
use countersign::gateway::proxy::ProxyEnvironment;
use countersign::secrets::{CredentialStore, SecretName};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Cheap to clone: a snapshot to work on outside the lock (credential store
/// calls may wait on the OS, e.g. an unlock prompt).
#[derive(Clone)]
pub struct ConfigState {
    /// The IT policy in force and where it came from.
    pub policy: Discovered,
    pub env: Option<EnvGateway>,
    /// Why the environment's settings cannot be used: like a broken policy
    /// file, it stops real mode rather than fall back to demo silently.
    pub env_problem: Option<String>,
    pub saved: Values,
    pub credentials: Arc<dyn CredentialStore>,
    /// What the environment asked for and did not get (shown, audited).
    pub notes: Vec<String>,
    /// The desk's sealed facts; `None` until the desk key is open.
    pub facts: Option<FactsStore>,
    /// What `gateway_proxy = "system"` is decided against, read at start.
    pub proxy_env: ProxyEnvironment,
}

/// Why a key cannot be edited on the settings screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockedBy {
    ItPolicy,
    Environment,
}

/// Where the token comes from, for the settings screen (never the value).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    pub set: bool,
    /// Staff may replace it (not when IT or the environment provides it).
    pub replaceable: bool,
    pub source: String,
}

impl ConfigState {
    pub fn layers(&self) -> Layers {
        let policy = self
            .policy
            .policy
            .as_ref()
            .ok()
            .cloned()
            .unwrap_or_default();
        let mut layers = policy.layers(self.saved.clone());
        if let Some(env) = &self.env {
            layers.locked.extend(env.values.clone());
        }
        layers
    }

    pub fn locked_by(&self, key: Key) -> Option<LockedBy> {
        if self
            .env
            .as_ref()
            .is_some_and(|e| e.values.contains_key(&key))
        {
            return Some(LockedBy::Environment);
        }
        match &self.policy.policy {
            Ok(p) if p.locked.contains_key(&key) => Some(LockedBy::ItPolicy),
            _ => None,
        }
    }

    /// The configuration in force. A broken policy file stops real mode: its
    /// message comes back as the gateway's error and no gateway is built.
    pub fn resolve(&self) -> Result<DeskConfig, Vec<FieldError>> {
        DeskConfig::resolve(&self.layers())
    }

    /// The token for `gateway`: the environment's, then IT's file, then the
    /// credential store's. A stored token goes only to the gateway it was
    /// typed for (S19): settings edited on disk cannot redirect it.
    pub fn token(&self, gateway: &RealGateway) -> Result<SecretString, String> {
        if let Some(env) = &self.env {
            return Ok(env.token.clone());
        }
        if let Some(path) = &gateway.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "The auth token file {} cannot be read ({e}).",
                    path.display()
                )
            })?;
            return Ok(SecretString::from(text.trim().to_owned()));
        }
        let token = match self.credentials.get(SecretName::AuthToken) {
            Ok(Some(t)) if !t.expose_secret().is_empty() => t,
            Ok(_) => {
                return Err("No auth token is set: type it in Settings, under Gateway.".to_owned())
            }
            Err(e) => return Err(e.to_string()),
        };
        let bound_to = self.facts.as_ref().and_then(|f| f.get().token_bound_to);
        if bound_to.as_ref() != Some(&GatewayBinding::of(gateway)) {
            return Err(
                "The stored auth token was not typed for this gateway address and Account SID; type it again in Settings, under Gateway, so it is only sent where it belongs."
                    .to_owned(),
            );
        }
        Ok(token)
    }

    /// Why a configuration that resolves may still not send: a desk once
    /// set up for a real gateway does not drop to demo mode (which shows
    /// codes on the staff screen) because its settings file went missing or
    /// was edited; demo mode then needs an explicit, audited choice.
    pub fn gateway_refusal(&self, resolved: &DeskConfig) -> Option<String> {
        let was_real = self
            .facts
            .as_ref()
            .is_some_and(|f| f.get().real_gateway_configured);
        (was_real && resolved.gateway == GatewayChoice::Demo).then(|| {
            "This desk was set up for a real SMS gateway, but its settings now say demo mode (settings.json was deleted, damaged or edited). Nothing is sent. Restore the settings, or choose demo mode explicitly in Settings.".to_owned()
        })
    }

    pub fn token_status(&self) -> TokenStatus {
        if self.env.is_some() {
            return TokenStatus {
                set: true,
                replaceable: false,
                source: "Set by the environment (COUNTERSIGN_RESTCOMM_AUTH_TOKEN)".to_owned(),
            };
        }
        let file = self
            .layers()
            .get(Key::AuthTokenFile)
            .and_then(|v| v.as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        if let Some(path) = file {
            return TokenStatus {
                set: std::path::Path::new(&path).exists(),
                replaceable: false,
                source: format!("Read from {path}, as the IT policy says"),
            };
        }
        TokenStatus {
            set: matches!(self.credentials.get(SecretName::AuthToken), Ok(Some(t)) if !t.expose_secret().is_empty()),
            replaceable: true,
            source: self.credentials.describe(),
        }
    }
}
