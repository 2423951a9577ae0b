//! What the gateway client trusts (S19): the certificates IT names in the
//! policy file (`ca_bundle_file`), or else the operating system's — never a
//! source a desk user can set, such as `SSL_CERT_FILE` or `SSL_CERT_DIR`.
//!
//! Where "the OS's" comes from:
//! - Linux and the other Unix systems: the distribution's bundle, read from
//!   its fixed path ([`SYSTEM_BUNDLES`]). Those files belong to root; the
//!   environment is not consulted (rustls-native-certs, and the platform
//!   verifier that uses it there, would honour `SSL_CERT_FILE`/`SSL_CERT_DIR`).
//! - Windows and macOS: the OS's own verifier (rustls-platform-verifier:
//!   CertGetCertificateChain, SecTrust), which reads no environment variable
//!   and follows the roots IT manages by group policy or MDM.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};

/// The distribution bundles, first found wins: Debian, Ubuntu, Arch, Gentoo;
/// Fedora and RHEL; RHEL 7+ (extracted); openSUSE; Alpine and the BSDs;
/// FreeBSD's ports bundle.
pub const SYSTEM_BUNDLES: [&str; 7] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/tls/cacert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// Largest CA bundle read; distribution bundles are about 200 KiB.
const MAX_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

/// The TLS configuration for an `https://` gateway (and an `https://`
/// proxy): only `ca_bundle`'s certificates when IT names a file, else the
/// OS's roots. HTTP/1.1 only, as the client speaks.
pub(crate) fn client_config(ca_bundle: Option<&Path>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS could not be set up ({e})"))?;
    let mut config = match ca_bundle {
        Some(path) => builder
            .with_root_certificates(bundle_roots(path)?)
            .with_no_client_auth(),
        None => os_trust(builder, provider)?,
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Only the roots in IT's file: every certificate in it must be usable, and
/// there must be at least one.
fn bundle_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let pem = read_bounded(path)
        .map_err(|e| format!("the CA bundle file {shown} cannot be read ({e})"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert
            .map_err(|_| format!("the CA bundle file {shown} is not a PEM file of certificates"))?;
        roots.add(cert).map_err(|_| {
            format!("the CA bundle file {shown} holds a certificate that cannot be a trust root")
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "the CA bundle file {shown} holds no certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(roots)
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(std::io::Error::other("larger than 8 MiB"));
    }
    Ok(out)
}

#[cfg(any(windows, target_os = "macos"))]
fn os_trust(
    builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, String> {
    let verifier = rustls_platform_verifier::Verifier::new(provider)
        .map_err(|e| format!("the system's certificate verifier could not be set up ({e})"))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(not(any(windows, target_os = "macos")))]
fn os_trust(
    builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    _provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, String> {
    Ok(builder
        .with_root_certificates(system_roots()?)
        .with_no_client_auth())
}

/// The first distribution bundle that holds usable roots. A certificate the
/// verifier cannot use is skipped, as every TLS library does with these files.
#[cfg(not(any(windows, target_os = "macos")))]
fn system_roots() -> Result<RootCertStore, String> {
    for path in SYSTEM_BUNDLES {
        let Ok(pem) = read_bounded(Path::new(path)) else {
            continue;
        };
        let mut roots = RootCertStore::empty();
        roots
            .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
        if !roots.is_empty() {
            return Ok(roots);
        }
    }
    Err(format!(
        "no system certificate bundle was found (looked for {}); IT can name one with ca_bundle_file",
        SYSTEM_BUNDLES.join(", ")
    ))
}
