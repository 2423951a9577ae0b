//! The Restcomm client against the emulator over real loopback HTTP: the
//! success paths of both flavours, every error row of API.md §3, and the
//! transport failures (timeout, refused, dropped, malformed, TLS).

mod gateway_support;

use std::time::Duration;

use countersign::gateway::restcomm::{RestcommClient, RestcommSettings};
use countersign::gateway::{DeliveryStatus, Gateway, GatewayError, MessageSid};
use gateway_support::*;
use secrecy::SecretString;

/// Asserts the typed error and that its operator message says something
/// specific.
fn assert_error(got: Result<impl std::fmt::Debug, GatewayError>, want: GatewayError, phrase: &str) {
    let err = got.expect_err("expected a gateway error");
    assert_eq!(err, want);
    let shown = err.to_string();
    assert!(
        shown.contains(phrase),
        "message {shown:?} should contain {phrase:?}"
    );
}

#[tokio::test]
async fn restcomm_send_succeeds_and_plus_arrives_as_plus() {
    let em = emulator().await;
    let c = client(&em);
    let receipt = c.send(&sms(TO, "Your code is 123456")).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Sending);
    assert!(receipt.sid.as_str().starts_with("SM"));
    assert_eq!(receipt.sid.as_str().len(), 34);

    let inbox = em.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].sid, receipt.sid.as_str());
    assert_eq!(
        inbox[0].to, "+447911123456",
        "the + must survive form encoding"
    );
    assert_eq!(inbox[0].from, SENDER);
    assert_eq!(inbox[0].body, "Your code is 123456");

    let req = &em.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/restcomm/2012-04-24/Accounts/{SID}/SMS/Messages.json")
    );
    assert!(
        req.body.contains("To=%2B447911123456"),
        "raw body: {}",
        req.body
    );
    assert!(req.body.contains("From=%2B15550001111"));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(req.header("authorization").unwrap().starts_with("Basic "));
}

#[tokio::test]
async fn restcomm_status_reads_back_by_sid() {
    let em = manual_emulator().await;
    let c = client(&em);
    let receipt = c.send(&sms(TO, "code 1")).await.unwrap();
    let report = c.status(&receipt.sid).await.unwrap();
    assert_eq!(report.sid, receipt.sid);
    assert_eq!(report.status, DeliveryStatus::Sending);
    em.advance(receipt.sid.as_str());
    assert_eq!(
        c.status(&receipt.sid).await.unwrap().status,
        DeliveryStatus::Sent
    );
    em.advance(receipt.sid.as_str());
    assert_eq!(
        c.status(&receipt.sid).await.unwrap().status,
        DeliveryStatus::Delivered
    );
    let get = em.requests().pop().unwrap();
    assert_eq!(get.method, "GET");
    assert_eq!(
        get.path,
        format!(
            "/restcomm/2012-04-24/Accounts/{SID}/SMS/Messages/{}.json",
            receipt.sid
        )
    );
}

#[tokio::test]
async fn api_prefix_deployments_work() {
    let em = emulator().await;
    let mut base = em.base_url();
    base.set_path("/api/");
    let c = RestcommClient::new(settings_for(&em).with_base_url(base)).unwrap();
    c.send(&sms(TO, "x")).await.unwrap();
    assert_eq!(
        em.requests()[0].path,
        format!("/api/2012-04-24/Accounts/{SID}/SMS/Messages.json")
    );
}

#[tokio::test]
async fn twilio_flavour_send_and_status() {
    let em = manual_emulator().await;
    let c = twilio_client(&em);
    let receipt = c.send(&sms(TO, "Your code is 777777")).await.unwrap();
    // Twilio answers 201 `queued`, which is pending like `sending`.
    assert_eq!(receipt.status, DeliveryStatus::Sending);
    let req = &em.requests()[0];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert!(req.body.contains("To=%2B447911123456"));
    assert_eq!(em.inbox()[0].to, "+447911123456");

    em.advance(receipt.sid.as_str());
    let report = c.status(&receipt.sid).await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Sent);
    assert_eq!(
        em.requests()[1].path,
        format!("/2010-04-01/Accounts/{SID}/Messages/{}.json", receipt.sid)
    );
}

#[tokio::test]
async fn rejected_400_keeps_restcomm_text_masked_and_short() {
    let em = emulator().await;
    em.faults().answer_next(1, 400, "To can not be null.");
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::Rejected("To can not be null.".to_owned()),
        "rejected the request: To can not be null.",
    );
    em.faults().answer_next(
        1,
        400,
        format!(
            "  java.lang.IllegalArgumentException: NumberParseException for 447700900123 {}\n",
            "y".repeat(400)
        ),
    );
    let err = client(&em).send(&sms(TO, "x")).await.unwrap_err();
    let GatewayError::Rejected(text) = &err else {
        panic!("expected Rejected, got {err:?}")
    };
    assert!(text.starts_with("java.lang.IllegalArgumentException: NumberParseException for •••"));
    assert!(!text.contains("447700900123"));
    assert_eq!(text.chars().count(), 200);
    assert!(!err.to_string().contains("447700900123"));
}

#[tokio::test]
async fn unauthorized_401_on_wrong_token() {
    let em = emulator().await;
    let mut s = settings_for(&em);
    s.auth_token = SecretString::from("wrong".to_owned());
    assert_error(
        RestcommClient::new(s).unwrap().send(&sms(TO, "x")).await,
        GatewayError::Unauthorized,
        "refused the Account SID or auth token",
    );
    assert!(em.inbox().is_empty());
}

#[tokio::test]
async fn client_authenticates_with_the_md5_pre_image() {
    let em = emulator().await;
    let mut s = settings_for(&em);
    s.auth_token = SecretString::from(PASSWORD.to_owned());
    RestcommClient::new(s)
        .unwrap()
        .send(&sms(TO, "x"))
        .await
        .unwrap();
    assert_eq!(em.inbox().len(), 1);
}

#[tokio::test]
async fn forbidden_403_empty_is_account_forbidden() {
    let em = emulator().await;
    em.faults().answer_next(1, 403, "");
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::AccountForbidden,
        "may not send for that Restcomm account",
    );
}

#[tokio::test]
async fn forbidden_403_inactive_account() {
    let em = emulator().await;
    let mut s = settings_for(&em);
    s.account_sid = INACTIVE_SID.to_owned();
    s.auth_token = SecretString::from("inactivetoken".to_owned());
    assert_error(
        RestcommClient::new(s).unwrap().send(&sms(TO, "x")).await,
        GatewayError::AccountNotActive,
        "account is not active",
    );
}

#[tokio::test]
async fn forbidden_403_sms_limit_json_and_xml() {
    let em = emulator().await;
    let mut s = settings_for(&em);
    s.account_sid = LIMITED_SID.to_owned();
    s.auth_token = SecretString::from("limitedtoken".to_owned());
    assert_error(
        RestcommClient::new(s).unwrap().send(&sms(TO, "x")).await,
        GatewayError::SmsLimitExceeded,
        "sending limit",
    );
    em.faults().answer_next(
        1,
        403,
        "<RestcommResponse><Message>Now allowed to create SmsSession</Message><Error>SMS_LIMIT_EXCEEDED</Error></RestcommResponse>",
    );
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::SmsLimitExceeded,
        "sending limit",
    );
}

#[tokio::test]
async fn not_found_404_for_unknown_sid() {
    let em = emulator().await;
    let sid = MessageSid::parse("SM00000000000000000000000000000000").unwrap();
    assert_error(
        client(&em).status(&sid).await,
        GatewayError::NotFound,
        "does not know this message",
    );
    // 404 is not transient: one request only.
    assert_eq!(em.requests().len(), 1);
}

#[tokio::test]
async fn server_error_5xx_send_is_never_retried() {
    let em = emulator().await;
    em.faults().answer_next(1, 500, "SMS service timed out");
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::ServerError(500),
        "internal error (HTTP 500)",
    );
    assert_eq!(em.requests().len(), 1, "a POST must never be retried");
}

#[tokio::test]
async fn status_read_is_retried_on_transient_errors_only() {
    let em = emulator().await;
    let c = client(&em);
    let receipt = c.send(&sms(TO, "x")).await.unwrap();
    em.faults().answer_next(2, 503, "");
    assert!(c.status(&receipt.sid).await.is_ok());
    assert_eq!(em.requests().len(), 1 + 3);

    em.faults().answer_next(3, 502, "");
    assert_error(
        c.status(&receipt.sid).await,
        GatewayError::ServerError(502),
        "HTTP 502",
    );
    assert_eq!(em.requests().len(), 4 + 3);

    // A malformed SID makes Restcomm throw: 500, retried, then reported.
    let odd = MessageSid::parse("SMshort").unwrap();
    assert_error(
        c.status(&odd).await,
        GatewayError::ServerError(500),
        "HTTP 500",
    );
    assert_eq!(em.requests().len(), 7 + 3);
}

#[tokio::test]
async fn other_status_is_unexpected() {
    let em = emulator().await;
    em.faults()
        .answer_next(1, 413, "Length larger than 10000000");
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::UnexpectedStatus(413),
        "unexpected HTTP 413",
    );
}

#[tokio::test]
async fn timeout_when_the_gateway_is_slow() {
    let em = emulator().await;
    em.faults().delay_next(1, Duration::from_secs(3));
    assert_error(
        quick(settings_for(&em)).send(&sms(TO, "x")).await,
        GatewayError::Timeout,
        "did not answer in time",
    );
}

#[tokio::test]
async fn cannot_connect_when_nothing_listens() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/restcomm")).unwrap();
    let s = RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(base);
    assert_error(
        RestcommClient::new(s).unwrap().send(&sms(TO, "x")).await,
        GatewayError::CannotConnect,
        "Cannot reach the SMS gateway",
    );
}

#[tokio::test]
async fn connection_dropped_without_an_answer() {
    let em = emulator().await;
    em.faults().drop_next(1);
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::ConnectionDropped,
        "dropped before it answered",
    );
}

#[tokio::test]
async fn connection_dropped_mid_answer() {
    let em = emulator().await;
    em.faults().cut_next(1);
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::ConnectionDropped,
        "dropped before it answered",
    );
    // The status read, retried, gets through on the next connection.
    let receipt = client(&em).send(&sms(TO, "x")).await.unwrap();
    em.faults().cut_next(1);
    assert!(client(&em).status(&receipt.sid).await.is_ok());
}

#[tokio::test]
async fn malformed_or_sidless_answers_are_unreadable() {
    let em = emulator().await;
    em.faults().malformed_next(1);
    let err = client(&em).send(&sms(TO, "x")).await.unwrap_err();
    assert_eq!(err, GatewayError::UnreadableAnswer("not JSON".to_owned()));
    assert!(err.to_string().contains("could not be read (not JSON)"));
    assert!(!err.to_string().contains("SM0123"), "no body echo");

    em.faults().answer_next(1, 200, r#"{"status":"sending"}"#);
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::UnreadableAnswer("no message SID".to_owned()),
        "could not be read (no message SID)",
    );
    em.faults()
        .answer_next(1, 201, r#"{"sid":"SM/../../x","status":"queued"}"#);
    assert_error(
        client(&em).send(&sms(TO, "x")).await,
        GatewayError::UnreadableAnswer("invalid message SID".to_owned()),
        "invalid message SID",
    );
}

#[tokio::test]
async fn tolerant_of_extra_keys_nulls_and_case() {
    let em = emulator().await;
    em.faults().answer_next(
        1,
        200,
        r#"{"sid":"SMabc123","status":"SENDING","error_code":null,"date_created":"whenever","uri":42,"extra":{"a":[1]}}"#,
    );
    let r = client(&em).send(&sms(TO, "x")).await.unwrap();
    assert_eq!(r.sid.as_str(), "SMabc123");
    assert_eq!(r.status, DeliveryStatus::Sending);
}

#[tokio::test]
async fn tls_failure_is_reported_as_tls() {
    // An https:// client against the plain-HTTP emulator fails the handshake.
    let em = emulator().await;
    let mut base = em.base_url();
    base.set_scheme("https").unwrap();
    let s = settings_for(&em).with_base_url(base);
    assert_error(
        RestcommClient::new(s).unwrap().send(&sms(TO, "x")).await,
        GatewayError::Tls,
        "certificate problem",
    );
}

#[tokio::test]
async fn misconfigured_settings_are_refused_before_any_request() {
    let em = emulator().await;
    let mut s = settings_for(&em);
    s.account_sid = "AC 1".to_owned();
    let err = RestcommClient::new(s).unwrap_err();
    assert!(matches!(err, GatewayError::Misconfigured(_)));
    assert!(err
        .to_string()
        .contains("Account SID must be 2 to 64 letters and digits"));
    let mut s = settings_for(&em);
    s.sender = String::new();
    assert!(RestcommClient::new(s)
        .unwrap_err()
        .to_string()
        .contains("sender (From) is empty"));
    assert!(em.requests().is_empty());
}

/// S19: a gateway answering 3xx is not followed anywhere: the code (in the
/// body) and the token (in the header) reach no other address.
#[tokio::test]
async fn redirects_are_not_followed_and_the_target_hears_nothing() {
    use gateway_support::raw::RawServer;
    let elsewhere = RawServer::silent().await;
    let target = elsewhere.url(
        "http",
        "127.0.0.1",
        &format!("/restcomm/2012-04-24/Accounts/{SID}/SMS/Messages.json"),
    );
    for code in [307u16, 308, 302, 301, 303] {
        let location = target.clone();
        let gateway = RawServer::start(move |_| {
            format!(
                "HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        })
        .await;
        let s = RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER)
            .with_base_url(gateway.url("http", "127.0.0.1", "/restcomm"));
        let c = quick(s);
        assert_error(
            c.send(&sms(TO, "Your code is 123456")).await,
            GatewayError::Redirected(code),
            "Nothing was sent to the other address",
        );
        let err = c.send(&sms(TO, "x")).await.unwrap_err();
        assert_eq!(err.kind(), "gateway_redirected");
        assert!(err.to_string().contains("final address"), "{err}");
        assert!(!err.is_transient());
        // A status read is not followed either, nor retried.
        let sid = MessageSid::parse("SM0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(c.status(&sid).await, Err(GatewayError::Redirected(code)));
        assert_eq!(gateway.requests().len(), 3, "HTTP {code}");
        assert!(gateway.requests()[0].contains("123456"));
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the redirect target must receive nothing"
    );
}

/// S19: plain HTTP only to this computer; everything else needs TLS.
#[test]
fn http_is_accepted_only_for_a_loopback_gateway() {
    use countersign::gateway::restcomm::{check_base_url, HTTPS_ONLY};
    for ok in [
        "http://127.0.0.1:8089/restcomm",
        "http://127.255.255.254/restcomm",
        "http://localhost/x",
        "http://LOCALHOST:8080/x",
        "http://[::1]:1/x",
        "https://gateway.example/x",
        "https://10.0.0.5/restcomm",
    ] {
        let url = url::Url::parse(ok).unwrap();
        assert_eq!(check_base_url(&url), Ok(()), "{ok}");
        let s = RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(url);
        assert!(RestcommClient::new(s).is_ok(), "{ok}");
    }
    for refused in [
        "http://10.0.0.5/restcomm",
        "http://gateway.example/x",
        "http://128.0.0.1/x",
        "http://[::2]/x",
        "http://localhost.gateway.example/x",
        "http://0.0.0.0:8089/restcomm",
        "ftp://127.0.0.1/x",
    ] {
        let url = url::Url::parse(refused).unwrap();
        assert_eq!(check_base_url(&url), Err(HTTPS_ONLY), "{refused}");
        let s = RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(url);
        let err = RestcommClient::new(s).unwrap_err();
        assert!(matches!(err, GatewayError::Misconfigured(_)), "{refused}");
        assert!(
            err.to_string()
                .contains("http:// is accepted only for a gateway on this computer"),
            "{err}"
        );
    }
    assert!(HTTPS_ONLY.contains("localhost, 127.0.0.0/8 or ::1"));
}

/// IT's proxy settings are checked before any request.
#[test]
fn a_proxy_or_ca_bundle_that_cannot_be_used_is_refused() {
    let https = url::Url::parse("https://gateway.example/restcomm").unwrap();
    let base = || {
        RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(https.clone())
    };
    let fresh = base();
    assert_eq!(
        (fresh.proxy.clone(), fresh.ca_bundle_file.clone()),
        (countersign::gateway::proxy::ProxyRoute::Direct, None)
    );
    for bad in [
        "socks5://127.0.0.1:1080",
        "http://user:pass@proxy.example:3128",
        "http://proxy.example:3128/path",
    ] {
        let s = base().with_proxy(Some(url::Url::parse(bad).unwrap()));
        assert!(
            matches!(RestcommClient::new(s), Err(GatewayError::Misconfigured(_))),
            "{bad}"
        );
    }
    let ok = base().with_proxy(Some(url::Url::parse("http://proxy.example:3128").unwrap()));
    assert!(RestcommClient::new(ok).is_ok());

    let s = base().with_ca_bundle(Some("relative/ca.pem".into()));
    assert!(RestcommClient::new(s)
        .unwrap_err()
        .to_string()
        .contains("absolute path"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let s = base().with_ca_bundle(Some(missing.clone()));
    let err = RestcommClient::new(s).unwrap_err().to_string();
    assert!(err.contains("cannot be read"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = RestcommClient::new(base().with_ca_bundle(Some(empty)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no certificate"), "{err}");
}
