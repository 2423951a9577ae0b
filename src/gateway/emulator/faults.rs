//! Failure knobs for tests: canned answers, delays, dropped and cut
//! connections, malformed bodies.

use super::*;
/// A canned answer for [`Faults::answer_next`].
#[derive(Clone, Debug)]
pub(super) struct Canned {
    pub(super) status: u16,
    pub(super) body: String,
}

#[derive(Default, Debug)]
pub(super) struct FaultState {
    pub(super) canned: VecDeque<Canned>,
    pub(super) delays: VecDeque<Duration>,
    pub(super) drops: usize,
    pub(super) cuts: usize,
    pub(super) malformed: usize,
    pub(super) held_sends: VecDeque<HoldSlot>,
}

/// The emulator's side of a [`HeldSend`].
#[derive(Debug)]
pub(super) struct HoldSlot {
    pub(super) arrived: std::sync::mpsc::Sender<String>,
    pub(super) release: tokio::sync::oneshot::Receiver<()>,
}

/// A send the emulator keeps waiting, so a test can run another command
/// while a send is in flight, in that order every time rather than when
/// the scheduler happens to allow it.
#[derive(Debug)]
pub struct HeldSend {
    arrived: std::sync::mpsc::Receiver<String>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

impl HeldSend {
    /// Blocks until the send has reached the emulator and is being held,
    /// and hands back its form body as sent (the SMS text in `Body`);
    /// `None` if it never will (the knobs were cleared, the emulator
    /// stopped) or has not within a minute: a command that was refused
    /// before sending must fail its test, not hang it.
    pub fn wait_until_held(&self) -> Option<String> {
        self.arrived.recv_timeout(Duration::from_secs(60)).ok()
    }

    /// Lets the held send be answered. Dropping the handle does too, so a
    /// failed test never leaves a connection hanging.
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

/// Failure knobs, shared and thread-safe. Each knob applies to the next N
/// requests that reach the emulator (any route), in arrival order. One
/// request may meet several: first the delay, then a drop, then a malformed
/// body or a cut-off answer, then a canned answer.
#[derive(Default, Debug)]
pub struct Faults {
    pub(super) state: Mutex<FaultState>,
}

impl Faults {
    pub(super) fn lock(&self) -> MutexGuard<'_, FaultState> {
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

    /// Holds the next send (the next POST) once it has arrived and been
    /// captured, until the returned handle releases it; then it is handled
    /// as usual, other knobs included. Status polls (GETs) pass.
    pub fn hold_next_send(&self) -> HeldSend {
        let (arrived_tx, arrived) = std::sync::mpsc::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        self.lock().held_sends.push_back(HoldSlot {
            arrived: arrived_tx,
            release: release_rx,
        });
        HeldSend {
            arrived,
            release: Some(release),
        }
    }

    /// Disarms every knob.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }
}
