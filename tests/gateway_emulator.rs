//! The emulator held to API.md and the verbatim fixtures, over raw HTTP.

mod gateway_support;

use std::collections::BTreeMap;

use chrono::DateTime;
use countersign::gateway::emulator::EmulatorHandle;
use gateway_support::*;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/restcomm");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture present")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn messages_url(em: &EmulatorHandle, suffix: &str) -> String {
    format!(
        "{}/2012-04-24/Accounts/{SID}/SMS/Messages{suffix}",
        em.base_url()
    )
}

async fn post(
    em: &EmulatorHandle,
    suffix: &str,
    user: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(messages_url(em, suffix))
        .basic_auth(user, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

const FORM: &[(&str, &str)] = &[("From", SENDER), ("To", TO), ("Body", "hello")];

/// The JSON type of each key, recursively for objects in arrays.
fn shape(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Value::Object(o) = v {
        for (k, v) in o {
            let t = match v {
                Value::Null => "null".to_owned(),
                Value::Bool(_) => "bool".to_owned(),
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer".to_owned(),
                Value::Number(_) => "float".to_owned(),
                Value::String(_) => "string".to_owned(),
                Value::Array(items) => {
                    for item in items {
                        for (ik, it) in shape(item) {
                            out.insert(format!("{k}[].{ik}"), it);
                        }
                    }
                    "array".to_owned()
                }
                Value::Object(_) => "object".to_owned(),
            };
            out.insert(k.clone(), t);
        }
    }
    out
}

fn assert_restcomm_dates(v: &Value) {
    let fmt = "%a, %d %b %Y %H:%M:%S %z";
    for key in ["date_created", "date_updated"] {
        let s = v[key].as_str().unwrap();
        DateTime::parse_from_str(s, fmt).unwrap_or_else(|e| panic!("{key} {s:?}: {e}"));
    }
    if let Some(s) = v.get("date_sent").and_then(Value::as_str) {
        DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("date_sent {s:?}: {e}"));
        assert_eq!(s.len(), "2015-11-19T07:21:24.000-05:00".len());
    }
}

#[tokio::test]
async fn json_matches_the_fixtures_key_for_key_and_type_for_type() {
    let em = manual_emulator().await;

    // POST response vs sms-create-response.json.
    let resp = post(&em, ".json", SID, TOKEN, FORM).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let created: Value = resp.json().await.unwrap();
    let want: Value = serde_json::from_str(&fixture("sms-create-response.json")).unwrap();
    assert_eq!(shape(&created), shape(&want));
    assert_eq!(created["status"], "sending");
    assert_eq!(created["direction"], "outbound-api");
    assert_eq!(created["price"], "0");
    assert_eq!(created["price_unit"], "USD");
    assert_eq!(created["api_version"], "2012-04-24");
    assert_eq!(created["to"], TO);
    let sid = created["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SM") && sid.len() == 34);
    assert!(sid[2..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Current code: no `/restcomm` prefix (the 2015 fixture shows one).
    assert_eq!(
        created["uri"],
        format!("/2012-04-24/Accounts/{SID}/SMS/Messages/{sid}.json")
    );
    assert_restcomm_dates(&created);
    assert_restcomm_dates(&want);

    // GET once sent vs sms-get-by-sid-response.json (which has date_sent).
    em.advance(&sid);
    let got: Value = http()
        .get(format!("{}/{sid}.json", messages_url(&em, "")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: Value = serde_json::from_str(&fixture("sms-get-by-sid-response.json")).unwrap();
    assert_eq!(shape(&got), shape(&want));
    assert_eq!(got["status"], "sent");
    assert_restcomm_dates(&got);
    assert_restcomm_dates(&want);

    // The list envelope vs sms-list-pagesize1-response.json.
    post(&em, ".json", SID, TOKEN, FORM).await;
    let list: Value = http()
        .get(format!("{}?PageSize=1", messages_url(&em, ".json")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: Value = serde_json::from_str(&fixture("sms-list-pagesize1-response.json")).unwrap();
    // Deliberate difference: the fixture's message is an old inbound one
    // without `date_sent`; ours (sent) has it. Compare without that key.
    let mut ours = shape(&list);
    assert_eq!(
        ours.remove("messages[].date_sent").as_deref(),
        Some("string")
    );
    assert_eq!(ours, shape(&want));
}

#[tokio::test]
async fn error_keys_appear_only_once_an_error_is_set() {
    let em = manual_emulator().await;
    let form = [("From", SENDER), ("To", UNREACHABLE_FAILED), ("Body", "x")];
    let created: Value = post(&em, ".json", SID, TOKEN, &form)
        .await
        .json()
        .await
        .unwrap();
    assert!(created.get("error_code").is_none() && created.get("error_message").is_none());
    assert!(created.get("date_sent").is_none(), "null keys are omitted");
    let sid = created["sid"].as_str().unwrap();
    em.advance(sid);
    let got: Value = http()
        .get(format!("{}/{sid}.json", messages_url(&em, "")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Deliberate difference from the fixtures: they carry no error, so these
    // two keys (integer, string) are extra here.
    assert_eq!(got["status"], "failed");
    assert_eq!(got["error_code"], 30003);
    assert_eq!(got["error_message"], "Unreachable destination handset");
    let mut s = shape(&got);
    assert_eq!(s.remove("error_code").as_deref(), Some("integer"));
    assert_eq!(s.remove("error_message").as_deref(), Some("string"));
    let want: Value = serde_json::from_str(&fixture("sms-create-response.json")).unwrap();
    assert_eq!(s, shape(&want));

    // XML carries <Error><ErrorCode/><ErrorMessage/></Error> after Direction.
    let xml = http()
        .get(format!("{}/{sid}", messages_url(&em, "")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names = element_names(&xml);
    let at = names.iter().position(|n| n == "Error").unwrap();
    assert_eq!(names[at - 1], "Direction");
    assert_eq!(names[at + 1..at + 3], ["ErrorCode", "ErrorMessage"]);
    assert!(xml.contains("<ErrorCode>30003</ErrorCode>"));
}

/// Names of the start (and empty) elements, in document order.
fn element_names(xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                out.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Ok(Event::Eof) => break,
            Err(e) => panic!("bad XML: {e}\n{xml}"),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn xml_without_suffix_json_with_suffix_or_accept() {
    let em = emulator().await;
    // No suffix, reqwest's default `Accept: */*` (like curl): XML.
    let resp = post(&em, "", SID, TOKEN, FORM).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    let xml = resp.text().await.unwrap();
    // The fixture lacks its closing tag (doc snippet); ours is well-formed.
    let want = format!("{}</RestcommResponse>", fixture("sms-create-response.xml"));
    assert_eq!(element_names(&xml), element_names(&want));
    assert!(xml.contains("<DateSent/>"));
    assert!(xml.contains("<Status>sending</Status>"));
    assert!(xml.contains("<To>+447911123456</To>"));
    let uri_line = xml.lines().find(|l| l.contains("<Uri>")).unwrap();
    assert!(!uri_line.contains(".json"), "XML Uri has no .json");

    // No suffix, Accept containing json: JSON.
    let resp = http()
        .post(messages_url(&em, ""))
        .basic_auth(SID, Some(TOKEN))
        .header("Accept", "application/json")
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "sending");

    // GET without suffix: XML; with: JSON.
    let sid = v["sid"].as_str().unwrap();
    let xml = http()
        .get(format!("{}/{sid}", messages_url(&em, "")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.starts_with("<RestcommResponse>\n  <SMSMessage>"));
    let json: Value = http()
        .get(format!("{}/{sid}.json", messages_url(&em, "")))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["sid"], sid);
}

#[tokio::test]
async fn missing_fields_400_in_from_to_body_order() {
    let em = emulator().await;
    for (form, want) in [
        (vec![("Body", "x")], "From can not be null."),
        (vec![("From", SENDER), ("Body", "x")], "To can not be null."),
        (vec![("From", SENDER), ("To", TO)], "Body can not be null."),
    ] {
        let resp = post(&em, ".json", SID, TOKEN, &form).await;
        assert_eq!(resp.status(), 400);
        // Plain text even on .json, with the negotiated content type.
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.text().await.unwrap(), want);
    }
    // Presence only: an empty Body passes.
    let resp = post(
        &em,
        "",
        SID,
        TOKEN,
        &[("From", ""), ("To", TO), ("Body", "")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(em.inbox().len() == 1);
}

#[tokio::test]
async fn unauthorized_401_is_empty_with_the_realm() {
    let em = emulator().await;
    let no_auth = http()
        .post(messages_url(&em, ".json"))
        .form(FORM)
        .send()
        .await
        .unwrap();
    for resp in [
        no_auth,
        post(&em, ".json", SID, "wrong", FORM).await,
        post(&em, ".json", "ACnobody", TOKEN, FORM).await,
        post(&em, ".json", "friendly name", TOKEN, FORM).await,
    ] {
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"Restcomm realm\""
        );
        assert_eq!(resp.text().await.unwrap(), "");
    }
    assert!(em.inbox().is_empty());
}

#[tokio::test]
async fn md5_pre_image_and_email_authenticate() {
    let em = emulator().await;
    assert_eq!(post(&em, ".json", SID, PASSWORD, FORM).await.status(), 200);
    assert_eq!(post(&em, ".json", EMAIL, TOKEN, FORM).await.status(), 200);
    assert_eq!(
        post(&em, ".json", EMAIL, PASSWORD, FORM).await.status(),
        200
    );
    // The MD5 of the token is not the token.
    let md5_of_token = hex::encode(<md5::Md5 as md5::Digest>::digest(TOKEN.as_bytes()));
    assert_eq!(
        post(&em, ".json", SID, &md5_of_token, FORM).await.status(),
        401
    );
    assert_eq!(em.inbox().len(), 3);
}

#[tokio::test]
async fn forbidden_403_three_ways() {
    let em = emulator().await;
    // Valid credentials for another account than the path's: empty 403.
    let resp = post(&em, ".json", OTHER_SID, "othertoken", FORM).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.text().await.unwrap(), "");

    let inactive = format!(
        "{}/2012-04-24/Accounts/{INACTIVE_SID}/SMS/Messages.json",
        em.base_url()
    );
    let resp = http()
        .post(inactive)
        .basic_auth(INACTIVE_SID, Some("inactivetoken"))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.text().await.unwrap(), "Provided Account is not active");

    let limited = format!(
        "{}/2012-04-24/Accounts/{LIMITED_SID}/SMS/Messages",
        em.base_url()
    );
    let resp = http()
        .post(format!("{limited}.json"))
        .basic_auth(LIMITED_SID, Some("limitedtoken"))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.text().await.unwrap(),
        "{\"message\":\"Now allowed to create SmsSession\",\n\"error\":\"SMS_LIMIT_EXCEEDED\"}"
    );
    let resp = http()
        .post(limited)
        .basic_auth(LIMITED_SID, Some("limitedtoken"))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    assert_eq!(
        resp.text().await.unwrap(),
        "<RestcommResponse><Message>Now allowed to create SmsSession</Message><Error>SMS_LIMIT_EXCEEDED</Error></RestcommResponse>"
    );
    assert!(em.inbox().is_empty());
}

#[tokio::test]
async fn get_unknown_404_malformed_500_foreign_403() {
    let em = emulator().await;
    let get = |url: String, user: &'static str, secret: &'static str| {
        http().get(url).basic_auth(user, Some(secret)).send()
    };
    let base = messages_url(&em, "");
    let resp = get(
        format!("{base}/SM00000000000000000000000000000000.json"),
        SID,
        TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "");
    let resp = get(format!("{base}/SMshort.json"), SID, TOKEN)
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);

    // Another account's message, read through its own account path.
    let other: Value = http()
        .post(format!(
            "{}/2012-04-24/Accounts/{OTHER_SID}/SMS/Messages.json",
            em.base_url()
        ))
        .basic_auth(OTHER_SID, Some("othertoken"))
        .form(FORM)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = get(
        format!("{base}/{}.json", other["sid"].as_str().unwrap()),
        SID,
        TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn list_pages_with_page_and_pagesize() {
    let em = emulator().await;
    let mut sids = Vec::new();
    for i in 0..3 {
        let body = format!("m{i}");
        let v: Value = post(
            &em,
            ".json",
            SID,
            TOKEN,
            &[("From", SENDER), ("To", TO), ("Body", &body)],
        )
        .await
        .json()
        .await
        .unwrap();
        sids.push(v["sid"].as_str().unwrap().to_owned());
    }
    let list = |query: &'static str| {
        let url = format!("{}?{query}", messages_url(&em, ".json"));
        async move {
            http()
                .get(url)
                .basic_auth(SID, Some(TOKEN))
                .send()
                .await
                .unwrap()
        }
    };
    let path = format!("/restcomm/2012-04-24/Accounts/{SID}/SMS/Messages.json");

    let first: Value = list("Page=0&PageSize=1").await.json().await.unwrap();
    assert_eq!(first["page"], 0);
    assert_eq!(first["num_pages"], 3);
    assert_eq!(first["page_size"], 1);
    assert_eq!(first["total"], 3);
    assert_eq!(first["start"], "0");
    assert_eq!(first["end"], "0");
    assert_eq!(first["uri"], path);
    assert_eq!(first["first_page_uri"], format!("{path}?Page=0&PageSize=1"));
    assert_eq!(first["previous_page_uri"], "null");
    assert_eq!(
        first["next_page_uri"],
        format!("{path}?Page=1&PageSize=1&AfterSid={}", sids[0])
    );
    assert_eq!(first["last_page_uri"], format!("{path}?Page=3&PageSize=1"));
    assert_eq!(first["messages"].as_array().unwrap().len(), 1);
    assert_eq!(first["messages"][0]["sid"], sids[0].as_str());

    let last: Value = list("Page=2&PageSize=1").await.json().await.unwrap();
    assert_eq!(last["start"], "2");
    assert_eq!(last["end"], "2");
    assert_eq!(
        last["previous_page_uri"],
        format!("{path}?Page=1&PageSize=1")
    );
    assert_eq!(last["next_page_uri"], "null");
    assert_eq!(last["messages"][0]["sid"], sids[2].as_str());

    let all: Value = list("PageSize=2").await.json().await.unwrap();
    assert_eq!(all["num_pages"], 1);
    assert_eq!(all["start"], "0");
    assert_eq!(all["end"], "1");
    assert_eq!(all["messages"].as_array().unwrap().len(), 2);

    // Page beyond total/PageSize: 400, empty.
    let resp = list("Page=4&PageSize=1").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), "");

    // XML list: no paging attributes, one SMSMessage per message.
    let xml = http()
        .get(messages_url(&em, ""))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names = element_names(&xml);
    assert_eq!(names[..2], ["RestcommResponse", "SMSMessages"]);
    assert_eq!(names.iter().filter(|n| *n == "SMSMessage").count(), 3);
}

#[tokio::test]
async fn inbox_keeps_order_and_broadcasts() {
    let em = emulator().await;
    let mut rx = em.subscribe();
    for body in ["one", "two"] {
        post(
            &em,
            ".json",
            SID,
            TOKEN,
            &[("From", SENDER), ("To", TO), ("Body", body)],
        )
        .await;
    }
    let inbox = em.inbox();
    assert_eq!(
        inbox.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(rx.recv().await.unwrap(), inbox[0]);
    assert_eq!(rx.recv().await.unwrap(), inbox[1]);
}

#[tokio::test]
async fn api_prefix_and_unknown_paths() {
    let em = emulator().await;
    let api = format!(
        "{}/api/2012-04-24/Accounts/{SID}/SMS/Messages.json",
        em.root_url().as_str().trim_end_matches('/')
    );
    let resp = http()
        .post(api)
        .basic_auth(SID, Some(TOKEN))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let nowhere = format!(
        "{}other/2012-04-24/Accounts/{SID}/SMS/Messages.json",
        em.root_url()
    );
    let resp = http()
        .post(nowhere)
        .basic_auth(SID, Some(TOKEN))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn twilio_route_answers_201_queued_with_nulls() {
    let em = emulator().await;
    let resp = http()
        .post(format!(
            "{}2010-04-01/Accounts/{SID}/Messages.json",
            em.root_url()
        ))
        .basic_auth(SID, Some(TOKEN))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "queued");
    assert!(v["error_code"].is_null());
    assert_eq!(v["api_version"], "2010-04-01");
}

#[tokio::test]
async fn demo_config_and_shutdown() {
    let config = countersign::gateway::emulator::EmulatorConfig::demo();
    let sid = &config.accounts[0].sid;
    assert!(sid.starts_with("ACdemo") && sid.len() == 34);
    let em = countersign::gateway::emulator::start(config).await.unwrap();
    assert_eq!(em.local_addr().ip().to_string(), "127.0.0.1");
    let account = em.accounts()[0].clone();
    let resp = http()
        .post(format!(
            "{}/2012-04-24/Accounts/{}/SMS/Messages.json",
            em.base_url(),
            account.sid
        ))
        .basic_auth(&account.sid, Some(&account.token))
        .form(FORM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let addr = em.local_addr();
    em.shutdown();
    drop(em);
    // The listener closes once the server task sees the signal.
    let mut refused = false;
    for _ in 0..200 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(refused, "the emulator still accepts after shutdown");
}
