//! A Restcomm-compatible SMS gateway on loopback, for demo mode and tests.
//!
//! It follows `shared/restcomm/API.md` §1–§4: the `/restcomm/2012-04-24` (or
//! `/api/2012-04-24`) mount, Basic auth by SID or e-mail with the token or its
//! MD5 pre-image, the plain-text 400s in From/To/Body order, the empty 401
//! with its realm, the three 403s, the 404 on an unknown SID, JSON by `.json`
//! suffix or an `Accept` containing `json` (XML otherwise), `sending` →
//! `sent` → `delivered` by elapsed time, unreachable number ranges ending
//! `failed` (30003) or `undelivered` (30005), and the paged list. A
//! Twilio-compatible `/2010-04-01/Accounts/{sid}/Messages.json` answers 201
//! `queued`.
//!
//! [`Faults`] inject the failures a client must survive: canned answers, a
//! delay, a dropped connection, a malformed body. Every request is captured
//! ([`EmulatorHandle::requests`]) and every accepted message goes to the inbox
//! and its subscribers.
//!
//! Deliberate differences from Restcomm: no sub-accounts (any other account
//! SID in the path gets 403, where Restcomm gives 500 for an unknown one),
//! the `ApiVersion` form parameter and the list filters are ignored, and the
//! list is in the order messages were accepted.

mod render;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Local, Utc};
use hyper::service::Service as _;
use md5::{Digest as _, Md5};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch, Notify};
use url::Url;

use render::SmsView;

/// Restcomm's API version, the only one its servlet is mounted at.
pub const API_VERSION: &str = "2012-04-24";
/// The Twilio-compatible route's version.
pub const TWILIO_API_VERSION: &str = "2010-04-01";
/// The demo account's SID: `ACdemo` and 28 more letters and digits (34 in all).
pub const DEMO_ACCOUNT_SID: &str = "ACdemo0000000000000000000000000001";

/// An account the emulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorAccount {
    pub sid: String,
    /// The AuthToken (in Restcomm, the MD5 hex of the password). Clients may
    /// send it or any secret whose MD5 hex it is.
    pub token: String,
    /// Restcomm also takes the account's e-mail address as the Basic user.
    pub email: Option<String>,
    /// Not active = suspended/closed/inactive: 403 `Provided Account is not active`.
    pub active: bool,
    /// After this many accepted messages, 403 `SMS_LIMIT_EXCEEDED` (the
    /// extension hook's refusal). `None`: no limit.
    pub sms_limit: Option<usize>,
}

impl EmulatorAccount {
    /// An active account, no e-mail, no limit.
    pub fn new(sid: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            sid: sid.into(),
            token: token.into(),
            email: None,
            active: true,
            sms_limit: None,
        }
    }
}

/// When an accepted message moves on, counted from its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progression {
    pub to_sent: Duration,
    pub to_delivered: Duration,
}

impl Default for Progression {
    fn default() -> Self {
        Self {
            to_sent: Duration::from_millis(300),
            to_delivered: Duration::from_secs(1),
        }
    }
}

impl Progression {
    /// Never moves by itself: only [`EmulatorHandle::advance`] moves messages.
    pub fn manual() -> Self {
        let far = Duration::from_secs(365 * 24 * 3600);
        Self {
            to_sent: far,
            to_delivered: far,
        }
    }
}

/// How a message to an unreachable number ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `failed` with 30003 "Unreachable destination handset", at the `sent` step.
    Failed,
    /// `sent`, then `undelivered` with 30005 "Unknown destination handset".
    Undelivered,
}

impl Ending {
    fn error(self) -> (u32, &'static str) {
        match self {
            Self::Failed => (30003, "Unreachable destination handset"),
            Self::Undelivered => (30005, "Unknown destination handset"),
        }
    }
}

/// Numbers starting with `prefix` (compared on digits only, so `+4477…` and
/// `4477…` are the same) end as `ending` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreachableRange {
    pub prefix: String,
    pub ending: Ending,
}

impl UnreachableRange {
    pub fn new(prefix: impl Into<String>, ending: Ending) -> Self {
        Self {
            prefix: prefix.into(),
            ending,
        }
    }

    fn matches(&self, number: &str) -> bool {
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let prefix = digits(&self.prefix);
        !prefix.is_empty() && digits(number).starts_with(&prefix)
    }
}

#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub accounts: Vec<EmulatorAccount>,
    pub progression: Progression,
    pub unreachable: Vec<UnreachableRange>,
}

impl EmulatorConfig {
    /// One account ([`DEMO_ACCOUNT_SID`], a fresh random token), an ephemeral
    /// port, the default progression, and two unreachable UK numbers:
    /// `+447400000666` fails (30003), `+447400000777` is undelivered (30005).
    pub fn demo() -> Self {
        let token = hex::encode(rand::random::<[u8; 16]>());
        Self {
            port: 0,
            accounts: vec![EmulatorAccount::new(DEMO_ACCOUNT_SID, token)],
            progression: Progression::default(),
            unreachable: vec![
                UnreachableRange::new("+447400000666", Ending::Failed),
                UnreachableRange::new("+447400000777", Ending::Undelivered),
            ],
        }
    }
}

/// A message the emulator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessage {
    pub sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// One HTTP request as it arrived, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body, decoded lossily as UTF-8 (still form-encoded).
    pub body: String,
}

impl CapturedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of a form field of the body.
    pub fn form_field(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A canned answer for [`Faults::answer_next`].
#[derive(Clone, Debug)]
struct Canned {
    status: u16,
    body: String,
}

#[derive(Default, Debug)]
struct FaultState {
    canned: VecDeque<Canned>,
    delays: VecDeque<Duration>,
    drops: usize,
    cuts: usize,
    malformed: usize,
}

/// Failure knobs, shared and thread-safe. Each knob applies to the next N
/// requests that reach the emulator (any route), in arrival order. One
/// request may meet several: first the delay, then a drop, then a malformed
/// body or a cut-off answer, then a canned answer.
#[derive(Default, Debug)]
pub struct Faults {
    state: Mutex<FaultState>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `count` requests answer `status` with `body` (content type
    /// guessed: `{` JSON, `<` XML, else plain text), whatever they asked.
    pub fn answer_next(&self, count: usize, status: u16, body: impl Into<String>) {
        let body = body.into();
        let mut s = self.lock();
        for _ in 0..count {
            s.canned.push_back(Canned {
                status,
                body: body.clone(),
            });
        }
    }

    /// The next `count` requests wait `delay` before being handled.
    pub fn delay_next(&self, count: usize, delay: Duration) {
        let mut s = self.lock();
        s.delays.extend(std::iter::repeat_n(delay, count));
    }

    /// The next `count` requests get no answer: the connection is closed.
    pub fn drop_next(&self, count: usize) {
        self.lock().drops += count;
    }

    /// The next `count` requests get 200 and the start of a body, then the
    /// connection closes mid-answer (the declared length is never reached).
    pub fn cut_next(&self, count: usize) {
        self.lock().cuts += count;
    }

    /// The next `count` requests get 200 with a truncated JSON body.
    pub fn malformed_next(&self, count: usize) {
        self.lock().malformed += count;
    }

    /// Disarms every knob.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Restcomm,
    Twilio,
}

struct Stored {
    sid: String,
    account_sid: String,
    from: String,
    to: String,
    body: String,
    created: DateTime<Local>,
    created_at: Instant,
    ending: Option<Ending>,
    dialect: Dialect,
    /// Steps added by [`EmulatorHandle::advance`], on top of elapsed time.
    manual_steps: u8,
}

impl Stored {
    fn view(&self, p: &Progression) -> SmsView {
        let elapsed = self.created_at.elapsed();
        let timed = if elapsed >= p.to_delivered {
            2
        } else if elapsed >= p.to_sent {
            1
        } else {
            0
        };
        let step = timed.max(self.manual_steps).min(2);
        let at = |d: Duration| self.created + chrono::Duration::from_std(d).unwrap_or_default();
        let (status, error, sent) = match (step, self.ending) {
            (0, _) => ("sending", None, false),
            (1, None | Some(Ending::Undelivered)) => ("sent", None, true),
            (_, None) => ("delivered", None, true),
            (_, Some(Ending::Failed)) => ("failed", Some(Ending::Failed.error()), false),
            (_, Some(Ending::Undelivered)) => {
                ("undelivered", Some(Ending::Undelivered.error()), true)
            }
        };
        let updated = match step {
            0 => self.created,
            1 => at(p.to_sent.min(elapsed)),
            _ => at(p.to_delivered.min(elapsed)),
        };
        SmsView {
            sid: self.sid.clone(),
            date_created: self.created,
            date_updated: updated.max(self.created),
            date_sent: sent.then(|| at(p.to_sent.min(elapsed)).max(self.created)),
            account_sid: self.account_sid.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            body: self.body.clone(),
            status,
            error,
            api_version: match self.dialect {
                Dialect::Restcomm => API_VERSION.to_owned(),
                Dialect::Twilio => TWILIO_API_VERSION.to_owned(),
            },
        }
    }

    fn inbox(&self) -> InboxMessage {
        InboxMessage {
            sid: self.sid.clone(),
            account_sid: self.account_sid.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            body: self.body.clone(),
            received_at: self.created.with_timezone(&Utc),
        }
    }
}

struct App {
    accounts: Vec<EmulatorAccount>,
    progression: Progression,
    unreachable: Vec<UnreachableRange>,
    store: Mutex<Vec<Stored>>,
    inbox_tx: broadcast::Sender<InboxMessage>,
    faults: Faults,
    requests: Mutex<Vec<CapturedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running emulator. Dropping it shuts the server down.
pub struct EmulatorHandle {
    app: Arc<App>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT/restcomm`: the client's base URL.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/restcomm", self.addr)).expect("valid URL")
    }

    /// `http://127.0.0.1:PORT/`: the base for the Twilio-compatible flavour.
    pub fn root_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("valid URL")
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn accounts(&self) -> &[EmulatorAccount] {
        &self.app.accounts
    }

    /// Every accepted message, oldest first.
    pub fn inbox(&self) -> Vec<InboxMessage> {
        lock(&self.app.store).iter().map(Stored::inbox).collect()
    }

    /// Accepted messages from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<InboxMessage> {
        self.app.inbox_tx.subscribe()
    }

    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        lock(&self.app.requests).clone()
    }

    /// Moves one message a step on (sending → sent → final) regardless of
    /// time. Returns false for an unknown SID.
    pub fn advance(&self, sid: &str) -> bool {
        let mut store = lock(&self.app.store);
        match store.iter_mut().find(|m| m.sid == sid) {
            Some(m) => {
                m.manual_steps = (m.manual_steps + 1).min(2);
                true
            }
            None => false,
        }
    }

    /// Stops accepting and closes open connections.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the emulator on 127.0.0.1 (never another interface).
pub async fn start(config: EmulatorConfig) -> io::Result<EmulatorHandle> {
    for a in &config.accounts {
        let ok =
            (2..=64).contains(&a.sid.len()) && a.sid.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok || a.token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "each account needs a SID of 2 to 64 letters and digits and a token",
            ));
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
    let addr = listener.local_addr()?;
    let (inbox_tx, _) = broadcast::channel(1024);
    let app = Arc::new(App {
        accounts: config.accounts,
        progression: config.progression,
        unreachable: config.unreachable,
        store: Mutex::new(Vec::new()),
        inbox_tx,
        faults: Faults::default(),
        requests: Mutex::new(Vec::new()),
    });
    let router = Router::new()
        .fallback(api)
        .layer(axum::middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app.clone());
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, router.clone()));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Dropping the JoinSet aborts the open connections.
    });
    Ok(EmulatorHandle { app, addr, stop })
}

/// Lets a request close its own connection without an answer.
#[derive(Clone)]
struct ConnectionKill(Arc<Notify>);

async fn serve_connection(stream: TcpStream, router: Router) {
    let kill = Arc::new(Notify::new());
    let svc = hyper_util::service::TowerToHyperService::new(router);
    let k = kill.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectionKill(k.clone()));
            svc.call(req)
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

/// Captures the request, then applies the armed faults.
async fn gate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 10_000_000).await else {
        // BodyLengthFilter: over 10,000,000 bytes.
        return empty(StatusCode::PAYLOAD_TOO_LARGE);
    };
    lock(&app.requests).push(CapturedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    let (delay, drop, malformed, cut, canned) = {
        let mut f = app.faults.lock();
        let delay = f.delays.pop_front();
        let drop = f.drops > 0;
        if drop {
            f.drops -= 1;
        }
        let malformed = !drop && f.malformed > 0;
        if malformed {
            f.malformed -= 1;
        }
        let cut = !drop && !malformed && f.cuts > 0;
        if cut {
            f.cuts -= 1;
        }
        let canned = if drop || malformed || cut {
            None
        } else {
            f.canned.pop_front()
        };
        (delay, drop, malformed, cut, canned)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if drop {
        if let Some(kill) = parts.extensions.get::<ConnectionKill>() {
            kill.0.notify_one();
        }
        return std::future::pending().await;
    }
    if malformed {
        return with_type(
            StatusCode::OK,
            "application/json",
            "{\"sid\": \"SM0123".to_owned(),
        );
    }
    if cut {
        // Declares more than it sends: hyper ends the body early and closes.
        let mut resp = with_type(
            StatusCode::OK,
            "application/json",
            "{\"sid\": \"SM0123".to_owned(),
        );
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
        return resp;
    }
    if let Some(c) = canned {
        let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = match c.body.trim_start().chars().next() {
            Some('{') => "application/json",
            Some('<') => "application/xml",
            _ => "text/plain",
        };
        let mut resp = with_type(status, kind, c.body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, realm());
        }
        return resp;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn realm() -> HeaderValue {
    HeaderValue::from_static("Basic realm=\"Restcomm realm\"")
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn negotiated(status: StatusCode, json: bool, body: String) -> Response {
    let kind = if json {
        "application/json"
    } else {
        "application/xml"
    };
    with_type(status, kind, body)
}

/// What a request asks for, after AcceptFilter-style `.json` stripping.
struct Route {
    dialect: Dialect,
    account: String,
    message: Option<String>,
    json: bool,
}

fn route(uri: &Uri, headers: &HeaderMap) -> Option<Route> {
    let path = uri.path();
    let suffix = path.contains(".json");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace(".json", ""))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let accept_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("json"));
    let json = suffix || accept_json;
    let (prefixed, rest) = match segs.split_first() {
        Some((&("restcomm" | "api"), rest)) => (true, rest),
        _ => (false, &segs[..]),
    };
    let r = |dialect, account: &str, message: Option<&str>| Route {
        dialect,
        account: account.to_owned(),
        message: message.map(str::to_owned),
        json,
    };
    match rest {
        [API_VERSION, "Accounts", ac, "SMS", "Messages"] if prefixed => {
            Some(r(Dialect::Restcomm, ac, None))
        }
        [API_VERSION, "Accounts", ac, "SMS", "Messages", sm] if prefixed => {
            Some(r(Dialect::Restcomm, ac, Some(sm)))
        }
        [TWILIO_API_VERSION, "Accounts", ac, "Messages"] => Some(r(Dialect::Twilio, ac, None)),
        [TWILIO_API_VERSION, "Accounts", ac, "Messages", sm] => {
            Some(r(Dialect::Twilio, ac, Some(sm)))
        }
        _ => None,
    }
}

fn md5_hex(secret: &str) -> String {
    hex::encode(Md5::digest(secret.as_bytes()))
}

/// Why [`authenticate`] refused.
enum AuthFailure {
    /// 401, empty, with the realm.
    Unauthorized,
    /// 403 `Provided Account is not active`.
    Inactive,
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, realm())],
            )
                .into_response(),
            Self::Inactive => with_type(
                StatusCode::FORBIDDEN,
                "text/plain",
                "Provided Account is not active".to_owned(),
            ),
        }
    }
}

/// SecurityFilter: Basic auth by e-mail (tried first) or SID, with the
/// token or its MD5 pre-image; then the account must be active.
fn authenticate<'a>(app: &'a App, headers: &HeaderMap) -> Result<&'a EmulatorAccount, AuthFailure> {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or(AuthFailure::Unauthorized)?;
    let (user, secret) = creds.split_once(':').ok_or(AuthFailure::Unauthorized)?;
    let account = app
        .accounts
        .iter()
        .find(|a| a.email.as_deref() == Some(user))
        .or_else(|| app.accounts.iter().find(|a| a.sid == user))
        .ok_or(AuthFailure::Unauthorized)?;
    if secret != account.token && md5_hex(secret) != account.token {
        return Err(AuthFailure::Unauthorized);
    }
    if !account.active {
        return Err(AuthFailure::Inactive);
    }
    Ok(account)
}

async fn api(
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

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Stores an accepted message and announces it.
fn accept(
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

fn over_limit(app: &App, account: &EmulatorAccount) -> bool {
    account.sms_limit.is_some_and(|limit| {
        lock(&app.store)
            .iter()
            .filter(|m| m.account_sid == account.sid)
            .count()
            >= limit
    })
}

fn create_restcomm(
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

fn create_twilio(
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

fn get_one(app: &App, account: &EmulatorAccount, route: &Route, sid: &str) -> Response {
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

fn list(app: &App, account: &EmulatorAccount, route: &Route, uri: &Uri) -> Response {
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
