//! Rules that hold for every input of their shape, at every edge where
//! untrusted text comes in: phone numbers, typed codes, purposes and
//! templates. Each test states a promise (what is accepted, what each
//! refusal is, what round-trips, what is never cut) and checks it on a few
//! hundred generated cases.
//!
//! Where the only promise is "answers, never panics" on hostile bytes, at
//! volume, the test is in `tests/fuzz.rs`.

use countersign::code::{Code, CodeInput, CodeInputError};
use countersign::phone::{AllowedCountries, PhoneError, PhoneNumber, Region};
use countersign::purpose::{Amount, Purpose, PurposeError, MAX_PAYEE_CHARS, MAX_REFERENCE_CHARS};
use countersign::sms::{self, Fill, Template, TemplateError};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn gb() -> Region {
    "GB".parse().unwrap()
}

/// What `CodeInput::parse` drops: the spaces and dashes people read codes with.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '\u{a0}' | '\t' | '\u{2009}' | '\u{2010}'..='\u{2015}'
    )
}

fn check_number(n: &PhoneNumber) -> Result<(), TestCaseError> {
    let e164 = n.e164();
    prop_assert!(e164.starts_with('+'), "{}", e164);
    let digits = &e164[1..];
    prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    prop_assert!((4..=15).contains(&digits.len()));
    let masked = n.masked();
    prop_assert!(
        !masked.contains(digits),
        "masked {} shows {}",
        masked,
        digits
    );
    // Country code plus three digits at most: never the subscriber number.
    let shown = masked.chars().filter(char::is_ascii_digit).count();
    prop_assert!(shown <= 3 + 3 && shown < digits.len(), "{}", masked);
    prop_assert!(masked.ends_with(&digits[digits.len() - 3..]));
    prop_assert_eq!(n.to_string(), masked.clone());
    let debug = format!("{:?}", n);
    prop_assert!(!debug.contains(digits));
    // Stable: the E.164 form parses to itself.
    let again = PhoneNumber::parse_any(e164, n.region()).unwrap();
    prop_assert_eq!(again.e164(), e164);
    Ok(())
}

/// The refusal `PhoneNumber::parse_any` owes text that is no number at all,
/// before libphonenumber sees it: blank text is `Empty`, and a letter or any
/// sign beyond the punctuation people type numbers with is `NotANumber` (at
/// a desk a letter is a typo, not a keypad digit). `None`: libphonenumber
/// decides.
fn refused_before_parsing(s: &str) -> Option<PhoneError> {
    let t = s.trim();
    if t.is_empty() {
        return Some(PhoneError::Empty);
    }
    let plausible = t.len() <= 40
        && t.chars()
            .all(|c| c.is_ascii_digit() || " +-().\u{a0}/".contains(c));
    (!plausible).then_some(PhoneError::NotANumber)
}

/// Checks both parsers on `s`, whatever it is: a refusal is the one owed,
/// or one libphonenumber can give; an acceptance keeps `check_number`'s
/// promises; and the allow-list only ever narrows `parse_any` by country.
fn check_parse(s: &str, region: Region) -> Result<(), TestCaseError> {
    let any = PhoneNumber::parse_any(s, region);
    match (&any, refused_before_parsing(s)) {
        (Err(e), Some(owed)) => prop_assert_eq!(e, &owed),
        (Ok(n), Some(owed)) => {
            prop_assert!(
                false,
                "{:?} accepted as {} instead of {:?}",
                s,
                n.e164(),
                owed
            )
        }
        (Ok(n), None) => check_number(n)?,
        (Err(e), None) => prop_assert!(
            matches!(
                e,
                PhoneError::NotANumber
                    | PhoneError::InvalidForCountry(_)
                    | PhoneError::CannotReceiveSms(_)
            ),
            "{:?}",
            e
        ),
    }
    let only_gb = PhoneNumber::parse(s, region, &AllowedCountries::only(gb()));
    match (&any, &only_gb) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(b.region(), gb());
            prop_assert_eq!(a.e164(), b.e164());
        }
        (Ok(a), Err(PhoneError::CountryNotAllowed(country, list))) => {
            let region = a.region();
            prop_assert!(region != gb());
            prop_assert_eq!(country.as_str(), region.code());
            prop_assert_eq!(list.as_str(), "GB");
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(false, "parse_any {:?} but parse {:?}", a, b),
    }
    Ok(())
}

fn small_regions() -> impl Strategy<Value = Region> {
    prop::sample::select(vec!["GB", "FR", "DE", "US", "GG", "IE", "IN"])
        .prop_map(|r| r.parse::<Region>().unwrap())
}

fn purposes() -> impl Strategy<Value = Purpose> {
    prop_oneof![
        Just(Purpose::Unspecified),
        "[A-Za-z0-9 .,/€\\[\\]-]{1,40}"
            .prop_filter_map("valid reference", |r| { Purpose::reference(&r).ok() }),
        "[A-Za-z0-9 .,€\\[\\]]{1,40}"
            .prop_filter_map("valid reference", |r| { Purpose::reference(&r).ok() }),
        "[A€\\[]{1,36}".prop_filter_map("valid reference", |r| { Purpose::reference(&r).ok() }),
        (
            1u64..=999_999_999,
            "[A-Z]{3}",
            prop_oneof!["[A-Za-z .'€-]{1,24}", "[A€\\]]{1,24}"]
        )
            .prop_filter_map("valid payment", |(minor, cur, payee)| {
                let a = Amount {
                    minor_units: minor,
                    currency: cur.clone(),
                }
                .to_string();
                let number = a.split(' ').next().unwrap().to_owned();
                Purpose::payment(&number, &cur, &payee).ok()
            }),
    ]
}

/// A refused template is refused for a reason it has: a brand the settings
/// would refuse, braces that do not pair or name no placeholder, or no
/// `{code}`. Text without braces can only lack the code.
fn check_template_refusal(t: &str, brand: &str, e: &TemplateError) -> Result<(), TestCaseError> {
    let b = brand.trim();
    let brand_ok = !b.is_empty()
        && b.chars().all(sms::is_gsm7)
        && !b.chars().any(char::is_control)
        && sms::measure(b).units <= sms::MAX_BRAND_CHARS;
    match e {
        TemplateError::BadBrand => prop_assert!(!brand_ok, "brand {:?} refused", brand),
        TemplateError::NoCode => {
            prop_assert!(brand_ok);
            prop_assert!(!t.contains("{code}"), "{:?}", t);
        }
        TemplateError::Unbalanced | TemplateError::UnknownPlaceholder(_) => {
            prop_assert!(brand_ok);
            prop_assert!(t.contains(['{', '}']), "{:?} for {:?}", e, t);
        }
        other => prop_assert!(false, "parse refused {:?} with {:?}", t, other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn phone_parse_never_panics_on_arbitrary_strings(s in any::<String>(), region in small_regions()) {
        check_parse(&s, region)?;
    }

    #[test]
    fn phone_parse_never_panics_on_digitish_strings(
        s in "(\\+|00|0)?[0-9 ()./+\u{a0}-]{0,24}",
        region in small_regions(),
    ) {
        check_parse(&s, region)?;
        // Refusals never echo the number; acceptances keep the digits typed.
        let typed: String = s.chars().filter(char::is_ascii_digit).collect();
        match PhoneNumber::parse_any(&s, region) {
            Ok(n) => {
                let tail = &n.e164()[n.e164().len() - 6..];
                prop_assert!(typed.contains(tail), "{} -> {}", s, n.e164());
            }
            // Five digits or fewer are no number to leak (and "" is in every text).
            Err(e) => prop_assert!(typed.len() < 6 || !e.to_string().contains(&typed), "{}", e),
        }
    }

    #[test]
    fn phone_parse_of_gb_mobile_shapes(
        // Valid by construction: 071-073 and 07400-07449 are GB mobile ranges
        // in libphonenumber's metadata (unlike 0745[7], 076 pagers, 070
        // personal numbers, and the Crown Dependencies' 07781, 07911, ...).
        rest in "([1-3][0-9]|4[0-4])[0-9]{7}",
        spaced in any::<bool>(),
    ) {
        let raw = if spaced { format!("07{} {}", &rest[..3], &rest[3..]) } else { format!("07{rest}") };
        let n = PhoneNumber::parse_any(&raw, gb());
        prop_assert!(n.is_ok(), "{} refused: {:?}", raw, n);
        let n = n.unwrap();
        check_number(&n)?;
        prop_assert_eq!(n.region(), gb());
        let expected = format!("+447{rest}");
        prop_assert_eq!(n.e164(), expected.as_str());
        check_parse(&raw, gb())?;
    }

    #[test]
    fn code_input_valid_iff_exactly_n_ascii_digits_after_separators(
        s in any::<String>(),
        length in 6u8..=10,
    ) {
        let kept: String = s.chars().filter(|c| !is_separator(*c)).collect();
        let ok = kept.len() == usize::from(length) && kept.bytes().all(|b| b.is_ascii_digit());
        match CodeInput::parse(&s, length) {
            Ok(input) => {
                prop_assert!(ok);
                prop_assert_eq!(input.digits(), kept.as_str());
            }
            Err(e) => {
                prop_assert!(!ok);
                let expected_kind = if kept.is_empty() {
                    CodeInputError::Empty
                } else if !kept.bytes().all(|b| b.is_ascii_digit()) {
                    CodeInputError::NotDigits
                } else {
                    CodeInputError::WrongLength { expected: length, got: kept.len() }
                };
                prop_assert_eq!(e, expected_kind);
            }
        }
    }

    #[test]
    fn code_input_accepts_digits_with_any_separators(
        digits in "[0-9]{6,10}",
        seps in prop::collection::vec(prop::sample::select(vec!["", " ", "-", "  ", "\u{a0}", "\t", "\u{2013}"]), 11),
    ) {
        let mut typed = String::new();
        for (i, d) in digits.chars().enumerate() {
            typed.push_str(seps[i]);
            typed.push(d);
        }
        typed.push_str(seps[10]);
        let input = CodeInput::parse(&typed, digits.len() as u8).unwrap();
        prop_assert_eq!(input.digits(), digits.as_str());
    }

    #[test]
    fn purpose_parsing_never_panics_and_keeps_its_bounds(
        reference in any::<String>(),
        amount in any::<String>(),
        currency in any::<String>(),
        payee in any::<String>(),
    ) {
        match Purpose::reference(&reference) {
            Ok(Purpose::Reference { reference: r }) => {
                prop_assert!(r.chars().count() <= MAX_REFERENCE_CHARS);
                prop_assert!(r.chars().all(sms::is_gsm7) && !r.chars().any(char::is_control));
                prop_assert!(!r.is_empty() && r == r.trim());
            }
            Ok(Purpose::Unspecified) => prop_assert!(reference.trim().is_empty()),
            Ok(other) => prop_assert!(false, "reference gave {:?}", other),
            Err(e) => prop_assert!(
                matches!(
                    e,
                    PurposeError::TooLong { field: "reference", .. }
                        | PurposeError::ControlCharacter { field: "reference" }
                        | PurposeError::NotInSmsAlphabet { field: "reference", .. }
                ),
                "{:?}",
                e
            ),
        }
        let three_letters = {
            let c = currency.trim();
            c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic())
        };
        match Purpose::payment(&amount, &currency, &payee) {
            Ok(Purpose::Payment { amount: a, payee: p }) => {
                prop_assert!(three_letters, "{:?} taken as a currency", currency);
                prop_assert!((1..=999_999_999).contains(&a.minor_units));
                prop_assert!(a.currency.len() == 3 && a.currency.bytes().all(|b| b.is_ascii_uppercase()));
                prop_assert!(p.chars().count() <= MAX_PAYEE_CHARS && !p.is_empty());
            }
            Ok(other) => prop_assert!(false, "payment gave {:?}", other),
            // The payee is read first, then the currency, then the amount.
            Err(PurposeError::BadCurrency) => prop_assert!(!three_letters),
            Err(PurposeError::BadAmount) => prop_assert!(three_letters),
            Err(e) => prop_assert!(
                matches!(
                    e,
                    PurposeError::TooLong { field: "payee", .. }
                        | PurposeError::ControlCharacter { field: "payee" }
                        | PurposeError::NotInSmsAlphabet { field: "payee", .. }
                        | PurposeError::Missing { field: "payee" }
                ),
                "{:?}",
                e
            ),
        }
    }

    #[test]
    fn a_payment_of_valid_fields_is_accepted_as_typed(
        minor in 1u64..=999_999_999,
        currency in "[A-Za-z]{3}",
        payee in "[A-Za-z][A-Za-z.'-]{0,17}", // MAX_PAYEE_CHARS is 18
    ) {
        let shown = Amount { minor_units: minor, currency: "EUR".into() }.to_string();
        let number = shown.trim_end_matches(" EUR");
        let p = Purpose::payment(number, &currency, &format!(" {payee} "));
        let amount = Amount { minor_units: minor, currency: currency.to_ascii_uppercase() };
        prop_assert_eq!(p, Ok(Purpose::Payment { amount, payee }));
    }

    #[test]
    fn amounts_in_numeric_shapes_never_panic_and_round_trip(
        amount in "[0-9,.]{0,16}",
        minor in 1u64..=999_999_999,
    ) {
        // Currency and payee are valid: an amount is taken or `BadAmount`.
        match Purpose::payment(&amount, "EUR", "X") {
            Ok(Purpose::Payment { amount: a, .. }) => {
                let shown = a.to_string();
                let number = shown.trim_end_matches(" EUR");
                prop_assert_eq!(Purpose::payment(number, "EUR", "X").unwrap(), Purpose::payment(&amount, "EUR", "X").unwrap());
            }
            Ok(other) => prop_assert!(false, "payment gave {:?}", other),
            Err(e) => prop_assert_eq!(e, PurposeError::BadAmount),
        }
        let a = Amount { minor_units: minor, currency: "GBP".into() };
        let shown = a.to_string();
        let p = Purpose::payment(shown.trim_end_matches(" GBP"), "GBP", "X").unwrap();
        prop_assert_eq!(p, Purpose::Payment { amount: a, payee: "X".into() });
    }

    #[test]
    fn template_parse_and_render_never_panic_and_never_cut(
        text in any::<String>(),
        brand in any::<String>(),
        purpose in purposes(),
        minutes in 1u64..=10,
        seed in any::<u64>(),
        length in 6u8..=10,
    ) {
        let with_code = format!("{text}{{code}}");
        let code = Code::generate(&mut StdRng::seed_from_u64(seed), length);
        for t in [&text, &with_code] {
            let template = match Template::parse(t, &brand) {
                Ok(template) => template,
                Err(e) => {
                    check_template_refusal(t, &brand, &e)?;
                    continue;
                }
            };
            let fill = Fill { minutes, purpose: &purpose, short_reference: "ABCD" };
            match template.render(&code, &fill) {
                Ok(body) => {
                    let m = sms::measure(&body);
                    prop_assert!(m.units <= m.limit);
                    prop_assert!(body.contains(code.digits()), "the code is never cut");
                }
                Err(TemplateError::TooLong { units, limit, .. }) => prop_assert!(units > limit),
                Err(e) => prop_assert!(false, "render failed with {:?}", e),
            }
        }
    }

    #[test]
    fn template_with_placeholder_soup_never_panics(
        // Braces and letters alone almost never spell `{code}`: the pieces
        // mix real placeholders in, so valid templates come up too.
        t in prop_oneof![
            "[{}a-z ]{0,40}",
            prop::collection::vec(
                prop::sample::select(vec!["{code}", "{minutes}", "{brand}", "{", "}", "code", " ", "ab", "{x}"]),
                0..8,
            )
            .prop_map(|pieces| pieces.concat()),
        ],
        brand in "[A-Za-z€]{0,20}",
    ) {
        match Template::parse(&t, &brand) {
            Ok(template) => {
                let placeholder = "{code}";
                prop_assert!(t.contains(placeholder));
                let code = Code::generate(&mut StdRng::seed_from_u64(1), 6);
                let fill = Fill { minutes: 5, purpose: &Purpose::Unspecified, short_reference: "ABCD" };
                match template.render(&code, &fill) {
                    Ok(body) => prop_assert!(body.contains(code.digits()), "the code is never cut"),
                    Err(TemplateError::TooLong { units, limit, .. }) => prop_assert!(units > limit),
                    Err(e) => prop_assert!(false, "render failed with {:?}", e),
                }
            }
            Err(e) => check_template_refusal(&t, &brand, &e)?,
        }
    }

    #[test]
    fn default_template_fits_for_every_accepted_purpose(
        purpose in purposes(),
        length in 6u8..=10,
        minutes in 1u64..=10,
    ) {
        // The longest brand the settings accept.
        let template = Template::parse(sms::DEFAULT_TEMPLATE, &"B".repeat(sms::MAX_BRAND_CHARS)).unwrap();
        let code = Code::generate(&mut StdRng::seed_from_u64(3), length);
        let fill = Fill { minutes, purpose: &purpose, short_reference: "ABCD" };
        let body = template.render(&code, &fill);
        prop_assert!(body.is_ok(), "{:?} for {:?}", body, purpose);
    }
}
