//! The key of the audit chain (S22).
//!
//! A plain hash chain only shows accidents: whoever can write the log can
//! rewrite a record and recompute every hash after it. Keying the chain
//! (HMAC-SHA256) means a rewrite needs this key, which the desk keeps out of
//! the data folder. IT can verify a trail off the desk with the same key,
//! given as hex (see `countersign-verify-audit`).
//!
//! By default the key is derived from the desk key K with its own label, so
//! it is as safe as K and nothing new has to be stored; exporting it (hex)
//! lets IT verify without K itself, which would also open the code digests
//! and sealed numbers. IT may provision its own key instead.

use std::fmt;
use std::io;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keys::{DigestKey, KEY_LEN};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The label that separates the audit key from K's other derived keys.
const LABEL: &[u8] = b"countersign/audit-chain/v1";

/// 32 bytes; wiped on drop and never shown by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuditKey([u8; KEY_LEN]);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

impl AuditKey {
    /// The default: HMAC(K, label), so the desk needs no second secret.
    pub fn derived_from(key: &DigestKey) -> Self {
        Self(key.derive(LABEL, b""))
    }

    /// Exactly 32 bytes, or `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// 64 hex digits (either case), surrounding whitespace ignored: what a
    /// key file from IT holds. Decoded straight into the key, so no copy of
    /// it is left behind.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut key = Self([0; KEY_LEN]);
        hex::decode_to_slice(text.trim(), &mut key.0).ok()?;
        Some(key)
    }

    /// Reads a key file from IT (64 hex digits). The text is wiped once
    /// read; an error names the problem, never the file's content.
    pub fn read_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(KeyFileError::Unreadable)?;
        Self::from_hex(&text).ok_or(KeyFileError::NotAKey)
    }

    /// The key as 64 lowercase hex digits, for IT's export. The caller owns
    /// the secret from then on.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

/// Why a key file gave no key. Each caller words it for its reader (the
/// desk's warning, IT's command line) with the file's path.
#[derive(Debug)]
pub enum KeyFileError {
    Unreadable(io::Error),
    /// The file holds something other than 64 hex digits.
    NotAKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_derived_key_is_stable_differs_from_k_and_round_trips_through_hex() {
        let k = DigestKey::generate(&mut StdRng::seed_from_u64(9));
        let a = AuditKey::derived_from(&k);
        assert_eq!(a.0, AuditKey::derived_from(&k).0);
        assert_ne!(&a.0, k.as_bytes());
        let hex = a.to_hex();
        assert_eq!(
            AuditKey::from_hex(&format!("  {}\n", hex.to_uppercase()))
                .unwrap()
                .0,
            a.0
        );
        assert!(AuditKey::from_hex(&hex[2..]).is_none(), "too short");
        assert!(AuditKey::from_hex("zz").is_none());
        assert!(!format!("{a:?}").contains(&hex[..8]));
    }

    #[test]
    fn a_key_file_gives_its_key_or_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::from_bytes(&[0x5a; KEY_LEN]).unwrap();
        let good = dir.path().join("good.hex");
        std::fs::write(&good, format!("  {}\n", key.to_hex().to_uppercase())).unwrap();
        assert_eq!(AuditKey::read_file(&good).unwrap().to_hex(), key.to_hex());
        let bad = dir.path().join("bad.hex");
        std::fs::write(&bad, "not a key").unwrap();
        assert!(matches!(
            AuditKey::read_file(&bad),
            Err(KeyFileError::NotAKey)
        ));
        let missing = dir.path().join("missing.hex");
        assert!(matches!(
            AuditKey::read_file(&missing),
            Err(KeyFileError::Unreadable(_))
        ));
    }
}
