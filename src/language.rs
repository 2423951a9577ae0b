//! The languages a customer's SMS can be written in, each with a default
//! template that meets S15 in the worst case (the longest brand, code,
//! validity and purpose): it names the brand, the purpose, the validity and
//! warns for the desk flow, in one GSM-7 segment.
//!
//! Accents outside the GSM-7 alphabet (Spanish á, ó, French ç…) are left
//! out on purpose: one such character turns the whole SMS into UCS-2, whose
//! 70-character segment cannot hold the warning.

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
    Es,
    De,
}

impl Language {
    pub const ALL: [Language; 4] = [Self::En, Self::Fr, Self::Es, Self::De];

    /// The ISO 639-1 code used in settings, the policy file and IPC.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
            Self::Es => "es",
            Self::De => "de",
        }
    }

    /// The language's own name, as the desk's language picker shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fr => "Français",
            Self::Es => "Español",
            Self::De => "Deutsch",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, UnknownLanguage> {
        let wanted = raw.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| l.code() == wanted)
            .ok_or_else(|| UnknownLanguage(raw.chars().take(12).collect()))
    }

    /// The word between an amount and its payee ("250.00 EUR to Acme").
    pub fn payment_joiner(self) -> &'static str {
        match self {
            Self::En => "to",
            Self::Fr => "à",
            Self::Es => "a",
            Self::De => "an",
        }
    }

    /// The shipped template; every one fits one segment in the worst case
    /// (a test renders each with the longest inputs). Each places the desk
    /// warning with `{warning}`.
    pub fn default_template(self) -> &'static str {
        match self {
            Self::En => crate::sms::DEFAULT_TEMPLATE,
            Self::Fr => "{brand} code {code} pour {reference}. Valable {minutes} min. {warning}",
            Self::Es => "{brand} codigo {code} para {reference}. Valido {minutes} min. {warning}",
            Self::De => "{brand} Code {code} für {reference}. {minutes} Min. gültig. {warning}",
        }
    }

    /// The shipped desk warning (S15): read the code only to the staff
    /// member serving you in person. IT may reword it (`sms_warning_xx`),
    /// never leave it out.
    pub fn default_warning(self) -> &'static str {
        match self {
            Self::En => crate::sms::DESK_WARNING,
            Self::Fr => "Lisez ce code uniquement au conseiller qui vous sert en personne.",
            Self::Es => "Lea este codigo solo al empleado que le atiende en persona.",
            Self::De => "Nur der Person vorlesen, die Sie jetzt persönlich bedient.",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a message language; use en, fr, es or de.")]
pub struct UnknownLanguage(String);

impl UnknownLanguage {
    /// A stable slug the UI can switch on.
    pub fn kind(&self) -> &'static str {
        "invalid_language"
    }
}
