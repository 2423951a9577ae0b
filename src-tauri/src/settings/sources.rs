//! The configuration as the running app holds it: the IT policy in force
//! (or the reason it could not be used), the environment's gateway where
//! the policy leaves room for it, what was saved from the settings screen,
//! the credential store and the desk's sealed facts. Every decision about
//! values is the core's ([`DeskConfig::resolve`], `config::environment`);
//! this only stacks the sources and finds the token.

use countersign::config::environment::{self, EnvGateway};
use countersign::config::it_policy::Discovered;
use countersign::config::{
    DemoRefusal, DeskConfig, FieldError, Key, Layers, RealGateway, TokenSource, Values,
};
pub use countersign::config::{LockedBy, TokenStatus};
use countersign::facts::{FactsStore, GatewayBinding};
use countersign::gateway::proxy::ProxyEnvironment;
use countersign::secrets::{CredentialStore, SecretError, SecretName};
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::Arc;

/// Why there is no token to send with: the reason no SMS can be sent,
/// shown in Settings and on send. Never the token itself.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// IT's token file could not be read.
    #[error("The auth token file {} cannot be read ({source}).", .path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The credential store holds no token (or an empty one).
    #[error("No auth token is set: type it in Settings, under Gateway.")]
    NotSet,
    /// The credential store could not be asked.
    #[error("{0}")]
    Store(#[from] SecretError),
    /// The stored token was typed for another gateway (S19).
    #[error("The stored auth token was not typed for this gateway address and Account SID; type it again in Settings, under Gateway, so it is only sent where it belongs.")]
    NotBound,
}

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

impl ConfigState {
    /// The configuration sources: the IT policy in force, the environment's
    /// gateway (where the policy leaves room for it), the credential store
    /// (`COUNTERSIGN_CREDENTIALS`, where the policy allows). Saved settings
    /// are added when the settings file is opened. Every rule is the core's
    /// (`config::environment`); this only reads.
    pub(crate) fn load(
        data_dir: &std::path::Path,
        env: &dyn Fn(&str) -> Option<String>,
        policy: Discovered,
    ) -> Self {
        let mut problems = Vec::new();
        let mut notes = policy.notes();
        let mut env_gateway = environment::gateway_from_env(env).unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        // A refused gateway is not stacked at all: its values would show as
        // "set by the environment" over IT's.
        if let Some(why) = env_gateway
            .as_ref()
            .and_then(|g| environment::env_gateway_refusal(g, &policy))
        {
            problems.push(why);
            env_gateway = None;
        }
        let (wanted, note) =
            environment::credentials_request(env("COUNTERSIGN_CREDENTIALS"), &policy);
        notes.extend(note);
        let (credentials, problem) = crate::shell::credentials::choose(data_dir, wanted.as_deref());
        problems.extend(problem);
        let proxy_env = ProxyEnvironment::read(policy.system, env);
        Self {
            proxy_env,
            policy,
            env_problem: (!problems.is_empty()).then(|| problems.join(" ")),
            env: env_gateway,
            saved: Default::default(),
            credentials,
            notes,
            facts: None,
        }
    }

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
        let env = self.env.as_ref().map(|e| &e.values);
        LockedBy::of(
            key,
            env,
            self.policy.policy.as_ref().ok().map(|p| &p.locked),
        )
    }

    /// The configuration in force. A broken policy file stops real mode: its
    /// message comes back as the gateway's error and no gateway is built.
    pub fn resolve(&self) -> Result<DeskConfig, Vec<FieldError>> {
        DeskConfig::resolve(&self.layers())
    }

    /// The token for `gateway`: the environment's, then IT's file, then the
    /// credential store's. A stored token goes only to the gateway it was
    /// typed for (S19): settings edited on disk cannot redirect it.
    pub fn token(&self, gateway: &RealGateway) -> Result<SecretString, TokenError> {
        match (
            TokenSource::of(self.env.is_some(), gateway.token_file.clone()),
            &self.env,
        ) {
            (TokenSource::Environment, Some(env)) => return Ok(env.token.clone()),
            (TokenSource::File(path), _) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| TokenError::FileUnreadable { path, source })?;
                return Ok(SecretString::from(text.trim().to_owned()));
            }
            _ => {}
        }
        let token = match self.credentials.get(SecretName::AuthToken)? {
            Some(t) if !t.expose_secret().is_empty() => t,
            _ => return Err(TokenError::NotSet),
        };
        let bound_to = self.facts.as_ref().and_then(|f| f.get().token_bound_to);
        if bound_to.as_ref() != Some(&GatewayBinding::of(gateway)) {
            return Err(TokenError::NotBound);
        }
        Ok(token)
    }

    /// Why a configuration that resolves may still not send: the core's
    /// rule, on the desk's sealed fact.
    pub fn gateway_refusal(&self, resolved: &DeskConfig) -> Option<DemoRefusal> {
        resolved.demo_refusal(self.desk_was_real())
    }

    /// The desk's sealed fact that it was set up for a real gateway.
    pub fn desk_was_real(&self) -> bool {
        self.facts
            .as_ref()
            .is_some_and(|f| f.get().real_gateway_configured)
    }

    pub fn token_status(&self) -> TokenStatus {
        let file = self
            .layers()
            .get(Key::AuthTokenFile)
            .and_then(|v| v.as_str())
            .map(std::path::PathBuf::from);
        let source = TokenSource::of(self.env.is_some(), file);
        let replaceable = source.replaceable();
        let (set, source) = match source {
            TokenSource::Environment => (
                true,
                "Set by the environment (COUNTERSIGN_RESTCOMM_AUTH_TOKEN)".to_owned(),
            ),
            TokenSource::File(path) => (
                path.exists(),
                format!("Read from {}, as the IT policy says", path.display()),
            ),
            TokenSource::CredentialStore => (
                matches!(self.credentials.get(SecretName::AuthToken), Ok(Some(t)) if !t.expose_secret().is_empty()),
                self.credentials.describe(),
            ),
        };
        TokenStatus {
            set,
            replaceable,
            source,
        }
    }
}
