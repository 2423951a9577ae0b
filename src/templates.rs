//! The message templates a desk sends with: one per language, one brand, a
//! default language, one desk warning per language, and the S15 check every
//! template passes before it is used — it names the brand, the purpose and
//! the validity, it carries the warning (placed with `{warning}`, or added
//! after the text when a template leaves it out), and it fits one segment
//! when rendered with the longest brand, code and purpose any setting
//! allows, warning included, so no verification can ever fail for length.

use std::collections::BTreeMap;

use crate::language::Language;
use crate::policy::{CODE_LENGTH, VALIDITY};
use crate::purpose::{Purpose, MAX_PAYEE_CHARS, MAX_REFERENCE_CHARS};
use crate::sms::{measure, Encoding, Fill, Template, TemplateError, MAX_BRAND_CHARS};

/// What the settings screen shows under a template as it is typed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// A sample SMS with this brand, a sample code and a sample reference.
    pub sample: String,
    pub sample_units: usize,
    /// The longest the template can render.
    pub worst_units: usize,
    pub encoding: &'static str,
    pub limit: usize,
    /// Segments the longest rendering would take (more than 1 is refused).
    pub segments: usize,
}

/// Checks one template for S15 with the language's shipped warning and
/// measures its worst case.
pub fn check(language: Language, text: &str, brand: &str) -> Result<Preview, TemplateError> {
    check_with_warning(language, text, brand, language.default_warning())
}

/// Checks one template for S15 with the desk warning it will carry and
/// measures its worst case, warning included. A template that fits on its
/// own but not with the warning is refused as [`TemplateError::WarningTooLong`].
pub fn check_with_warning(
    language: Language,
    text: &str,
    brand: &str,
    warning: &str,
) -> Result<Preview, TemplateError> {
    let template = Template::parse_in(language, text, brand)?.with_warning(warning)?;
    for required in ["code", "brand", "reference", "minutes"] {
        if !template.has(required) {
            return Err(if required == "code" {
                TemplateError::NoCode
            } else {
                TemplateError::MissingPlaceholder(required)
            });
        }
    }
    let worst = worst_case(language, text, template.warning())?;
    let m = measure(&worst);
    if m.units > m.limit {
        let hint = if m.encoding == Encoding::Ucs2 {
            "sms.hint.ucs2"
        } else {
            "sms.hint.none"
        };
        // Whose length is it: would the template fit without its warning?
        let bare = measure(&worst_case(language, text, "")?);
        return Err(if bare.units <= bare.limit {
            TemplateError::WarningTooLong {
                units: m.units,
                limit: m.limit,
                encoding: m.encoding,
                hint,
            }
        } else {
            TemplateError::CanRunLong {
                units: m.units,
                limit: m.limit,
                encoding: m.encoding,
                hint,
            }
        });
    }
    let sample = template.render_unchecked(
        "482913",
        &Fill {
            minutes: 5,
            purpose: &Purpose::reference("Loan 4471").unwrap_or(Purpose::Unspecified),
            short_reference: "K7Q2XM",
        },
    );
    Ok(Preview {
        sample_units: measure(&sample).units,
        sample,
        worst_units: m.units,
        encoding: match m.encoding {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        },
        limit: m.limit,
        segments: segments(m.units, m.encoding),
    })
}

/// The longest rendering: the longest brand, code, validity and purpose,
/// with `warning` (empty: the template as if it had none).
fn worst_case(language: Language, text: &str, warning: &str) -> Result<String, TemplateError> {
    let brand = "B".repeat(MAX_BRAND_CHARS);
    let template = Template::parse_in(language, text, &brand)?.carrying(warning);
    let code = "9".repeat(CODE_LENGTH.max as usize);
    let minutes = u64::from(VALIDITY.max).div_ceil(60);
    let purposes = [
        Purpose::Unspecified,
        Purpose::reference(&"R".repeat(MAX_REFERENCE_CHARS)).unwrap_or(Purpose::Unspecified),
        Purpose::payment("9,999,999.99", "EUR", &"P".repeat(MAX_PAYEE_CHARS))
            .unwrap_or(Purpose::Unspecified),
    ];
    Ok(purposes
        .iter()
        .map(|purpose| {
            template.render_unchecked(
                &code,
                &Fill {
                    minutes,
                    purpose,
                    short_reference: "XXXXXX",
                },
            )
        })
        .max_by_key(|text| measure(text).units)
        .unwrap_or_default())
}

/// Concatenated SMS carry a header: 153 GSM-7 or 67 UCS-2 units per part.
fn segments(units: usize, encoding: Encoding) -> usize {
    let (single, part) = match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

/// One checked template per language, one brand, and the language a
/// verification uses when staff pick none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageTemplates {
    by_language: BTreeMap<Language, Template>,
    default_language: Language,
}

impl Default for MessageTemplates {
    fn default() -> Self {
        Self::new(
            "Countersign",
            Language::En,
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .expect("the shipped templates pass S15")
    }
}

impl MessageTemplates {
    /// `custom` replaces the shipped template of its language, `warnings`
    /// the shipped desk warning of its language. Every template, shipped or
    /// custom, passes [`check_with_warning`] with its warning and renders it.
    pub fn new(
        brand: &str,
        default_language: Language,
        custom: &BTreeMap<Language, String>,
        warnings: &BTreeMap<Language, String>,
    ) -> Result<Self, (Language, TemplateError)> {
        let mut by_language = BTreeMap::new();
        for language in Language::ALL {
            let text = custom
                .get(&language)
                .map(String::as_str)
                .unwrap_or(language.default_template());
            let warning = warnings
                .get(&language)
                .map(String::as_str)
                .unwrap_or(language.default_warning());
            check_with_warning(language, text, brand, warning).map_err(|e| (language, e))?;
            let template = Template::parse_in(language, text, brand)
                .and_then(|t| t.with_warning(warning))
                .map_err(|e| (language, e))?;
            by_language.insert(language, template);
        }
        Ok(Self {
            by_language,
            default_language,
        })
    }

    /// A single template for every language (tests and tools).
    pub fn single(template: Template) -> Self {
        let by_language = Language::ALL
            .into_iter()
            .map(|l| (l, template.clone()))
            .collect();
        Self {
            by_language,
            default_language: template.language(),
        }
    }

    pub fn default_language(&self) -> Language {
        self.default_language
    }

    pub fn get(&self, language: Language) -> &Template {
        // Every language is filled in by both constructors.
        &self.by_language[&language]
    }
}
