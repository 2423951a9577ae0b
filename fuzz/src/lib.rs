//! The bodies of the fuzz targets. Each takes raw bytes, feeds them to one
//! input edge of the core, and panics only if a promise is broken (the code
//! under test panicking is the main thing libFuzzer looks for).

use countersign::code::CodeInput;
use countersign::gateway::restcomm::fuzzing;
use countersign::gateway::GatewayError;
use countersign::persist;
use countersign::phone::{AllowedCountries, PhoneNumber, Region};
use countersign::purpose::Purpose;
use countersign::sms::{self, Fill, Template};

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The first byte picks an option; the rest is the input.
fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}

pub fn phone(data: &[u8]) {
    let (pick, rest) = split(data);
    let regions = ["GB", "FR", "DE", "US", "IN", "BR"];
    let region: Region = regions[usize::from(pick) % regions.len()].parse().unwrap();
    let s = text(rest);
    if let Ok(n) = PhoneNumber::parse_any(&s, region) {
        let digits = &n.e164()[1..];
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert!(!n.masked().contains(digits), "masked shows the number");
    }
    let gb: Region = "GB".parse().unwrap();
    if let Ok(n) = PhoneNumber::parse(&s, gb, &AllowedCountries::only(gb)) {
        assert_eq!(n.region(), gb);
    }
}

pub fn code_input(data: &[u8]) {
    let (pick, rest) = split(data);
    let length = 6 + pick % 5;
    if let Ok(input) = CodeInput::parse(&text(rest), length) {
        assert_eq!(input.digits().len(), usize::from(length));
        assert!(input.digits().bytes().all(|b| b.is_ascii_digit()));
    }
}

pub fn purpose(data: &[u8]) {
    let s = text(data);
    let mut parts = s.splitn(3, '\u{1f}');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(Purpose::Reference { reference }) = Purpose::reference(a) {
        assert!(reference.chars().all(sms::is_gsm7));
    }
    if let Ok(Purpose::Payment { amount, .. }) = Purpose::payment(a, b, c) {
        assert!((1..=999_999_999).contains(&amount.minor_units));
    }
}

pub fn template(data: &[u8]) {
    let s = text(data);
    let (body, brand) = s.split_once('\u{1f}').unwrap_or((&s, "Bank"));
    if let Ok(t) = Template::parse(body, brand) {
        // A fixed seed: the code's digits do not matter here.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let code = countersign::code::Code::generate(&mut rng, 6);
        let purpose = Purpose::Unspecified;
        let fill = Fill {
            minutes: 5,
            purpose: &purpose,
            short_reference: "ABCD",
        };
        if let Ok(out) = t.render(&code, &fill) {
            let m = sms::measure(&out);
            assert!(m.units <= m.limit);
            assert!(out.contains(code.digits()), "the code was cut");
        }
    }
}

pub fn restcomm_answer(data: &[u8]) {
    match fuzzing::parse_message(data) {
        Ok((sid, _)) => assert!(sid.as_str().bytes().all(|b| b.is_ascii_alphanumeric())),
        Err(GatewayError::UnreadableAnswer(_)) => {}
        Err(other) => panic!("unexpected {other:?}"),
    }
}

pub fn restcomm_failure(data: &[u8]) {
    let (pick, rest) = split(data);
    let code = [400u16, 401, 403, 404, 500, 503, 413][usize::from(pick) % 7];
    let shown = fuzzing::classify_failure(code, rest).to_string();
    let mut run = 0;
    for c in shown.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        assert!(run < 6, "a digit run reached staff: {shown}");
    }
    let _ = fuzzing::error_word(&text(rest));
}

pub fn policy_file(data: &[u8]) {
    let (pick, rest) = split(data);
    let body = text(rest);
    match countersign::config::it_policy::parse(&body, pick % 2 == 1) {
        Ok(policy) => {
            let _ = countersign::config::DeskConfig::resolve(&policy.layers(Default::default()));
        }
        Err(e) => assert!(e
            .line
            .is_none_or(|l| l >= 1 && l <= body.lines().count() + 1)),
    }
}

/// The pending store as the desk reads it at start: `pending.json`, then
/// (after a 0x1f byte, if any) `pending.journal`. Inputs without the byte
/// are a snapshot alone, such as a version-1 file to take over; the seed
/// `sealed_store` is a real sealed store (`FUZZ_STORE_SEED_OUT`, see
/// `tests/fuzz.rs`), under the fixed fuzz key.
pub fn pending_file(data: &[u8]) {
    use countersign::journal::fuzzing;
    let (snapshot, journal) = match data.iter().position(|b| *b == 0x1f) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let key = fuzzing::key();
    for sealed in [false, true] {
        if let Ok(Some(doc)) = fuzzing::read(&key, Some(snapshot), journal, sealed) {
            // Whatever is read is a state the version-1 form writes back.
            let again = persist::parse(&persist::to_bytes(&doc)).expect("round trip");
            assert_eq!(again.verifications, doc.verifications);
        }
    }
    // The version-1 reader, kept for the take-over.
    if let Ok(doc) = persist::parse(data) {
        let again = persist::parse(&persist::to_bytes(&doc)).expect("round trip");
        assert_eq!(again, doc);
    }
}

/// Runs `target` over every file of `fuzz/corpus/<name>/`: the stable
/// stand-in for libFuzzer, and a check that the seeds still pass.
pub fn replay(name: &str, target: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        target(&std::fs::read(&path).unwrap());
        n += 1;
    }
    // An empty folder would replay nothing and pass.
    assert!(n > 0, "{}: no corpus inputs", dir.display());
    println!("{name}: {n} corpus inputs replayed, no panic");
}
