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

    /// Disarms every knob.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }
}
