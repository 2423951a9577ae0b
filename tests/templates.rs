//! Message templates per language (S15): the shipped ones fit one segment in
//! the worst case, a custom one that could run long or drops what S15 asks
//! for is refused, and a verification keeps its language through a resend.

mod support;

use std::collections::BTreeMap;

use countersign::language::Language;
use countersign::policy::PolicySettings;
use countersign::purpose::Purpose;
use countersign::sms::{self, Encoding, TemplateError};
use countersign::templates::{self, MessageTemplates};
use support::{Harness, A};

#[test]
fn s15_every_shipped_language_fits_one_gsm7_segment_at_its_longest() {
    for language in Language::ALL {
        let preview = templates::check(language, language.default_template(), "Countersign")
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        assert_eq!(preview.encoding, "GSM-7", "{language}");
        assert!(preview.worst_units <= 160, "{language}: {preview:?}");
        assert_eq!(preview.segments, 1);
        assert!(preview.sample.contains("482913"), "{}", preview.sample);
    }
}

#[test]
fn s15_a_template_without_brand_reference_or_validity_is_refused() {
    for (text, missing) in [
        ("Code {code} for {reference}, {minutes} min.", "brand"),
        ("{brand} code {code}, {minutes} min.", "reference"),
        ("{brand} code {code} for {reference}.", "minutes"),
    ] {
        assert_eq!(
            templates::check(Language::En, text, "Bank"),
            Err(TemplateError::MissingPlaceholder(missing)),
            "{text}"
        );
    }
    assert_eq!(
        templates::check(Language::En, "{brand} {reference} {minutes}", "Bank"),
        Err(TemplateError::NoCode)
    );
}

#[test]
fn s15_a_template_that_fits_today_but_could_run_long_is_refused() {
    // 120 fixed characters fit with a short reference, not with the longest.
    let text = format!(
        "{{brand}} {{code}} {{reference}} {{minutes}} {}",
        "x".repeat(100)
    );
    let err = templates::check(Language::En, &text, "Bank").unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::CanRunLong {
                limit: 160,
                encoding: Encoding::Gsm7,
                ..
            }
        ),
        "{err:?}"
    );
    // One character outside GSM-7 switches to UCS-2 and says so.
    let err = templates::check(
        Language::Es,
        "{brand} código {code} {reference} {minutes}",
        "Bank",
    )
    .unwrap_err();
    assert!(err.to_string().contains("limit 70"), "{err}");
}

#[test]
fn s15_a_verification_speaks_the_language_picked_and_resends_in_it() {
    let mut h = Harness::with_policy(PolicySettings::default());
    h.desk.reconfigure(
        h.desk.policy().clone(),
        MessageTemplates::new("Banque", Language::En, &BTreeMap::new()).unwrap(),
    );
    let payment = Purpose::payment("250", "EUR", "Durand SA").unwrap();
    let (view, sms) = h.start_new_in(A, payment, Language::Fr);
    let body = sms.body_text().to_owned();
    assert!(body.starts_with("Banque code "), "{body}");
    assert!(body.contains("pour 250.00 EUR à Durand SA."), "{body}");
    assert!(body.contains("Valable 5 min"), "{body}");
    assert_eq!(sms::measure(&body).encoding, Encoding::Gsm7);

    h.accept(&view.id);
    h.advance(31);
    let resent = h.desk.resend(&view.id).unwrap();
    assert!(resent.sms.body_text().contains("Valable 5 min"));
}

#[test]
fn a_code_issued_before_the_code_length_changed_still_checks() {
    let mut h = Harness::with_policy(PolicySettings::default());
    let (view, sms) = h.start_new(A, Purpose::Unspecified);
    let code = support::code_of(&sms);
    let longer = countersign::policy::Policy::from_settings(&PolicySettings {
        code_length: 8,
        ..Default::default()
    })
    .unwrap();
    let templates = h.desk.templates().clone();
    h.desk.reconfigure(longer, templates);
    h.accept(&view.id);
    let outcome = h.desk.check(&view.id, &code).unwrap();
    assert_eq!(outcome.outcome, countersign::desk::OutcomeKind::Approved);
    // A new code follows the new length.
    let (_, sms) = h.start_new(support::B, Purpose::Unspecified);
    assert_eq!(support::code_of(&sms).len(), 8);
}
