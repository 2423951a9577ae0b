//! The screens hold no words of their own: every text, title, placeholder
//! and label in `ui/index.html` is a catalogue key, every key the modules
//! ask for exists, and so does every key they build from a Rust slug.
//! (The catalogues' agreement across languages is the core's own test.)

use std::path::Path;

use countersign::gateway::GatewayMode;
use countersign::i18n::catalogue;
use countersign::language::Language;

fn ui(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of `attr="…"` in `text`.
fn attribute_values<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    text.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &text[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Keys the modules name literally: `t("key"` and `"ui.…"` strings.
fn literal_keys(js: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for part in js.split('"').skip(1).step_by(2) {
        let looks_like_key = part.starts_with("ui.") && !part.contains(' ') && !part.ends_with('.');
        if looks_like_key {
            keys.push(part.to_owned());
        }
    }
    keys
}

#[test]
fn every_key_the_page_names_is_in_the_catalogue() {
    let english = catalogue(Language::En);
    let html = ui("index.html");
    let mut named = Vec::new();
    for attr in [
        "data-i18n",
        "data-i18n-title",
        "data-i18n-placeholder",
        "data-i18n-aria-label",
    ] {
        named.extend(attribute_values(&html, attr).into_iter().map(str::to_owned));
    }
    for module in [
        "main.js",
        "desk.js",
        "settings.js",
        "activity.js",
        "phone.js",
        "about.js",
        "api.js",
    ] {
        named.extend(literal_keys(&ui(module)));
    }
    assert!(
        named.len() > 100,
        "only {} keys found: the scan is broken",
        named.len()
    );
    // A counted text exists as its two plural forms.
    let known = |k: &str| {
        english.contains_key(k)
            || (english.contains_key(format!("{k}.one").as_str())
                && english.contains_key(format!("{k}.other").as_str()))
    };
    let missing: Vec<&String> = named.iter().filter(|k| !known(k)).collect();
    assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
}

#[test]
fn keys_built_from_rust_slugs_exist() {
    for language in Language::ALL {
        for mode in GatewayMode::ALL {
            let key = format!("ui.mode.{}", mode.name());
            assert!(
                catalogue(language).contains_key(key.as_str()),
                "{language:?} {key}"
            );
        }
    }
}

#[test]
fn the_page_has_no_words_of_its_own() {
    let html = ui("index.html");
    let body = html.split("<body").nth(1).expect("a body");
    // Text between tags: only the brand and the demo phone's furniture.
    let allowed = ["Countersign", "C", "9:41", "0"];
    let mut words = Vec::new();
    for chunk in body.split('>').skip(1) {
        let text = chunk.split('<').next().unwrap_or("").trim();
        if text.chars().any(char::is_alphabetic) && !allowed.contains(&text) {
            words.push(text.to_owned());
        }
    }
    assert!(
        words.is_empty(),
        "hard-coded words in index.html: {words:?}"
    );
    for attr in ["title", "placeholder", "aria-label"] {
        let literal = attribute_values(body, &format!(" {attr}"));
        assert!(literal.is_empty(), "hard-coded {attr}: {literal:?}");
    }
}
