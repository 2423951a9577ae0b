//! S14: every event a verification goes through is audited with all the
//! fields an auditor needs (PCI DSS v4.0 10.2.2): who, when, which
//! verification, which customer (masked, and a keyed digest to look them up),
//! what for, and how it ended. One test per event type.

mod support;

use countersign::audit::{AuditEvent, EventKind};
use countersign::gateway::{DeliveryStatus, GatewayError, MessageSid};
use support::{wrong, Harness};

const NUMBER: &str = "+447400123456";

fn last(h: &Harness, kind: EventKind) -> AuditEvent {
    h.events()
        .iter()
        .rev()
        .find(|e| e.event == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} event in {:?}", h.event_kinds()))
}

/// The fields every verification event carries.
fn assert_complete(e: &AuditEvent, outcome: Option<&str>) {
    assert_eq!(e.operator.as_deref(), Some("Sam Teller"), "{e:?}");
    assert_eq!(e.verification.as_ref().map(String::len), Some(20), "{e:?}");
    assert_eq!(e.masked_number.as_deref(), Some("+44 •••• 456"), "{e:?}");
    assert_eq!(e.number_id.as_ref().map(String::len), Some(64), "{e:?}");
    assert!(
        e.reference.as_deref().is_some_and(|r| !r.is_empty()),
        "{e:?}"
    );
    assert!(e.delivery.is_some(), "{e:?}");
    assert_eq!(e.outcome.as_deref(), outcome, "{e:?}");
    let text = serde_json::to_string(e).unwrap();
    assert!(!text.contains("7400123456"), "full number in {text}");
}

#[test]
fn started_is_audited_with_every_field() {
    let mut h = Harness::new();
    h.start_and_send(NUMBER);
    assert_complete(&last(&h, EventKind::Started), None);
}

#[test]
fn sent_is_audited_with_the_gateway_sid() {
    let mut h = Harness::new();
    h.start_and_send(NUMBER);
    let e = last(&h, EventKind::Sent);
    assert_complete(&e, None);
    assert!(e
        .gateway_sid
        .as_deref()
        .is_some_and(|s| s.starts_with("SM")));
}

#[test]
fn not_sent_is_audited_with_the_gateway_error_kind() {
    let mut h = Harness::new();
    let (view, _sms) = h.start_new(NUMBER, countersign::purpose::Purpose::Unspecified);
    h.refuse(&view.id, GatewayError::Unauthorized);
    let e = last(&h, EventKind::NotSent);
    assert_complete(&e, Some("not-sent"));
    assert_eq!(e.detail.as_deref(), Some("gateway_unauthorized"));
}

#[test]
fn resent_is_audited() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(NUMBER);
    h.advance(31);
    h.resend_and_send(&id);
    assert_complete(&last(&h, EventKind::Resent), None);
}

#[test]
fn delivery_status_changes_are_audited_with_sid_and_state() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(NUMBER);
    let sid = MessageSid::parse(&format!("SM{:032x}", 1)).unwrap();
    h.desk
        .record_delivery(&id, &sid, DeliveryStatus::Delivered)
        .unwrap();
    let e = last(&h, EventKind::DeliveryStatus);
    assert_complete(&e, None);
    assert_eq!(e.delivery.as_deref(), Some("delivered"));
    assert_eq!(e.gateway_sid.as_deref(), Some(sid.as_str()));
}

#[test]
fn check_failed_is_audited_as_wrong_code() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(NUMBER);
    h.desk.check(&id, &wrong(&code)).unwrap();
    assert_complete(&last(&h, EventKind::CheckFailed), Some("wrong-code"));
}

#[test]
fn approved_is_audited() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(NUMBER);
    h.desk.check(&id, &code).unwrap();
    assert_complete(&last(&h, EventKind::Approved), Some("approved"));
}

#[test]
fn locked_is_audited() {
    let mut h = Harness::new();
    let (id, code) = h.start_and_send(NUMBER);
    for _ in 0..5 {
        h.desk.check(&id, &wrong(&code)).unwrap();
    }
    assert_complete(&last(&h, EventKind::Locked), Some("locked"));
}

#[test]
fn expired_is_audited() {
    let mut h = Harness::new();
    h.start_and_send(NUMBER);
    h.advance(301);
    h.desk.purge().unwrap();
    assert_complete(&last(&h, EventKind::Expired), Some("expired"));
}

#[test]
fn cancelled_is_audited() {
    let mut h = Harness::new();
    let (id, _) = h.start_and_send(NUMBER);
    h.desk.cancel(&id).unwrap();
    assert_complete(&last(&h, EventKind::Cancelled), Some("cancelled"));
}

#[test]
fn number_blocked_is_audited() {
    let mut h = Harness::new();
    for _ in 0..2 {
        let (id, code) = h.start_and_send(NUMBER);
        for _ in 0..5 {
            let _ = h.desk.check(&id, &wrong(&code));
        }
        h.advance(31);
    }
    let e = last(&h, EventKind::NumberBlocked);
    assert_complete(&e, None);
    assert!(e.detail.as_deref().is_some_and(|d| d.contains("failures")));
}

/// The named constructors write exactly the records the shell used to fill
/// by hand, field for field and byte for byte, so logs written before them
/// read, filter and verify alike.
#[test]
fn named_constructors_write_the_records_the_shell_wrote_by_hand() {
    use countersign::audit::SettingsChange;
    use countersign::clock::Timestamp;
    use countersign::config::Key;
    use countersign::gateway::{GatewayMode, SendReceipt};
    use countersign::keys::DigestKey;
    use countersign::phone::{PhoneNumber, Region};
    use countersign::verification::Operator;

    let at = Timestamp::from_millis(1_764_000_000_000);
    let operator = Operator::signed_in("S1234", "Sam Teller").unwrap();
    let same = |built: AuditEvent, by_hand: AuditEvent| {
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            serde_json::to_string(&by_hand).unwrap()
        );
    };
    let by = |kind: EventKind| {
        let mut e = AuditEvent::new(at, kind);
        e.operator = Some(operator.name.clone());
        e.staff_id = operator.staff_id.clone();
        e
    };

    let mut e = by(EventKind::OperatorSignedIn);
    e.os_account = Some("sam".into());
    same(AuditEvent::signed_in(at, &operator, Some("sam".into())), e);

    let mut e = by(EventKind::OperatorLocked);
    e.detail = Some("locked after inactivity".into());
    same(
        AuditEvent::operator_locked(at, &operator, "locked after inactivity"),
        e,
    );

    let mut e = by(EventKind::SettingsChanged);
    e.detail = Some("changed: operatorName".into());
    same(
        AuditEvent::settings_changed(at, &operator, &[SettingsChange::OperatorName]),
        e,
    );
    let mut e = by(EventKind::SettingsChanged);
    e.detail = Some("changed: sender, brand, auth token (replaced; value not recorded), gateway (demo mode chosen explicitly on a desk set up for a real gateway)".into());
    same(
        AuditEvent::settings_changed(
            at,
            &operator,
            &[
                SettingsChange::Key(Key::Sender),
                SettingsChange::Key(Key::Brand),
                SettingsChange::TokenReplaced,
                SettingsChange::DemoChosen,
            ],
        ),
        e,
    );

    let region: Region = "GB".parse().unwrap();
    let number = PhoneNumber::parse_any("07400 123456", region).unwrap();
    let number_id = DigestKey::from_bytes(&[7; 32]).unwrap().number_id(&number);
    let receipt = SendReceipt {
        sid: MessageSid::parse("SM0123").unwrap(),
        status: DeliveryStatus::Sending,
    };
    for answer in [Ok(&receipt), Err(&GatewayError::Timeout)] {
        let mut e = by(EventKind::TestSmsSent);
        e.masked_number = Some(number.masked());
        e.number_id = Some(number_id.as_str().to_owned());
        e.gateway_mode = Some("twilio".into());
        e.outcome = Some(
            if answer.is_ok() {
                "accepted"
            } else {
                "refused"
            }
            .into(),
        );
        e.gateway_sid = answer.ok().map(|r| r.sid.to_string());
        e.detail = answer.err().map(|e| e.kind().to_owned());
        same(
            AuditEvent::test_sms_sent(
                at,
                &operator,
                &number,
                &number_id,
                GatewayMode::Twilio,
                answer,
            ),
            e,
        );
    }

    let mut e = by(EventKind::AuditKeyExported);
    e.os_account = Some("sam".into());
    e.detail = Some("written to /tmp/key.hex".into());
    same(
        AuditEvent::audit_key_exported(
            at,
            &operator,
            Some("sam".into()),
            std::path::Path::new("/tmp/key.hex"),
        ),
        e,
    );

    let mut e = AuditEvent::new(at, EventKind::AppStarted);
    e.detail = Some("trail intact".into());
    same(AuditEvent::app_started(at, "trail intact"), e);
    same(
        AuditEvent::app_stopped(at),
        AuditEvent::new(at, EventKind::AppStopped),
    );
    let mut e = AuditEvent::new(at, EventKind::BranchTrailMismatch);
    e.detail = Some("record 7 differs".into());
    same(
        AuditEvent::branch_trail_mismatch(at, &"record 7 differs"),
        e,
    );
    let mut e = AuditEvent::new(at, EventKind::ChainKeyed);
    e.detail = Some("records from 12 on are keyed (HMAC-SHA256)".into());
    same(AuditEvent::chain_keyed(at, 12), e);
}
