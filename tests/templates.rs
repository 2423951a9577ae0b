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
        MessageTemplates::new("Banque", Language::En, &BTreeMap::new(), &BTreeMap::new()).unwrap(),
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

// ------------------------------------------------- S15: the desk warning

use countersign::config::it_policy;
use countersign::config::{DeskConfig, Key, Layers};
use countersign::sms::{Fill, Template};
use serde_json::json;

/// The templates shipped before `{warning}` existed, word for word.
const SHIPPED_BEFORE: [(Language, &str); 4] = [
    (Language::En, "{brand} code {code} for {reference}. Valid {minutes} min. Only read this code to the staff member serving you in person now."),
    (Language::Fr, "{brand} code {code} pour {reference}. Valable {minutes} min. Lisez ce code uniquement au conseiller qui vous sert en personne."),
    (Language::Es, "{brand} codigo {code} para {reference}. Valido {minutes} min. Lea este codigo solo al empleado que le atiende en persona."),
    (Language::De, "{brand} Code {code} für {reference}. {minutes} Min. gültig. Nur der Person vorlesen, die Sie jetzt persönlich bedient."),
];

/// docs/ADMIN.md's `[defaults]` example (copied: the test must not depend
/// on the docs staying as they are). It spells the French warning out and
/// has no `{warning}`.
const ADMIN_MD_TEMPLATE_FR: &str = "{brand} code {code} pour {reference}. Valable {minutes} min. Lisez ce code uniquement au conseiller qui vous sert en personne.";

fn render(templates: &MessageTemplates, language: Language, purpose: &Purpose) -> String {
    templates.get(language).render_unchecked(
        "482913",
        &Fill {
            minutes: 5,
            purpose,
            short_reference: "K7Q2XM",
        },
    )
}

/// Values as they would reach the desk: IT-only keys (the warnings) from
/// the policy file's `[locked]`, the rest as saved at the desk.
fn layers(pairs: &[(Key, serde_json::Value)]) -> Layers {
    let (it, desk): (Vec<_>, Vec<_>) = pairs.iter().cloned().partition(|(k, _)| k.it_only());
    Layers {
        locked: it.into_iter().collect(),
        saved: desk.into_iter().collect(),
        ..Default::default()
    }
}

fn resolved(pairs: &[(Key, serde_json::Value)]) -> MessageTemplates {
    DeskConfig::resolve(&layers(pairs))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .templates
}

#[test]
fn s15_shipped_templates_place_the_warning_and_render_as_before() {
    let shipped = MessageTemplates::default();
    let purposes = [
        Purpose::Unspecified,
        Purpose::reference("Loan 4471").unwrap(),
        Purpose::payment("250", "EUR", "Durand SA").unwrap(),
    ];
    for (language, before) in SHIPPED_BEFORE {
        assert!(
            language.default_template().contains("{warning}"),
            "{language}"
        );
        assert_eq!(
            shipped.get(language).warning(),
            language.default_warning(),
            "{language}"
        );
        let old = Template::parse_in(language, before, "Countersign").unwrap();
        for purpose in &purposes {
            let fill = Fill {
                minutes: 5,
                purpose,
                short_reference: "K7Q2XM",
            };
            assert_eq!(
                render(&shipped, language, purpose),
                old.render_unchecked("482913", &fill),
                "{language}"
            );
        }
        // The worst case is unchanged too.
        assert_eq!(
            templates::check(language, language.default_template(), "Countersign")
                .unwrap()
                .worst_units,
            templates::check(language, before, "Countersign")
                .unwrap()
                .worst_units,
        );
    }
}

#[test]
fn s15_custom_template_without_warning_still_warns() {
    let custom = "{brand} code {code} for {reference}. Valid {minutes} min.";
    let templates = resolved(&[(Key::TemplateEn, json!(custom))]);
    let body = render(&templates, Language::En, &Purpose::Unspecified);
    assert_eq!(
        body,
        format!(
            "Countersign code 482913 for ref K7Q2XM. Valid 5 min. {}",
            sms::DESK_WARNING
        )
    );

    // A reworded warning reaches the render, in place or appended.
    let reworded = "Say this code only to the teller in front of you.";
    let templates = resolved(&[
        (Key::TemplateEn, json!(custom)),
        (Key::SmsWarningEn, json!(reworded)),
        (
            Key::TemplateDe,
            json!("{warning} {brand} Code {code} für {reference}, {minutes} Min."),
        ),
        (Key::SmsWarningDe, json!("Nur dem Berater vorlesen.")),
    ]);
    let body = render(&templates, Language::En, &Purpose::Unspecified);
    assert!(body.ends_with(&format!("min. {reworded}")), "{body}");
    assert!(!body.contains(sms::DESK_WARNING), "{body}");
    let body = render(&templates, Language::De, &Purpose::Unspecified);
    assert!(
        body.starts_with("Nur dem Berater vorlesen. Countersign Code 482913"),
        "{body}"
    );
    assert_eq!(body.matches("Nur dem Berater").count(), 1, "{body}");

    // The same through a real send.
    let mut h = Harness::with_policy(PolicySettings::default());
    h.desk.reconfigure(h.desk.policy().clone(), templates);
    let (_, sms) = h.start_new_in(A, Purpose::Unspecified, Language::En);
    assert!(sms.body_text().ends_with(reworded), "{}", sms.body_text());
}

#[test]
fn s15_warning_cannot_be_emptied() {
    for (key, label) in [
        (Key::SmsWarningEn, "The English SMS warning"),
        (Key::SmsWarningFr, "The French SMS warning"),
        (Key::SmsWarningEs, "The Spanish SMS warning"),
        (Key::SmsWarningDe, "The German SMS warning"),
    ] {
        for empty in ["", "   ", "\t"] {
            let message = key.check(&json!(empty)).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("{label} cannot be empty")),
                "{message}"
            );
        }
        // Nor dodged: not a template, not two lines, not a page.
        assert!(key.check(&json!("Read {code} aloud")).is_err());
        assert!(key.check(&json!("line one\nline two")).is_err());
        assert!(key
            .check(&json!("x".repeat(121)))
            .unwrap_err()
            .to_string()
            .contains("at most 120"));
        assert_eq!(key.check(&json!(" Say it. ")), Ok(json!("Say it.")));
        // Nothing configured is the shipped warning, which passes.
        assert!(key.check(&key.default_value()).is_ok());
        assert_ne!(key.default_value(), json!(""));
    }

    // The whole configuration is refused, against the warning.
    let errors = DeskConfig::resolve(&layers(&[(Key::SmsWarningFr, json!(" "))])).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, Key::SmsWarningFr);

    // A policy file cannot empty it either, and says where.
    let err = it_policy::parse("[locked]\nsms_warning_es = \"\"\n", false).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("sms_warning_es"));
    assert_eq!(err.line, Some(2));
    assert!(
        err.message
            .starts_with("The Spanish SMS warning cannot be empty"),
        "{err}"
    );

    // Nor can the API underneath.
    let warnings = BTreeMap::from([(Language::En, String::new())]);
    assert_eq!(
        MessageTemplates::new("Bank", Language::En, &BTreeMap::new(), &warnings),
        Err((Language::En, TemplateError::BadWarning("sms.warning.empty")))
    );
}

#[test]
fn s15_warning_counts_towards_one_segment() {
    // The warning is measured: a shorter one leaves exactly that much room.
    let short = "Tell staff only.";
    for language in Language::ALL {
        let text = language.default_template();
        let shipped = templates::check(language, text, "Bank").unwrap();
        let shorter = templates::check_with_warning(language, text, "Bank", short).unwrap();
        assert_eq!(
            shipped.worst_units - shorter.worst_units,
            sms::measure(language.default_warning()).units - short.len(),
            "{language}"
        );
        assert!(shorter.sample.ends_with(short), "{}", shorter.sample);
    }

    // A template without {warning} is measured with the warning appended.
    let custom = "{brand} code {code} for {reference}. Valid {minutes} min.";
    let bare = templates::check_with_warning(Language::En, custom, "Bank", "W").unwrap();
    let full = templates::check(Language::En, custom, "Bank").unwrap();
    assert_eq!(
        full.worst_units - bare.worst_units,
        sms::DESK_WARNING.len() - 1
    );

    // A warning that makes a template too long is refused, and says so.
    let long = "Only read this code aloud to the member of staff who is serving you in person at the desk right now.";
    assert!(long.len() <= 120);
    let err = templates::check_with_warning(Language::En, custom, "Bank", long).unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::WarningTooLong {
                limit: 160,
                encoding: Encoding::Gsm7,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("With its warning,"), "{err}");
    assert!(err.to_string().contains("Shorten the warning"), "{err}");
    // In the configuration it is the reworded warning that is named.
    let errors = DeskConfig::resolve(&layers(&[
        (Key::TemplateEn, json!(custom)),
        (Key::SmsWarningEn, json!(long)),
    ]))
    .unwrap_err();
    assert_eq!(
        errors.iter().map(|e| e.key).collect::<Vec<_>>(),
        [Key::SmsWarningEn]
    );
    assert!(errors[0]
        .message
        .to_string()
        .starts_with("With its warning,"));

    // A custom template that only fits without the shipped warning is
    // refused against the template.
    let padded = format!("{custom} {}", "x".repeat(40));
    assert!(templates::check_with_warning(Language::En, &padded, "Bank", "W").is_ok());
    assert!(matches!(
        templates::check(Language::En, &padded, "Bank"),
        Err(TemplateError::WarningTooLong { .. })
    ));
    let errors = DeskConfig::resolve(&layers(&[(Key::TemplateEn, json!(padded))])).unwrap_err();
    assert_eq!(errors[0].key, Key::TemplateEn, "{errors:?}");

    // One accent outside GSM-7 in the warning turns the SMS into UCS-2.
    let err = templates::check_with_warning(
        Language::Es,
        Language::Es.default_template(),
        "Bank",
        "Lea este código solo al empleado que le atiende en persona.",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::WarningTooLong {
                limit: 70,
                encoding: Encoding::Ucs2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("limit 70"), "{err}");
}

#[test]
fn s15_admin_md_template_fr_example_still_loads() {
    let policy = it_policy::parse(
        &format!(
            "[defaults]\nbrand = \"Northbank\"\ndefault_language = \"en\"\ntemplate_fr = \"{ADMIN_MD_TEMPLATE_FR}\"\n"
        ),
        false,
    )
    .unwrap();
    let config = DeskConfig::resolve(&policy.layers(Default::default())).unwrap();
    let body = render(
        &config.templates,
        Language::Fr,
        &Purpose::reference("Pret 4471").unwrap(),
    );
    // It already spells the warning out: rendered as written, not twice.
    assert_eq!(
        body,
        "Northbank code 482913 pour Pret 4471. Valable 5 min. Lisez ce code uniquement au conseiller qui vous sert en personne."
    );
    assert!(Key::TemplateFr.check(&json!(ADMIN_MD_TEMPLATE_FR)).is_ok());
    assert!(templates::check(Language::Fr, ADMIN_MD_TEMPLATE_FR, "Northbank").is_ok());

    // Reword the French warning and the example would carry both the old
    // words and the new warning: too long, and refused against the warning.
    let mut layers = policy.layers(Default::default());
    layers
        .locked
        .insert(Key::SmsWarningFr, json!("Au conseiller seulement."));
    let errors = DeskConfig::resolve(&layers).unwrap_err();
    assert_eq!(errors[0].key, Key::SmsWarningFr, "{errors:?}");
    assert!(errors[0]
        .message
        .to_string()
        .starts_with("With its warning,"));
    // With {warning} in place of the old words it carries the new one.
    layers.provisioned.insert(
        Key::TemplateFr,
        json!(ADMIN_MD_TEMPLATE_FR.replace(Language::Fr.default_warning(), "{warning}")),
    );
    let config = DeskConfig::resolve(&layers).unwrap();
    let body = render(&config.templates, Language::Fr, &Purpose::Unspecified);
    assert!(body.ends_with("min. Au conseiller seulement."), "{body}");
}

#[test]
fn s15_staff_cannot_reword_the_warning_only_it_can() {
    assert!(Key::SmsWarningEn.it_only());
    // A value saved at the desk (or edited into settings.json) is not used.
    let mut by_staff = Layers::default();
    by_staff.saved.insert(Key::SmsWarningEn, json!("Thanks."));
    let config = DeskConfig::resolve(&by_staff).unwrap();
    let mut h = Harness::with_policy(PolicySettings::default());
    h.desk
        .reconfigure(h.desk.policy().clone(), config.templates);
    let (_, sms) = h.start_new_in(A, Purpose::Unspecified, Language::En);
    assert!(
        sms.body_text().ends_with(sms::DESK_WARNING),
        "{}",
        sms.body_text()
    );
    assert!(!sms.body_text().contains("Thanks."), "{}", sms.body_text());
}

#[test]
fn s15_a_template_that_fits_with_it_s_shorter_warning_is_not_refused_on_its_own() {
    // Fits with "Only for the desk." but not with the shipped warning.
    let template = format!(
        "{{brand}} code {{code}} for {{reference}}. Valid {{minutes}} min. {}",
        "x".repeat(40)
    );
    let shipped = templates::check(Language::En, &template, "Brand");
    assert!(
        matches!(shipped, Err(TemplateError::WarningTooLong { .. })),
        "{shipped:?}"
    );
    let policy = format!(
        "[locked]\ntemplate_en = \"{template}\"\nsms_warning_en = \"Only for the desk.\"\n"
    );
    let parsed = it_policy::parse(&policy, false).expect("the policy file loads");
    let config = DeskConfig::resolve(&parsed.layers(Default::default()));
    assert!(config.is_ok(), "{:?}", config.err());
    // With the shipped warning in force the same template is refused, by key.
    let alone = it_policy::parse(&format!("[locked]\ntemplate_en = \"{template}\"\n"), false)
        .expect("the policy file loads");
    let errors = DeskConfig::resolve(&alone.layers(Default::default())).unwrap_err();
    assert_eq!(errors[0].key, Key::TemplateEn, "{errors:?}");
}
