//! Every limit of the security rules (S1–S9), with its default and the bounds
//! settings or an IT policy file may move it within.
//!
//! A value outside its bounds is refused with a message naming the field and
//! the bounds; it is never clamped silently. [`PolicySettings`] is the
//! untrusted, serialisable form; [`Policy`] is the checked one the engine uses.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::phone::{AllowedCountries, PhoneError, PhoneNumber, Region};

/// The country a number without its international prefix is read in,
/// until IT or staff choose another.
pub const DEFAULT_COUNTRY: &str = "GB";

/// One numeric limit: its settings key, unit, default and bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub field: &'static str,
    pub unit: &'static str,
    pub default: u32,
    pub min: u32,
    pub max: u32,
}

impl Limit {
    fn check(&self, value: u32) -> Result<u32, PolicyError> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(PolicyError::OutOfBounds {
                limit: *self,
                value,
            })
        }
    }
}

/// S1: digits in a code.
pub const CODE_LENGTH: Limit = Limit {
    field: "code_length",
    unit: "digits",
    default: 6,
    min: 6,
    max: 10,
};
/// S2: how long a code stays valid (NIST and ASVS: 10 minutes at most).
pub const VALIDITY: Limit = Limit {
    field: "validity_seconds",
    unit: "seconds",
    default: 300,
    min: 60,
    max: 600,
};
/// S4: wrong codes per verification before it locks (PSD2: 5 at most).
pub const MAX_ATTEMPTS: Limit = Limit {
    field: "max_attempts",
    unit: "tries",
    default: 5,
    min: 1,
    max: 5,
};
/// S5: failures per number per hour, across verifications, before the number is blocked.
pub const NUMBER_FAILURES_PER_HOUR: Limit = Limit {
    field: "number_failures_per_hour",
    unit: "failures",
    default: 10,
    min: 1,
    max: 100,
};
/// S8: pause between two sends to one number.
pub const RESEND_COOLDOWN: Limit = Limit {
    field: "resend_cooldown_seconds",
    unit: "seconds",
    default: 30,
    min: 30,
    max: 300,
};
/// S8: sends to one number within the send window.
pub const SENDS_PER_WINDOW: Limit = Limit {
    field: "sends_per_window",
    unit: "sends",
    default: 5,
    min: 1,
    max: 5,
};
/// S8: the rolling window the send cap counts in.
pub const SEND_WINDOW: Limit = Limit {
    field: "send_window_minutes",
    unit: "minutes",
    default: 10,
    min: 10,
    max: 60,
};

/// Every limit, for settings screens and documentation.
pub const LIMITS: [Limit; 7] = [
    CODE_LENGTH,
    VALIDITY,
    MAX_ATTEMPTS,
    NUMBER_FAILURES_PER_HOUR,
    RESEND_COOLDOWN,
    SENDS_PER_WINDOW,
    SEND_WINDOW,
];

/// S5 counts failures in a rolling hour.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{} must be between {} and {} {} (got {value}).", limit.field, limit.min, limit.max, limit.unit)]
    OutOfBounds { limit: Limit, value: u32 },
    #[error("{field}: {source}")]
    Country {
        field: &'static str,
        source: PhoneError,
    },
}

impl PartialEq for Limit {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
    }
}
impl Eq for Limit {}

/// Settings as they come from a file or the settings screen: unchecked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    pub code_length: u32,
    pub validity_seconds: u32,
    pub max_attempts: u32,
    pub number_failures_per_hour: u32,
    pub resend_cooldown_seconds: u32,
    pub sends_per_window: u32,
    pub send_window_minutes: u32,
    pub default_country: String,
    /// Empty means "the default country only".
    pub allowed_countries: Vec<String>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            code_length: CODE_LENGTH.default,
            validity_seconds: VALIDITY.default,
            max_attempts: MAX_ATTEMPTS.default,
            number_failures_per_hour: NUMBER_FAILURES_PER_HOUR.default,
            resend_cooldown_seconds: RESEND_COOLDOWN.default,
            sends_per_window: SENDS_PER_WINDOW.default,
            send_window_minutes: SEND_WINDOW.default,
            default_country: DEFAULT_COUNTRY.to_owned(),
            allowed_countries: Vec::new(),
        }
    }
}

/// The checked policy. Built only through [`Policy::from_settings`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    code_length: u8,
    validity: Duration,
    max_attempts: u32,
    number_failures_per_hour: u32,
    resend_cooldown: Duration,
    sends_per_window: u32,
    send_window: Duration,
    default_country: Region,
    allowed_countries: AllowedCountries,
}

impl Default for Policy {
    fn default() -> Self {
        Self::from_settings(&PolicySettings::default()).expect("the defaults are within bounds")
    }
}

impl Policy {
    pub fn from_settings(s: &PolicySettings) -> Result<Self, PolicyError> {
        let default_country: Region =
            s.default_country
                .parse()
                .map_err(|source| PolicyError::Country {
                    field: "default_country",
                    source,
                })?;
        let allowed_countries = if s.allowed_countries.is_empty() {
            AllowedCountries::only(default_country)
        } else {
            let regions = s
                .allowed_countries
                .iter()
                .map(|c| c.parse::<Region>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| PolicyError::Country {
                    field: "allowed_countries",
                    source,
                })?;
            AllowedCountries::new(regions).map_err(|source| PolicyError::Country {
                field: "allowed_countries",
                source,
            })?
        };
        Ok(Self {
            code_length: CODE_LENGTH.check(s.code_length)? as u8,
            validity: secs(VALIDITY.check(s.validity_seconds)?),
            max_attempts: MAX_ATTEMPTS.check(s.max_attempts)?,
            number_failures_per_hour: NUMBER_FAILURES_PER_HOUR.check(s.number_failures_per_hour)?,
            resend_cooldown: secs(RESEND_COOLDOWN.check(s.resend_cooldown_seconds)?),
            sends_per_window: SENDS_PER_WINDOW.check(s.sends_per_window)?,
            send_window: secs(SEND_WINDOW.check(s.send_window_minutes)? * 60),
            default_country,
            allowed_countries,
        })
    }

    pub fn code_length(&self) -> u8 {
        self.code_length
    }
    pub fn validity(&self) -> Duration {
        self.validity
    }
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    pub fn number_failures_per_hour(&self) -> u32 {
        self.number_failures_per_hour
    }
    pub fn resend_cooldown(&self) -> Duration {
        self.resend_cooldown
    }
    pub fn sends_per_window(&self) -> u32 {
        self.sends_per_window
    }
    pub fn send_window(&self) -> Duration {
        self.send_window
    }
    pub fn default_country(&self) -> Region {
        self.default_country
    }
    pub fn allowed_countries(&self) -> &AllowedCountries {
        &self.allowed_countries
    }
}

/// What a number staff typed is for, which decides whether the allow-list
/// holds for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberUse {
    /// A verification code or a test SMS goes to it: only an allowed
    /// country may receive one (S9).
    Send,
    /// The audit trail is searched for it: the allow-list may have shrunk
    /// since the records were made, and they must still be found.
    Search,
}

impl Policy {
    /// The one reading of a typed number: a number without `+` is national
    /// to the desk's default country, and a number to send to must be in an
    /// allowed country, refused with one message naming the allowed ones.
    pub fn parse_number(&self, typed: &str, usage: NumberUse) -> Result<PhoneNumber, PhoneError> {
        match usage {
            NumberUse::Send => {
                PhoneNumber::parse(typed, self.default_country, &self.allowed_countries)
            }
            NumberUse::Search => PhoneNumber::parse_any(typed, self.default_country),
        }
    }
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_security_rules() {
        let p = Policy::default();
        assert_eq!(p.code_length(), 6);
        assert_eq!(p.validity(), Duration::from_secs(300));
        assert_eq!(p.max_attempts(), 5);
        assert_eq!(p.number_failures_per_hour(), 10);
        assert_eq!(p.resend_cooldown(), Duration::from_secs(30));
        assert_eq!(p.sends_per_window(), 5);
        assert_eq!(p.send_window(), Duration::from_secs(600));
        assert!(p.allowed_countries().contains(p.default_country()));
    }

    #[test]
    fn every_limit_accepts_its_bounds_and_refuses_one_beyond_naming_the_field() {
        for limit in LIMITS {
            for (value, ok) in [
                (limit.min, true),
                (limit.max, true),
                (limit.min - 1, false),
                (limit.max + 1, false),
            ] {
                let mut s = PolicySettings::default();
                let slot = match limit.field {
                    "code_length" => &mut s.code_length,
                    "validity_seconds" => &mut s.validity_seconds,
                    "max_attempts" => &mut s.max_attempts,
                    "number_failures_per_hour" => &mut s.number_failures_per_hour,
                    "resend_cooldown_seconds" => &mut s.resend_cooldown_seconds,
                    "sends_per_window" => &mut s.sends_per_window,
                    "send_window_minutes" => &mut s.send_window_minutes,
                    other => panic!("limit {other} has no settings field"),
                };
                *slot = value;
                match Policy::from_settings(&s) {
                    Ok(_) => assert!(ok, "{} accepted {value}", limit.field),
                    Err(e) => {
                        assert!(!ok, "{} refused {value}", limit.field);
                        let msg = e.to_string();
                        assert!(msg.starts_with(limit.field), "{msg}");
                        assert!(
                            msg.contains(&format!("between {} and {}", limit.min, limit.max)),
                            "{msg}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn countries_are_checked_and_default_to_the_home_country_only() {
        let mut s = PolicySettings {
            default_country: "fr".into(),
            ..Default::default()
        };
        let p = Policy::from_settings(&s).unwrap();
        assert_eq!(
            p.allowed_countries()
                .iter()
                .map(|r| r.code().to_owned())
                .collect::<Vec<_>>(),
            ["FR"]
        );
        s.allowed_countries = vec!["FR".into(), "ZZ".into()];
        let e = Policy::from_settings(&s).unwrap_err().to_string();
        assert!(e.starts_with("allowed_countries:"), "{e}");
    }

    #[test]
    fn a_typed_number_is_national_to_the_default_country_and_only_a_send_is_held_to_the_allow_list()
    {
        let p = Policy::default();
        let home = p.parse_number("07400 123456", NumberUse::Send).unwrap();
        assert_eq!(home.e164(), "+447400123456");
        // A French mobile: no longer (or never) allowed on a GB-only desk.
        let abroad = "+33 6 12 34 56 78";
        assert!(matches!(
            p.parse_number(abroad, NumberUse::Send),
            Err(PhoneError::CountryNotAllowed(..))
        ));
        let found = p.parse_number(abroad, NumberUse::Search).unwrap();
        assert_eq!(found.e164(), "+33612345678");
        // What is not a number is refused whatever it is for.
        for usage in [NumberUse::Send, NumberUse::Search] {
            assert_eq!(
                p.parse_number("call me", usage),
                Err(PhoneError::NotANumber)
            );
        }
    }
}
