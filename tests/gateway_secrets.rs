//! Secrets stay where they belong: over a send and a status read, the code
//! and the auth token appear in no request part and no log line, except the
//! `Body` form field and the `Authorization` header.
//!
//! Alone in its own test binary, with a global subscriber, so that no other
//! test's thread can change which log callsites are enabled.

mod gateway_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use countersign::gateway::Gateway;
use gateway_support::*;

/// Collects log lines.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn code_and_token_appear_only_in_body_field_and_authorization() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let em = emulator().await;
    let code = "481592";
    let c = client(&em);
    let receipt = c
        .send(&sms(TO, &format!("Your Countersign code is {code}")))
        .await
        .unwrap();
    c.status(&receipt.sid).await.unwrap();

    let requests = em.requests();
    assert_eq!(requests.len(), 2);
    let mut saw_body = false;
    let mut saw_auth = 0;
    for req in &requests {
        for needle in [code, TOKEN] {
            assert!(!req.path.contains(needle), "path leaks {needle}");
        }
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("authorization") {
                let b64 = value.strip_prefix("Basic ").unwrap();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                assert_eq!(
                    String::from_utf8(decoded).unwrap(),
                    format!("{SID}:{TOKEN}")
                );
                assert!(!value.contains(code));
                saw_auth += 1;
            } else {
                assert!(
                    !value.contains(code) && !value.contains(TOKEN),
                    "header {name} leaks"
                );
            }
        }
        // The body without its Body field holds neither secret.
        let rest: Vec<(String, String)> = url::form_urlencoded::parse(req.body.as_bytes())
            .into_owned()
            .filter(|(k, v)| {
                if k == "Body" {
                    assert!(v.contains(code));
                    saw_body = true;
                    false
                } else {
                    true
                }
            })
            .collect();
        for (k, v) in rest {
            assert!(!v.contains(code) && !v.contains(TOKEN), "field {k} leaks");
        }
        assert!(!req.body.contains(TOKEN));
    }
    assert!(saw_body, "the code was sent in the Body field");
    assert_eq!(saw_auth, 2, "both requests carry Authorization");

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains(receipt.sid.as_str()),
        "the capture works: the SID is logged"
    );
    assert!(
        logged.contains("+44 •••• 456"),
        "the masked number is logged:\n{logged}"
    );
    for needle in [code, TOKEN, TO, PASSWORD] {
        assert!(!logged.contains(needle), "log leaks {needle}:\n{logged}");
    }
}
