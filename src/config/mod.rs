//! The desk's configuration: what the settings screen edits, what the IT
//! policy file provisions or locks, and the checked form the desk runs on.
//!
//! Every setting is a [`Key`]. A value arrives untrusted (typed on the
//! settings screen, read from `settings.json` or from the policy file) and is
//! checked on its own by [`Key::check`], which gives a specific message and
//! a normalised value. [`Layers`] stacks the sources — a locked policy value
//! beats a saved one, which beats a provisioned default, which beats the
//! built-in default — and [`DeskConfig::resolve`] checks the combination
//! (a real gateway needs its address, SID and sender) into typed parts: the
//! [`Policy`], the [`MessageTemplates`] and the gateway choice.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::language::Language;
use crate::policy::{Policy, PolicyError, PolicySettings};
use crate::sms::TemplateError;
use crate::templates::MessageTemplates;

pub mod environment;
mod fields;
mod form;
pub mod it_policy;
mod save;
mod saved;

pub use fields::Key;
pub use form::{Choice, Group, Input};
pub use save::{
    gateway_needs_rebuild, parse_token, plan_save, LockedBy, SaveError, SavePlan, SaveRequest,
    TokenSource, TokenStatus, MAX_TOKEN_BYTES,
};
pub use saved::{damage as settings_file_damage, sort_saved};

use crate::i18n::Text;

/// A setting that failed its check: which, and why, in words for the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub key: Key,
    pub message: Text,
}

/// `{key, message, text}`: the English for logs and tools, the text for the
/// screen to render in the desk's language (as IPC errors do).
impl serde::Serialize for FieldError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("FieldError", 3)?;
        out.serialize_field("key", &self.key)?;
        out.serialize_field("message", &self.message.to_string())?;
        out.serialize_field("text", &self.message)?;
        out.end()
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key.name(), self.message)
    }
}

/// Checked values by key.
pub type Values = BTreeMap<Key, Value>;

/// Where each effective value came from, lowest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layers {
    /// The policy file's `[defaults]`: staff may change them.
    pub provisioned: Values,
    /// What was saved from the settings screen.
    pub saved: Values,
    /// The policy file's `[locked]`: shown read-only, never saved over.
    pub locked: Values,
}

impl Layers {
    /// The language staff or IT chose for the desk, or `None` to follow the
    /// computer's. Read apart from the rest, so that a desk whose other
    /// settings are broken still speaks the chosen language.
    pub fn ui_language(&self) -> Option<Language> {
        self.get(Key::UiLanguage)
            .and_then(Value::as_str)
            .and_then(|v| Language::parse(v).ok())
    }

    pub fn is_locked(&self, key: Key) -> bool {
        self.locked.contains_key(&key)
    }

    /// The value in force, or `None` for the built-in default. An IT-only
    /// key ([`Key::it_only`]) is read from the policy file alone: a saved
    /// value (`settings.json` is the desk user's to edit) is ignored.
    pub fn get(&self, key: Key) -> Option<&Value> {
        let saved = (!key.it_only()).then(|| self.saved.get(&key)).flatten();
        self.locked
            .get(&key)
            .or(saved)
            .or_else(|| self.provisioned.get(&key))
    }

    /// Every key's value in force, defaults filled in.
    pub fn effective(&self) -> Values {
        Key::ALL
            .into_iter()
            .map(|k| (k, self.get(k).cloned().unwrap_or_else(|| k.default_value())))
            .collect()
    }
}

/// Which gateway the desk sends through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Demo,
    Restcomm,
    Twilio,
}

impl GatewayKind {
    pub const ALL: [GatewayKind; 3] = [Self::Demo, Self::Restcomm, Self::Twilio];

    /// The value in settings and the policy file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Restcomm => "restcomm",
            Self::Twilio => "twilio",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A real gateway's settings, all but the auth token (a secret, kept apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealGateway {
    pub kind: GatewayKind,
    pub base_url: Url,
    pub account_sid: String,
    pub sender: String,
    pub request_timeout: Duration,
    /// IT may provide the token in a file instead of the credential store.
    pub token_file: Option<std::path::PathBuf>,
    /// IT's proxy for the gateway (`gateway_proxy`): none (direct),
    /// `system` or an address.
    pub proxy: crate::gateway::proxy::ProxyChoice,
    /// IT's CA bundle (`ca_bundle_file`): only its roots are trusted; `None`:
    /// the OS's. Never from the environment.
    pub ca_bundle_file: Option<std::path::PathBuf>,
}

// One per configuration, never in a hot path or a large collection: boxing
// the real gateway would only make every match on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayChoice {
    Demo,
    Real(RealGateway),
}

/// The configuration the desk runs on, checked as a whole.
#[derive(Clone, Debug)]
pub struct DeskConfig {
    pub gateway: GatewayChoice,
    pub policy: Policy,
    pub templates: MessageTemplates,
    pub branch: String,
    pub workstation: String,
    pub demo_allowed: bool,
}

/// S23: a desk set up for a real gateway whose settings now say demo mode
/// sends nothing until staff choose demo mode explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("This desk was set up for a real SMS gateway, but its settings now say demo mode (settings.json was deleted, damaged or edited). Nothing is sent. Restore the settings, or choose demo mode explicitly in Settings.")]
pub struct DemoRefusal;

impl DeskConfig {
    /// The built-in configuration: demo mode and the default limits.
    pub fn built_in() -> Self {
        Self {
            gateway: GatewayChoice::Demo,
            policy: Policy::default(),
            templates: MessageTemplates::default(),
            branch: String::new(),
            workstation: String::new(),
            demo_allowed: true,
        }
    }

    /// Why this configuration may still not send (S23): a desk once set up
    /// for a real gateway does not drop to demo mode (which shows codes on
    /// the staff screen) because its settings file went missing or was
    /// edited; demo mode then needs an explicit, audited choice.
    pub fn demo_refusal(&self, desk_was_real: bool) -> Option<DemoRefusal> {
        (desk_was_real && self.gateway == GatewayChoice::Demo).then_some(DemoRefusal)
    }

    /// Checks every value in force, then how they combine. Every problem is
    /// reported, each against the key to fix.
    pub fn resolve(layers: &Layers) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = Values::new();
        for (key, raw) in layers.effective() {
            match key.check(&raw) {
                Ok(v) => {
                    values.insert(key, v);
                }
                Err(message) => errors.push(FieldError { key, message }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let v = Checked(&values);
        let policy = Policy::from_settings(&PolicySettings {
            code_length: v.number(Key::CodeLength),
            validity_seconds: v.number(Key::ValiditySeconds),
            max_attempts: v.number(Key::MaxAttempts),
            number_failures_per_hour: v.number(Key::NumberFailuresPerHour),
            resend_cooldown_seconds: v.number(Key::ResendCooldownSeconds),
            sends_per_window: v.number(Key::SendsPerWindow),
            send_window_minutes: v.number(Key::SendWindowMinutes),
            default_country: v.text(Key::DefaultCountry).to_owned(),
            allowed_countries: v.list(Key::AllowedCountries),
        })
        .map_err(|e| {
            let field = match &e {
                PolicyError::OutOfBounds { limit, .. } => limit.field,
                PolicyError::Country { field, .. } => field,
            };
            errors.push(FieldError {
                key: Key::parse(field).unwrap_or(Key::AllowedCountries),
                message: Text::plain(e.to_string()),
            })
        });
        let custom: BTreeMap<Language, String> = Language::ALL
            .into_iter()
            .filter_map(|l| {
                let text = v.text(Key::template_for(l));
                (!text.is_empty()).then(|| (l, text.to_owned()))
            })
            .collect();
        // Every warning passed its check, so none is empty.
        let warnings: BTreeMap<Language, String> = Language::ALL
            .into_iter()
            .map(|l| (l, v.text(Key::warning_for(l)).to_owned()))
            .collect();
        let default_language =
            Language::parse(v.text(Key::DefaultLanguage)).unwrap_or(Language::En);
        let templates =
            MessageTemplates::new(v.text(Key::Brand), default_language, &custom, &warnings)
                .map_err(|(language, e)| {
                    // A warning too long for its template is the warning's
                    // fault when it was reworded, else the template's.
                    let reworded = warnings.get(&language).map(String::as_str)
                        != Some(language.default_warning());
                    let key = match e {
                        TemplateError::BadWarning(_) => Key::warning_for(language),
                        TemplateError::WarningTooLong { .. } if reworded => {
                            Key::warning_for(language)
                        }
                        _ => Key::template_for(language),
                    };
                    errors.push(FieldError {
                        key,
                        message: e.text(),
                    })
                });
        let demo_allowed = v.flag(Key::DemoAllowed);
        let gateway = v.gateway(demo_allowed, &mut errors);
        errors.extend(environment::token_file_binding_errors(layers));
        match (policy, templates, errors.is_empty()) {
            (Ok(policy), Ok(templates), true) => Ok(Self {
                gateway,
                policy,
                templates,
                branch: v.text(Key::Branch).to_owned(),
                workstation: v.text(Key::Workstation).to_owned(),
                demo_allowed,
            }),
            _ => Err(errors),
        }
    }
}

/// Typed reads of values that passed [`Key::check`], whose normal forms
/// these match; a mismatch would be a bug here, so it reads as the default.
struct Checked<'a>(&'a Values);

impl Checked<'_> {
    fn number(&self, key: Key) -> u32 {
        self.0
            .get(&key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }
    fn text(&self, key: Key) -> &str {
        self.0.get(&key).and_then(Value::as_str).unwrap_or("")
    }
    fn flag(&self, key: Key) -> bool {
        self.0.get(&key).and_then(Value::as_bool).unwrap_or(true)
    }
    fn list(&self, key: Key) -> Vec<String> {
        self.0
            .get(&key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn gateway(&self, demo_allowed: bool, errors: &mut Vec<FieldError>) -> GatewayChoice {
        let kind = GatewayKind::parse(self.text(Key::Gateway)).unwrap_or(GatewayKind::Demo);
        if kind == GatewayKind::Demo {
            if !demo_allowed {
                errors.push(FieldError {
                    key: Key::Gateway,
                    message: Text::new("field.demo_switched_off"),
                });
            }
            return GatewayChoice::Demo;
        }
        let mut required = |key: Key| {
            let text = self.text(key);
            if text.is_empty() {
                errors.push(FieldError {
                    key,
                    message: Text::new("field.required_for_gateway").arg("label", key.label()),
                });
            }
            text.to_owned()
        };
        let (url, account_sid, sender) = (
            required(Key::BaseUrl),
            required(Key::AccountSid),
            required(Key::Sender),
        );
        let path = |key: Key| {
            Some(self.text(key))
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
        };
        let token_file = path(Key::AuthTokenFile);
        let ca_bundle_file = path(Key::CaBundleFile);
        // A set proxy passed its check, so it parses.
        let proxy = crate::gateway::proxy::ProxyChoice::parse(self.text(Key::GatewayProxy))
            .unwrap_or_default();
        match Url::parse(&url) {
            Ok(base_url) => GatewayChoice::Real(RealGateway {
                kind,
                base_url,
                account_sid,
                sender,
                request_timeout: Duration::from_secs(u64::from(
                    self.number(Key::RequestTimeoutSeconds),
                )),
                token_file,
                proxy,
                ca_bundle_file,
            }),
            // Already reported as required (a set URL passed its check).
            Err(_) => GatewayChoice::Demo,
        }
    }
}
