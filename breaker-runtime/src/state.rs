//! The three states, the packed state word (state, generation, and the busy and forced
//! flags in one `u64`), and the state cell: that word with the stamp of its generation
//! (when it began, how long an open period lasts, which open attempt it is), published
//! seqlock-style under the busy flag.

use std::fmt;

use crate::sync::{AtomicU64, Ordering, fence};

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
const FORCED: u64 = 0b1000;
const GEN_SHIFT: u32 = 4;

/// The breaker's state word: `generation << 4 | forced << 3 | busy << 2 | state`.
///
/// The generation (60 bits) identifies one period of counting; it never wraps in
/// practice. `busy` is set by the one caller that won the right to perform a transition
/// while it publishes the new generation's stamp (a seqlock write), so readers never see a
/// generation paired with another generation's stamp. `forced` marks a state an operator
/// holds (open, or closed), which only `reset` releases.
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

    /// Whether a transition from this word is being published.
    pub(crate) fn busy(self) -> bool {
        self.0 & BUSY != 0
    }

    pub(crate) fn generation(self) -> u64 {
        self.0 >> GEN_SHIFT
    }

    /// Whether an operator holds the breaker in its state.
    pub(crate) fn forced(self) -> bool {
        self.0 & FORCED != 0
    }

    /// The same word with the busy flag set.
    pub(crate) fn busy_again(self) -> Word {
        Word(self.0 | BUSY)
    }

    /// The word of the next generation, in state `to`, not busy, forced or not.
    pub(crate) fn next(self, to: State, forced: bool) -> Word {
        let forced = if forced { FORCED } else { 0 };
        Word((self.generation().wrapping_add(1) << GEN_SHIFT) | forced | to.bits())
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("generation", &self.generation())
            .field("state", &self.state())
            .field("busy", &self.busy())
            .field("forced", &self.forced())
            .finish()
    }
}

/// The breaker's reading of its creation instant. Readings are nanoseconds from creation
/// offset by this much, so that an instant before creation (read on another runtime's clock,
/// say a real one after a paused one that jumped ahead) is still a smaller number rather
/// than zero: about 146 years either way.
pub(crate) const EPOCH: u64 = 1 << 62;

/// A duration in nanoseconds, saturating.
#[inline]
pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    // Seconds and nanoseconds apart: no 128-bit arithmetic on the clock's path.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// What a generation is besides its state word, written once when it begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// When the generation began (a clock reading, see [`EPOCH`]).
    pub(crate) start: u64,
    /// In an open generation, how long it stays open: the period drawn for it, in
    /// nanoseconds. 0 otherwise.
    pub(crate) period: u64,
    /// In an open generation, which open attempt it is (1 for a trip from closed, one more
    /// for each re-opening from half-open); the attempt the breaker reached otherwise, and 0
    /// once it closes.
    pub(crate) attempt: u64,
    /// The serial number of the generation's first rolling-window bucket (bucket k of the
    /// generation is serial `base + k`): serials are never reused across generations, so a
    /// late outcome of an old generation can never land in a new generation's bucket.
    pub(crate) base: u64,
}

/// A seqlock read of the stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The stamp of the word's generation.
    At(Stamp),
    /// A transition is being published.
    Busy,
    /// The state word changed while the stamp was read; read the word again.
    Changed,
}

/// The state word as loaded, with its generation's stamp when it could be read
/// consistently (it cannot while a transition is being published).
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    pub(crate) word: Word,
    pub(crate) stamp: Option<Stamp>,
}

/// The state word and its generation's stamp.
///
/// A transition is won by exactly one caller, which compares-and-swaps the word to its
/// busy form ([`claim`](Self::claim)), writes the new stamp ([`stamp`](Self::stamp)) and
/// stores the next generation's word ([`publish`](Self::publish)). Readers read the stamp
/// between two loads of the word and retry if it changed.
pub(crate) struct StateCell {
    word: AtomicU64,
    start: AtomicU64,
    period: AtomicU64,
    attempt: AtomicU64,
    base: AtomicU64,
}

impl StateCell {
    pub(crate) fn new() -> StateCell {
        StateCell {
            word: AtomicU64::new(Word::INITIAL.0),
            start: AtomicU64::new(EPOCH),
            period: AtomicU64::new(0),
            attempt: AtomicU64::new(0),
            base: AtomicU64::new(0),
        }
    }

    /// The state word.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    /// The stamp of `word`'s generation, read only where it is needed: the hot path of a
    /// closed breaker with a fixed window without interval never reads it.
    #[inline]
    pub(crate) fn stamp_of(&self, word: Word) -> Read {
        if word.busy() {
            return Read::Busy;
        }
        let stamp = Stamp {
            start: self.start.load(Ordering::Relaxed),
            period: self.period.load(Ordering::Relaxed),
            attempt: self.attempt.load(Ordering::Relaxed),
            base: self.base.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        if self.word.load(Ordering::Relaxed) == word.0 {
            Read::At(stamp)
        } else {
            // A transition completed meanwhile: someone made progress, so the caller's
            // retry keeps this lock-free.
            Read::Changed
        }
    }

    /// The state word and, unless a transition is being published, its stamp.
    pub(crate) fn view(&self) -> View {
        loop {
            let word = self.load();
            match self.stamp_of(word) {
                Read::At(stamp) => {
                    return View {
                        word,
                        stamp: Some(stamp),
                    };
                }
                Read::Busy => return View { word, stamp: None },
                Read::Changed => {}
            }
        }
    }

    /// The start of the current generation as a reader at `now` should use it. A clock
    /// read earlier than the start means the clock went backwards between callers (two
    /// runtimes, one paused and moved ahead): the start is moved back to `now`, so the
    /// breaker never waits longer than its period once real time has passed. Losing the
    /// exchange to a transition is fine: its start is `now` or later anyway.
    #[inline]
    pub(crate) fn rebased(&self, start: u64, now: u64) -> u64 {
        if now < start {
            let _ = self
                .start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed);
            now
        } else {
            start
        }
    }

    /// Makes `from` busy, if it is still the word and not busy already: the caller has won
    /// the transition from it and must [`stamp`](Self::stamp) and
    /// [`publish`](Self::publish).
    pub(crate) fn claim(&self, from: Word) -> bool {
        !from.busy()
            && self
                .word
                .compare_exchange(
                    from.0,
                    from.busy_again().0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// The stamp of the generation a transition is ending, read by the winner of
    /// [`claim`](Self::claim): only that winner writes it, so it reads it undisturbed.
    pub(crate) fn claimed_stamp(&self) -> Stamp {
        Stamp {
            start: self.start.load(Ordering::Relaxed),
            period: self.period.load(Ordering::Relaxed),
            attempt: self.attempt.load(Ordering::Relaxed),
            base: self.base.load(Ordering::Relaxed),
        }
    }

    /// Writes the stamp of the generation being published (by the winner of
    /// [`claim`](Self::claim)). Starts never go backwards, even if `stamp.start` was read a
    /// while ago: one read-modify-write, so that a concurrent rebase either lands before it
    /// and is superseded, or fails against the new start.
    pub(crate) fn stamp(&self, stamp: Stamp) {
        // Seqlock write: the busy flag is visible before the new stamp.
        fence(Ordering::Release);
        self.start.fetch_max(stamp.start, Ordering::Relaxed);
        self.period.store(stamp.period, Ordering::Relaxed);
        self.attempt.store(stamp.attempt, Ordering::Relaxed);
        self.base.store(stamp.base, Ordering::Relaxed);
    }

    /// Publishes the next generation's word (by the winner of [`claim`](Self::claim)).
    pub(crate) fn publish(&self, next: Word) {
        self.word.store(next.0, Ordering::Release);
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
        let c = w.busy_again();
        assert!(c.busy());
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.generation(), 0);
        for to in [State::Open, State::HalfOpen, State::Closed] {
            for forced in [false, true] {
                let n = c.next(to, forced);
                assert_eq!(n.state(), to);
                assert_eq!(n.generation(), 1);
                assert_eq!(n.forced(), forced);
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
