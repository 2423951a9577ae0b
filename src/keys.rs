//! The desk's secret key K and what is derived from it.
//!
//! K (256 bits) keys the code digests (S10). From it, by HMAC with a label,
//! come more keys, so one secret serves several jobs without one use
//! weakening another:
//! - a [`NumberId`]: a keyed digest of a phone number, so per-number counters
//!   (S5, S8) and the audit trail can recognise a number without storing it;
//! - a sealing key: pending entries must keep the number to resend and to
//!   check, but S12 forbids it in clear at rest, so it is sealed with
//!   XChaCha20-Poly1305 ([`SealedNumber`]);
//! - the default audit-chain key ([`crate::audit::AuditKey::derived_from`]),
//!   which keys the audit trail's hashes (S22).
//!
//! Where K lives (OS keychain or an owner-only file) is the shell's business;
//! see [`crate::persist::load_or_create_key_file`].

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::phone::{PhoneError, PhoneNumber, Region};

type HmacSha256 = Hmac<Sha256>;

pub const KEY_LEN: usize = 32;

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DigestKey([u8; KEY_LEN]);

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey([redacted])")
    }
}

impl DigestKey {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut k = [0u8; KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_LEN]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn hmac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    pub(crate) fn derive(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = self.hmac();
        mac.update(&(label.len() as u64).to_be_bytes());
        mac.update(label);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// An HMAC under a key derived from K for `label`: one secret, kept
    /// apart for each job.
    pub(crate) fn labelled_hmac(&self, label: &[u8]) -> HmacSha256 {
        let key = self.derive(label, &[]);
        <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length")
    }

    pub fn number_id(&self, number: &PhoneNumber) -> NumberId {
        NumberId(hex::encode(
            self.derive(b"countersign/number-id/v1", number.e164().as_bytes()),
        ))
    }

    fn sealer(&self) -> XChaCha20Poly1305 {
        let mut k = self.derive(b"countersign/number-seal/v1", b"");
        let cipher = XChaCha20Poly1305::new((&k).into());
        k.zeroize();
        cipher
    }

    pub fn seal<R: RngCore + CryptoRng>(&self, number: &PhoneNumber, rng: &mut R) -> SealedNumber {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let sealed = self
            .sealer()
            .encrypt(XNonce::from_slice(&nonce), number.e164().as_bytes())
            .expect("XChaCha20-Poly1305 encryption does not fail for short messages");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        SealedNumber(hex::encode(bytes))
    }

    /// Opens a sealed number. Fails if the key is not the one that sealed it
    /// or the bytes were altered.
    pub fn open(&self, sealed: &SealedNumber, region: Region) -> Result<PhoneNumber, OpenError> {
        let bytes = hex::decode(&sealed.0).map_err(|_| OpenError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(OpenError::Malformed);
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .sealer()
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| OpenError::WrongKeyOrAltered)?;
        let text = String::from_utf8(plain).map_err(|_| OpenError::Malformed)?;
        PhoneNumber::parse_any(&text, region).map_err(OpenError::NotANumber)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("a sealed number is malformed")]
    Malformed,
    #[error("a sealed number does not open with this desk's key (the key changed, or the file was altered)")]
    WrongKeyOrAltered,
    #[error("a sealed number is not a phone number: {0}")]
    NotANumber(PhoneError),
}

/// A keyed digest of a phone number (hex). Recognises a number, reveals nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NumberId(String);

impl NumberId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a number id as written in the audit trail: 64 lowercase hex
    /// digits, the form [`DigestKey::number_id`] makes.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self(raw.to_owned()))
    }
}

/// A phone number sealed under the desk key: nonce ‖ ciphertext ‖ tag, hex.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedNumber(String);

impl fmt::Debug for SealedNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedNumber(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn gb() -> Region {
        "GB".parse().unwrap()
    }

    #[test]
    fn a_sealed_number_opens_only_with_its_key_and_hides_the_digits() {
        let mut rng = StdRng::seed_from_u64(3);
        let k = DigestKey::generate(&mut rng);
        let other = DigestKey::generate(&mut rng);
        let n = PhoneNumber::parse_any("+447400123456", gb()).unwrap();
        let sealed = k.seal(&n, &mut rng);
        assert!(!serde_json::to_string(&sealed)
            .unwrap()
            .contains("7400123456"));
        assert_eq!(k.open(&sealed, gb()).unwrap(), n);
        assert_eq!(other.open(&sealed, gb()), Err(OpenError::WrongKeyOrAltered));
    }

    #[test]
    fn number_ids_are_stable_per_key_and_differ_between_numbers() {
        let mut rng = StdRng::seed_from_u64(4);
        let k = DigestKey::generate(&mut rng);
        let a = PhoneNumber::parse_any("+447400123456", gb()).unwrap();
        let b = PhoneNumber::parse_any("+447400123457", gb()).unwrap();
        assert_eq!(k.number_id(&a), k.number_id(&a));
        assert_ne!(k.number_id(&a), k.number_id(&b));
    }
}
