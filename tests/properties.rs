//! Properties over arbitrary input at every edge where untrusted text comes
//! in: phone numbers, typed codes, purposes, templates and the pending file.
//! Each must answer (Ok or a typed error), never panic, and keep its promise.

use countersign::code::{Code, CodeInput, CodeInputError};
use countersign::persist;
use countersign::phone::{AllowedCountries, PhoneNumber, Region};
use countersign::purpose::{Amount, Purpose, MAX_PAYEE_CHARS, MAX_REFERENCE_CHARS};
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn phone_parse_never_panics_on_arbitrary_strings(s in any::<String>(), region in small_regions()) {
        if let Ok(n) = PhoneNumber::parse_any(&s, region) {
            check_number(&n)?;
        }
        let allowed = AllowedCountries::only(gb());
        if let Ok(n) = PhoneNumber::parse(&s, gb(), &allowed) {
            prop_assert_eq!(n.region(), gb());
            check_number(&n)?;
        }
    }

    #[test]
    fn phone_parse_never_panics_on_digitish_strings(
        s in "(\\+|00|0)?[0-9 ()./+\u{a0}-]{0,24}",
        region in small_regions(),
    ) {
        if let Ok(n) = PhoneNumber::parse_any(&s, region) {
            check_number(&n)?;
            // Refusals never echo the number; acceptances keep the digits typed.
            let typed: String = s.chars().filter(char::is_ascii_digit).collect();
            let tail = &n.e164()[n.e164().len() - 6..];
            prop_assert!(typed.contains(tail), "{} -> {}", s, n.e164());
        } else if let Err(e) = PhoneNumber::parse_any(&s, region) {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 6 {
                prop_assert!(!e.to_string().contains(&digits), "{}", e);
            }
        }
    }

    #[test]
    fn phone_parse_of_gb_mobile_shapes(rest in "[0-9]{9}", spaced in any::<bool>()) {
        let raw = if spaced { format!("07{} {}", &rest[..3], &rest[3..]) } else { format!("07{rest}") };
        if let Ok(n) = PhoneNumber::parse_any(&raw, gb()) {
            check_number(&n)?;
            let expected = format!("+447{rest}");
            prop_assert_eq!(n.e164(), expected.as_str());
        }
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
            Err(_) => {}
        }
        if let Ok(Purpose::Payment { amount: a, payee: p }) = Purpose::payment(&amount, &currency, &payee) {
            prop_assert!((1..=999_999_999).contains(&a.minor_units));
            prop_assert!(a.currency.len() == 3 && a.currency.bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert!(p.chars().count() <= MAX_PAYEE_CHARS && !p.is_empty());
        }
    }

    #[test]
    fn amounts_in_numeric_shapes_never_panic_and_round_trip(
        amount in "[0-9,.]{0,16}",
        minor in 1u64..=999_999_999,
    ) {
        if let Ok(Purpose::Payment { amount: a, .. }) = Purpose::payment(&amount, "EUR", "X") {
            let shown = a.to_string();
            let number = shown.trim_end_matches(" EUR");
            prop_assert_eq!(Purpose::payment(number, "EUR", "X").unwrap(), Purpose::payment(&amount, "EUR", "X").unwrap());
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
            let Ok(template) = Template::parse(t, &brand) else { continue };
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
        t in "[{}a-z ]{0,40}",
        brand in "[A-Za-z€]{0,20}",
    ) {
        if let Ok(template) = Template::parse(&t, &brand) {
            let placeholder = "{code}";
            prop_assert!(t.contains(placeholder));
            let code = Code::generate(&mut StdRng::seed_from_u64(1), 6);
            let fill = Fill { minutes: 5, purpose: &Purpose::Unspecified, short_reference: "ABCD" };
            let _ = template.render(&code, &fill);
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

    #[test]
    fn persist_parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = persist::parse(&bytes);
    }

    #[test]
    fn persist_parse_never_panics_on_json_like_bytes(
        s in "[\\{\\}\\[\\]\":,0-9a-z \n-]{0,200}",
    ) {
        let _ = persist::parse(s.as_bytes());
        let wrapped = format!("{{\"format\":\"countersign/pending\",\"version\":1,{s}}}");
        let _ = persist::parse(wrapped.as_bytes());
    }

    #[test]
    fn persist_parse_never_panics_on_a_damaged_valid_document(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let valid = persist::to_bytes(&persist::PendingDocument::default());
        prop_assert!(persist::parse(&valid).is_ok());
        let mut damaged = valid.clone();
        for (i, b) in &edits {
            let at = i.index(damaged.len());
            damaged[at] = *b;
        }
        let _ = persist::parse(&damaged);
        let _ = persist::parse(&valid[..cut.index(valid.len())]);
    }
}
