//! The three states, and the packed state word that holds the state, the generation and
//! the "transition in progress" flag in one `u64`.

use std::fmt;

/// The state of a circuit breaker.
///
/// ```text
///            failures trip the policy
///   Closed ─────────────────────────────▶ Open
///     ▲                                    │ reset_timeout elapsed
///     │ max_requests successes             ▼
///     └──────────────────────────────── HalfOpen ──▶ Open (any failure)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls are admitted; failures are counted against the trip policy.
    Closed,
    /// Calls are rejected at once with [`BreakerError::Open`](crate::BreakerError::Open).
    Open,
    /// Up to `max_requests` probe calls are admitted; one failure re-opens the breaker,
    /// `max_requests` consecutive successes close it.
    HalfOpen,
}

impl State {
    /// A stable lowercase name: `closed`, `open` or `half-open`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }

    const fn bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const STATE_MASK: u64 = 0b0011;
const BUSY: u64 = 0b0100;
const HELD: u64 = 0b1000;
const GEN_SHIFT: u32 = 4;

/// The breaker's state word: `generation << 4 | held << 3 | busy << 2 | state`.
///
/// The generation (60 bits) identifies one period of counting; it never wraps in
/// practice. `busy` is set by the one caller that won the right to perform a transition
/// while it publishes the new generation's start time (a seqlock write), so readers never
/// see a generation paired with another generation's start time. `held` marks a state
/// forced by an operator (held open, or held closed), which only `reset` releases.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) const INITIAL: Word = Word(0);

    pub(crate) fn state(self) -> State {
        match self.0 & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            _ => State::HalfOpen,
        }
    }

    pub(crate) fn busy(self) -> bool {
        self.0 & BUSY != 0
    }

    pub(crate) fn generation(self) -> u64 {
        self.0 >> GEN_SHIFT
    }

    pub(crate) fn held(self) -> bool {
        self.0 & HELD != 0
    }

    pub(crate) fn claimed(self) -> Word {
        Word(self.0 | BUSY)
    }

    /// The word of the next generation, in state `to`, not busy, held or not.
    pub(crate) fn next(self, to: State, held: bool) -> Word {
        let held = if held { HELD } else { 0 };
        Word((self.generation().wrapping_add(1) << GEN_SHIFT) | held | to.bits())
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("generation", &self.generation())
            .field("state", &self.state())
            .field("busy", &self.busy())
            .field("held", &self.held())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips() {
        let w = Word::INITIAL;
        assert_eq!(w.state(), State::Closed);
        assert_eq!(w.generation(), 0);
        assert!(!w.busy());
        let c = w.claimed();
        assert!(c.busy());
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.generation(), 0);
        for to in [State::Open, State::HalfOpen, State::Closed] {
            for held in [false, true] {
                let n = c.next(to, held);
                assert_eq!(n.state(), to);
                assert_eq!(n.generation(), 1);
                assert_eq!(n.held(), held);
                assert!(!n.busy());
            }
        }
        let far = Word((u64::MAX >> GEN_SHIFT) << GEN_SHIFT | 2);
        assert_eq!(far.state(), State::HalfOpen);
        assert_eq!(far.next(State::Open, false).generation(), 0);
    }

    #[test]
    fn names() {
        assert_eq!(State::HalfOpen.to_string(), "half-open");
        assert_eq!(State::Closed.as_str(), "closed");
        assert_eq!(State::Open.as_str(), "open");
    }
}
