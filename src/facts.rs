//! Facts the desk keeps where deleting a file in its data folder does not
//! undo them (S19, S22, S23).
//!
//! Some rules need memory that outlives `settings.json` and the audit log:
//! that this desk was set up for a real SMS gateway (so losing the settings
//! stops sending rather than drop to demo mode, which shows codes on the
//! staff screen), which gateway the stored auth token was typed for (so it
//! is never sent anywhere else), and where the audit trail stood (so a
//! deleted or shortened log shows). They live in one record, sealed with a
//! key derived from the desk key (HMAC-SHA256), in the credential store next
//! to that key: the OS keychain, or the owner-only key folder without one.
//!
//! This stops an edit of the data folder. It does not stop a user who edits
//! their own keychain entry (they can delete the record, or the desk key
//! with it): a missing record reads as a first start, which is why a record
//! that is there but does not open is treated as the strictest case, never
//! as none. Branch mode keeps these facts off the desk.

use std::sync::{Arc, Mutex};

use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{GatewayKind, RealGateway};
use crate::keys::DigestKey;
use crate::secrets::{CredentialStore, SecretError, SecretName};

const LABEL: &[u8] = b"countersign/desk-facts/v1";

/// What an auth token is bound to: it is only ever sent there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayBinding {
    pub kind: GatewayKind,
    pub base_url: String,
    pub account_sid: String,
}

impl GatewayBinding {
    pub fn of(gateway: &RealGateway) -> Self {
        Self {
            kind: gateway.kind,
            base_url: gateway.base_url.to_string(),
            account_sid: gateway.account_sid.clone(),
        }
    }
}

/// The facts themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskFacts {
    /// The desk has sent through a real gateway: demo mode now needs an
    /// explicit, audited choice.
    #[serde(default)]
    pub real_gateway_configured: bool,
    /// The gateway the stored auth token was typed for, when one was.
    #[serde(default)]
    pub token_bound_to: Option<GatewayBinding>,
    /// Where the audit trail stood after its last record.
    #[serde(default)]
    pub audit: Option<crate::audit::TrailAnchor>,
    /// This desk's pending store is sealed (S21): an unsealed (version 1)
    /// `pending.json` is no longer accepted, and a missing store is damage,
    /// not a first start. Left out when false, so records sealed before
    /// the field existed keep their MAC.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_sealed: bool,
}

impl DeskFacts {
    /// What a record that does not open stands for: the strictest reading
    /// (real gateway assumed, no token binding known, so the token must be
    /// typed again and demo mode chosen explicitly).
    fn distrusted() -> Self {
        Self {
            real_gateway_configured: true,
            token_bound_to: None,
            audit: None,
            pending_sealed: true,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    facts: DeskFacts,
    mac: String,
}

fn mac_of(key: &DigestKey, facts: &DeskFacts) -> Result<hmac::Hmac<sha2::Sha256>, String> {
    let body = serde_json::to_vec(facts).map_err(|e| e.to_string())?;
    let mut mac = key.labelled_hmac(LABEL);
    mac.update(&body);
    Ok(mac)
}

/// How the record read at start.
#[derive(Debug, PartialEq, Eq)]
pub enum FactsRead {
    /// No record: a new desk, or one from before records existed.
    Absent,
    Intact,
    /// There, but altered or damaged: the strictest facts are in force,
    /// and this says so for the operator and the audit trail.
    Distrusted(String),
}

/// The record, shared by whoever changes a fact (settings, the audit log),
/// written through at each change.
#[derive(Clone)]
pub struct FactsStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn CredentialStore>,
    key: DigestKey,
    facts: Mutex<DeskFacts>,
}

impl FactsStore {
    /// Reads and checks the record. A record that cannot be read at all
    /// reads like an altered one, never like none.
    pub fn open(
        store: Arc<dyn CredentialStore>,
        key: DigestKey,
    ) -> Result<(Self, FactsRead), SecretError> {
        let stored = match store.get(SecretName::DeskFacts) {
            Ok(stored) => stored,
            // Unreadable is not absent: read as strictly as an altered one.
            Err(e) => {
                return Ok((
                    Self::with(store, key, DeskFacts::distrusted()),
                    FactsRead::Distrusted(format!(
                        "The desk's sealed record cannot be read ({e}). Until IT checks this desk, the auth token must be typed again and demo mode chosen explicitly."
                    )),
                ))
            }
        };
        let (facts, read) = match stored {
            None => (DeskFacts::default(), FactsRead::Absent),
            Some(text) => match unseal(&key, text.expose_secret()) {
                Some(facts) => (facts, FactsRead::Intact),
                None => (
                    DeskFacts::distrusted(),
                    FactsRead::Distrusted(
                        "The desk's sealed record (kept with its key) was altered or damaged. Until IT checks this desk, the auth token must be typed again and demo mode chosen explicitly.".to_owned(),
                    ),
                ),
            },
        };
        Ok((Self::with(store, key, facts), read))
    }

    fn with(store: Arc<dyn CredentialStore>, key: DigestKey, facts: DeskFacts) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                key,
                facts: Mutex::new(facts),
            }),
        }
    }

    pub fn get(&self) -> DeskFacts {
        self.inner
            .facts
            .lock()
            .map(|f| f.clone())
            .unwrap_or_else(|_| DeskFacts::distrusted())
    }

    /// Changes the facts and writes the sealed record before returning; on
    /// a failed write the facts stay as they were.
    pub fn update(&self, change: impl FnOnce(&mut DeskFacts)) -> Result<(), SecretError> {
        let mut guard = self
            .inner
            .facts
            .lock()
            .map_err(|_| SecretError::Store("desk record lock poisoned".to_owned()))?;
        let mut next = guard.clone();
        change(&mut next);
        if next == *guard {
            return Ok(());
        }
        let sealed = seal(&self.inner.key, &next).map_err(SecretError::Store)?;
        self.inner
            .store
            .set(SecretName::DeskFacts, &SecretString::from(sealed))?;
        *guard = next;
        Ok(())
    }
}

fn seal(key: &DigestKey, facts: &DeskFacts) -> Result<String, String> {
    let mac = hex::encode(mac_of(key, facts)?.finalize().into_bytes());
    serde_json::to_string(&Sealed {
        facts: facts.clone(),
        mac,
    })
    .map_err(|e| e.to_string())
}

fn unseal(key: &DigestKey, text: &str) -> Option<DeskFacts> {
    let sealed: Sealed = serde_json::from_str(text).ok()?;
    let tag = hex::decode(&sealed.mac).ok()?;
    // Constant time: the tag is a MAC, not a checksum.
    mac_of(key, &sealed.facts).ok()?.verify_slice(&tag).ok()?;
    Some(sealed.facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Records sealed before `pending_sealed` existed must still open: the
    /// field is left out of the sealed bytes while it is false.
    #[test]
    fn pending_sealed_keeps_older_records_opening_and_round_trips() {
        let key = DigestKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
        let old = DeskFacts {
            real_gateway_configured: true,
            ..DeskFacts::default()
        };
        let text = seal(&key, &old).unwrap();
        assert!(!text.contains("pendingSealed"), "{text}");
        let before_the_field = r#"{"realGatewayConfigured":true,"tokenBoundTo":null,"audit":null}"#;
        assert!(text.contains(before_the_field), "{text}");
        assert_eq!(unseal(&key, &text), Some(old));
        let sealed = DeskFacts {
            pending_sealed: true,
            ..DeskFacts::default()
        };
        let text = seal(&key, &sealed).unwrap();
        assert_eq!(unseal(&key, &text), Some(sealed));
        assert!(unseal(
            &key,
            &text.replace("\"pendingSealed\":true", "\"pendingSealed\":false")
        )
        .is_none());
        assert!(DeskFacts::distrusted().pending_sealed);
    }
}
