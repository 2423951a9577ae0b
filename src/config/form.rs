//! How the settings screen lays out each [`Key`]: the group it sits in, the
//! input it takes, the choices a select offers, and whether it only matters
//! for a real gateway. The screen draws what this says, in [`Key::ALL`]'s
//! order, so a new setting needs no JavaScript.

use serde::Serialize;

use super::fields::UI_LANGUAGE_AUTO;
use super::{GatewayKind, Key};
use crate::i18n::Text;
use crate::language::Language;

/// The part of the screen a setting sits in (`group-<name>` in the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Gateway,
    Countries,
    Limits,
    Messages,
    Desk,
}

/// The input a setting is typed into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    Text,
    Select,
    /// A message template: several lines, with a live preview.
    Template,
    Checkbox,
}

/// One choice of a select: the value saved and what it is called.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub value: &'static str,
    pub text: Text,
}

impl Key {
    pub fn group(self) -> Group {
        use Key::*;
        match self {
            Gateway
            | BaseUrl
            | AccountSid
            | Sender
            | RequestTimeoutSeconds
            | AuthTokenFile
            | GatewayProxy
            | CaBundleFile => Group::Gateway,
            DefaultCountry | AllowedCountries => Group::Countries,
            CodeLength
            | ValiditySeconds
            | MaxAttempts
            | NumberFailuresPerHour
            | ResendCooldownSeconds
            | SendsPerWindow
            | SendWindowMinutes => Group::Limits,
            Brand | DefaultLanguage | TemplateEn | TemplateFr | TemplateEs | TemplateDe
            | SmsWarningEn | SmsWarningFr | SmsWarningEs | SmsWarningDe => Group::Messages,
            Branch
            | Workstation
            | DemoAllowed
            | AllowDataDirOverride
            | AllowCredentialsOverride
            | AuditKeyFile
            | BranchStore
            | BranchKeyFile
            | BranchPasswordFile
            | UiLanguage
            | LogLevel
            | LogFileSizeMb
            | LogFilesKept => Group::Desk,
        }
    }

    pub fn input(self) -> Input {
        use Key::*;
        match self {
            Gateway | DefaultLanguage | UiLanguage => Input::Select,
            TemplateEn | TemplateFr | TemplateEs | TemplateDe => Input::Template,
            DemoAllowed | AllowDataDirOverride | AllowCredentialsOverride => Input::Checkbox,
            _ => Input::Text,
        }
    }

    /// Whether the setting only matters when the desk sends through a real
    /// gateway: the screen hides it in demo mode.
    pub fn real_gateway_only(self) -> bool {
        self.group() == Group::Gateway && self != Key::Gateway
    }

    /// The choices of a select, in the order offered; `None` for the rest.
    /// Gateways are named in the desk's language, languages in their own.
    pub fn choices(self) -> Option<Vec<Choice>> {
        let languages = Language::ALL.into_iter().map(|l| Choice {
            value: l.code(),
            text: Text::plain(l.native_name()),
        });
        match self {
            Key::Gateway => Some(
                GatewayKind::ALL
                    .into_iter()
                    .map(|g| Choice {
                        value: g.name(),
                        text: Text::new(format!("ui.mode.{}", g.name())),
                    })
                    .collect(),
            ),
            Key::DefaultLanguage => Some(languages.collect()),
            Key::UiLanguage => Some(
                std::iter::once(Choice {
                    value: UI_LANGUAGE_AUTO,
                    text: Text::new("ui.language_auto"),
                })
                .chain(languages)
                .collect(),
            ),
            _ => None,
        }
    }
}
