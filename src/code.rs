//! The one-time code: made from the OS CSPRNG, kept only as a keyed digest,
//! checked in constant time.
//!
//! A [`Code`] exists in clear only between generation and the SMS body; what
//! is stored is a [`CodeDigest`] = HMAC-SHA-256(K, verification id, number,
//! purpose, code) (S10, S16), so a code is bound to the verification it was
//! issued for (S3). What staff type becomes a [`CodeInput`] first: exactly N
//! digits, or a message and no try used up (S11).

use crate::i18n::Text;
use std::fmt;

use hmac::{Hmac, Mac};
use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::DigestKey;
use crate::phone::PhoneNumber;
use crate::purpose::Purpose;
use crate::verification::VerificationId;

type HmacSha256 = Hmac<Sha256>;

/// A freshly generated code, in clear. Zeroed on drop, redacted in `Debug`.
pub struct Code(Zeroizing<String>);

impl Code {
    /// `length` digits, each drawn uniformly from 0–9 by rejection sampling
    /// (`gen_range`), so no digit is favoured (S1).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, length: u8) -> Self {
        let digits: String = (0..length)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect();
        Self(Zeroizing::new(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code([redacted])")
    }
}

/// What staff typed, normalised to exactly the expected number of digits.
pub struct CodeInput(Zeroizing<String>);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeInputError {
    Empty,
    NotDigits,
    WrongLength { expected: u8, got: usize },
}

impl CodeInputError {
    pub fn text(&self) -> Text {
        match self {
            Self::Empty => Text::new("code.empty"),
            Self::NotDigits => Text::new("code.not_digits"),
            Self::WrongLength { expected, got } => Text::new("code.wrong_length")
                .arg("expected", u64::from(*expected))
                .count("got", *got as u64),
        }
    }
}

impl std::fmt::Display for CodeInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text().fmt(f)
    }
}

impl CodeInput {
    /// Drops spaces and dashes (customers read codes in groups), then
    /// requires exactly `length` ASCII digits. The message never repeats
    /// what was typed.
    pub fn parse(raw: &str, length: u8) -> Result<Self, CodeInputError> {
        let kept: Zeroizing<String> = Zeroizing::new(
            raw.chars()
                .filter(|c| {
                    !matches!(
                        c,
                        ' ' | '-' | '\u{a0}' | '\t' | '\u{2009}' | '\u{2010}'..='\u{2015}'
                    )
                })
                .collect(),
        );
        if kept.is_empty() {
            return Err(CodeInputError::Empty);
        }
        if !kept.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeInputError::NotDigits);
        }
        if kept.len() != usize::from(length) {
            return Err(CodeInputError::WrongLength {
                expected: length,
                got: kept.len(),
            });
        }
        Ok(Self(kept))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeInput([redacted])")
    }
}

/// HMAC-SHA-256 of a code and everything it is bound to. Stored as hex.
///
/// Deliberately not `PartialEq` (S11): `==` on byte arrays stops at the first
/// differing byte, so its time would tell an attacker how much of a guess
/// matched. A typed code is checked with [`Binding::matches`]; two digests
/// are compared only with [`subtle::ConstantTimeEq`]:
///
/// ```
/// use countersign::code::CodeDigest;
/// use subtle::ConstantTimeEq;
/// fn same(a: &CodeDigest, b: &CodeDigest) -> bool {
///     a.ct_eq(b).into()
/// }
/// ```
///
/// and `==` does not compile (`cargo test --doc` fails if `PartialEq` comes
/// back):
///
/// ```compile_fail,E0369
/// use countersign::code::CodeDigest;
/// fn same(a: &CodeDigest, b: &CodeDigest) -> bool {
///     a == b
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct CodeDigest(#[serde(with = "hex")] [u8; 32]);

impl subtle::ConstantTimeEq for CodeDigest {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeDigest([redacted])")
    }
}

/// The fields a digest binds, in one place so issuing and checking can never
/// disagree on them.
pub struct Binding<'a> {
    pub id: &'a VerificationId,
    pub number: &'a PhoneNumber,
    pub purpose: &'a Purpose,
}

impl Binding<'_> {
    fn mac(&self, key: &DigestKey, code: &str) -> HmacSha256 {
        let mut mac = key.hmac();
        // Length-prefixed fields: ("ab","c") and ("a","bc") never collide.
        for field in [
            b"countersign/code/v1".as_slice(),
            self.id.as_str().as_bytes(),
            self.number.e164().as_bytes(),
            &self.purpose.canonical_bytes(),
            code.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    pub fn digest(&self, key: &DigestKey, code: &Code) -> CodeDigest {
        CodeDigest(self.mac(key, code.digits()).finalize().into_bytes().into())
    }

    /// Constant-time comparison (`verify_slice` uses `subtle`) (S11).
    pub fn matches(&self, key: &DigestKey, input: &CodeInput, digest: &CodeDigest) -> bool {
        self.mac(key, input.digits())
            .verify_slice(&digest.0)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn generated_codes_have_the_requested_length_of_ascii_digits() {
        let mut rng = StdRng::seed_from_u64(7);
        for len in 6..=10 {
            let c = Code::generate(&mut rng, len);
            assert_eq!(c.digits().len(), usize::from(len));
            assert!(c.digits().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn debug_never_shows_a_code() {
        let mut rng = StdRng::seed_from_u64(1);
        let c = Code::generate(&mut rng, 6);
        assert!(!format!("{c:?}").contains(c.digits()));
        let i = CodeInput::parse(c.digits(), 6).unwrap();
        assert!(!format!("{i:?}").contains(c.digits()));
    }
}
