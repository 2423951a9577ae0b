//! Reading the gateway's answers: the SMS resource of a 200/201, and the
//! failure a non-success status and its body (JSON, XML or plain text) mean
//! (`shared/restcomm/API.md` §3). Whatever the gateway says reaches an
//! operator only as one line with long digit runs masked.

use crate::gateway::{DeliveryStatus, GatewayError, MessageError, MessageSid};

/// Longest gateway text kept in a [`GatewayError::Rejected`].
const MAX_REASON_CHARS: usize = 200;

/// The fields the client uses from an SMS resource.
pub(super) struct MessageAnswer {
    pub(super) sid: MessageSid,
    pub(super) status: Option<DeliveryStatus>,
}

/// Reads `sid`, `status`, `error_code` (number or string) from a JSON SMS
/// resource. Extra keys, `null`s and any date format are ignored.
pub(super) fn parse_message(body: &[u8]) -> Result<MessageAnswer, GatewayError> {
    let unreadable = |m: &str| GatewayError::UnreadableAnswer(m.to_owned());
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| unreadable("not JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| unreadable("not a JSON object"))?;
    let sid = object
        .get("sid")
        .and_then(|v| v.as_str())
        .ok_or_else(|| unreadable("no message SID"))?;
    let sid = MessageSid::parse(sid).ok_or_else(|| unreadable("invalid message SID"))?;
    let error = object.get("error_code").and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let error = error.and_then(|c| u32::try_from(c).ok()).map(MessageError);
    let status = match object.get("status").and_then(|v| v.as_str()) {
        None => None,
        Some(word) => Some(
            DeliveryStatus::from_gateway(word, error)
                .ok_or_else(|| unreadable("unrecognised message status"))?,
        ),
    };
    Ok(MessageAnswer { sid, status })
}

/// Maps a non-success HTTP answer (API.md §3).
pub(super) fn classify_failure(code: u16, body: &[u8]) -> GatewayError {
    let text = String::from_utf8_lossy(body);
    match code {
        400 => GatewayError::Rejected(reason(&text)),
        401 => GatewayError::Unauthorized,
        403 => {
            if error_word(&text).as_deref() == Some("SMS_LIMIT_EXCEEDED") {
                GatewayError::SmsLimitExceeded
            } else if text.to_ascii_lowercase().contains("not active") {
                GatewayError::AccountNotActive
            } else {
                GatewayError::AccountForbidden
            }
        }
        404 => GatewayError::NotFound,
        300..=399 => GatewayError::Redirected(code),
        500..=599 => GatewayError::ServerError(code),
        other => GatewayError::UnexpectedStatus(other),
    }
}

/// The `error` of Restcomm's `{"message","error"}` body, or the `<Error>` of
/// its XML form.
pub(super) fn error_word(text: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
        return o
            .get("error")
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_owned());
    }
    xml_element_text(text, "Error")
}

fn xml_element_text(text: &str, name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => inside = e.name().as_ref() == name.as_bytes(),
            Ok(Event::Text(t)) if inside => {
                return t.unescape().ok().map(|s| s.trim().to_owned());
            }
            Ok(Event::End(_)) => inside = false,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// Restcomm's 400 text (or a JSON error's `message`), made safe for an
/// operator message: one line, runs of 6+ digits masked, at most 200 chars.
fn reason(text: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned));
    let raw = from_json.unwrap_or_else(|| text.to_owned());
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let masked = mask_digit_runs(one_line.trim());
    let mut out: String = masked.chars().take(MAX_REASON_CHARS).collect();
    if out.is_empty() {
        out = "no reason given".to_owned();
    }
    out
}

/// Replaces every run of six or more ASCII digits with `•••`.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str("•••");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_digit_runs_and_truncates() {
        assert_eq!(
            mask_digit_runs("To +447700900123 code 12345"),
            "To +••• code 12345"
        );
        let long = "x".repeat(500);
        assert_eq!(reason(&long).chars().count(), 200);
        assert_eq!(reason("  From can not be null.\n"), "From can not be null.");
    }

    #[test]
    fn reads_optional_keys_and_tolerates_extras() {
        let a = parse_message(br#"{"sid":"SMab","status":"FAILED","error_code":"30003","x":[1]}"#)
            .unwrap();
        assert_eq!(
            a.status,
            Some(DeliveryStatus::Failed {
                error: Some(MessageError(30003))
            })
        );
        let a = parse_message(br#"{"sid":"SMab","error_code":null}"#).unwrap();
        assert_eq!(a.status, None);
        assert!(parse_message(br#"{"status":"sent"}"#).is_err());
        assert!(parse_message(br#"{"sid":"SM/../x","status":"sent"}"#).is_err());
    }

    #[test]
    fn classifies_403_bodies() {
        let json = b"{\"message\":\"Now allowed to create SmsSession\",\n\"error\":\"SMS_LIMIT_EXCEEDED\"}";
        assert_eq!(classify_failure(403, json), GatewayError::SmsLimitExceeded);
        let xml = b"<RestcommResponse><Message>Now allowed to create SmsSession</Message><Error>SMS_LIMIT_EXCEEDED</Error></RestcommResponse>";
        assert_eq!(classify_failure(403, xml), GatewayError::SmsLimitExceeded);
        assert_eq!(
            classify_failure(403, b"Provided Account is not active"),
            GatewayError::AccountNotActive
        );
        assert_eq!(classify_failure(403, b""), GatewayError::AccountForbidden);
        assert_eq!(classify_failure(502, b""), GatewayError::ServerError(502));
        assert_eq!(
            classify_failure(418, b""),
            GatewayError::UnexpectedStatus(418)
        );
    }
}
