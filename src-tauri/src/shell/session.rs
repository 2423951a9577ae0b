//! Who is at the desk. The desk starts signed out; the operator signs in with
//! a staff ID and name (prefilled with the last one used, or the OS user).
//! "Lock", or no activity for the lock interval, signs them out: customer
//! details leave the screen until someone signs in again. Every command that
//! touches a customer requires a signed-in operator, so the lock is enforced
//! here, not in the window. A sign-out, whoever asked for it, is audited
//! and told to the window here (`lock`, `record_lock`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use countersign::audit::AuditEvent;
use countersign::clock::Clock;
use countersign::verification::Operator;
use tauri::{AppHandle, Emitter, Runtime};

use super::{events, Shell};
use crate::error::{IpcError, IpcResult};

pub(crate) const DEFAULT_LOCK_AFTER: Duration = Duration::from_secs(5 * 60);

pub(crate) struct Session {
    inner: Mutex<Inner>,
    lock_after: Duration,
}

struct Inner {
    operator: Option<Operator>,
    last_activity: Instant,
}

impl Session {
    pub(crate) fn new(lock_after: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                operator: None,
                last_activity: Instant::now(),
            }),
            lock_after,
        }
    }

    pub(crate) fn lock_after(&self) -> Duration {
        self.lock_after
    }

    /// The signed-in operator, and a note that they are active.
    pub(crate) fn require_operator(&self) -> IpcResult<Operator> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| IpcError::internal("session lock poisoned"))?;
        let operator = inner.operator.clone().ok_or(IpcError::DeskLocked)?;
        inner.last_activity = Instant::now();
        Ok(operator)
    }

    pub(crate) fn current(&self) -> Option<Operator> {
        self.inner.lock().ok().and_then(|i| i.operator.clone())
    }

    pub(crate) fn sign_in(&self, operator: Operator) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.operator = Some(operator);
            inner.last_activity = Instant::now();
        }
    }

    /// Signs out; returns who was signed in, if anyone.
    pub(crate) fn lock(&self) -> Option<Operator> {
        self.inner.lock().ok().and_then(|mut i| i.operator.take())
    }

    /// The operator is still there (typing, reading a card).
    pub(crate) fn touch(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.last_activity = Instant::now();
        }
    }

    /// Signs out if nobody did anything for the lock interval; returns who
    /// was signed out.
    pub(crate) fn lock_if_idle(&self, now: Instant) -> Option<Operator> {
        let mut inner = self.inner.lock().ok()?;
        if inner.operator.is_some() && now.duration_since(inner.last_activity) >= self.lock_after {
            return inner.operator.take();
        }
        None
    }
}

/// Signs the operator out, if anyone is signed in, and records why.
pub(crate) fn lock<R: Runtime>(app: &AppHandle<R>, shell: &Shell, why: &str) {
    if let Some(operator) = shell.session.lock() {
        record_lock(app, shell, operator, why);
    }
}

/// Audits a sign-out (Lock or inactivity) under the operator who was
/// signed in, and tells the window to clear itself.
pub(crate) fn record_lock<R: Runtime>(
    app: &AppHandle<R>,
    shell: &Shell,
    operator: Operator,
    why: &str,
) {
    shell.audit(AuditEvent::operator_locked(
        shell.clock.now(),
        &operator,
        why,
    ));
    let _ = app.emit(events::DESK_LOCKED, why);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Operator {
        Operator::signed_in("S1234", "Sam Teller").unwrap()
    }

    #[test]
    fn the_desk_starts_locked_and_refuses_customer_work() {
        let s = Session::new(DEFAULT_LOCK_AFTER);
        assert_eq!(s.require_operator().unwrap_err().kind(), "desk_locked");
        s.sign_in(op());
        assert_eq!(s.require_operator().unwrap(), op());
    }

    #[test]
    fn idleness_locks_only_after_the_interval_and_activity_resets_it() {
        let s = Session::new(Duration::from_secs(300));
        s.sign_in(op());
        let start = Instant::now();
        assert_eq!(s.lock_if_idle(start + Duration::from_secs(299)), None);
        assert_eq!(s.lock_if_idle(start + Duration::from_secs(301)), Some(op()));
        assert!(s.current().is_none());
    }
}
