//! The customer's phone number, parsed once where it comes in.
//!
//! Staff type numbers the way customers say them ("07400 123456", "+44 7400
//! 123456", "0044 7400-123456"). [`PhoneNumber::parse`] reads them against the
//! desk's default country with libphonenumber's metadata and keeps only what
//! can receive an SMS in a country the bank allows (S9). Everything inside the
//! core holds a `PhoneNumber`, never a string, and shows it masked (S13).

use crate::i18n::Text;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};
use serde::{Deserialize, Serialize};

/// An ISO 3166-1 alpha-2 country ("GB", "FR") that libphonenumber knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region(Id);

impl Region {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl PartialOrd for Region {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Region {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl FromStr for Region {
    type Err = PhoneError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let upper = raw.trim().to_ascii_uppercase();
        if upper.len() != 2 {
            return Err(PhoneError::UnknownRegion(sanitise_region(raw)));
        }
        Id::from_str(&upper)
            .map(Region)
            .map_err(|_| PhoneError::UnknownRegion(upper))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Only the first few characters of a bad region go into a message, so a
/// pasted number never ends up in an error string.
fn sanitise_region(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .take(3)
        .collect()
}

/// The destination countries a desk may send to (S9). Never empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Region>", into = "Vec<Region>")]
pub struct AllowedCountries(BTreeSet<Region>);

impl AllowedCountries {
    pub fn only(region: Region) -> Self {
        Self(BTreeSet::from([region]))
    }

    pub fn new(regions: impl IntoIterator<Item = Region>) -> Result<Self, PhoneError> {
        let set: BTreeSet<Region> = regions.into_iter().collect();
        if set.is_empty() {
            return Err(PhoneError::NoCountryAllowed);
        }
        Ok(Self(set))
    }

    pub fn contains(&self, region: Region) -> bool {
        self.0.contains(&region)
    }

    pub fn iter(&self) -> impl Iterator<Item = Region> + '_ {
        self.0.iter().copied()
    }
}

impl TryFrom<Vec<Region>> for AllowedCountries {
    type Error = PhoneError;
    fn try_from(v: Vec<Region>) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<AllowedCountries> for Vec<Region> {
    fn from(a: AllowedCountries) -> Self {
        a.0.into_iter().collect()
    }
}

/// Why a typed number was refused. Messages never repeat the number itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    Empty,
    NotANumber,
    InvalidForCountry(String),
    CannotReceiveSms(&'static str),
    CountryNotAllowed(String, String),
    UnknownRegion(String),
    NoCountryAllowed,
}

impl PhoneError {
    /// A stable slug the UI can switch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CountryNotAllowed(..) => "country_not_allowed",
            Self::CannotReceiveSms(_) => "number_cannot_receive_sms",
            _ => "invalid_number",
        }
    }

    /// What staff are told, in any language.
    pub fn text(&self) -> Text {
        match self {
            Self::Empty => Text::new("phone.empty"),
            Self::NotANumber => Text::new("phone.not_a_number"),
            Self::InvalidForCountry(country) => {
                Text::new("phone.invalid_for_country").arg("country", country.as_str())
            }
            Self::CannotReceiveSms(line) => {
                Text::new("phone.cannot_receive_sms").arg("line", Text::new(*line))
            }
            Self::CountryNotAllowed(country, allowed) => Text::new("phone.country_not_allowed")
                .arg("country", country.as_str())
                .arg("allowed", allowed.as_str()),
            Self::UnknownRegion(code) => {
                Text::new("phone.unknown_region").arg("code", code.as_str())
            }
            Self::NoCountryAllowed => Text::new("phone.no_country_allowed"),
        }
    }
}

impl std::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

/// A number that can receive SMS, in an allowed country, held in E.164.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    region: Region,
}

impl PhoneNumber {
    /// Parses what staff typed. A number without `+` is read as a national
    /// number of `default_region`.
    pub fn parse(
        input: &str,
        default_region: Region,
        allowed: &AllowedCountries,
    ) -> Result<Self, PhoneError> {
        let number = Self::parse_any(input, default_region)?;
        if !allowed.contains(number.region) {
            let list = allowed
                .iter()
                .map(|r| r.code().to_owned())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PhoneError::CountryNotAllowed(
                number.region.code().to_owned(),
                list,
            ));
        }
        Ok(number)
    }

    /// Parses without the allow-list: for numbers read back from our own
    /// store, which were checked when they were first typed.
    pub fn parse_any(input: &str, default_region: Region) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // libphonenumber accepts letters as keypad digits ("1-800-FLOWERS");
        // at a bank desk a letter is a typo, not a vanity number.
        let plausible = trimmed.len() <= 40
            && trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().\u{a0}/".contains(c));
        if !plausible {
            return Err(PhoneError::NotANumber);
        }
        let wrong_length = || {
            let country = if trimmed.starts_with('+') || trimmed.starts_with("00") {
                "that country".to_owned()
            } else {
                default_region.code().to_owned()
            };
            PhoneError::InvalidForCountry(country)
        };
        let parsed = phonenumber::parse(Some(default_region.0), trimmed).map_err(|e| match e {
            phonenumber::ParseError::TooShortNsn
            | phonenumber::ParseError::TooShortAfterIdd
            | phonenumber::ParseError::TooLong => wrong_length(),
            _ => PhoneError::NotANumber,
        })?;
        // libphonenumber names a region only for a number valid in it.
        let region = match parsed.country().id() {
            Some(id) if parsed.is_valid() => Region(id),
            _ => {
                return Err(
                    match country_of_code(parsed.code().value(), default_region) {
                        Some(r) => PhoneError::InvalidForCountry(r.code().to_owned()),
                        None => wrong_length(),
                    },
                );
            }
        };
        match parsed.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            other => return Err(PhoneError::CannotReceiveSms(type_name(other))),
        }
        Ok(Self {
            e164: parsed.format().mode(Mode::E164).to_string(),
            region,
        })
    }

    /// `+447400123456`: for the gateway and for keyed digests, nowhere else.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    pub fn region(&self) -> Region {
        self.region
    }

    /// The country calling code and the last three digits: `+44 •••• 123`.
    pub fn masked(&self) -> String {
        let code_len = phonenumber::parse(None, &self.e164)
            .map(|n| n.code().value().to_string().len())
            .unwrap_or(1);
        let digits = &self.e164[1..];
        let (code, rest) = digits.split_at(code_len.min(digits.len()));
        let tail = &rest[rest.len().saturating_sub(3)..];
        format!("+{code} •••• {tail}")
    }
}

/// The default region when it uses this calling code; `None` otherwise
/// (codes such as +44 or +1 are shared by several regions).
fn country_of_code(calling_code: u16, default_region: Region) -> Option<Region> {
    DATABASE
        .by_id(default_region.code())
        .filter(|m| m.country_code() == calling_code)
        .map(|_| default_region)
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::FixedLine => "line.fixed_line",
        Type::TollFree => "line.toll_free",
        Type::PremiumRate => "line.premium_rate",
        Type::SharedCost => "line.shared_cost",
        Type::PersonalNumber => "line.personal",
        Type::Voip => "line.voip",
        Type::Pager => "line.pager",
        Type::Uan => "line.uan",
        Type::Voicemail => "line.voicemail",
        _ => "line.special",
    }
}

/// Debug and Display are masked, so a number that slips into a log line or an
/// error message is still not in clear (S12).
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb() -> Region {
        "GB".parse().unwrap()
    }

    #[test]
    fn national_and_international_forms_agree() {
        let allowed = AllowedCountries::only(gb());
        for input in [
            "07400 123456",
            "+44 7400 123456",
            "0044 7400-123456",
            "(07400) 123456",
        ] {
            let n = PhoneNumber::parse(input, gb(), &allowed).unwrap();
            assert_eq!(n.e164(), "+447400123456", "{input}");
        }
    }

    #[test]
    fn masked_shows_country_code_and_last_three_digits() {
        let n = PhoneNumber::parse_any("+33 6 12 34 56 78", gb()).unwrap();
        assert_eq!(n.masked(), "+33 •••• 678");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+33 •••• 678)");
        assert_eq!(n.to_string(), "+33 •••• 678");
    }

    #[test]
    fn each_refusal_has_its_own_message() {
        let allowed = AllowedCountries::only(gb());
        let err = |s: &str| PhoneNumber::parse(s, gb(), &allowed).unwrap_err();
        assert_eq!(err("   "), PhoneError::Empty);
        assert_eq!(err("call me"), PhoneError::NotANumber);
        assert_eq!(
            err("07400 12345"),
            PhoneError::InvalidForCountry("GB".into())
        );
        assert_eq!(
            err("020 7946 0000"),
            PhoneError::CannotReceiveSms("line.fixed_line")
        );
        assert!(
            matches!(err("+33 6 12 34 56 78"), PhoneError::CountryNotAllowed(c, _) if c == "FR")
        );
    }

    #[test]
    fn refusal_messages_never_repeat_the_number() {
        let allowed = AllowedCountries::only(gb());
        for input in [
            "+33 6 12 34 56 78",
            "020 7946 0000",
            "07400 12345",
            "07400 123456x",
        ] {
            let msg = PhoneNumber::parse(input, gb(), &allowed)
                .unwrap_err()
                .to_string();
            assert!(
                !msg.contains("7946") && !msg.contains("5678") && !msg.contains("123456"),
                "{msg}"
            );
        }
    }

    #[test]
    fn regions_parse_case_insensitively_and_refuse_unknown_codes() {
        assert_eq!("fr".parse::<Region>().unwrap().code(), "FR");
        assert!(matches!(
            "XX".parse::<Region>(),
            Err(PhoneError::UnknownRegion(_))
        ));
        assert!(matches!(
            "France".parse::<Region>(),
            Err(PhoneError::UnknownRegion(_))
        ));
        assert_eq!(AllowedCountries::new([]), Err(PhoneError::NoCountryAllowed));
    }
}
