//! S19: no environment variable changes where the real gateway client sends
//! or whom it trusts. A desk user who sets `HTTPS_PROXY`, `HTTP_PROXY` or
//! `ALL_PROXY` does not see the SMS go through their proxy; one who sets
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` to their own CA does not make the client
//! trust a server that CA signed. Only IT's `gateway_proxy` and
//! `ca_bundle_file` count.
//!
//! The variables are never set in this process (changing the environment of
//! a multi-threaded test binary is unsound): each test starts a child
//! process of this same binary with them set, runs one `#[ignore]`d
//! scenario there, and checks from here what the child could not fake — the
//! listener standing in for the user's proxy was never touched.

mod gateway_support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use countersign::gateway::proxy::ProxyRoute;
use countersign::gateway::restcomm::{RestcommClient, RestcommSettings, RetryPolicy};
use countersign::gateway::{Gateway, GatewayError};
use gateway_support::raw::{accepted, RawServer, TestPki, TunnelProxy};
use gateway_support::*;
use secrecy::SecretString;

/// Set in the child: the scenarios do nothing without it, so a run of
/// `--ignored` tests on its own does not fail or pass for nothing.
const CHILD: &str = "COUNTERSIGN_TEST_ENVIRONMENT_CHILD";
/// Where the parent left the test CA's files.
const PKI_DIR: &str = "COUNTERSIGN_TEST_PKI_DIR";

const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
];

/// Runs scenario `name` in a child process with `vars` set (and NO_PROXY
/// unset, so nothing exempts loopback) and fails with its output if it fails.
fn run_child(name: &str, vars: &[(&str, String)]) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = command.output().expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "child {name} failed:\n{stdout}\n{stderr}"
    );
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn quick_client(s: RestcommSettings) -> RestcommClient {
    let mut s = s;
    s.connect_timeout = Duration::from_millis(500);
    s.request_timeout = Duration::from_millis(1500);
    RestcommClient::new(s)
        .expect("valid settings")
        .with_retry(RetryPolicy {
            attempts: 1,
            first_backoff: Duration::from_millis(1),
        })
}

fn settings(base: url::Url) -> RestcommSettings {
    RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(base)
}

// ------------------------------------------------------------ proxies

#[test]
fn s19_proxy_variables_in_the_environment_are_not_used() {
    // The user's proxy: a listener nobody should ever connect to.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let proxy = format!("http://127.0.0.1:{}", trap.local_addr().unwrap().port());
    let vars: Vec<(&str, String)> = PROXY_VARS.iter().map(|v| (*v, proxy.clone())).collect();
    run_child("child_sends_without_the_environment_proxy", &vars);
    let mut knocks = 0;
    while trap.accept().is_ok() {
        knocks += 1;
    }
    assert_eq!(knocks, 0, "the environment's proxy was used");
}

#[test]
#[ignore = "run by s19_proxy_variables_in_the_environment_are_not_used, in a child process"]
fn child_sends_without_the_environment_proxy() {
    if !is_child() {
        return;
    }
    for var in PROXY_VARS {
        assert!(std::env::var_os(var).is_some(), "{var} is set in the child");
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        // Demo mode's path: plain HTTP to the loopback emulator, directly.
        let em = emulator().await;
        quick_client(settings_for(&em))
            .send(&sms(TO, "Your code is 123456"))
            .await
            .expect("sent directly to the emulator");
        assert_eq!(em.inbox().len(), 1);

        // A TLS gateway named by host: directly, not through the proxy.
        let pki = TestPki::new("direct");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let gateway = RawServer::start_tls(pki.server, accepted).await;
        let s = settings(gateway.url("https", "localhost", "/restcomm"))
            .with_ca_bundle(Some(ca.clone()));
        quick_client(s)
            .send(&sms(TO, "Your code is 123456"))
            .await
            .expect("sent directly to the TLS gateway");
        assert_eq!(gateway.requests().len(), 1);

        // A gateway this computer cannot resolve: the proxy would have
        // resolved it; without one the send fails here.
        let far = settings(url::Url::parse("https://gateway.invalid/restcomm").unwrap());
        let err = quick_client(far).send(&sms(TO, "x")).await.unwrap_err();
        assert!(
            matches!(err, GatewayError::CannotConnect | GatewayError::Timeout),
            "{err:?}"
        );

        // IT's proxy is used, and it alone.
        let it_proxy = TunnelProxy::start().await;
        let s = settings(gateway.url("https", "localhost", "/restcomm"))
            .with_ca_bundle(Some(ca))
            .with_proxy(Some(it_proxy.url()));
        quick_client(s)
            .send(&sms(TO, "Your code is 123456"))
            .await
            .expect("sent through IT's proxy");
        let connects = it_proxy.connects();
        assert_eq!(connects.len(), 1, "{connects:?}");
        assert!(connects[0].starts_with(&format!("CONNECT localhost:{}", gateway.addr.port())));
        assert_eq!(gateway.requests().len(), 2);
        // The tunnel carried TLS: the proxy saw no token and no body.
        assert!(!connects[0].contains("123456"));
    });
}

/// Demo mode's client never takes a proxy, even where IT chose `system`
/// (which on Linux reads these very variables): its emulator is on
/// loopback, where a proxy could only misroute the codes.
#[test]
fn s19_a_system_proxy_never_routes_demo_traffic() {
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let proxy = format!("http://127.0.0.1:{}", trap.local_addr().unwrap().port());
    let vars: Vec<(&str, String)> = PROXY_VARS.iter().map(|v| (*v, proxy.clone())).collect();
    run_child("child_sends_demo_traffic_directly_under_system", &vars);
    let mut knocks = 0;
    while trap.accept().is_ok() {
        knocks += 1;
    }
    assert_eq!(
        knocks, 0,
        "the demo traffic went to the environment's proxy"
    );
}

#[test]
#[ignore = "run by s19_a_system_proxy_never_routes_demo_traffic, in a child process"]
fn child_sends_demo_traffic_directly_under_system() {
    if !is_child() {
        return;
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let em = emulator().await;
        let s = settings_for(&em).with_proxy_route(ProxyRoute::Os);
        quick_client(s)
            .send(&sms(TO, "Your code is 123456"))
            .await
            .expect("sent directly to the emulator");
        assert_eq!(em.inbox().len(), 1);
    });
}

// ------------------------------------------------------------ trust roots

/// Writes the test CA where the child finds it.
fn pki_dir(pki: &TestPki) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    dir
}

#[test]
fn s19_ssl_cert_file_in_the_environment_is_not_trusted() {
    // The child makes its own CA and writes it where SSL_CERT_FILE points:
    // the variables must name the file before the child starts, so the
    // parent only picks the folder.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    run_child(
        "child_ignores_ssl_cert_file",
        &[
            (PKI_DIR, dir.path().display().to_string()),
            ("SSL_CERT_FILE", ca.display().to_string()),
            ("SSL_CERT_DIR", dir.path().display().to_string()),
        ],
    );
    assert!(ca.exists(), "the child wrote the CA the variables name");
}

#[test]
#[ignore = "run by s19_ssl_cert_file_in_the_environment_is_not_trusted, in a child process"]
fn child_ignores_ssl_cert_file() {
    if !is_child() {
        return;
    }
    let dir = std::env::var_os(PKI_DIR).expect("the parent names a folder");
    let dir = Path::new(&dir);
    let users = TestPki::new("of the desk user");
    std::fs::write(dir.join("ca.pem"), &users.ca_pem).unwrap();
    assert_eq!(
        std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from),
        Some(dir.join("ca.pem"))
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let gateway = RawServer::start_tls(users.server.clone(), accepted).await;
        let base = gateway.url("https", "localhost", "/restcomm");

        // The OS's roots: the user's CA is not among them.
        let err = quick_client(settings(base.clone()))
            .send(&sms(TO, "Your code is 123456"))
            .await
            .unwrap_err();
        assert_eq!(err, GatewayError::Tls);

        // Another CA from IT: still not trusted.
        let other = TestPki::new("of someone else");
        let it_dir = pki_dir(&other);
        let s = settings(base.clone()).with_ca_bundle(Some(it_dir.path().join("ca.pem")));
        assert_eq!(
            quick_client(s).send(&sms(TO, "x")).await.unwrap_err(),
            GatewayError::Tls
        );
        assert!(
            gateway.requests().is_empty(),
            "no request went over an untrusted connection"
        );

        // The same CA named by IT in ca_bundle_file is trusted.
        let s = settings(base).with_ca_bundle(Some(dir.join("ca.pem")));
        quick_client(s)
            .send(&sms(TO, "Your code is 123456"))
            .await
            .expect("trusted through ca_bundle_file");
        assert_eq!(gateway.requests().len(), 1);
    });
}

/// IT's CA bundle trusts its server without any environment at all (the
/// same process as the other tests: nothing is set here).
#[tokio::test]
async fn ca_bundle_file_trusts_only_its_certificates() {
    let pki = TestPki::new("IT");
    let dir = pki_dir(&pki);
    let gateway = RawServer::start_tls(pki.server, accepted).await;
    for host in ["localhost", "127.0.0.1"] {
        let s = settings(gateway.url("https", host, "/restcomm"))
            .with_ca_bundle(Some(dir.path().join("ca.pem")));
        quick_client(s)
            .send(&sms(TO, "x"))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    let s = settings(gateway.url("https", "localhost", "/restcomm"));
    assert_eq!(
        quick_client(s).send(&sms(TO, "x")).await.unwrap_err(),
        GatewayError::Tls,
        "a private CA is not among the OS's roots"
    );
}
