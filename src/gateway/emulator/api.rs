//! The SMS resource: create (Restcomm and Twilio dialects), read by SID,
//! and the paged list, with Restcomm's validation order and bodies.

use super::*;
pub(super) async fn api(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = route(&uri, &headers) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let account = match authenticate(&app, &headers) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    if route.account != account.sid {
        // InsufficientPermission: not this account's (no sub-accounts here).
        return empty(StatusCode::FORBIDDEN);
    }
    match (&method, &route.message, route.dialect) {
        (&Method::POST, None, Dialect::Restcomm) => {
            create_restcomm(&app, account, &route, &headers, &body)
        }
        (&Method::POST, None, Dialect::Twilio) => create_twilio(&app, account, &headers, &body),
        (&Method::GET, Some(sid), _) => get_one(&app, account, &route, sid),
        (&Method::GET, None, Dialect::Restcomm) => list(&app, account, &route, &uri),
        _ => empty(StatusCode::METHOD_NOT_ALLOWED),
    }
}

pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

pub(super) fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Stores an accepted message and announces it.
pub(super) fn accept(
    app: &App,
    account: &EmulatorAccount,
    from: &str,
    to: &str,
    body: &str,
    dialect: Dialect,
) -> SmsView {
    let stored = Stored {
        sid: format!("SM{:032x}", rand::random::<u128>()),
        account_sid: account.sid.clone(),
        from: from.to_owned(),
        to: to.to_owned(),
        body: body.to_owned(),
        created: Local::now(),
        created_at: Instant::now(),
        ending: app
            .unreachable
            .iter()
            .find(|r| r.matches(to))
            .map(|r| r.ending),
        dialect,
        manual_steps: 0,
    };
    let view = stored.view(&app.progression);
    let message = stored.inbox();
    lock(&app.store).push(stored);
    let _ = app.inbox_tx.send(message);
    view
}

pub(super) fn over_limit(app: &App, account: &EmulatorAccount) -> bool {
    account.sms_limit.is_some_and(|limit| {
        lock(&app.store)
            .iter()
            .filter(|m| m.account_sid == account.sid)
            .count()
            >= limit
    })
}

pub(super) fn create_restcomm(
    app: &App,
    account: &EmulatorAccount,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !is_form(headers) {
        return empty(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let form = form(body);
    // Presence only, in this order; an empty value passes (API.md §1).
    for name in ["From", "To", "Body"] {
        if field(&form, name).is_none() {
            return negotiated(
                StatusCode::BAD_REQUEST,
                route.json,
                format!("{name} can not be null."),
            );
        }
    }
    if over_limit(app, account) {
        let body = if route.json {
            render::limit_json()
        } else {
            render::limit_xml()
        };
        return negotiated(StatusCode::FORBIDDEN, route.json, body);
    }
    let get = |n| field(&form, n).unwrap_or_default();
    let view = accept(
        app,
        account,
        get("From"),
        get("To"),
        get("Body"),
        Dialect::Restcomm,
    );
    if route.json {
        negotiated(
            StatusCode::OK,
            true,
            render::to_json(&render::sms_json(&view)),
        )
    } else {
        negotiated(StatusCode::OK, false, render::sms_xml(&view))
    }
}

pub(super) fn create_twilio(
    app: &App,
    account: &EmulatorAccount,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let error = |code, msg: &str| {
        with_type(
            StatusCode::BAD_REQUEST,
            "application/json",
            render::twilio_error(code, msg, 400),
        )
    };
    if !is_form(headers) {
        return with_type(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
            render::twilio_error(20415, "Unsupported Media Type", 415),
        );
    }
    let form = form(body);
    let (Some(to), Some(from), Some(text)) = (
        field(&form, "To"),
        field(&form, "From"),
        field(&form, "Body"),
    ) else {
        return error(21604, "A 'To', 'From' and 'Body' are required.");
    };
    if to.is_empty() {
        return error(21604, "A 'To' phone number is required.");
    }
    if over_limit(app, account) {
        return with_type(
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            render::twilio_error(20429, "Too Many Requests", 429),
        );
    }
    let view = accept(app, account, from, to, text, Dialect::Twilio);
    with_type(
        StatusCode::CREATED,
        "application/json",
        render::to_json(&render::twilio_json(&view)),
    )
}

pub(super) fn get_one(app: &App, account: &EmulatorAccount, route: &Route, sid: &str) -> Response {
    let well_formed = sid.len() == 34 && sid.bytes().all(|b| b.is_ascii_alphanumeric());
    if route.dialect == Dialect::Restcomm && !well_formed {
        // `new Sid(..)` throws outside any handler: 500.
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let view = {
        let store = lock(&app.store);
        store
            .iter()
            .find(|m| m.sid == sid)
            .map(|m| (m.account_sid == account.sid, m.view(&app.progression)))
    };
    match (view, route.dialect) {
        (None, Dialect::Restcomm) => empty(StatusCode::NOT_FOUND),
        (None, Dialect::Twilio) => with_type(
            StatusCode::NOT_FOUND,
            "application/json",
            render::twilio_error(20404, "The requested resource was not found", 404),
        ),
        (Some((false, _)), _) => empty(StatusCode::FORBIDDEN),
        (Some((true, v)), Dialect::Twilio) => with_type(
            StatusCode::OK,
            "application/json",
            render::to_json(&render::twilio_json(&v)),
        ),
        (Some((true, v)), Dialect::Restcomm) if route.json => {
            negotiated(StatusCode::OK, true, render::to_json(&render::sms_json(&v)))
        }
        (Some((true, v)), Dialect::Restcomm) => {
            negotiated(StatusCode::OK, false, render::sms_xml(&v))
        }
    }
}

pub(super) fn list(app: &App, account: &EmulatorAccount, route: &Route, uri: &Uri) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let number = |name: &str, default: u64| match field(&query, name) {
        None => Some(default),
        Some(v) => v.trim().parse::<u64>().ok(),
    };
    let (Some(page), Some(page_size)) = (number("Page", 0), number("PageSize", 50)) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    if page_size == 0 {
        return empty(StatusCode::BAD_REQUEST);
    }
    let all: Vec<SmsView> = lock(&app.store)
        .iter()
        .filter(|m| m.account_sid == account.sid && m.dialect == Dialect::Restcomm)
        .map(|m| m.view(&app.progression))
        .collect();
    let total = all.len() as u64;
    let num_pages = total / page_size;
    if page > num_pages {
        return empty(StatusCode::BAD_REQUEST);
    }
    let start = page * page_size;
    let views: Vec<SmsView> = all
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(page_size).unwrap_or(usize::MAX))
        .collect();
    if !route.json {
        return negotiated(StatusCode::OK, false, render::list_xml(&views));
    }
    let end = start + (views.len() as u64).saturating_sub(1);
    // The fixture (2015 docs) shows the request path as sent, `.json` kept.
    let base = uri.path().to_owned();
    let page_uri = |p: u64| format!("{base}?Page={p}&PageSize={page_size}");
    let next = if start + page_size < total {
        let after = views.last().map(|v| v.sid.clone()).unwrap_or_default();
        format!("{}&AfterSid={after}", page_uri(page + 1))
    } else {
        "null".to_owned()
    };
    let envelope = render::ListJson {
        page,
        num_pages,
        page_size,
        total,
        start: start.to_string(),
        end: end.to_string(),
        uri: base.clone(),
        first_page_uri: page_uri(0),
        previous_page_uri: if page == 0 {
            "null".to_owned()
        } else {
            page_uri(page - 1)
        },
        next_page_uri: next,
        last_page_uri: page_uri(num_pages),
        messages: views.iter().map(render::sms_json).collect(),
    };
    negotiated(StatusCode::OK, true, render::to_json(&envelope))
}
