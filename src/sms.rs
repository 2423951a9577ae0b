//! The SMS text: a template with placeholders, rendered into one segment.
//!
//! S15: the message names the brand, the purpose (or a short reference also
//! shown on the staff screen), the validity, and warns the customer for the
//! desk flow. One SMS segment holds 160 GSM-7 characters (extension
//! characters such as `€` take two) or 70 UCS-2 ones; a message that would
//! not fit is an error, never cut.

use crate::code::Code;
use crate::i18n::Text;
use crate::language::Language;
use crate::purpose::Purpose;

pub const GSM7_SEGMENT: usize = 160;
pub const UCS2_SEGMENT: usize = 70;
pub const MAX_BRAND_CHARS: usize = 16;

/// The warning S15 asks for, word for word (the English one; see
/// [`Language::default_warning`] for the others).
pub const DESK_WARNING: &str = "Only read this code to the staff member serving you in person now.";

/// The shipped English template. `{warning}` is the desk warning, so with the
/// shipped warning it renders exactly the sentence S15 asks for.
pub const DEFAULT_TEMPLATE: &str =
    "{brand} code {code} for {reference}. Valid {minutes} min. {warning}";

/// The longest warning IT may set. The one-segment check of each template
/// with its warning is the real bound; this one keeps a typo from reading as
/// a template.
pub const MAX_WARNING_CHARS: usize = 120;

/// Why a desk warning cannot be used, or `None` when it can. The text is
/// taken as trimmed. The words follow "The … warning" in a message.
pub fn warning_problem(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if text.is_empty() {
        Some("sms.warning.empty")
    } else if text.chars().count() > MAX_WARNING_CHARS {
        Some("sms.warning.too_long")
    } else if text.chars().any(char::is_control) {
        Some("sms.warning.multiline")
    } else if text.contains(['{', '}']) {
        Some("sms.warning.braces")
    } else {
        None
    }
}

const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// How a text travels: GSM-7 septets, or UCS-2 when any character needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }
}

/// The size of a rendered text in its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measure {
    pub encoding: Encoding,
    pub units: usize,
    pub limit: usize,
}

pub fn is_gsm7(c: char) -> bool {
    BASIC.contains(c) || EXTENSION.contains(c)
}

pub fn measure(text: &str) -> Measure {
    if text.chars().all(is_gsm7) {
        let units = text
            .chars()
            .map(|c| if EXTENSION.contains(c) { 2 } else { 1 })
            .sum();
        Measure {
            encoding: Encoding::Gsm7,
            units,
            limit: GSM7_SEGMENT,
        }
    } else {
        Measure {
            encoding: Encoding::Ucs2,
            units: text.encode_utf16().count(),
            limit: UCS2_SEGMENT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    UnknownPlaceholder(String),
    Unbalanced,
    NoCode,
    MissingPlaceholder(&'static str),
    CanRunLong {
        units: usize,
        limit: usize,
        encoding: Encoding,
        hint: &'static str,
    },
    /// The desk warning cannot be used (see [`warning_problem`]).
    BadWarning(&'static str),
    /// The template fits on its own but not with its warning.
    WarningTooLong {
        units: usize,
        limit: usize,
        encoding: Encoding,
        hint: &'static str,
    },
    BadBrand,
    TooLong {
        units: usize,
        limit: usize,
        encoding: Encoding,
    },
}

impl TemplateError {
    /// What staff are told, in any language.
    pub fn text(&self) -> Text {
        let over = |key, units: &usize, limit: &usize, encoding: &Encoding| {
            Text::new(key)
                .arg("units", *units)
                .arg("limit", *limit)
                .arg("encoding", encoding.name())
        };
        match self {
            Self::UnknownPlaceholder(name) => {
                Text::new("sms.unknown_placeholder").arg("name", name.as_str())
            }
            Self::Unbalanced => Text::new("sms.unbalanced"),
            Self::NoCode => Text::new("sms.no_code"),
            Self::MissingPlaceholder(name) => {
                Text::new("sms.missing_placeholder").arg("name", *name)
            }
            Self::CanRunLong {
                units,
                limit,
                encoding,
                hint,
            } => over("sms.can_run_long", units, limit, encoding).arg("hint", Text::new(*hint)),
            Self::BadWarning(problem) => {
                Text::new("sms.bad_warning").arg("problem", Text::new(*problem))
            }
            Self::WarningTooLong {
                units,
                limit,
                encoding,
                hint,
            } => over("sms.warning_too_long", units, limit, encoding).arg("hint", Text::new(*hint)),
            Self::BadBrand => Text::new("sms.bad_brand").arg("max", MAX_BRAND_CHARS),
            Self::TooLong {
                units,
                limit,
                encoding,
            } => over("sms.too_long", units, limit, encoding),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Code,
    Minutes,
    Reference,
    Amount,
    Payee,
    Brand,
    Warning,
}

/// A parsed template. Placeholders are checked once, when it is made.
///
/// `{warning}` places the desk warning (S15). A template made by
/// [`Template::parse_in`] is rendered as written, its `{warning}` being the
/// language's shipped warning; [`Template::with_warning`] sets the warning
/// and, when the template neither places `{warning}` nor holds the warning
/// word for word, appends it after a space. [`crate::templates::MessageTemplates`],
/// which every desk sends with, always does the latter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    brand: String,
    language: Language,
    warning: String,
    /// Whether [`Self::warning`] is added after the text as written.
    append_warning: bool,
}

/// What fills the placeholders besides the code.
pub struct Fill<'a> {
    pub minutes: u64,
    pub purpose: &'a Purpose,
    /// Shown when the purpose is unspecified: the verification's short reference.
    pub short_reference: &'a str,
}

impl Template {
    /// An English template (the language decides only the word between an
    /// amount and its payee).
    pub fn parse(text: &str, brand: &str) -> Result<Self, TemplateError> {
        Self::parse_in(Language::En, text, brand)
    }

    pub fn parse_in(language: Language, text: &str, brand: &str) -> Result<Self, TemplateError> {
        let brand = brand.trim();
        if brand.is_empty()
            || !brand.chars().all(is_gsm7)
            || measure(brand).units > MAX_BRAND_CHARS
            || brand.chars().any(char::is_control)
        {
            return Err(TemplateError::BadBrand);
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(TemplateError::Unbalanced);
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(TemplateError::Unbalanced)?;
            let name = &after[..close];
            pieces.push(match name {
                "code" => Piece::Code,
                "minutes" => Piece::Minutes,
                "reference" => Piece::Reference,
                "amount" => Piece::Amount,
                "payee" => Piece::Payee,
                "brand" => Piece::Brand,
                "warning" => Piece::Warning,
                other if other.contains('{') => return Err(TemplateError::Unbalanced),
                other => {
                    return Err(TemplateError::UnknownPlaceholder(
                        other.chars().take(20).collect(),
                    ))
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        if !pieces.contains(&Piece::Code) {
            return Err(TemplateError::NoCode);
        }
        Ok(Self {
            pieces,
            brand: brand.to_owned(),
            language,
            warning: language.default_warning().to_owned(),
            append_warning: false,
        })
    }

    /// The same template carrying `warning` (trimmed): in place of
    /// `{warning}`, or after the text when the template has no `{warning}`
    /// and does not already hold the warning word for word, so that no
    /// template can leave it out.
    pub fn with_warning(self, warning: &str) -> Result<Self, TemplateError> {
        if let Some(problem) = warning_problem(warning) {
            return Err(TemplateError::BadWarning(problem));
        }
        Ok(self.carrying(warning.trim()))
    }

    /// [`Self::with_warning`] without the warning's own checks (worst cases).
    pub(crate) fn carrying(mut self, warning: &str) -> Self {
        let written = self
            .pieces
            .iter()
            .any(|p| matches!(p, Piece::Text(t) if !warning.is_empty() && t.contains(warning)));
        self.append_warning = !self.has("warning") && !written;
        self.warning = warning.to_owned();
        self
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The desk warning this template renders.
    pub fn warning(&self) -> &str {
        &self.warning
    }

    pub fn brand(&self) -> &str {
        &self.brand
    }

    /// Whether the template names `{name}`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.pieces.iter().any(|p| {
            matches!(
                (p, name),
                (Piece::Code, "code")
                    | (Piece::Minutes, "minutes")
                    | (Piece::Reference, "reference")
                    | (Piece::Amount, "amount")
                    | (Piece::Payee, "payee")
                    | (Piece::Brand, "brand")
                    | (Piece::Warning, "warning")
            )
        })
    }

    /// Renders without the one-segment check: previews and worst cases.
    pub fn render_unchecked(&self, code_digits: &str, fill: &Fill<'_>) -> String {
        self.render_with(code_digits, fill)
    }

    pub fn default_english() -> Self {
        Self::parse(DEFAULT_TEMPLATE, "Countersign").expect("the default template is valid")
    }

    /// Renders the SMS body. The result holds the code: the caller keeps it
    /// secret.
    pub fn render(&self, code: &Code, fill: &Fill<'_>) -> Result<String, TemplateError> {
        let text = self.render_with(code.digits(), fill);
        let m = measure(&text);
        if m.units > m.limit {
            return Err(TemplateError::TooLong {
                units: m.units,
                limit: m.limit,
                encoding: m.encoding,
            });
        }
        Ok(text)
    }

    fn render_with(&self, code: &str, fill: &Fill<'_>) -> String {
        let (reference, amount, payee) = match fill.purpose {
            Purpose::Unspecified => (
                format!("ref {}", fill.short_reference),
                String::new(),
                String::new(),
            ),
            Purpose::Reference { reference } => (reference.clone(), String::new(), String::new()),
            Purpose::Payment { amount, payee } => (
                format!("{amount} {} {payee}", self.language.payment_joiner()),
                amount.to_string(),
                payee.clone(),
            ),
        };
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Code => out.push_str(code),
                Piece::Minutes => out.push_str(&fill.minutes.to_string()),
                Piece::Reference => out.push_str(&reference),
                Piece::Amount => out.push_str(&amount),
                Piece::Payee => out.push_str(&payee),
                Piece::Brand => out.push_str(&self.brand),
                Piece::Warning => out.push_str(&self.warning),
            }
        }
        if self.append_warning && !self.warning.is_empty() {
            if !out.is_empty() && !out.ends_with(char::is_whitespace) {
                out.push(' ');
            }
            out.push_str(&self.warning);
        }
        out
    }
}

/// What staff see as the purpose: the same words the SMS uses.
pub fn purpose_display(purpose: &Purpose, short_reference: &str) -> String {
    match purpose {
        Purpose::Unspecified => format!("ref {short_reference}"),
        Purpose::Reference { reference } => reference.clone(),
        Purpose::Payment { amount, payee } => format!("{amount} to {payee}"),
    }
}

/// The one-time code in a rendered SMS, read as the customer reads it: the
/// first whole run of digits as long as a code can be (S1), not the tail of
/// a number such as `+447400123456`. For the tests, the bench and the E2E
/// harness, which play the customer; the desk itself never reads a code
/// back out of a message.
pub fn code_in(body: &str) -> Option<&str> {
    let lengths = crate::policy::CODE_LENGTH.min as usize..=crate::policy::CODE_LENGTH.max as usize;
    let mut start = None;
    // A sentinel after the last character ends a run at the end of the text.
    for (i, c) in body.char_indices().chain([(body.len(), ' ')]) {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(from)) => {
                start = None;
                let after_plus = body[..from].ends_with('+');
                if lengths.contains(&(i - from)) && !after_plus {
                    return Some(&body[from..i]);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_first_run_of_code_length_digits() {
        let body = "Countersign code 783301 for Loan 7. Valid 10 min.";
        assert_eq!(code_in(body), Some("783301"));
        assert_eq!(
            code_in("to +447400123456: code 1234567890"),
            Some("1234567890")
        );
        assert_eq!(code_in("ends with 12345678"), Some("12345678"));
        assert_eq!(code_in("12345 and 12345678901 are no codes"), None);
    }

    #[test]
    fn gsm7_counts_extension_characters_twice_and_falls_back_to_ucs2() {
        assert_eq!(measure("abc").units, 3);
        assert_eq!(measure("5 €").units, 4);
        let m = measure("Łódź");
        assert_eq!((m.encoding, m.limit), (Encoding::Ucs2, 70));
    }

    #[test]
    fn templates_refuse_unknown_placeholders_and_missing_code() {
        assert_eq!(
            Template::parse("{pin}", "B"),
            Err(TemplateError::UnknownPlaceholder("pin".into()))
        );
        assert_eq!(
            Template::parse("{code", "B"),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(
            Template::parse("code}", "B"),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(
            Template::parse("no code here", "B"),
            Err(TemplateError::NoCode)
        );
        assert_eq!(Template::parse("{code}", ""), Err(TemplateError::BadBrand));
    }
}
