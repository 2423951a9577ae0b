//! Fuzzing with proptest at every edge where outside bytes come in: phone
//! numbers, typed codes, purpose text, SMS templates, the Restcomm answers
//! (JSON bodies, and failure bodies in JSON, XML or text) and the pending
//! file. Each target must answer (a value or a typed error), never panic,
//! and keep the promise written beside it.
//!
//! `FUZZ_CASES` is the total number of cases over all targets (default
//! 10,000, about the CI budget); each target takes its share by weight.
//! A panic in the code under test is caught by proptest, shrunk, and fails
//! the test with the smallest input found. This file is about volume and
//! hostile input; `tests/properties.rs` holds the rules that hold for every
//! input of a shape (what is accepted, what each refusal is). The `fuzz/`
//! crate runs the same parsers under libFuzzer, from the seeds in
//! `fuzz/corpus/`.

mod support;

use countersign::audit::MemoryAudit;
use countersign::clock::ManualClock;
use countersign::code::{Code, CodeInput};
use countersign::desk::{Desk, DeskError, Parts};
use countersign::gateway::restcomm::fuzzing;
use countersign::gateway::GatewayError;
use countersign::keys::DigestKey;
use countersign::persist::{self, MemoryStore};
use countersign::phone::{AllowedCountries, PhoneNumber, Region};
use countersign::policy::Policy;
use countersign::purpose::{Purpose, MAX_PAYEE_CHARS, MAX_REFERENCE_CHARS};
use countersign::sms::{self, Fill, Template, TemplateError};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;
use support::{Harness, A, B, C, T0};

/// Weights of the targets; they add up to 100.
const WEIGHTS: [(&str, u32); 10] = [
    ("phone", 15),
    ("code_input", 10),
    ("purpose", 10),
    ("template", 10),
    ("restcomm_json", 10),
    ("restcomm_failure", 10),
    ("restcomm_xml", 5),
    ("pending_file", 10),
    ("pending_store", 10),
    ("policy_file", 10),
];

fn cases(target: &str) -> u32 {
    let total: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let weight = WEIGHTS.iter().find(|(n, _)| *n == target).unwrap().1;
    u32::try_from((total * u64::from(weight) / 100).max(1)).unwrap()
}

fn fuzz<S: Strategy>(
    target: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let cases = cases(target);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Hostile input is mostly rejected input: do not give up on it.
        max_global_rejects: u32::MAX,
        ..Config::default()
    });
    let result = runner.run(&strategy, test);
    println!("FUZZ target={target} cases={cases} ok={}", result.is_ok());
    if let Err(e) = result {
        panic!("{target}: {e}");
    }
}

fn gb() -> Region {
    "GB".parse().unwrap()
}

/// Runs of six or more ASCII digits: what could be a code or a number.
fn has_six_digit_run(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 6 {
            return true;
        }
    }
    false
}

// ------------------------------------------------------------------ input --

#[test]
fn fuzz_phone_parsing() {
    let regions = prop::sample::select(vec!["GB", "FR", "DE", "US", "GG", "IE", "IN", "BR", "JP"]);
    let input = prop_oneof![
        any::<String>(),
        "(\\+|00|0|\\+\\+)?[0-9 ()./+\u{a0}\u{660}-\u{669}x#*-]{0,30}",
        "\\+44 ?7[0-9 ]{0,14}",
    ];
    fuzz("phone", (input, regions), |(s, region)| {
        let region: Region = region.parse().unwrap();
        if let Ok(n) = PhoneNumber::parse_any(&s, region) {
            let e164 = n.e164();
            prop_assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(!n.masked().contains(&e164[1..]));
            let debug = format!("{:?}", n);
            prop_assert!(!debug.contains(&e164[1..]));
        }
        match PhoneNumber::parse(&s, gb(), &AllowedCountries::only(gb())) {
            Ok(n) => prop_assert_eq!(n.region(), gb()),
            Err(e) => {
                let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 6 {
                    prop_assert!(!e.to_string().contains(&digits), "{}", e);
                }
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_code_input() {
    let typed = prop_oneof![
        any::<String>(),
        "[0-9 \u{a0}\u{2013}\u{ff10}-\u{ff19}\u{660}-\u{669}-]{0,24}",
    ];
    fuzz("code_input", (typed, 6u8..=10), |(s, length)| {
        if let Ok(input) = CodeInput::parse(&s, length) {
            prop_assert_eq!(input.digits().len(), usize::from(length));
            prop_assert!(input.digits().bytes().all(|b| b.is_ascii_digit()));
        } else if let Err(e) = CodeInput::parse(&s, length) {
            // The refusal never repeats what was typed.
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 6 {
                prop_assert!(!e.to_string().contains(&digits), "{}", e);
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_purpose_text() {
    let text = || {
        prop_oneof![
            any::<String>(),
            "[A-Za-z0-9 .,'€£$/\\[\\]{}\u{0}-\u{1f}-]{0,60}"
        ]
    };
    let amount = prop_oneof![any::<String>(), "[0-9,. -]{0,20}"];
    fuzz(
        "purpose",
        (text(), amount, "[A-Za-z]{0,4}|.{0,4}", text()),
        |(reference, amount, currency, payee)| {
            match Purpose::reference(&reference) {
                Ok(Purpose::Reference { reference: r }) => {
                    prop_assert!(r.chars().count() <= MAX_REFERENCE_CHARS);
                    prop_assert!(r.chars().all(sms::is_gsm7));
                }
                Ok(Purpose::Unspecified) => prop_assert!(reference.trim().is_empty()),
                Ok(other) => prop_assert!(false, "reference gave {:?}", other),
                Err(_) => {}
            }
            if let Ok(Purpose::Payment { amount, payee }) =
                Purpose::payment(&amount, &currency, &payee)
            {
                prop_assert!((1..=999_999_999).contains(&amount.minor_units));
                prop_assert!(!payee.is_empty() && payee.chars().count() <= MAX_PAYEE_CHARS);
                prop_assert!(payee.chars().all(sms::is_gsm7));
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_template_rendering() {
    let text = prop_oneof![
        any::<String>(),
        "[{}a-z ]{0,20}\\{code\\}[{}a-z ]{0,20}",
        "(\\{(code|minutes|purpose|reference|brand|x)\\}|[A-Za-z€ .:]){0,30}",
    ];
    let brand = prop_oneof![any::<String>(), "[A-Za-z €]{0,24}"];
    fuzz(
        "template",
        (text, brand, any::<u64>(), 6u8..=10, 1u64..=10),
        |(text, brand, seed, length, minutes)| {
            if let Ok(template) = Template::parse(&text, &brand) {
                let code = Code::generate(&mut StdRng::seed_from_u64(seed), length);
                let purpose = Purpose::reference("Loan 42").unwrap();
                let fill = Fill {
                    minutes,
                    purpose: &purpose,
                    short_reference: "ABCD",
                };
                match template.render(&code, &fill) {
                    Ok(body) => {
                        let m = sms::measure(&body);
                        prop_assert!(m.units <= m.limit);
                        prop_assert!(body.contains(code.digits()));
                    }
                    Err(TemplateError::TooLong { units, limit, .. }) => {
                        prop_assert!(units > limit)
                    }
                    Err(e) => prop_assert!(false, "render failed: {:?}", e),
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------- policy file --

/// Policy files: arbitrary text, and near-valid TOML and JSON built from real
/// keys with values of every type. Parsing answers (a policy or an error
/// with a line inside the text), and a policy it accepts always resolves or
/// is refused by key, never panics.
#[test]
fn fuzz_policy_file() {
    use countersign::config::{it_policy, DeskConfig, Key};
    let key = prop_oneof![
        proptest::sample::select(Key::ALL.iter().map(|k| k.name()).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ];
    let value = prop_oneof![
        (0i64..1000).prop_map(|n| n.to_string()),
        "\"[A-Za-z0-9:/. +{}€-]{0,40}\"",
        Just("true".to_owned()),
        Just("[\"GB\", \"IE\"]".to_owned()),
        any::<String>().prop_map(|s| format!("{s:?}")),
    ];
    let section = prop_oneof![Just("locked"), Just("defaults"), Just("other")];
    let entries = proptest::collection::vec((key, value), 0..8);
    // The same section and entries written as TOML or as JSON (the values
    // are JSON values but for the odd string escape: still hostile).
    let document = (section, entries, any::<bool>()).prop_map(|(section, entries, json)| {
        let body = if json {
            let pairs: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
            format!("{{{section:?}: {{{}}}}}", pairs.join(", "))
        } else {
            let lines: Vec<String> = entries.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("[{section}]\n{}\n", lines.join("\n"))
        };
        (body, json)
    });
    // One template key with a template of every placeholder: many entries
    // seldom all parse, and a template that fits alone but not with the
    // warning in force is the refusal only `resolve` makes.
    let template_key = proptest::sample::select(vec![
        "template_en",
        "template_fr",
        "template_es",
        "template_de",
    ]);
    let long_template =
        "\\{brand\\} \\{code\\} \\{minutes\\} \\{reference\\} \\{amount\\} \\{payee\\} [a-z ]{0,40}";
    let one_template = (
        prop_oneof![Just("locked"), Just("defaults")],
        template_key,
        long_template,
    )
        .prop_map(|(section, key, t)| (format!("[{section}]\n{key} = \"{t}\"\n"), false));
    let text = prop_oneof![(any::<String>(), any::<bool>()), document, one_template];
    let refused_by_resolve = AtomicU64::new(0);
    fuzz("policy_file", text, |(body, json)| {
        match it_policy::parse(&body, json) {
            Ok(policy) => {
                let layers = policy.layers(Default::default());
                let set: Vec<Key> = layers
                    .locked
                    .keys()
                    .chain(layers.provisioned.keys())
                    .copied()
                    .collect();
                if let Err(errors) = DeskConfig::resolve(&layers) {
                    refused_by_resolve.fetch_add(1, Ordering::Relaxed);
                    // The defaults alone always resolve: a refusal is of
                    // something the file set, and names it.
                    prop_assert!(!set.is_empty(), "defaults refused: {errors:?}");
                    prop_assert!(!errors.is_empty());
                    prop_assert!(
                        errors.iter().any(|e| set.contains(&e.key)),
                        "{errors:?} names none of {set:?}"
                    );
                    for e in &errors {
                        prop_assert!(!e.message.to_string().is_empty(), "{e:?}");
                    }
                }
            }
            Err(e) => {
                let lines = body.lines().count().max(1);
                prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= lines + 1), "{e:?}");
                prop_assert!(!e.message.is_empty());
            }
        }
        Ok(())
    });
    // Refusals by resolve must happen for the checks above to mean anything.
    let refused = refused_by_resolve.load(Ordering::Relaxed);
    println!("FUZZ policy_file accepted by the parser but refused by resolve={refused}");
    assert!(refused > 0, "no policy reached resolve's refusals");
}

// ---------------------------------------------------------------- Restcomm --

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "(SM|AC)?[0-9a-f]{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "sending",
            "queued",
            "accepted",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "received",
            "SENT",
            " failed ",
            "30003",
            "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A Restcomm SMS resource with each field present, absent or of a wrong type.
fn message_body() -> impl Strategy<Value = Vec<u8>> {
    let field = |name: &'static str| prop::option::of(json_value()).prop_map(move |v| (name, v));
    (
        field("sid"),
        field("status"),
        field("error_code"),
        prop::collection::btree_map("[a-z_]{1,12}", json_value(), 0..4),
    )
        .prop_map(|(sid, status, error, extra)| {
            let mut o: serde_json::Map<String, Value> = extra.into_iter().collect();
            for (name, v) in [sid, status, error] {
                if let Some(v) = v {
                    o.insert(name.to_owned(), v);
                }
            }
            serde_json::to_vec(&Value::Object(o)).unwrap()
        })
}

#[test]
fn fuzz_restcomm_message_answers() {
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        message_body(),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ];
    fuzz("restcomm_json", body, |body| {
        match fuzzing::parse_message(&body) {
            Ok((sid, _status)) => {
                // The SID goes into a URL path later: letters and digits only.
                let s = sid.as_str();
                prop_assert!((2..=64).contains(&s.len()));
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
                let v: Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(v["sid"].as_str(), Some(s));
            }
            Err(GatewayError::UnreadableAnswer(why)) => {
                // Fixed words only: the body is never echoed.
                prop_assert!(
                    [
                        "not JSON",
                        "not a JSON object",
                        "no message SID",
                        "invalid message SID",
                        "unrecognised message status",
                    ]
                    .contains(&why.as_str()),
                    "{}",
                    why
                );
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
        Ok(())
    });
}

fn failure_body() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 a-zA-Z.:]{0,300}",
        (any::<String>(), "[A-Z_]{0,24}")
            .prop_map(|(m, e)| { serde_json::json!({ "message": m, "error": e }).to_string() }),
        json_value().prop_map(|v| v.to_string()),
        ("[^<&]{0,40}", "[A-Z_ ]{0,24}").prop_map(|(m, e)| format!(
            "<RestcommResponse><Message>{m}</Message><Error>{e}</Error></RestcommResponse>"
        )),
    ]
}

#[test]
fn fuzz_restcomm_failure_answers() {
    fuzz(
        "restcomm_failure",
        (100u16..=999, failure_body()),
        |(code, body)| {
            let e = fuzzing::classify_failure(code, body.as_bytes());
            let shown = e.to_string();
            // S12: nothing that could be a code or a full number reaches staff.
            prop_assert!(!has_six_digit_run(&shown), "{}", shown);
            prop_assert!(
                !shown.contains('\n') && !shown.contains('\r'),
                "{:?}",
                shown
            );
            match code {
                400 => match &e {
                    GatewayError::Rejected(r) => {
                        prop_assert!(!r.is_empty() && r.chars().count() <= 200)
                    }
                    other => prop_assert!(false, "400 gave {:?}", other),
                },
                401 => prop_assert_eq!(e, GatewayError::Unauthorized),
                403 => prop_assert!(matches!(
                    e,
                    GatewayError::AccountForbidden
                        | GatewayError::AccountNotActive
                        | GatewayError::SmsLimitExceeded
                )),
                404 => prop_assert_eq!(e, GatewayError::NotFound),
                // S19: never followed, reported as such.
                300..=399 => prop_assert_eq!(e, GatewayError::Redirected(code)),
                500..=599 => prop_assert_eq!(e, GatewayError::ServerError(code)),
                _ => prop_assert_eq!(e, GatewayError::UnexpectedStatus(code)),
            }
            Ok(())
        },
    );
}

/// XML as a limit hook or a proxy might send it: well-formed or not,
/// entities, CDATA, comments, nesting, attributes.
fn xml_body() -> impl Strategy<Value = (String, Option<String>)> {
    let word = prop_oneof!["[A-Z_]{1,20}", Just("SMS_LIMIT_EXCEEDED".to_owned())];
    let noise = prop::sample::select(vec![
        "",
        "<!-- c -->",
        "<![CDATA[x]]>",
        "&amp;",
        "&#x41;",
        "&bogus;",
        "<",
        "</",
        "<a b='1'>",
        "</Error>",
        "<?xml version='1.0'?>",
        "\u{0}",
        "]]>",
    ]);
    (word, noise.clone(), noise.clone(), noise, any::<bool>()).prop_map(
        |(w, n1, n2, n3, clean)| {
            if clean {
                (
                    format!("<?xml version=\"1.0\"?><RestcommResponse><Message>No</Message><Error>{w}</Error></RestcommResponse>"),
                    Some(w),
                )
            } else {
                (
                    format!("<RestcommResponse>{n1}<Error>{n2}{w}{n3}</Error></RestcommResponse>"),
                    None,
                )
            }
        },
    )
}

#[test]
fn fuzz_restcomm_xml_answers() {
    let any_xml = prop_oneof![
        xml_body(),
        any::<String>().prop_map(|s| (format!("<Error>{s}</Error>"), None)),
        "[<>/a-zA-Z!\\[\\]&;#=' ]{0,80}".prop_map(|s| (s, None)),
    ];
    fuzz("restcomm_xml", any_xml, |(xml, expected)| {
        let word = fuzzing::error_word(&xml);
        let e = fuzzing::classify_failure(403, xml.as_bytes());
        if let Some(w) = expected {
            // A well-formed limit answer is read exactly.
            let limit = w == "SMS_LIMIT_EXCEEDED";
            prop_assert_eq!(word, Some(w));
            prop_assert_eq!(e == GatewayError::SmsLimitExceeded, limit);
        }
        Ok(())
    });
}

// ------------------------------------------------------------ pending file --

/// A real document: two pending verifications (one with a wrong try, one
/// awaiting the gateway), number history and an ended record; and its key.
fn real_document() -> (Vec<u8>, DigestKey) {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(A);
    h.desk.check(&id, &support::wrong(&code)).unwrap();
    h.start_new(
        B,
        countersign::purpose::Purpose::payment("12.50", "EUR", "Ann").unwrap(),
    );
    let (id, code) = h.start_and_send(C);
    h.desk.check(&id, &code).unwrap();
    (persist::to_bytes(&h.saved()), h.key.clone())
}

/// Replaces the value at a random path of `v` with `with`.
fn graft(v: &mut Value, mut choice: usize, with: Value) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = &keys[choice % keys.len()];
            choice /= keys.len();
            if choice.is_multiple_of(3) {
                o.insert(k.clone(), with);
            } else {
                graft(o.get_mut(k).unwrap(), choice, with);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = choice % a.len();
            choice /= a.len();
            if choice.is_multiple_of(3) {
                a[i] = with;
            } else {
                graft(&mut a[i], choice, with);
            }
        }
        other => *other = with,
    }
}

/// Replaces one leaf of `v` with a value of the same JSON type (so the
/// document usually still parses): extremes, empties, look-alikes.
fn retype_leaf(v: &mut Value, mut choice: usize, pick: u64, text: &str) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = keys[choice % keys.len()].clone();
            retype_leaf(o.get_mut(&k).unwrap(), choice / keys.len(), pick, text);
        }
        Value::Array(a) if !a.is_empty() => {
            let i = choice % a.len();
            choice /= a.len();
            retype_leaf(&mut a[i], choice, pick, text);
        }
        Value::Number(_) => {
            let options = [
                Value::from(0),
                Value::from(-1),
                Value::from(i64::MAX),
                Value::from(i64::MIN),
                Value::from(u32::MAX),
                Value::from(u64::MAX),
                Value::from(pick),
            ];
            *v = options[(pick % options.len() as u64) as usize].clone();
        }
        Value::String(s) => {
            let options = [
                String::new(),
                text.to_owned(),
                format!("{s}{text}"),
                s.chars().rev().collect(),
                s.to_uppercase(),
                "x".repeat(5000),
            ];
            *v = Value::String(options[(pick % options.len() as u64) as usize].clone());
        }
        Value::Bool(b) => *b = !*b,
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Retype(Vec<(usize, u64, String)>),
    Bytes(Vec<(prop::sample::Index, u8)>, prop::sample::Index),
    Graft(usize, Value),
    Splice(prop::sample::Index, prop::sample::Index, String),
    Anything(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<usize>(), any::<u64>(), ".{0,12}"), 1..4)
            .prop_map(Damage::Retype),
        (
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            any::<prop::sample::Index>()
        )
            .prop_map(|(e, c)| Damage::Bytes(e, c)),
        (any::<usize>(), json_value()).prop_map(|(c, v)| Damage::Graft(c, v)),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            "[\\{\\}\\[\\]\":,0-9a-zA-Z \\\\-]{0,12}"
        )
            .prop_map(|(a, b, s)| Damage::Splice(a, b, s)),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Damage::Anything),
    ]
}

/// `valid` (whose JSON is `tree`) with `d` done to it.
fn damaged(valid: &[u8], tree: &Value, d: Damage) -> Vec<u8> {
    match d {
        Damage::Retype(changes) => {
            let mut t = tree.clone();
            for (choice, pick, text) in changes {
                retype_leaf(&mut t, choice, pick, &text);
            }
            serde_json::to_vec(&t).unwrap()
        }
        Damage::Bytes(edits, cut) => {
            let mut b = valid.to_vec();
            for (i, byte) in edits {
                let at = i.index(b.len());
                b[at] = byte;
            }
            let keep = if cut.index(4) == 0 {
                cut.index(b.len() + 1)
            } else {
                b.len()
            };
            b.truncate(keep);
            b
        }
        Damage::Graft(choice, with) => {
            let mut t = tree.clone();
            graft(&mut t, choice, with);
            serde_json::to_vec(&t).unwrap()
        }
        Damage::Splice(a, b, s) => {
            let (x, y) = (a.index(valid.len()), b.index(valid.len()));
            let (x, y) = (x.min(y), x.max(y));
            let mut out = valid[..x].to_vec();
            out.extend(s.as_bytes());
            out.extend(&valid[y..]);
            out
        }
        Damage::Anything(b) => b,
    }
}

#[test]
fn fuzz_pending_file_parser() {
    let (valid, key) = real_document();
    // `FUZZ_SEED_OUT=<file>` saves this document, e.g. as a seed for
    // `fuzz/corpus/pending_file/`.
    if let Ok(out) = std::env::var("FUZZ_SEED_OUT") {
        std::fs::write(out, &valid).unwrap();
    }
    let tree: Value = serde_json::from_slice(&valid).unwrap();
    let policy = Policy::default();
    let (parsed, opened) = (AtomicU64::new(0), AtomicU64::new(0));
    fuzz("pending_file", damage(), |d| {
        let bytes = damaged(&valid, &tree, d);
        let Ok(doc) = persist::parse(&bytes) else {
            return Ok(());
        };
        parsed.fetch_add(1, Ordering::Relaxed);
        // What parses is a document the store writes back identically.
        let again = persist::parse(&persist::to_bytes(&doc)).unwrap();
        prop_assert_eq!(&again, &doc);
        // And the desk either opens it or refuses an entry by name; never
        // panics on what the parser let through.
        let result = Desk::new(
            Parts {
                policy: policy.clone(),
                templates: countersign::templates::MessageTemplates::default(),
                key: key.clone(),
                store: MemoryStore::default(),
                audit: MemoryAudit::default(),
                clock: ManualClock::at(T0),
                rng: StdRng::seed_from_u64(1),
            },
            doc,
        );
        match result {
            Ok(mut desk) => {
                opened.fetch_add(1, Ordering::Relaxed);
                let listed = desk.list();
                for (id, _) in desk.tracked_messages() {
                    prop_assert!(
                        listed.iter().any(|v| v.id == id),
                        "tracks {id:?}, not listed"
                    );
                }
                // Every command on every entry the damaged file holds gets
                // one of a desk's everyday answers: never a storage failure
                // (the memory store cannot fail) nor a refusal to read an
                // entry `Desk::new` already opened.
                let everyday = |r: Result<(), DeskError>| match r {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        prop_assert!(
                            matches!(
                                e.kind(),
                                "invalid_code_input"
                                    | "not_found"
                                    | "already_ended"
                                    | "code_expired"
                                    | "still_sending"
                                    | "number_blocked"
                                    | "resend_cooldown"
                                    | "send_limit"
                                    | "message_too_long"
                            ),
                            "{e:?}"
                        );
                        Ok(())
                    }
                };
                for v in listed {
                    prop_assert!(desk.get(&v.id).is_some(), "listed but not found");
                    everyday(desk.check(&v.id, "000000").map(drop))?;
                    everyday(desk.resend(&v.id).map(drop))?;
                }
                everyday(
                    desk.start(
                        PhoneNumber::parse_any(A, gb()).unwrap(),
                        Purpose::Unspecified,
                        Harness::operator(),
                    )
                    .map(drop),
                )?;
                prop_assert!(desk.purge().is_ok());
            }
            Err((e, _)) => prop_assert!(matches!(e, DeskError::UnreadableEntry(_)), "{:?}", e),
        }
        Ok(())
    });
    // Damage that still parses is what reaches the engine: make sure the
    // target produced some (proptest shrinking aside, these are all cases).
    println!(
        "FUZZ pending_file damaged documents that still parsed={} opened by the desk={}",
        parsed.load(Ordering::Relaxed),
        opened.load(Ordering::Relaxed)
    );
    assert!(opened.load(Ordering::Relaxed) > 0);
}

// The pending file's parser on bytes with no shape at all, JSON-like soup
// and a valid document's bytes damaged in place: it answers, never panics.
proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

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

// ----------------------------------------------------------- pending store --

/// A real sealed store, sealed under the fuzz key: a snapshot taken mid-way
/// (two verifications, history) and a journal of the changes after it.
/// Returns the snapshot, the journal, and every state an acknowledged
/// prefix of the journal stands for.
fn real_store() -> (Vec<u8>, Vec<u8>, Vec<countersign::persist::PendingDocument>) {
    use countersign::journal::{fuzzing, journal_path, JournalStore, OpenOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.json");
    let key = fuzzing::key();
    let opened = JournalStore::open(&path, &key, &OpenOptions::default(), T0).unwrap();
    let store = opened.store.clone();
    let clock = ManualClock::at(T0);
    let mut desk = Desk::new(
        Parts {
            policy: Policy::default(),
            templates: countersign::templates::MessageTemplates::default(),
            key: key.clone(),
            store: opened.store,
            audit: MemoryAudit::default(),
            clock: clock.clone(),
            rng: StdRng::seed_from_u64(3),
        },
        opened.document,
    )
    .map_err(|(e, _)| e)
    .unwrap();
    let sent = |desk: &mut Desk<_, _, _, _>, raw: &str, n: u32| {
        let Ok(countersign::desk::Started::New { view, sms }) = desk.start(
            PhoneNumber::parse_any(raw, gb()).unwrap(),
            Purpose::Unspecified,
            Harness::operator(),
        ) else {
            panic!("start")
        };
        desk.record_send(
            &view.id,
            Ok(countersign::gateway::SendReceipt {
                sid: countersign::gateway::MessageSid::parse(&format!("SM{n:032x}")).unwrap(),
                status: countersign::gateway::DeliveryStatus::Sending,
            }),
        )
        .unwrap();
        (view.id, support::code_of(&sms))
    };
    let (a, code_a) = sent(&mut desk, A, 1);
    desk.check(&a, &support::wrong(&code_a)).unwrap();
    let (b, _) = sent(&mut desk, B, 2);
    store.compact_now().unwrap();
    desk.check(&b, "000000").unwrap();
    let (c, code_c) = sent(&mut desk, C, 3);
    desk.check(&c, &code_c).unwrap();
    clock.advance(std::time::Duration::from_secs(40));
    desk.resend(&a).unwrap();
    desk.cancel(&b).unwrap();
    let snapshot = std::fs::read(&path).unwrap();
    let journal = std::fs::read(journal_path(&path)).unwrap();
    let mut states = Vec::new();
    let mut prefix = Vec::new();
    let read = |j: &[u8]| {
        fuzzing::read(&key, Some(&snapshot), Some(j), true)
            .unwrap()
            .unwrap()
    };
    states.push(read(&prefix));
    for line in journal.split_inclusive(|b| *b == b'\n') {
        prefix.extend_from_slice(line);
        states.push(read(&prefix));
    }
    assert_eq!(states.last().unwrap(), &desk.document());
    (snapshot, journal, states)
}

#[derive(Debug, Clone)]
enum StoreDamage {
    /// Any damage to the snapshot.
    Snapshot(Damage),
    /// Bytes of the journal changed, then maybe cut.
    Journal(Vec<(prop::sample::Index, u8)>, prop::sample::Index),
    /// Journal lines removed, doubled or swapped.
    Lines(Vec<(u8, prop::sample::Index, prop::sample::Index)>),
    /// Text spliced into the journal.
    Splice(prop::sample::Index, prop::sample::Index, String),
    /// One side missing.
    Missing(bool),
}

fn store_damage() -> impl Strategy<Value = StoreDamage> {
    prop_oneof![
        damage().prop_map(StoreDamage::Snapshot),
        (
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            any::<prop::sample::Index>()
        )
            .prop_map(|(e, c)| StoreDamage::Journal(e, c)),
        prop::collection::vec(
            (
                0u8..3,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>()
            ),
            1..4
        )
        .prop_map(StoreDamage::Lines),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            "[\\{\\}\\[\\]\":,0-9a-zA-Z \\n-]{0,16}"
        )
            .prop_map(|(a, b, s)| StoreDamage::Splice(a, b, s)),
        any::<bool>().prop_map(StoreDamage::Missing),
    ]
}

/// Whatever is done to a sealed store, the reader either refuses it or
/// gives a state the desk acknowledged at some point (records cut at the
/// end look like a crash to the reader alone; the audit trail catches
/// those, `tests/journal.rs`). Never an edited state, never a panic.
#[test]
fn fuzz_pending_store_reader() {
    use countersign::journal::fuzzing;
    let (snapshot, journal, states) = real_store();
    // `FUZZ_STORE_SEED_OUT=<file>`: the snapshot, a 0x1f byte, the journal,
    // as `fuzz/corpus/pending_file/` takes them.
    if let Ok(out) = std::env::var("FUZZ_STORE_SEED_OUT") {
        let mut seed = snapshot.clone();
        seed.push(0x1f);
        seed.extend(&journal);
        std::fs::write(out, seed).unwrap();
    }
    let tree: Value = serde_json::from_slice(&snapshot).unwrap();
    let key = fuzzing::key();
    let (accepted, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    fuzz("pending_store", store_damage(), |d| {
        let (mut snap, mut jour) = (Some(snapshot.clone()), Some(journal.clone()));
        match d {
            StoreDamage::Snapshot(d) => snap = Some(damaged(&snapshot, &tree, d)),
            StoreDamage::Journal(edits, cut) => {
                let mut b = journal.clone();
                for (i, byte) in edits {
                    let at = i.index(b.len());
                    b[at] = byte;
                }
                if cut.index(3) == 0 {
                    b.truncate(cut.index(b.len() + 1));
                }
                jour = Some(b);
            }
            StoreDamage::Lines(ops) => {
                let mut lines: Vec<&[u8]> = journal.split_inclusive(|b| *b == b'\n').collect();
                for (op, i, j) in ops {
                    if lines.is_empty() {
                        break;
                    }
                    let (i, j) = (i.index(lines.len()), j.index(lines.len()));
                    match op {
                        0 => {
                            lines.remove(i);
                        }
                        1 => lines.insert(j, lines[i]),
                        _ => lines.swap(i, j),
                    }
                }
                jour = Some(lines.concat());
            }
            StoreDamage::Splice(a, b, s) => {
                let (x, y) = (a.index(journal.len()), b.index(journal.len()));
                let (x, y) = (x.min(y), x.max(y));
                let mut out = journal[..x].to_vec();
                out.extend(s.as_bytes());
                out.extend(&journal[y..]);
                jour = Some(out);
            }
            StoreDamage::Missing(snapshot_side) => {
                if snapshot_side {
                    snap = None;
                } else {
                    jour = None;
                }
            }
        }
        match fuzzing::read(&key, snap.as_deref(), jour.as_deref(), true) {
            Ok(Some(doc)) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    states.contains(&doc),
                    "a damaged store gave a state never acknowledged: {:?}",
                    doc
                );
            }
            Ok(None) => prop_assert!(false, "a damaged sealed store read as a first start"),
            Err(_) => {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    println!(
        "FUZZ pending_store damaged stores refused={} read as an acknowledged state={}",
        refused.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed)
    );
    assert!(refused.load(Ordering::Relaxed) > 0);
}
