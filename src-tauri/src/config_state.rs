//! The configuration as the running app holds it: the IT policy file (or
//! the reason it could not be used), the environment's gateway override,
//! what was saved from the settings screen, and the credential store.
//! Every decision about values is the core's ([`DeskConfig::resolve`]);
//! this only stacks the sources and finds the token.

use countersign::config::it_policy::{ItPolicy, PolicyFileError};
use countersign::config::{DeskConfig, FieldError, Key, Layers, RealGateway, Values};
use countersign::secrets::{CredentialStore, SecretName};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use crate::gateway_setup::EnvGateway;

/// Cheap to clone: a snapshot to work on outside the lock (credential store
/// calls may wait on the OS, e.g. an unlock prompt).
#[derive(Clone)]
pub struct ConfigState {
    pub policy_file: Result<ItPolicy, PolicyFileError>,
    pub env: Option<EnvGateway>,
    /// Why the environment's settings cannot be used: like a broken policy
    /// file, it stops real mode rather than fall back to demo silently.
    pub env_problem: Option<String>,
    pub saved: Values,
    pub credentials: Arc<dyn CredentialStore>,
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
        let policy = self.policy_file.as_ref().ok().cloned().unwrap_or_default();
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
        match &self.policy_file {
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
    /// credential store's.
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
        match self.credentials.get(SecretName::AuthToken) {
            Ok(Some(t)) if !t.expose_secret().is_empty() => Ok(t),
            Ok(_) => Err("No auth token is set: type it in Settings, under Gateway.".to_owned()),
            Err(e) => Err(e.to_string()),
        }
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
