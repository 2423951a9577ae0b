//! The desk's sealed facts (S19, S22, S23): what deleting or editing a file
//! in the data folder must not undo, kept sealed next to the desk key.

use std::sync::Arc;

use countersign::audit::TrailAnchor;
use countersign::config::GatewayKind;
use countersign::facts::{FactsRead, FactsStore, GatewayBinding};
use countersign::keys::DigestKey;
use countersign::secrets::{CredentialStore, FileCredentials, SecretName};
use rand::rngs::StdRng;
use rand::SeedableRng;
use secrecy::{ExposeSecret, SecretString};

fn key() -> DigestKey {
    DigestKey::generate(&mut StdRng::seed_from_u64(7))
}

fn binding() -> GatewayBinding {
    GatewayBinding {
        kind: GatewayKind::Restcomm,
        base_url: "https://sms.bank.example/restcomm".into(),
        account_sid: "AC0123".into(),
    }
}

#[test]
fn facts_survive_a_restart_and_sit_next_to_the_desk_key() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn CredentialStore> = Arc::new(FileCredentials::in_data_dir(dir.path()));
    let (facts, read) = FactsStore::open(store.clone(), key()).unwrap();
    assert_eq!(read, FactsRead::Absent);
    facts
        .update(|f| {
            f.real_gateway_configured = true;
            f.token_bound_to = Some(binding());
            f.audit = Some(TrailAnchor {
                keyed_from: 1,
                last_seq: 9,
                last_hash: "ab".repeat(32),
            });
        })
        .unwrap();
    let file = dir.path().join("keys").join("desk-facts");
    assert!(file.is_file(), "{} is written", file.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (again, read) = FactsStore::open(store, key()).unwrap();
    assert_eq!(read, FactsRead::Intact);
    assert_eq!(again.get(), facts.get());
}

#[test]
fn an_edited_record_is_distrusted_and_read_in_its_strictest_form() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn CredentialStore> = Arc::new(FileCredentials::in_data_dir(dir.path()));
    let (facts, _) = FactsStore::open(store.clone(), key()).unwrap();
    facts
        .update(|f| f.token_bound_to = Some(binding()))
        .unwrap();
    // Point the binding at another address, keeping the old seal.
    let sealed = store.get(SecretName::DeskFacts).unwrap().unwrap();
    let edited = sealed
        .expose_secret()
        .replace("sms.bank.example", "listener.example");
    assert_ne!(edited, sealed.expose_secret());
    store
        .set(SecretName::DeskFacts, &SecretString::from(edited))
        .unwrap();
    let (facts, read) = FactsStore::open(store, key()).unwrap();
    assert!(
        matches!(read, FactsRead::Distrusted(ref why) if why.contains("altered")),
        "{read:?}"
    );
    let f = facts.get();
    assert!(f.real_gateway_configured, "demo needs an explicit choice");
    assert_eq!(f.token_bound_to, None, "the token must be typed again");
}

#[test]
fn a_record_sealed_under_another_desk_key_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn CredentialStore> = Arc::new(FileCredentials::in_data_dir(dir.path()));
    let (facts, _) = FactsStore::open(store.clone(), key()).unwrap();
    facts.update(|f| f.real_gateway_configured = false).unwrap();
    facts
        .update(|f| f.token_bound_to = Some(binding()))
        .unwrap();
    let other = DigestKey::generate(&mut StdRng::seed_from_u64(8));
    let (_, read) = FactsStore::open(store, other).unwrap();
    assert!(matches!(read, FactsRead::Distrusted(_)));
}
