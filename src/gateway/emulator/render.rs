//! How the emulator writes Restcomm's (and Twilio's) resources: JSON with
//! Gson's key order and null members dropped, XStream-like XML, and Restcomm's
//! date formats (API.md §2, §4).

use chrono::{DateTime, Local};
use serde::Serialize;

/// `Thu, 19 Nov 2015 07:21:35 -0500`: Restcomm's `date_created`/`date_updated`.
pub(super) fn rfc2822ish(t: &DateTime<Local>) -> String {
    t.format("%a, %-d %b %Y %H:%M:%S %z").to_string()
}

/// `2015-11-19T07:21:24.000-05:00`: Restcomm's (Joda) `date_sent`.
pub(super) fn iso(t: &DateTime<Local>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// One SMS resource as the emulator shows it at a moment.
pub(super) struct SmsView {
    pub sid: String,
    pub date_created: DateTime<Local>,
    pub date_updated: DateTime<Local>,
    pub date_sent: Option<DateTime<Local>>,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status: &'static str,
    pub error: Option<(u32, &'static str)>,
    pub api_version: String,
}

impl SmsView {
    /// `/2012-04-24/Accounts/{AC}/SMS/Messages/{SM}`: no `/restcomm` prefix,
    /// as the code at HEAD builds it (the 2015 doc examples show one).
    fn uri(&self) -> String {
        format!(
            "/{}/Accounts/{}/SMS/Messages/{}",
            self.api_version, self.account_sid, self.sid
        )
    }
}

/// Key order of `SmsMessageConverter.serialize`; `None` members are dropped
/// as Gson (serializeNulls off) drops them.
#[derive(Serialize)]
pub(super) struct SmsJson {
    sid: String,
    date_created: String,
    date_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_sent: Option<String>,
    account_sid: String,
    from: String,
    to: String,
    body: String,
    status: &'static str,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'static str>,
    price: &'static str,
    price_unit: &'static str,
    api_version: String,
    uri: String,
}

pub(super) fn sms_json(v: &SmsView) -> SmsJson {
    SmsJson {
        sid: v.sid.clone(),
        date_created: rfc2822ish(&v.date_created),
        date_updated: rfc2822ish(&v.date_updated),
        date_sent: v.date_sent.as_ref().map(iso),
        account_sid: v.account_sid.clone(),
        from: v.from.clone(),
        to: v.to.clone(),
        body: v.body.clone(),
        status: v.status,
        direction: "outbound-api",
        error_code: v.error.map(|e| e.0),
        error_message: v.error.map(|e| e.1),
        price: "0",
        price_unit: "USD",
        api_version: v.api_version.clone(),
        uri: format!("{}.json", v.uri()),
    }
}

/// Gson's pretty printer indents by two spaces, as serde_json's does.
pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}

/// The list envelope of `SmsMessageListConverter` (API.md §4).
#[derive(Serialize)]
pub(super) struct ListJson {
    pub page: u64,
    pub num_pages: u64,
    pub page_size: u64,
    pub total: u64,
    pub start: String,
    pub end: String,
    pub uri: String,
    pub first_page_uri: String,
    pub previous_page_uri: String,
    pub next_page_uri: String,
    pub last_page_uri: String,
    pub messages: Vec<SmsJson>,
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

fn sms_xml_into(out: &mut String, v: &SmsView, indent: &str) {
    let el = |out: &mut String, name: &str, value: &str| {
        out.push_str(&format!("{indent}  <{name}>{}</{name}>\n", esc(value)));
    };
    out.push_str(&format!("{indent}<SMSMessage>\n"));
    el(out, "Sid", &v.sid);
    el(out, "DateCreated", &rfc2822ish(&v.date_created));
    el(out, "DateUpdated", &rfc2822ish(&v.date_updated));
    match &v.date_sent {
        Some(t) => el(out, "DateSent", &iso(t)),
        None => out.push_str(&format!("{indent}  <DateSent/>\n")),
    }
    el(out, "AccountSid", &v.account_sid);
    el(out, "From", &v.from);
    el(out, "To", &v.to);
    el(out, "Body", &v.body);
    el(out, "Status", v.status);
    el(out, "Direction", "outbound-api");
    if let Some((code, text)) = v.error {
        out.push_str(&format!(
            "{indent}  <Error>\n{indent}    <ErrorCode>{code}</ErrorCode>\n{indent}    <ErrorMessage>{}</ErrorMessage>\n{indent}  </Error>\n",
            esc(text)
        ));
    }
    el(out, "Price", "0");
    el(out, "PriceUnit", "USD");
    el(out, "ApiVersion", &v.api_version);
    el(out, "Uri", &v.uri());
    out.push_str(&format!("{indent}</SMSMessage>\n"));
}

/// `<RestcommResponse><SMSMessage>…</SMSMessage></RestcommResponse>`.
pub(super) fn sms_xml(v: &SmsView) -> String {
    let mut out = String::from("<RestcommResponse>\n");
    sms_xml_into(&mut out, v, "  ");
    out.push_str("</RestcommResponse>\n");
    out
}

/// `<RestcommResponse><SMSMessages>…</SMSMessages></RestcommResponse>`, no paging attributes.
pub(super) fn list_xml(views: &[SmsView]) -> String {
    let mut out = String::from("<RestcommResponse>\n  <SMSMessages>\n");
    for v in views {
        sms_xml_into(&mut out, v, "    ");
    }
    out.push_str("  </SMSMessages>\n</RestcommResponse>\n");
    out
}

/// The limit hook's refusal, `AbstractEndpoint.buildErrorResponseBody`.
pub(super) fn limit_json() -> String {
    "{\"message\":\"Now allowed to create SmsSession\",\n\"error\":\"SMS_LIMIT_EXCEEDED\"}"
        .to_owned()
}

pub(super) fn limit_xml() -> String {
    "<RestcommResponse><Message>Now allowed to create SmsSession</Message><Error>SMS_LIMIT_EXCEEDED</Error></RestcommResponse>".to_owned()
}

/// Twilio's message resource: nulls present, `queued` first, 201 on create.
#[derive(Serialize)]
pub(super) struct TwilioJson {
    sid: String,
    date_created: String,
    date_updated: String,
    date_sent: Option<String>,
    account_sid: String,
    to: String,
    from: String,
    messaging_service_sid: Option<String>,
    body: String,
    status: &'static str,
    num_segments: &'static str,
    num_media: &'static str,
    direction: &'static str,
    api_version: String,
    price: Option<String>,
    price_unit: &'static str,
    error_code: Option<u32>,
    error_message: Option<&'static str>,
    uri: String,
}

pub(super) fn twilio_json(v: &SmsView) -> TwilioJson {
    let gmt = |t: &DateTime<Local>| {
        t.with_timezone(&chrono::Utc)
            .format("%a, %d %b %Y %H:%M:%S +0000")
            .to_string()
    };
    TwilioJson {
        sid: v.sid.clone(),
        date_created: gmt(&v.date_created),
        date_updated: gmt(&v.date_updated),
        date_sent: v.date_sent.as_ref().map(gmt),
        account_sid: v.account_sid.clone(),
        to: v.to.clone(),
        from: v.from.clone(),
        messaging_service_sid: None,
        body: v.body.clone(),
        status: if v.status == "sending" {
            "queued"
        } else {
            v.status
        },
        num_segments: "1",
        num_media: "0",
        direction: "outbound-api",
        api_version: v.api_version.clone(),
        price: None,
        price_unit: "USD",
        error_code: v.error.map(|e| e.0),
        error_message: v.error.map(|e| e.1),
        uri: format!(
            "/{}/Accounts/{}/Messages/{}.json",
            v.api_version, v.account_sid, v.sid
        ),
    }
}

/// Twilio's error body `{"code","message","more_info","status"}`.
pub(super) fn twilio_error(code: u32, message: &str, status: u16) -> String {
    serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
    .to_string()
}
