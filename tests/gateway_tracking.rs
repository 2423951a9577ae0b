//! Delivery tracking on a virtual clock: against the emulator over loopback,
//! and against a scripted gateway for the polling schedule.

mod gateway_support;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use countersign::gateway::emulator::EmulatorHandle;
use countersign::gateway::tracking::{track, Sleeper, TrackingEnd, TrackingPolicy};
use countersign::gateway::{
    DeliveryReport, DeliveryStatus, Gateway, GatewayError, MessageError, MessageSid, OutboundSms,
    SendReceipt,
};
use gateway_support::*;

/// Virtual time; every `step_every`-th sleep moves the emulator's message one
/// step on, so the statuses seen do not depend on real time.
struct SteppingSleeper<'a> {
    em: Option<(&'a EmulatorHandle, String)>,
    step_every: u32,
    state: Mutex<(Duration, u32)>,
    slept: Mutex<Vec<Duration>>,
    real_pause: Duration,
}

impl<'a> SteppingSleeper<'a> {
    fn new(em: Option<(&'a EmulatorHandle, String)>, step_every: u32) -> Self {
        Self {
            em,
            step_every,
            state: Mutex::new((Duration::ZERO, 0)),
            slept: Mutex::new(Vec::new()),
            real_pause: Duration::ZERO,
        }
    }
}

impl Sleeper for SteppingSleeper<'_> {
    fn now(&self) -> Duration {
        self.state.lock().unwrap().0
    }

    fn sleep(&self, d: Duration) -> impl std::future::Future<Output = ()> + Send {
        {
            let mut s = self.state.lock().unwrap();
            s.0 += d;
            s.1 += 1;
            if self.step_every > 0 && s.1.is_multiple_of(self.step_every) {
                if let Some((em, sid)) = &self.em {
                    em.advance(sid);
                }
            }
        }
        self.slept.lock().unwrap().push(d);
        let pause = self.real_pause;
        async move {
            if pause.is_zero() {
                tokio::task::yield_now().await
            } else {
                tokio::time::sleep(pause).await
            }
        }
    }
}

async fn tracked(
    em: &EmulatorHandle,
    to: &str,
    step_every: u32,
) -> (Vec<DeliveryStatus>, TrackingEnd) {
    let c = client(em);
    let receipt = c.send(&sms(to, "code 123456")).await.unwrap();
    let sleeper = SteppingSleeper::new(Some((em, receipt.sid.to_string())), step_every);
    let mut seen = Vec::new();
    let end = track(
        &c,
        &receipt.sid,
        &TrackingPolicy::default(),
        &sleeper,
        |s| seen.push(s),
    )
    .await;
    (seen, end)
}

#[tokio::test]
async fn reports_sending_sent_delivered_once_each() {
    let em = manual_emulator().await;
    // Steps on every 3rd sleep, so each status is read more than once but
    // reported once.
    let (seen, end) = tracked(&em, TO, 3).await;
    assert_eq!(
        seen,
        [
            DeliveryStatus::Sending,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    assert_eq!(end, TrackingEnd::Final(DeliveryStatus::Delivered));
    assert!(em.requests().len() > 4, "statuses were read repeatedly");
}

#[tokio::test]
async fn unreachable_number_ends_failed_with_30003() {
    let em = manual_emulator().await;
    let (seen, end) = tracked(&em, UNREACHABLE_FAILED, 2).await;
    let failed = DeliveryStatus::Failed {
        error: Some(MessageError(30003)),
    };
    assert_eq!(seen, [DeliveryStatus::Sending, failed.clone()]);
    assert_eq!(end, TrackingEnd::Final(failed.clone()));
    assert_eq!(failed.describe(), "Failed: Unreachable destination handset");
}

#[tokio::test]
async fn unknown_number_ends_undelivered_with_30005() {
    let em = manual_emulator().await;
    let (seen, end) = tracked(&em, UNREACHABLE_UNDELIVERED, 2).await;
    let undelivered = DeliveryStatus::Undelivered {
        error: Some(MessageError(30005)),
    };
    assert_eq!(
        seen,
        [
            DeliveryStatus::Sending,
            DeliveryStatus::Sent,
            undelivered.clone()
        ]
    );
    assert_eq!(end, TrackingEnd::Final(undelivered));
}

#[tokio::test]
async fn follows_the_timed_progression() {
    // Real progression (tens of ms); tiny real pauses. Which intermediate
    // statuses are caught depends on scheduling, so only order is asserted.
    let em = emulator().await;
    let c = client(&em);
    let receipt = c.send(&sms(TO, "code")).await.unwrap();
    let mut sleeper = SteppingSleeper::new(None, 0);
    sleeper.real_pause = Duration::from_millis(5);
    let mut seen = Vec::new();
    let policy = TrackingPolicy {
        give_up_after: Duration::from_secs(24 * 3600),
        ..TrackingPolicy::default()
    };
    let end = track(&c, &receipt.sid, &policy, &sleeper, |s| seen.push(s)).await;
    assert_eq!(end, TrackingEnd::Final(DeliveryStatus::Delivered));
    let order = [
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
    ];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&DeliveryStatus::Delivered));
}

#[tokio::test]
async fn gives_up_after_the_limit_without_flooding() {
    let em = manual_emulator().await;
    let c = client(&em);
    let receipt = c.send(&sms(TO, "code")).await.unwrap();
    let sleeper = SteppingSleeper::new(None, 0);
    let policy = TrackingPolicy {
        first_interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(8),
        max_polls_per_minute: 30,
        give_up_after: Duration::from_secs(120),
    };
    let mut seen = Vec::new();
    let end = track(&c, &receipt.sid, &policy, &sleeper, |s| seen.push(s)).await;
    assert_eq!(
        end,
        TrackingEnd::GaveUp {
            last: Some(DeliveryStatus::Sending)
        }
    );
    assert_eq!(seen, [DeliveryStatus::Sending]);
    let slept = sleeper.slept.lock().unwrap().clone();
    assert_eq!(slept.iter().sum::<Duration>(), Duration::from_secs(120));
    // Never faster than 30 a minute (2 s), never slower than max_interval,
    // except the last wait, cut short at the limit.
    let (last, all_but_last) = slept.split_last().unwrap();
    assert!(all_but_last
        .iter()
        .all(|d| *d >= Duration::from_secs(2) && *d <= Duration::from_secs(8)));
    assert!(*last <= Duration::from_secs(8));
    assert!(
        all_but_last.windows(2).all(|w| w[0] <= w[1]),
        "backs off: {slept:?}"
    );
    assert_eq!(
        em.requests().len() - 1,
        slept.len(),
        "one status read per wait"
    );
}

#[tokio::test]
async fn unknown_message_ends_with_the_error() {
    let em = manual_emulator().await;
    let c = client(&em);
    let sid = MessageSid::parse("SM11111111111111111111111111111111").unwrap();
    let sleeper = SteppingSleeper::new(None, 0);
    let mut seen = Vec::new();
    let end = track(&c, &sid, &TrackingPolicy::default(), &sleeper, |s| {
        seen.push(s)
    })
    .await;
    assert_eq!(end, TrackingEnd::Error(GatewayError::NotFound));
    assert!(seen.is_empty());
}

/// A gateway that answers from a script.
struct Scripted(Mutex<VecDeque<Result<DeliveryStatus, GatewayError>>>);

impl Gateway for Scripted {
    async fn send(&self, _sms: &OutboundSms) -> Result<SendReceipt, GatewayError> {
        unreachable!("tracking never sends")
    }

    async fn status(&self, sid: &MessageSid) -> Result<DeliveryReport, GatewayError> {
        let next = self
            .0
            .lock()
            .unwrap()
            .pop_front()
            .expect("script long enough");
        next.map(|status| DeliveryReport {
            sid: sid.clone(),
            status,
        })
    }
}

#[tokio::test]
async fn transient_errors_are_skipped_and_the_interval_grows_to_its_cap() {
    let gw = Scripted(Mutex::new(VecDeque::from([
        Ok(DeliveryStatus::Sending),
        Err(GatewayError::Timeout),
        Ok(DeliveryStatus::Sending),
        Err(GatewayError::ConnectionDropped),
        Ok(DeliveryStatus::Sent),
        Ok(DeliveryStatus::Sent),
        Ok(DeliveryStatus::Sent),
        Ok(DeliveryStatus::Delivered),
    ])));
    let sid = MessageSid::parse("SMx1").unwrap();
    let sleeper = SteppingSleeper::new(None, 0);
    let policy = TrackingPolicy {
        first_interval: Duration::from_secs(2),
        max_interval: Duration::from_secs(5),
        max_polls_per_minute: 60,
        give_up_after: Duration::from_secs(600),
    };
    let mut seen = Vec::new();
    let end = track(&gw, &sid, &policy, &sleeper, |s| seen.push(s)).await;
    assert_eq!(end, TrackingEnd::Final(DeliveryStatus::Delivered));
    assert_eq!(
        seen,
        [
            DeliveryStatus::Sending,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    let ms: Vec<u128> = sleeper
        .slept
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(ms, [2000, 3000, 4500, 5000, 5000, 5000, 5000, 5000]);
}

#[tokio::test]
async fn a_refusal_other_than_transient_ends_tracking() {
    let gw = Scripted(Mutex::new(VecDeque::from([Err(
        GatewayError::Unauthorized,
    )])));
    let sid = MessageSid::parse("SMx1").unwrap();
    let sleeper = SteppingSleeper::new(None, 0);
    let end = track(&gw, &sid, &TrackingPolicy::default(), &sleeper, |_| {}).await;
    assert_eq!(end, TrackingEnd::Error(GatewayError::Unauthorized));
}
