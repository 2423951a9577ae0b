//! Every setting's name, label, default and check. A check takes what a
//! person typed or a file held — a string, a number, a list — and returns
//! the value's normal form or a message that says what is wrong and what
//! would be right.

use serde_json::{json, Value};
use url::Url;

use crate::gateway::proxy::ProxyChoice;
use crate::gateway::restcomm::{check_account_sid, check_base_url, check_sender};
use crate::i18n::Text;
use crate::language::Language;
use crate::phone::Region;
use crate::policy::{self, Limit};
use crate::sms::{self, Template, TemplateError, DEFAULT_TEMPLATE};
use crate::templates;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Gateway,
    BaseUrl,
    AccountSid,
    Sender,
    RequestTimeoutSeconds,
    AuthTokenFile,
    GatewayProxy,
    CaBundleFile,
    DefaultCountry,
    AllowedCountries,
    CodeLength,
    ValiditySeconds,
    MaxAttempts,
    NumberFailuresPerHour,
    ResendCooldownSeconds,
    SendsPerWindow,
    SendWindowMinutes,
    Brand,
    DefaultLanguage,
    TemplateEn,
    TemplateFr,
    TemplateEs,
    TemplateDe,
    SmsWarningEn,
    SmsWarningFr,
    SmsWarningEs,
    SmsWarningDe,
    Branch,
    Workstation,
    DemoAllowed,
    AllowDataDirOverride,
    AllowCredentialsOverride,
    AuditKeyFile,
    BranchStore,
    BranchKeyFile,
    BranchPasswordFile,
    UiLanguage,
    LogLevel,
    LogFileSizeMb,
    LogFilesKept,
}

/// The request timeout's bounds: long enough for a slow network, short
/// enough that staff are not left waiting in front of a customer.
const TIMEOUT_SECONDS: (u32, u32, u32) = (1, 60, 15);
/// One log file's size before the next is started, in MB: large enough
/// for weeks of a desk's info lines, small enough to mail to IT.
pub const LOG_FILE_SIZE_MB: (u32, u32, u32) = (1, 100, 5);
/// Log files kept, the one being written included: 5 MB × 10 is at most
/// 50 MB on the desk.
pub const LOG_FILES_KEPT: (u32, u32, u32) = (1, 50, 10);
/// What the log files record, least first.
pub const LOG_LEVELS: [&str; 4] = ["error", "warn", "info", "debug"];
const MAX_NAME_CHARS: usize = 64;

/// `ui_language`'s value for "follow the computer's language".
pub const UI_LANGUAGE_AUTO: &str = "auto";

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Key {
    /// Every setting, in the settings screen's order.
    pub const ALL: [Key; 40] = [
        Self::Gateway,
        Self::BaseUrl,
        Self::AccountSid,
        Self::Sender,
        Self::RequestTimeoutSeconds,
        Self::AuthTokenFile,
        Self::GatewayProxy,
        Self::CaBundleFile,
        Self::DefaultCountry,
        Self::AllowedCountries,
        Self::CodeLength,
        Self::ValiditySeconds,
        Self::MaxAttempts,
        Self::NumberFailuresPerHour,
        Self::ResendCooldownSeconds,
        Self::SendsPerWindow,
        Self::SendWindowMinutes,
        Self::Brand,
        Self::DefaultLanguage,
        Self::TemplateEn,
        Self::TemplateFr,
        Self::TemplateEs,
        Self::TemplateDe,
        Self::SmsWarningEn,
        Self::SmsWarningFr,
        Self::SmsWarningEs,
        Self::SmsWarningDe,
        Self::UiLanguage,
        Self::Branch,
        Self::Workstation,
        Self::DemoAllowed,
        Self::AllowDataDirOverride,
        Self::AllowCredentialsOverride,
        Self::AuditKeyFile,
        Self::BranchStore,
        Self::BranchKeyFile,
        Self::BranchPasswordFile,
        Self::LogLevel,
        Self::LogFileSizeMb,
        Self::LogFilesKept,
    ];

    /// The name in `settings.json`, the policy file and IPC.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::BaseUrl => "base_url",
            Self::AccountSid => "account_sid",
            Self::Sender => "sender",
            Self::RequestTimeoutSeconds => "request_timeout_seconds",
            Self::AuthTokenFile => "auth_token_file",
            Self::GatewayProxy => "gateway_proxy",
            Self::CaBundleFile => "ca_bundle_file",
            Self::DefaultCountry => "default_country",
            Self::AllowedCountries => "allowed_countries",
            Self::Brand => "brand",
            Self::DefaultLanguage => "default_language",
            Self::TemplateEn => "template_en",
            Self::TemplateFr => "template_fr",
            Self::TemplateEs => "template_es",
            Self::TemplateDe => "template_de",
            Self::SmsWarningEn => "sms_warning_en",
            Self::SmsWarningFr => "sms_warning_fr",
            Self::SmsWarningEs => "sms_warning_es",
            Self::SmsWarningDe => "sms_warning_de",
            Self::Branch => "branch",
            Self::Workstation => "workstation",
            Self::DemoAllowed => "demo_allowed",
            Self::AllowDataDirOverride => "allow_data_dir_override",
            Self::AllowCredentialsOverride => "allow_credentials_override",
            Self::AuditKeyFile => "audit_key_file",
            Self::BranchStore => "branch_store",
            Self::BranchKeyFile => "branch_key_file",
            Self::BranchPasswordFile => "branch_password_file",
            Self::UiLanguage => "ui_language",
            Self::LogLevel => "log_level",
            Self::LogFileSizeMb => "log_file_size_mb",
            Self::LogFilesKept => "log_files_kept",
            limit => limit.limit().map_or("", |l| l.field),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What a person calls it, as the subject of a message ("The gateway
    /// must be …"); the catalogue's `field.<name>`.
    pub fn label(self) -> Text {
        Text::new(format!("field.{}", self.name()))
    }

    /// The English label, kept for tests and IT's tools.
    pub fn english_label(self) -> &'static str {
        match self {
            Self::Gateway => "The gateway",
            Self::BaseUrl => "The gateway address",
            Self::AccountSid => "The Account SID",
            Self::Sender => "The sender",
            Self::RequestTimeoutSeconds => "The request timeout",
            Self::AuthTokenFile => "The auth token file",
            Self::GatewayProxy => "The gateway proxy",
            Self::CaBundleFile => "The CA bundle file",
            Self::DefaultCountry => "The default country",
            Self::AllowedCountries => "The allowed countries",
            Self::CodeLength => "The code length",
            Self::ValiditySeconds => "The validity",
            Self::MaxAttempts => "The tries per code",
            Self::NumberFailuresPerHour => "The failures per number per hour",
            Self::ResendCooldownSeconds => "The resend pause",
            Self::SendsPerWindow => "The sends per window",
            Self::SendWindowMinutes => "The send window",
            Self::Brand => "The brand name",
            Self::DefaultLanguage => "The default language",
            Self::TemplateEn => "The English template",
            Self::TemplateFr => "The French template",
            Self::TemplateEs => "The Spanish template",
            Self::TemplateDe => "The German template",
            Self::SmsWarningEn => "The English SMS warning",
            Self::SmsWarningFr => "The French SMS warning",
            Self::SmsWarningEs => "The Spanish SMS warning",
            Self::SmsWarningDe => "The German SMS warning",
            Self::Branch => "The branch name",
            Self::Workstation => "The workstation name",
            Self::DemoAllowed => "Demo mode",
            Self::AllowDataDirOverride => "The data folder override",
            Self::AllowCredentialsOverride => "The credential store override",
            Self::AuditKeyFile => "The audit key file",
            Self::BranchStore => "The branch store",
            Self::BranchKeyFile => "The branch key file",
            Self::BranchPasswordFile => "The branch store password file",
            Self::UiLanguage => "The desk language",
            Self::LogLevel => "The log level",
            Self::LogFileSizeMb => "The log file size",
            Self::LogFilesKept => "The log files kept",
        }
    }

    /// Whether only IT may set it, in the policy file: a value saved from
    /// the settings screen (or written into `settings.json`) is never used,
    /// because each of these decides where secrets go or come from, what
    /// the environment may change (S19), or what the SMS warns the customer
    /// (S15: IT may reword it, staff may not), or what the desk keeps in
    /// its log files (read before the settings file is, at start).
    pub fn it_only(self) -> bool {
        matches!(
            self,
            Self::AuthTokenFile
                | Self::SmsWarningEn
                | Self::SmsWarningFr
                | Self::SmsWarningEs
                | Self::SmsWarningDe
                | Self::GatewayProxy
                | Self::CaBundleFile
                | Self::AllowDataDirOverride
                | Self::AllowCredentialsOverride
                | Self::AuditKeyFile
                | Self::BranchStore
                | Self::BranchKeyFile
                | Self::BranchPasswordFile
                | Self::LogLevel
                | Self::LogFileSizeMb
                | Self::LogFilesKept
        )
    }

    pub fn template_for(language: Language) -> Self {
        match language {
            Language::En => Self::TemplateEn,
            Language::Fr => Self::TemplateFr,
            Language::Es => Self::TemplateEs,
            Language::De => Self::TemplateDe,
        }
    }

    /// The desk warning (S15) every SMS in `language` carries.
    pub fn warning_for(language: Language) -> Self {
        match language {
            Language::En => Self::SmsWarningEn,
            Language::Fr => Self::SmsWarningFr,
            Language::Es => Self::SmsWarningEs,
            Language::De => Self::SmsWarningDe,
        }
    }

    /// The language a template or warning key is for.
    pub fn language(self) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| Key::template_for(*l) == self || Key::warning_for(*l) == self)
    }

    fn limit(self) -> Option<Limit> {
        Some(match self {
            Self::CodeLength => policy::CODE_LENGTH,
            Self::ValiditySeconds => policy::VALIDITY,
            Self::MaxAttempts => policy::MAX_ATTEMPTS,
            Self::NumberFailuresPerHour => policy::NUMBER_FAILURES_PER_HOUR,
            Self::ResendCooldownSeconds => policy::RESEND_COOLDOWN,
            Self::SendsPerWindow => policy::SENDS_PER_WINDOW,
            Self::SendWindowMinutes => policy::SEND_WINDOW,
            _ => return None,
        })
    }

    /// `(min, max, unit)` for numeric settings: the screen shows them.
    pub fn bounds(self) -> Option<(u32, u32, &'static str)> {
        match self {
            Self::RequestTimeoutSeconds => Some((TIMEOUT_SECONDS.0, TIMEOUT_SECONDS.1, "seconds")),
            Self::LogFileSizeMb => Some((LOG_FILE_SIZE_MB.0, LOG_FILE_SIZE_MB.1, "MB")),
            Self::LogFilesKept => Some((LOG_FILES_KEPT.0, LOG_FILES_KEPT.1, "files")),
            k => k.limit().map(|l| (l.min, l.max, l.unit)),
        }
    }

    /// A secret-free setting whose value may be shown and audited. (The
    /// auth token itself is not a setting: it lives in the credential store.)
    pub fn default_value(self) -> Value {
        match self {
            Self::Gateway => json!("demo"),
            Self::RequestTimeoutSeconds => json!(TIMEOUT_SECONDS.2),
            Self::LogFileSizeMb => json!(LOG_FILE_SIZE_MB.2),
            Self::LogFilesKept => json!(LOG_FILES_KEPT.2),
            Self::LogLevel => json!("info"),
            Self::DefaultCountry => json!(policy::DEFAULT_COUNTRY),
            Self::AllowedCountries => json!([]),
            Self::Brand => json!("Countersign"),
            Self::DefaultLanguage => json!("en"),
            Self::UiLanguage => json!(UI_LANGUAGE_AUTO),
            Self::DemoAllowed => json!(true),
            Self::AllowDataDirOverride | Self::AllowCredentialsOverride => json!(false),
            // A warning is never empty: its default is the shipped text.
            Self::SmsWarningEn | Self::SmsWarningFr | Self::SmsWarningEs | Self::SmsWarningDe => {
                json!(self.language().unwrap_or_default().default_warning())
            }
            k => match k.limit() {
                Some(l) => json!(l.default),
                // Text settings default to empty: not set, use the built-in.
                None => json!(""),
            },
        }
    }

    /// Checks one value on its own and returns its normal form.
    pub fn check(self, raw: &Value) -> Result<Value, Text> {
        let said = |key: &'static str| Text::new(key).arg("label", self.label());
        if let Some((min, max, unit)) = self.bounds() {
            let unit = Text::new(format!("unit.{unit}"));
            let n = whole_number(raw)
                .ok_or_else(|| said("field.not_whole_number").arg("unit", unit.clone()))?;
            return if (u64::from(min)..=u64::from(max)).contains(&n) {
                Ok(json!(n))
            } else {
                Err(said("field.out_of_bounds")
                    .arg("min", min)
                    .arg("max", max)
                    .arg("unit", unit)
                    .arg("got", n))
            };
        }
        match self {
            Self::DemoAllowed | Self::AllowDataDirOverride | Self::AllowCredentialsOverride => raw
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| said("field.not_bool")),
            Self::AllowedCountries => countries(raw).map(|c| json!(c)),
            _ => {
                let text = raw.as_str().ok_or_else(|| said("field.not_text"))?.trim();
                self.check_text(text).map(Value::String)
            }
        }
    }

    fn check_text(self, text: &str) -> Result<String, Text> {
        let said = |key: &'static str| Text::new(key).arg("label", self.label());
        let with_reason = |reason: Text| said("field.with_reason").arg("reason", reason);
        // The gateway checks' words are IT's and stay in English.
        let optional = |r: Result<(), &str>| match r {
            _ if text.is_empty() => Ok(String::new()),
            Ok(()) => Ok(text.to_owned()),
            Err(m) => Err(Text::plain(sentence(m))),
        };
        match self {
            Self::Gateway => match super::GatewayKind::parse(text) {
                Some(kind) => Ok(kind.name().to_owned()),
                None => Err(said("field.bad_gateway")),
            },
            Self::BaseUrl => {
                if text.is_empty() {
                    return Ok(String::new());
                }
                let url = Url::parse(text)
                    .map_err(|e| said("field.bad_base_url").arg("reason", e.to_string()))?;
                optional(check_base_url(&url)).map(|_| url.to_string())
            }
            Self::AccountSid => optional(check_account_sid(text)),
            Self::Sender => optional(check_sender(text)),
            Self::AuthTokenFile
            | Self::CaBundleFile
            | Self::AuditKeyFile
            | Self::BranchKeyFile
            | Self::BranchPasswordFile => {
                if text.is_empty() || std::path::Path::new(text).is_absolute() {
                    Ok(text.to_owned())
                } else {
                    Err(said("field.not_absolute"))
                }
            }
            // Empty stays empty (unset: direct); the words and an address
            // take their normal form.
            Self::GatewayProxy if text.is_empty() => Ok(String::new()),
            Self::GatewayProxy => ProxyChoice::parse(text).map(|c| c.setting()).map_err(|m| {
                said("field.phrase").arg("problem", Text::plain(sentence_tail(&m.to_string())))
            }),
            Self::LogLevel => LOG_LEVELS
                .iter()
                .find(|l| l.eq_ignore_ascii_case(text))
                .map(|l| (*l).to_owned())
                .ok_or_else(|| said("field.bad_log_level")),
            Self::BranchStore => {
                if text.is_empty() {
                    return Ok(String::new());
                }
                let config = crate::branch::postgres::LedgerConfig {
                    url: text.to_owned(),
                    password: None,
                    ca_bundle: None,
                    clock: crate::branch::postgres::LedgerClock::Server,
                };
                crate::branch::postgres::parse(&config)
                    .map(|_| text.to_owned())
                    .map_err(|e| with_reason(Text::plain(format!("{e}."))))
            }
            Self::DefaultCountry => text
                .parse::<Region>()
                .map(|r| r.code().to_owned())
                .map_err(|e| with_reason(e.text())),
            Self::UiLanguage if text == UI_LANGUAGE_AUTO => Ok(text.to_owned()),
            Self::UiLanguage | Self::DefaultLanguage => Language::parse(text)
                .map(|l| l.code().to_owned())
                .map_err(|e| Text::plain(e.to_string())),
            Self::Brand => Template::parse(DEFAULT_TEMPLATE, text)
                .map(|_| text.to_owned())
                .map_err(|e| e.text()),
            Self::TemplateEn | Self::TemplateFr | Self::TemplateEs | Self::TemplateDe => {
                if text.is_empty() {
                    return Ok(String::new());
                }
                let language = self.language().unwrap_or_default();
                // The brand is measured at its longest, so any brand fits.
                // Whether it fits with its warning depends on the warning in
                // force, which only `DeskConfig::resolve` (and the settings
                // preview) know: on its own a template need only fit with
                // the shipped one or without one, so a policy file with a
                // shorter warning is not refused here.
                match templates::check(language, text, "Brand") {
                    Ok(_) | Err(TemplateError::WarningTooLong { .. }) => Ok(text.to_owned()),
                    Err(e) => Err(e.text()),
                }
            }
            Self::SmsWarningEn | Self::SmsWarningFr | Self::SmsWarningEs | Self::SmsWarningDe => {
                match sms::warning_problem(text) {
                    Some(problem) => {
                        Err(said("field.warning_problem").arg("problem", Text::new(problem)))
                    }
                    None => Ok(text.to_owned()),
                }
            }
            Self::Branch | Self::Workstation => {
                if text.chars().count() > MAX_NAME_CHARS || text.chars().any(char::is_control) {
                    Err(said("field.name_too_long").arg("max", MAX_NAME_CHARS))
                } else {
                    Ok(text.to_owned())
                }
            }
            _ => Err(said("field.not_a_text_setting")),
        }
    }
}

fn whole_number(raw: &Value) -> Option<u64> {
    match raw {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list of ISO country codes, from a list or "GB, FR" as typed.
fn countries(raw: &Value) -> Result<Vec<String>, Text> {
    let not_codes = || Text::new("field.countries_not_codes");
    let items: Vec<String> = match raw {
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(not_codes)?,
        Value::String(s) => s.split([',', ' ']).map(str::to_owned).collect(),
        _ => return Err(not_codes()),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let region: Region = item.parse().map_err(|e: crate::phone::PhoneError| {
            Text::new("field.with_reason")
                .arg("label", Key::AllowedCountries.label())
                .arg("reason", e.text())
        })?;
        let code = region.code().to_owned();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// A check's message that names its subject ("the gateway proxy must …")
/// or starts with the verb ("must be …"), after the setting's label.
fn sentence_tail(m: &str) -> String {
    let tail = m.strip_prefix("the gateway proxy ").unwrap_or(m);
    format!("{}.", tail.trim_end_matches('.'))
}

/// Messages from the gateway checks start lower-case, mid-sentence.
fn sentence(m: &str) -> String {
    let mut chars = m.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
