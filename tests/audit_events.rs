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
