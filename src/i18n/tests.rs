//! The catalogues stay in step with English and with the code: the same
//! keys and placeholders in every language, plural forms, OS locales, and
//! a word for every setting, unit and audit event the screens show.

use super::*;

#[test]
fn every_language_has_exactly_the_english_keys_and_placeholders() {
    let english = catalogue(Language::En);
    for language in Language::ALL {
        let entries = entries(language);
        let mut seen = std::collections::BTreeSet::new();
        for (key, text) in entries {
            assert!(seen.insert(*key), "{language:?} has {key} twice");
            let Some(reference) = english.get(key) else {
                panic!("{language:?} has {key}, which English does not");
            };
            assert_eq!(
                placeholders(text),
                placeholders(reference),
                "{language:?} {key} uses other placeholders than English"
            );
        }
        for key in english.keys() {
            assert!(seen.contains(key), "{language:?} lacks {key}");
        }
    }
}

#[test]
fn a_count_picks_the_plural_form_of_the_language() {
    let one = Text::new("outcome.wrong_code").count("tries", 1);
    let two = Text::new("outcome.wrong_code").count("tries", 2);
    let zero = Text::new("outcome.wrong_code").count("tries", 0);
    assert!(one.render(Language::En).contains("1 try left"));
    assert!(two.render(Language::En).contains("2 tries left"));
    assert!(zero.render(Language::En).contains("0 tries left"));
    assert_eq!(
        zero.render(Language::Fr),
        Text::new("outcome.wrong_code.one")
            .arg("tries", 0u64)
            .render(Language::Fr),
        "French counts zero as one"
    );
}

#[test]
fn nested_texts_render_in_the_same_language() {
    let t = Text::new("purpose.missing").arg("field", Text::new("purpose.field.payee"));
    assert_eq!(t.render(Language::En), "Type the payee.");
    let fr = t.render(Language::Fr);
    assert!(fr.contains(&Text::new("purpose.field.payee").render(Language::Fr)));
}

#[test]
fn braces_are_literal_and_unknown_names_stay_visible() {
    assert_eq!(fill("a {{x}} b", |_| Some("no".into())), "a {x} b");
    assert_eq!(fill("a {x} b", |_| None), "a {x} b");
    assert_eq!(fill("{x}{y}", |n| Some(n.to_uppercase())), "XY");
    assert_eq!(fill("open { only", |_| Some("v".into())), "open { only");
    assert_eq!(placeholders("{a} {{b}} {c}"), vec!["a", "c"]);
}

#[test]
fn a_key_missing_everywhere_shows_as_itself() {
    assert_eq!(Text::new("no.such.key").render(Language::De), "no.such.key");
}

#[test]
fn os_locales_map_to_the_four_languages_and_c_to_english() {
    for (locale, expected) in [
        ("fr_FR.UTF-8", Some(Language::Fr)),
        ("de-CH", Some(Language::De)),
        ("es_ES@euro", Some(Language::Es)),
        ("en-GB", Some(Language::En)),
        ("C", Some(Language::En)),
        ("POSIX", Some(Language::En)),
        ("C.UTF-8", Some(Language::En)),
        ("pt-BR", None),
        ("", None),
    ] {
        assert_eq!(language_of_locale(locale), expected, "{locale}");
    }
    assert_eq!(ui_language(None, Some("pt_BR")), Language::En);
    assert_eq!(ui_language(None, Some("de_DE.UTF-8")), Language::De);
    assert_eq!(ui_language(Some(Language::Es), Some("de_DE")), Language::Es);
    assert_eq!(ui_language(None, None), Language::En);
}

#[test]
fn every_setting_has_a_subject_and_a_label() {
    let english = catalogue(Language::En);
    for key in crate::config::Key::ALL {
        for wanted in [
            format!("field.{}", key.name()),
            format!("setting.{}", key.name()),
        ] {
            assert!(english.contains_key(wanted.as_str()), "no {wanted}");
        }
        assert_eq!(key.label().to_string(), key.english_label());
    }
}

#[test]
fn every_unit_a_limit_shows_has_a_word() {
    let english = catalogue(Language::En);
    for key in crate::config::Key::ALL {
        if let Some((_, _, unit)) = key.bounds() {
            assert!(
                english.contains_key(format!("unit.{unit}").as_str()),
                "no unit.{unit}"
            );
        }
    }
}

#[test]
fn every_audit_event_has_its_label() {
    for language in Language::ALL {
        for kind in crate::audit::EventKind::ALL {
            let key = format!("event.{}", kind.name());
            assert!(
                catalogue(language).contains_key(key.as_str()),
                "{language:?} lacks {key}"
            );
        }
    }
}
