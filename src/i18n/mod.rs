//! Everything the desk says to staff, in the four languages it speaks.
//!
//! A message is a [`Text`]: a catalogue key and its arguments, decided where
//! the message is decided (an error, an outcome, a field check). Nothing is
//! worded twice: an error's `Display` (for logs and IT's tools) is its text
//! in English, and the UI receives the key and arguments together with the
//! catalogue of the language staff chose, and renders both the same way.
//!
//! Catalogues are plain `(key, text)` lists, one file per language; tests
//! hold every language to exactly English's keys and placeholders. A text
//! with a count has two forms, `key.one` and `key.other`, chosen by the
//! language's plural rule ([`plural_is_one`]). `{name}` is replaced by the
//! argument `name`; `{{` and `}}` are literal braces.
//!
//! Audit records are not translated: their `detail` is evidence, written
//! once, in English.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Serialize;

use crate::language::Language;

mod de;
mod en;
mod es;
mod fr;

/// A message: what to say, not yet in any language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Text {
    pub key: Cow<'static, str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<&'static str, Arg>,
    /// Chooses the plural form; also an argument under its own name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// An argument: a number, a value shown as it is (a country code, a masked
/// number, a file path), or a message of its own (a field's name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Arg {
    Number(u64),
    Plain(String),
    Text(Box<Text>),
}

impl From<u64> for Arg {
    fn from(n: u64) -> Self {
        Self::Number(n)
    }
}
impl From<u32> for Arg {
    fn from(n: u32) -> Self {
        Self::Number(n.into())
    }
}
impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Self::Number(n as u64)
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Plain(s)
    }
}
impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Plain(s.to_owned())
    }
}
impl From<Text> for Arg {
    fn from(t: Text) -> Self {
        Self::Text(Box::new(t))
    }
}

impl Text {
    pub fn new(key: impl Into<Cow<'static, str>>) -> Self {
        Self {
            key: key.into(),
            args: BTreeMap::new(),
            count: None,
        }
    }

    /// Words that are not translated: an OS error, a library's message.
    pub fn plain(text: impl Into<String>) -> Self {
        Self::new("plain").arg("text", text.into())
    }

    pub fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Self {
        self.args.insert(name, value.into());
        self
    }

    /// An argument that also picks the plural form.
    pub fn count(mut self, name: &'static str, n: u64) -> Self {
        self.count = Some(n);
        self.arg(name, n)
    }

    /// The message in `language`.
    pub fn render(&self, language: Language) -> String {
        render(language, self)
    }
}

/// Logs, IT's tools and tests read the English text.
impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&render(Language::En, self))
    }
}

/// Whether `n` takes the "one" form. French counts 0 and 1 as one (CLDR);
/// English, Spanish and German only 1.
pub fn plural_is_one(language: Language, n: u64) -> bool {
    match language {
        Language::Fr => n < 2,
        Language::En | Language::Es | Language::De => n == 1,
    }
}

/// Every `(key, text)` of one language, as the UI receives it.
pub fn catalogue(language: Language) -> &'static HashMap<&'static str, &'static str> {
    static MAPS: OnceLock<[HashMap<&'static str, &'static str>; 4]> = OnceLock::new();
    let maps = MAPS.get_or_init(|| {
        Language::ALL.map(|l| entries(l).iter().copied().collect::<HashMap<_, _>>())
    });
    &maps[Language::ALL
        .iter()
        .position(|l| *l == language)
        .unwrap_or(0)]
}

pub(crate) fn entries(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::En => en::MESSAGES,
        Language::Fr => fr::MESSAGES,
        Language::Es => es::MESSAGES,
        Language::De => de::MESSAGES,
    }
}

/// The catalogue's text for a key, in `language`, else in English; a key
/// missing from English (a bug the tests catch) shows as itself rather
/// than as nothing.
fn lookup(language: Language, key: &str) -> Option<&'static str> {
    catalogue(language)
        .get(key)
        .or_else(|| catalogue(Language::En).get(key))
        .copied()
}

pub fn render(language: Language, text: &Text) -> String {
    let form = text.count.map(|n| {
        if plural_is_one(language, n) {
            "one"
        } else {
            "other"
        }
    });
    let pattern = form
        .and_then(|f| lookup(language, &format!("{}.{f}", text.key)))
        .or_else(|| lookup(language, &text.key));
    let Some(pattern) = pattern else {
        return text.key.to_string();
    };
    fill(pattern, |name| match text.args.get(name) {
        Some(Arg::Number(n)) => Some(n.to_string()),
        Some(Arg::Plain(s)) => Some(s.clone()),
        Some(Arg::Text(t)) => Some(render(language, t)),
        None => None,
    })
}

/// Replaces `{name}` with its value; an unknown name stays as written, so
/// a mistake shows rather than vanishes.
fn fill(pattern: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        match (tail.starts_with('{'), tail.find('}')) {
            (true, Some(end)) => {
                let name = &tail[1..end];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&tail[..=end]),
                }
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The names a pattern uses, for the catalogue tests.
pub fn placeholders(pattern: &str) -> Vec<String> {
    let mut names = Vec::new();
    let _ = fill(pattern, |name| {
        names.push(name.to_owned());
        Some(String::new())
    });
    names.sort();
    names
}

/// The desk's language for an OS locale such as `fr_FR.UTF-8`, `de-CH` or
/// `C`. `C` and `POSIX` (no locale set, as on a bare service account) mean
/// English; a language the desk does not speak is `None`.
pub fn language_of_locale(locale: &str) -> Option<Language> {
    let lang = locale
        .split(['_', '-', '.', '@'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match lang.as_str() {
        "c" | "posix" => Some(Language::En),
        other => Language::parse(other).ok(),
    }
}

/// What staff see the desk in: their choice or IT's, else the OS's
/// language, else English.
pub fn ui_language(chosen: Option<Language>, os_locale: Option<&str>) -> Language {
    chosen
        .or_else(|| os_locale.and_then(language_of_locale))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
