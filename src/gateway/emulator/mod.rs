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

mod api;
mod config;
mod faults;
mod render;

use api::api;
pub use config::*;
pub use faults::{Faults, HeldSend};

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
    faults: Arc<Faults>,
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

    /// The knobs, for a test that hands the handle itself to the desk it
    /// drives (the desk keeps the emulator running; the test keeps these).
    pub fn shared_faults(&self) -> Arc<Faults> {
        self.app.faults.clone()
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
        faults: Arc::default(),
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
    let held = (parts.method == Method::POST)
        .then(|| app.faults.lock().held_sends.pop_front())
        .flatten();
    if let Some(slot) = held {
        let _ = slot
            .arrived
            .send(String::from_utf8_lossy(&bytes).into_owned());
        let _ = slot.release.await;
    }
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
