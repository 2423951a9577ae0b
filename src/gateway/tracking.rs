//! Following a sent message until it is delivered, fails, or we stop caring.
//!
//! [`track`] polls [`Gateway::status`] with a growing interval, reports each
//! change of status once, and ends on a final status, on a non-transient
//! error, or after `give_up_after`. Time is injected through [`Sleeper`] so
//! tests run on a virtual clock.

use std::future::Future;
use std::time::Duration;

use super::{DeliveryStatus, Gateway, GatewayError, MessageSid};

/// How often and how long to poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackingPolicy {
    /// The wait before the first poll.
    pub first_interval: Duration,
    /// The interval grows by half each poll, up to this.
    pub max_interval: Duration,
    /// A ceiling on the polling rate; the interval never drops below
    /// 60 s / this (0 = no ceiling).
    pub max_polls_per_minute: u32,
    /// Stop polling this long after tracking started.
    pub give_up_after: Duration,
}

impl Default for TrackingPolicy {
    fn default() -> Self {
        Self {
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            max_polls_per_minute: 60,
            give_up_after: Duration::from_secs(10 * 60),
        }
    }
}

impl TrackingPolicy {
    fn floor(&self) -> Duration {
        match self.max_polls_per_minute {
            0 => Duration::ZERO,
            n => Duration::from_secs(60) / n,
        }
    }

    fn clamp(&self, interval: Duration) -> Duration {
        let floor = self.floor();
        interval.min(self.max_interval.max(floor)).max(floor)
    }
}

/// The clock and the sleep that tracking uses.
pub trait Sleeper: Send + Sync {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Real time, by tokio.
#[derive(Clone, Copy, Debug)]
pub struct TokioSleeper {
    origin: tokio::time::Instant,
}

impl Default for TokioSleeper {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Sleeper for TokioSleeper {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// Why tracking stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackingEnd {
    /// The message reached a final status (delivered, undelivered, failed).
    Final(DeliveryStatus),
    /// `give_up_after` passed first; `last` is the last status seen.
    GaveUp { last: Option<DeliveryStatus> },
    /// The gateway refused the status read (not a transient failure).
    Error(GatewayError),
}

/// Polls until a final status or the time limit, calling `on_change` once per
/// change of status (the first status read counts as a change). Transient
/// errors (already retried by the gateway) are skipped; others end tracking.
pub async fn track<G, S>(
    gateway: &G,
    sid: &MessageSid,
    policy: &TrackingPolicy,
    sleeper: &S,
    mut on_change: impl FnMut(DeliveryStatus),
) -> TrackingEnd
where
    G: Gateway + ?Sized,
    S: Sleeper + ?Sized,
{
    let start = sleeper.now();
    let mut interval = policy.clamp(policy.first_interval);
    let mut last: Option<DeliveryStatus> = None;
    loop {
        let spent = sleeper.now().saturating_sub(start);
        if spent >= policy.give_up_after {
            return TrackingEnd::GaveUp { last };
        }
        sleeper
            .sleep(interval.min(policy.give_up_after - spent))
            .await;
        match gateway.status(sid).await {
            Ok(report) => {
                if last.as_ref() != Some(&report.status) {
                    tracing::debug!(sid = %sid, status = ?report.status, "delivery status changed");
                    on_change(report.status.clone());
                    last = Some(report.status.clone());
                }
                if report.status.is_final() {
                    return TrackingEnd::Final(report.status);
                }
            }
            Err(e) if e.is_transient() => {
                tracing::debug!(sid = %sid, error = e.kind(), "status read failed; will poll again");
            }
            Err(e) => return TrackingEnd::Error(e),
        }
        interval = policy.clamp(interval.saturating_add(interval / 2));
    }
}
