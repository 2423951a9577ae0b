//! What the customer is agreeing to, bound into the code (S16).
//!
//! Either a short reference shown on both the staff screen and the SMS, or a
//! payment (amount, currency, payee). Both are typed by staff, so they are
//! parsed here: bounded length, no control characters. The canonical bytes
//! feed the code digest: change the amount or payee and the code no longer
//! matches.

use crate::i18n::Text;
use std::fmt;

use serde::{Deserialize, Serialize};

pub const MAX_REFERENCE_CHARS: usize = 32;
pub const MAX_PAYEE_CHARS: usize = 18;
/// Up to 9,999,999.99: above any desk transaction, and short enough that
/// amount, payee and the S15 wording fit one SMS segment.
const MAX_MINOR_UNITS: u64 = 999_999_999;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Nothing typed: the SMS and the screen use the verification's short reference.
    Unspecified,
    Reference {
        reference: String,
    },
    Payment {
        amount: Amount,
        payee: String,
    },
}

/// An amount in minor units (cents) with its ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub minor_units: u64,
    pub currency: String,
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = self.minor_units / 100;
        let cents = self.minor_units % 100;
        let digits = units.to_string();
        let mut grouped = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{grouped}.{cents:02} {}", self.currency)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurposeError {
    TooLong {
        field: &'static str,
        max: usize,
    },
    ControlCharacter {
        field: &'static str,
    },
    NotInSmsAlphabet {
        field: &'static str,
        character: char,
    },
    Missing {
        field: &'static str,
    },
    BadAmount,
    BadCurrency,
}

impl PurposeError {
    /// A stable slug the UI can switch on: one for every purpose refusal.
    pub fn kind(&self) -> &'static str {
        "invalid_purpose"
    }

    pub fn text(&self) -> Text {
        match self {
            Self::TooLong { field, max } => Text::new("purpose.too_long")
                .arg("field", field_text(field))
                .arg("max", *max),
            Self::ControlCharacter { field } => {
                Text::new("purpose.control_character").arg("field", field_text(field))
            }
            Self::NotInSmsAlphabet { field, character } => Text::new("purpose.not_in_sms_alphabet")
                .arg("field", field_text(field))
                .arg("character", character.to_string()),
            Self::Missing { field } => Text::new("purpose.missing").arg("field", field_text(field)),
            Self::BadAmount => Text::new("purpose.bad_amount"),
            Self::BadCurrency => Text::new("purpose.bad_currency"),
        }
    }
}

fn field_text(field: &str) -> Text {
    match field {
        "reference" => Text::new("purpose.field.reference"),
        "payee" => Text::new("purpose.field.payee"),
        "amount" => Text::new("purpose.field.amount"),
        "currency" => Text::new("purpose.field.currency"),
        other => Text::plain(other.to_owned()),
    }
}

impl std::fmt::Display for PurposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl Purpose {
    /// A reference, or `Unspecified` when staff left it blank.
    pub fn reference(raw: &str) -> Result<Self, PurposeError> {
        match clean_text(raw, "reference", MAX_REFERENCE_CHARS)? {
            None => Ok(Self::Unspecified),
            Some(reference) => Ok(Self::Reference { reference }),
        }
    }

    pub fn payment(amount: &str, currency: &str, payee: &str) -> Result<Self, PurposeError> {
        let payee = clean_text(payee, "payee", MAX_PAYEE_CHARS)?
            .ok_or(PurposeError::Missing { field: "payee" })?;
        Ok(Self::Payment {
            amount: parse_amount(amount, currency)?,
            payee,
        })
    }

    /// The unambiguous encoding bound into the code digest.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let fields: Vec<String> = match self {
            Self::Unspecified => vec!["none".into()],
            Self::Reference { reference } => vec!["ref".into(), reference.clone()],
            Self::Payment { amount, payee } => vec![
                "pay".into(),
                amount.minor_units.to_string(),
                amount.currency.clone(),
                payee.clone(),
            ],
        };
        let mut out = Vec::new();
        for f in fields {
            out.extend((f.len() as u64).to_be_bytes());
            out.extend(f.as_bytes());
        }
        out
    }
}

fn clean_text(raw: &str, field: &'static str, max: usize) -> Result<Option<String>, PurposeError> {
    let t = raw.trim();
    if t.chars().any(char::is_control) {
        return Err(PurposeError::ControlCharacter { field });
    }
    if let Some(character) = t.chars().find(|c| !crate::sms::is_gsm7(*c)) {
        return Err(PurposeError::NotInSmsAlphabet { field, character });
    }
    // Runs of spaces would waste SMS characters and make two references look alike.
    let collapsed = t.split_whitespace().collect::<Vec<_>>().join(" ");
    // Counted in GSM-7 septets, as the SMS counts them (€ [ ] take two), so
    // that every accepted purpose fits the segment (S15).
    if crate::sms::measure(&collapsed).units > max {
        return Err(PurposeError::TooLong { field, max });
    }
    Ok((!collapsed.is_empty()).then_some(collapsed))
}

fn parse_amount(raw: &str, currency: &str) -> Result<Amount, PurposeError> {
    let currency = currency.trim().to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(PurposeError::BadCurrency);
    }
    let t = raw.trim();
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    let whole_digits: String = whole.chars().filter(|c| *c != ',').collect();
    let groups_ok = !whole.contains(',')
        || whole.split(',').enumerate().all(|(i, g)| {
            (if i == 0 {
                (1..=3).contains(&g.len())
            } else {
                g.len() == 3
            }) && g.bytes().all(|b| b.is_ascii_digit())
        });
    let ok = !whole_digits.is_empty()
        && whole_digits.len() <= 12
        && groups_ok
        && whole_digits.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(t.contains('.') && frac.is_empty());
    if !ok {
        return Err(PurposeError::BadAmount);
    }
    let units: u64 = whole_digits.parse().map_err(|_| PurposeError::BadAmount)?;
    let cents: u64 = format!("{frac:0<2}")
        .parse()
        .map_err(|_| PurposeError::BadAmount)?;
    let minor_units = units
        .checked_mul(100)
        .and_then(|m| m.checked_add(cents))
        .filter(|m| *m > 0 && *m <= MAX_MINOR_UNITS)
        .ok_or(PurposeError::BadAmount)?;
    Ok(Amount {
        minor_units,
        currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_with_separators_and_display_grouped() {
        for (raw, minor) in [
            ("2500", 250_000),
            ("2,500.00", 250_000),
            ("2500.5", 250_050),
            ("0.01", 1),
        ] {
            let p = Purpose::payment(raw, "eur", "J. Smith").unwrap();
            let Purpose::Payment { amount, .. } = p else {
                panic!()
            };
            assert_eq!(amount.minor_units, minor, "{raw}");
        }
        let a = Amount {
            minor_units: 123_456_789,
            currency: "EUR".into(),
        };
        assert_eq!(a.to_string(), "1,234,567.89 EUR");
        assert!(Purpose::payment("9,999,999.99", "EUR", "X").is_ok());
    }

    #[test]
    fn bad_amounts_currencies_and_texts_are_refused_specifically() {
        for raw in [
            "",
            "0",
            "-5",
            "1.234",
            "12,34",
            "1e5",
            "2.",
            "abc",
            "1234567890123",
            "10,000,000",
        ] {
            assert_eq!(
                Purpose::payment(raw, "EUR", "X"),
                Err(PurposeError::BadAmount),
                "{raw}"
            );
        }
        assert_eq!(
            Purpose::payment("5", "EURO", "X"),
            Err(PurposeError::BadCurrency)
        );
        assert_eq!(
            Purpose::payment("5", "EUR", "  "),
            Err(PurposeError::Missing { field: "payee" })
        );
        assert_eq!(
            Purpose::reference("line\nbreak"),
            Err(PurposeError::ControlCharacter { field: "reference" })
        );
        assert_eq!(
            Purpose::reference(&"x".repeat(33)),
            Err(PurposeError::TooLong {
                field: "reference",
                max: 32
            })
        );
        assert_eq!(Purpose::reference("   "), Ok(Purpose::Unspecified));
        assert_eq!(
            Purpose::payment("5", "EUR", "Łukasz"),
            Err(PurposeError::NotInSmsAlphabet {
                field: "payee",
                character: 'Ł'
            })
        );
    }

    #[test]
    fn canonical_bytes_separate_fields_unambiguously() {
        let a = Purpose::payment("1", "EUR", "AB").unwrap();
        let b = Purpose::payment("1", "EUR", "A B").unwrap();
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
        let r = Purpose::reference("pay").unwrap();
        assert_ne!(r.canonical_bytes(), Purpose::Unspecified.canonical_bytes());
    }
}
