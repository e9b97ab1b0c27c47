//! The state machine: admission, recording and transitions, over a [`StateCell`] (the
//! state and its generation), a [`Tally`] of the generation's counts, an optional window
//! ([`Rolling`] or [`Ring`]) for a closed breaker, and the settings. It is handed its
//! [`Observer`] when it is made and reaches for nothing global, so it can be built and
//! tested alone.
//!
//! Admission and recording are a load of the state word and a compare-and-swap per count
//! they change; no lock is taken and nothing is allocated. A transition is won by exactly
//! one caller (see [`StateCell::claim`]), so each happens once and is reported once.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::counts::{
    FAILURES, IGNORED, REQUESTS, SLOW, SLOW_STREAK, STREAK, SUCCESSES, incremented, split_streak,
    streak_after,
};
use crate::observe::{Cause, Observer, StateChange};
use crate::settings::{Jitter, Settings, Window};
use crate::state::{Read, Stamp, StateCell, View, Word, nanos};
use crate::sync::{AtomicU64, Ordering};
use crate::window::{
    BUCKET_FAILURES, BUCKET_IGNORED, BUCKET_REQUESTS, BUCKET_SLOW, BUCKET_SUCCESSES, Ring, Rolling,
    SERIAL_GAP, Tally, Update,
};
use crate::{BreakerError, BuildError, Counts, Name, Outcome, State};

/// Why a call was refused: small, so the admission path returns it in registers; the
/// full [`BreakerError`] is built off the hot path by [`Machine::reject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    Open(Duration),
    HalfOpenFull,
    ForcedOpen,
}

/// What admission gave a call, what its outcome is recorded against: its generation, its
/// state and whether it is timed for slowness (one word), and `extra`: the clock at
/// admission when it is timed (a rolling-window call's bucket follows from it), else a
/// rolling-window call's bucket, else 0. Two plain words, so that a permit stores and
/// reloads them without a wider copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    word: u64,
    extra: u64,
}

/// The `extra` of a rolling-window call admitted while a transition was being published:
/// it counts in no bucket (its outcome will be stale).
const UNCOUNTED: u64 = u64::MAX;

/// The bit of an admission's word that says it is timed for slowness.
const TIMED: u64 = 4;

impl Admission {
    /// The admission of a permit that was not admitted yet.
    pub(crate) const NONE: Admission = Admission {
        word: 0,
        extra: UNCOUNTED,
    };

    #[inline]
    fn new(generation: u64, state: State, extra: u64, timed: bool) -> Admission {
        let bits = match state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        };
        Admission {
            word: (generation << 3) | (u64::from(timed) * TIMED) | bits,
            extra,
        }
    }

    /// The two words, for a permit to keep.
    #[inline]
    pub(crate) fn into_parts(self) -> (u64, u64) {
        (self.word, self.extra)
    }

    /// The admission a permit kept.
    #[inline]
    pub(crate) fn from_parts(word: u64, extra: u64) -> Admission {
        Admission { word, extra }
    }

    #[inline]
    pub(crate) fn generation(self) -> u64 {
        self.word >> 3
    }

    /// Whether `extra` is the clock at admission (the call is timed for slowness).
    #[inline]
    fn timed(self) -> bool {
        self.word & TIMED != 0
    }

    #[inline]
    pub(crate) fn state(self) -> State {
        match self.word & 3 {
            0 => State::Closed,
            1 => State::Open,
            _ => State::HalfOpen,
        }
    }
}

/// Why a generation ends, for [`Machine::transition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A change of state (or an operator action, or a reconfiguration), reported when it
    /// is news (see [`Machine::transition`]).
    Change(Cause),
    /// The fixed window's `interval` elapsed: the counts start over, silently.
    IntervalElapsed,
}

/// Reads the clock at most once, when first asked.
struct LazyNow<F> {
    clock: F,
    now: Option<u64>,
}

impl<F: FnMut() -> u64> LazyNow<F> {
    fn get(&mut self) -> u64 {
        *self.now.get_or_insert_with(&mut self.clock)
    }
}

/// The window a closed breaker counts over.
enum Shape {
    /// The generation's own counts ([`Window::Fixed`]).
    Fixed,
    Rolling(Rolling),
    Calls(Ring),
}

/// One breaker's state machine.
pub(crate) struct Machine {
    pub(crate) name: Name,
    state: StateCell,
    tally: Tally,
    shape: Shape,
    clock: Clock,
    // The settings read on the paths, one word each, so that a reconfiguration can change
    // them without a lock on the call path: stored before the reconfiguration's new
    // generation is published (Release), so that a caller that sees the new generation
    // sees them. 0 means "none".
    interval_ns: AtomicU64,
    timeout_ns: AtomicU64,
    max_requests: AtomicU64,
    slow_ns: AtomicU64,
    /// The width of a rolling window's buckets.
    width_ns: AtomicU64,
    /// The call path's fast case, decided by one load: [`PLAIN_FIXED`] when a closed
    /// breaker needs nothing but the generation's counts (a fixed window without interval,
    /// no slow-call timing), [`PLAIN_CALLS`] for a count window without slow-call timing
    /// (admission is the same; a success enters the window instead),
    /// [`PLAIN_ROLLING`] for a rolling window without slow-call timing (admission and a
    /// success count in a bucket), 0 otherwise.
    plain: AtomicU64,
    /// The whole settings: read off the call path (snapshots, the trip policy after a
    /// failure, drawing an open period), written only by a reconfiguration.
    settings: RwLock<Settings>,
    /// The state of this breaker's random sequence (for jitter).
    random: AtomicU64,
    pub(crate) observer: Observer,
    /// Why a refusing breaker refuses every call (see
    /// [`CircuitBreaker::refusing`](crate::CircuitBreaker::refusing)).
    refusal: std::sync::OnceLock<String>,
    /// The breaker's link to its fleet, once it joins one.
    #[cfg(feature = "redis")]
    link: std::sync::OnceLock<std::sync::Arc<crate::link::Link>>,
}

fn width_of(window: Window) -> u64 {
    match window {
        Window::Rolling { length, buckets } => (nanos(length) / u64::from(buckets)).max(1),
        _ => 0,
    }
}

/// See [`Machine::plain`].
const PLAIN_FIXED: u64 = 1;
const PLAIN_CALLS: u64 = 2;
const PLAIN_ROLLING: u64 = 3;

/// The fast case of a closed breaker with these settings, if any.
fn plain(settings: &Settings) -> u64 {
    match settings.window {
        _ if settings.slow_call.is_some() => 0,
        Window::Fixed { interval: None } => PLAIN_FIXED,
        Window::Calls { .. } => PLAIN_CALLS,
        Window::Rolling { .. } => PLAIN_ROLLING,
        Window::Fixed { .. } => 0,
    }
}

/// One step of SplitMix64: a well-mixed 64-bit value from a counter.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed of its own for each breaker: the process's random hasher keys, and a counter.
fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    RandomState::new().hash_one(n)
}

impl Machine {
    pub(crate) fn new(name: Name, settings: Settings, observer: Observer) -> Machine {
        let shape = match settings.window {
            Window::Fixed { .. } => Shape::Fixed,
            Window::Rolling { buckets, .. } => Shape::Rolling(Rolling::new(buckets)),
            Window::Calls { calls } => Shape::Calls(Ring::new(calls)),
        };
        Machine {
            name,
            state: StateCell::new(),
            tally: Tally::new(),
            shape,
            clock: Clock::new(),
            interval_ns: AtomicU64::new(settings.interval().map_or(0, nanos)),
            timeout_ns: AtomicU64::new(settings.timeout.map_or(0, nanos)),
            max_requests: AtomicU64::new(u64::from(settings.max_requests)),
            slow_ns: AtomicU64::new(settings.slow_call.map_or(0, nanos)),
            width_ns: AtomicU64::new(width_of(settings.window)),
            plain: AtomicU64::new(plain(&settings)),
            settings: RwLock::new(settings),
            random: AtomicU64::new(seed()),
            observer,
            refusal: std::sync::OnceLock::new(),
            #[cfg(feature = "redis")]
            link: std::sync::OnceLock::new(),
        }
    }

    /// Makes this (held open) breaker a refusing one: its rejections are
    /// [`BreakerError::Misconfigured`] with `reason`.
    pub(crate) fn refuse_with(&self, reason: String) {
        let _ = self.refusal.set(reason);
    }

    /// Why this breaker refuses every call, if it is a refusing one.
    pub(crate) fn refusal(&self) -> Option<&str> {
        self.refusal.get().map(String::as_str)
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Settings {
        *self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    fn interval_ns(&self) -> Option<u64> {
        match self.interval_ns.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// The deadline of each call, if any.
    #[inline]
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self.timeout_ns.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    #[inline]
    fn max_requests(&self) -> u64 {
        self.max_requests.load(Ordering::Relaxed)
    }

    /// Whether calls are timed for slowness: then admission reads the clock.
    #[inline]
    fn slow_ns(&self) -> Option<u64> {
        match self.slow_ns.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// The clock's reading now (see [`Clock`]).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    fn generation(&self) -> u64 {
        self.state.load().generation()
    }

    /// The state word and, unless a transition is being published, its stamp.
    pub(crate) fn view(&self) -> View {
        self.state.view()
    }

    /// The serial of the bucket of `rolling` current at `now` in the generation stamped
    /// `stamp`.
    #[inline]
    fn serial(&self, rolling: &Rolling, stamp: Stamp, now: u64) -> u64 {
        let width = self.width_ns.load(Ordering::Relaxed).max(1);
        let elapsed = now.saturating_sub(stamp.start);
        stamp.base.wrapping_add(rolling.offset(elapsed, width))
    }

    /// The bucket of `rolling` of an admission: its `extra`, or, when it is timed for
    /// slowness, the bucket that follows from the clock at admission.
    fn bucket_of(&self, rolling: &Rolling, stamp: Stamp, admission: Admission) -> u64 {
        if admission.timed() {
            self.serial(rolling, stamp, admission.extra)
        } else {
            admission.extra
        }
    }

    /// Whether rolling-window bucket `bucket` of the generation stamped `stamp` has left a
    /// window of `buckets` buckets at `now` (`now >= start + (k + buckets)·w`, with no
    /// division).
    fn bucket_gone(&self, stamp: Stamp, bucket: u64, buckets: u64, now: u64) -> bool {
        let width = self.width_ns.load(Ordering::Relaxed).max(1);
        let k = bucket.wrapping_sub(stamp.base);
        let ends = k
            .saturating_add(buckets)
            .saturating_mul(width)
            .saturating_add(stamp.start);
        now >= ends
    }

    /// Admits a call or says why not. `clock` is read at most once, unless the state
    /// changes under the admission.
    #[inline]
    pub(crate) fn acquire(&self, clock: impl FnMut() -> u64) -> Result<Admission, Rejection> {
        let word = self.state.load();
        if word.state() == State::Closed {
            let generation = word.generation();
            match self.plain.load(Ordering::Relaxed) {
                0 => {}
                PLAIN_ROLLING => return self.acquire_rolling(word, clock),
                // A closed breaker that counts nothing but its generation's counts needs
                // one count and no clock.
                _ => {
                    let current = || self.generation();
                    if let Update::Applied(_) =
                        self.tally
                            .update(REQUESTS, generation, current, |r| Some(incremented(r)))
                    {
                        return Ok(Admission::new(generation, State::Closed, 0, false));
                    }
                }
            }
        }
        self.acquire_slow(clock)
    }

    /// Admission into the closed rolling window of `word`: one clock read, one count in
    /// the bucket; the general case when the state changed under it. Apart from
    /// [`acquire`](Self::acquire), which stays small enough to inline everywhere.
    fn acquire_rolling(
        &self,
        word: Word,
        mut clock: impl FnMut() -> u64,
    ) -> Result<Admission, Rejection> {
        let (Shape::Rolling(rolling), Read::At(stamp)) = (&self.shape, self.state.stamp_of(word))
        else {
            return self.acquire_slow(clock);
        };
        // The bucket the last lookup found, the readings it covers and its requests count,
        // all read before the clock is: a call in that bucket then waits on one comparison
        // with the reading and one compare-and-swap.
        let width = self.width_ns.load(Ordering::Relaxed).max(1);
        let guess = rolling.guess();
        let serial = stamp.base.wrapping_add(guess);
        let from = stamp.start.saturating_add(guess.saturating_mul(width));
        let (cell, seen) = rolling.requests_cell(serial);
        let now = clock();
        if now >= from
            && now < from.saturating_add(width)
            && Rolling::count_request(cell, seen, serial)
        {
            return Ok(Admission::new(
                word.generation(),
                State::Closed,
                serial,
                false,
            ));
        }
        self.acquire_rolling_at(word, now, clock)
    }

    /// [`acquire_rolling`](Self::acquire_rolling) at the reading `now`, when the call is
    /// not in the bucket last found, or that bucket's count changed under it. Should the
    /// generation be over, the general case reads `clock` afresh.
    #[inline(never)]
    fn acquire_rolling_at(
        &self,
        word: Word,
        now: u64,
        clock: impl FnMut() -> u64,
    ) -> Result<Admission, Rejection> {
        let generation = word.generation();
        if let Shape::Rolling(rolling) = &self.shape
            && let Read::At(stamp) = self.state.stamp_of(word)
        {
            let current = || self.generation() == generation;
            let serial = self.serial(rolling, stamp, now);
            if let Some(bucket) = rolling.add(serial, BUCKET_REQUESTS, current) {
                return Ok(Admission::new(generation, State::Closed, bucket, false));
            }
        }
        self.acquire_slow(clock)
    }

    /// Admission in every other case.
    fn acquire_slow(&self, clock: impl FnMut() -> u64) -> Result<Admission, Rejection> {
        let mut now = LazyNow { clock, now: None };
        let timed = self.slow_ns().is_some();
        let admitted = if timed { now.get() } else { 0 };
        loop {
            let word = self.state.load();
            let generation = word.generation();
            let admission = |state, extra| Admission::new(generation, state, extra, timed);
            match word.state() {
                State::Closed => {
                    match &self.shape {
                        Shape::Rolling(rolling) => {
                            let stamp = match self.state.stamp_of(word) {
                                Read::At(stamp) => stamp,
                                Read::Changed => continue,
                                // A transition is being published: admit into the ending
                                // generation, uncounted (the outcome will be stale).
                                Read::Busy => return Ok(admission(State::Closed, UNCOUNTED)),
                            };
                            let at = now.get();
                            let serial = self.serial(rolling, stamp, at);
                            let current = || self.generation() == generation;
                            let Some(bucket) = rolling.add(serial, BUCKET_REQUESTS, current) else {
                                continue;
                            };
                            if !timed {
                                return Ok(admission(State::Closed, bucket));
                            }
                            // Timed for slowness: the clock at admission, or, counted in a
                            // newer bucket (this caller's clock lags another's), the start
                            // of that bucket.
                            let width = self.width_ns.load(Ordering::Relaxed).max(1);
                            let offset = bucket.wrapping_sub(stamp.base);
                            let start = stamp.start.saturating_add(offset.saturating_mul(width));
                            let extra = if bucket == serial { at } else { start.max(at) };
                            return Ok(admission(State::Closed, extra));
                        }
                        Shape::Fixed => {
                            if let Some(interval) = self.interval_ns() {
                                match self.state.stamp_of(word) {
                                    Read::Changed => continue,
                                    Read::At(stamp) => {
                                        let now = now.get();
                                        let start = self.state.rebased(stamp.start, now);
                                        if now >= start.saturating_add(interval) {
                                            self.transition(
                                                word,
                                                State::Closed,
                                                now,
                                                Ending::IntervalElapsed,
                                            );
                                            continue;
                                        }
                                    }
                                    // A transition is being published: admit into the
                                    // current generation (the outcome will be stale).
                                    Read::Busy => {}
                                }
                            }
                        }
                        Shape::Calls(_) => {}
                    }
                    let current = || self.generation();
                    if let Update::Applied(_) =
                        self.tally
                            .update(REQUESTS, generation, current, |r| Some(incremented(r)))
                    {
                        return Ok(admission(State::Closed, admitted));
                    }
                }
                State::Open => {
                    if word.forced() {
                        return Err(Rejection::ForcedOpen);
                    }
                    let stamp = match self.state.stamp_of(word) {
                        Read::At(stamp) => stamp,
                        Read::Changed => continue,
                        // The transition to half-open is being published right now.
                        Read::Busy => return Err(Rejection::Open(Duration::ZERO)),
                    };
                    let now = now.get();
                    let until = self
                        .state
                        .rebased(stamp.start, now)
                        .saturating_add(stamp.period);
                    if now >= until {
                        self.transition(
                            word,
                            State::HalfOpen,
                            now,
                            Ending::Change(Cause::ResetTimeoutElapsed),
                        );
                        continue;
                    }
                    return Err(Rejection::Open(Duration::from_nanos(until - now)));
                }
                State::HalfOpen => {
                    let ignored = self.tally.value(IGNORED, generation);
                    let budget = self.max_requests();
                    // In a fleet, the probes this replica holds tokens for.
                    #[cfg(feature = "redis")]
                    let budget = self
                        .link
                        .get()
                        .map_or(budget, |link| budget.min(link.tokens(generation)));
                    let current = || self.generation();
                    match self.tally.update(REQUESTS, generation, current, |r| {
                        (r.saturating_sub(ignored) < budget).then(|| incremented(r))
                    }) {
                        Update::Applied(_) => return Ok(admission(State::HalfOpen, admitted)),
                        Update::Refused => {
                            #[cfg(feature = "redis")]
                            if let Some(link) = self.link.get()
                                && budget < self.max_requests()
                            {
                                link.refused();
                            }
                            return Err(Rejection::HalfOpenFull);
                        }
                        Update::Stale => {}
                    }
                }
            }
        }
    }

    /// The error for a rejection, reported to the observers. Inlined: an open breaker's
    /// rejection is a hot path too, and built in place the error is not copied through
    /// memory on its way to the caller.
    #[inline]
    pub(crate) fn reject(&self, rejection: Rejection) -> BreakerError {
        let name = self.name.clone();
        let error = match rejection {
            Rejection::Open(retry_after) => BreakerError::Open { name, retry_after },
            Rejection::HalfOpenFull => BreakerError::HalfOpenFull { name },
            // Built in place, as the others are: a refusing breaker's reason.
            Rejection::ForcedOpen => match self.refusal.get() {
                None => BreakerError::ForcedOpen { name },
                Some(reason) => BreakerError::Misconfigured {
                    name,
                    reason: reason.clone(),
                },
            },
        };
        self.observer.rejected(&error);
        error
    }

    /// Whether the clock reading an admission took may stand for the time its outcome is
    /// recorded, when the call finished within the poll that admitted it: unless calls are
    /// timed for slowness, which needs the time that poll took.
    #[inline]
    pub(crate) fn reuses_admission_reading(&self) -> bool {
        self.slow_ns.load(Ordering::Relaxed) == 0
    }

    /// Records the outcome of an admitted call. `timed_out`: it ran past its deadline
    /// (which makes it slow). Outcomes of a generation that is over, or of a rolling
    /// bucket that has left the window, are dropped.
    #[cfg(any(test, loom))]
    pub(crate) fn record(
        &self,
        admission: Admission,
        outcome: Outcome,
        timed_out: bool,
        clock: impl FnMut() -> u64,
    ) {
        self.record_at(admission, outcome, timed_out, false, clock);
    }

    /// [`record`](Self::record); `at_admission`: `clock` gives the reading the admission
    /// took (see [`reuses_admission_reading`](Self::reuses_admission_reading)), at which
    /// a rolling-window call's bucket is in the window by construction.
    #[inline]
    pub(crate) fn record_at(
        &self,
        admission: Admission,
        outcome: Outcome,
        timed_out: bool,
        at_admission: bool,
        mut clock: impl FnMut() -> u64,
    ) {
        // The fast case: a success in a closed breaker without slow-call timing changes two
        // counts and never the state.
        let plain = self.plain.load(Ordering::Relaxed);
        if admission.state() == State::Closed
            && outcome == Outcome::Success
            && !timed_out
            && !admission.timed()
            && plain != 0
        {
            let generation = admission.generation();
            let word = self.state.load();
            if word.generation() != generation {
                return;
            }
            let current = || self.generation();
            let counted = match &self.shape {
                // A closed count window keeps its totals in the window alone: the ring's
                // head says how many outcomes the generation has seen.
                Shape::Calls(ring) if plain == PLAIN_CALLS => {
                    ring.push(generation, current, false, false)
                }
                // A rolling window counts the success in the call's bucket, if the bucket
                // is still in the window.
                Shape::Rolling(rolling) if plain == PLAIN_ROLLING => {
                    let bucket = admission.extra;
                    if bucket == UNCOUNTED {
                        return;
                    }
                    if !at_admission {
                        let Read::At(stamp) = self.state.stamp_of(word) else {
                            return;
                        };
                        if self.bucket_gone(stamp, bucket, rolling.len(), clock()) {
                            return;
                        }
                    }
                    let current = || self.generation() == generation;
                    rolling.add(bucket, BUCKET_SUCCESSES, current).is_some()
                }
                _ => matches!(
                    self.tally
                        .update(SUCCESSES, generation, current, |v| Some(incremented(v))),
                    Update::Applied(_)
                ),
            };
            if counted {
                let streak = |s| Some(streak_after(s, false));
                self.tally.update(STREAK, generation, current, streak);
            }
            return;
        }
        self.record_slow(admission, outcome, timed_out, clock);
    }

    /// Recording in every other case.
    fn record_slow(
        &self,
        admission: Admission,
        outcome: Outcome,
        timed_out: bool,
        clock: impl FnMut() -> u64,
    ) {
        let mut now = LazyNow { clock, now: None };
        let generation = admission.generation();
        let word = self.state.load();
        if word.generation() != generation {
            return;
        }
        let current = || self.generation();
        let rolling = match (&self.shape, admission.state()) {
            (Shape::Rolling(rolling), State::Closed) => {
                if admission.extra == UNCOUNTED {
                    return;
                }
                // The bucket must still be in the window now.
                let Read::At(stamp) = self.state.stamp_of(word) else {
                    return;
                };
                let bucket = self.bucket_of(rolling, stamp, admission);
                if self.bucket_gone(stamp, bucket, rolling.len(), now.get()) {
                    return;
                }
                Some((rolling, bucket, stamp))
            }
            _ => None,
        };
        let failed = match outcome {
            Outcome::Ignored => {
                match rolling {
                    Some((rolling, bucket, _)) => {
                        let current = || self.generation() == generation;
                        rolling.add(bucket, BUCKET_IGNORED, current);
                    }
                    None => {
                        self.tally
                            .update(IGNORED, generation, current, |v| Some(incremented(v)));
                    }
                }
                return;
            }
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = match self.slow_ns() {
            Some(_) if timed_out => true,
            Some(threshold) if admission.timed() => {
                now.get().saturating_sub(admission.extra) >= threshold
            }
            _ => false,
        };
        #[cfg(feature = "metrics")]
        if slow {
            self.observer.slow();
        }
        // The totals, in the window or in the generation.
        let mut own = [0; 3];
        match rolling {
            Some((rolling, bucket, _)) => {
                let current = || self.generation() == generation;
                let index = if failed {
                    BUCKET_FAILURES
                } else {
                    BUCKET_SUCCESSES
                };
                if rolling.add(bucket, index, current).is_none() {
                    return;
                }
                if slow {
                    rolling.add(bucket, BUCKET_SLOW, current);
                }
            }
            // A closed count window keeps its totals in the window alone.
            None => match (&self.shape, admission.state()) {
                (Shape::Calls(ring), State::Closed) => {
                    if !ring.push(generation, current, failed, slow) {
                        return;
                    }
                }
                _ => {
                    let index = if failed { FAILURES } else { SUCCESSES };
                    let Update::Applied(total) =
                        self.tally
                            .update(index, generation, current, |v| Some(incremented(v)))
                    else {
                        return;
                    };
                    own[usize::from(failed)] = total;
                    if slow
                        && let Update::Applied(total) =
                            self.tally
                                .update(SLOW, generation, current, |v| Some(incremented(v)))
                    {
                        own[2] = total;
                    }
                }
            },
        }
        let Update::Applied(streak) = self.tally.update(STREAK, generation, current, |s| {
            Some(streak_after(s, failed))
        }) else {
            return;
        };
        let mut slow_streak = 0;
        if self.slow_ns().is_some() {
            let bump = |s: u64| Some(if slow { incremented(s) } else { 0 });
            match self.tally.update(SLOW_STREAK, generation, current, bump) {
                Update::Applied(s) => slow_streak = s,
                _ => return,
            }
        }
        let (consecutive_successes, consecutive_failures) = split_streak(streak);
        let (to, cause) = match word.state() {
            State::HalfOpen if failed => (State::Open, Cause::ProbeFailed),
            State::HalfOpen if slow => (State::Open, Cause::ProbeSlow),
            State::HalfOpen if consecutive_successes >= self.max_requests() => {
                (State::Closed, Cause::ProbesSucceeded)
            }
            // A breaker held closed never trips; the policies are consulted after a
            // failure or a slow call only.
            State::Closed if !word.forced() && (failed || slow) => {
                let at = rolling.map(|(rolling, _, stamp)| self.serial(rolling, stamp, now.get()));
                let mut counts = self.window_counts(word, at);
                // Its own updates are exact; the others are read now.
                counts.total_successes = counts.total_successes.max(own[0]);
                counts.total_failures = counts.total_failures.max(own[1]);
                counts.slow_calls = counts.slow_calls.max(own[2]);
                counts.consecutive_successes = consecutive_successes;
                counts.consecutive_failures = consecutive_failures;
                counts.consecutive_slow_calls = slow_streak;
                match self.trips(&counts) {
                    Some(cause) => (State::Open, cause),
                    None => return,
                }
            }
            _ => return,
        };
        self.transition(word, to, now.get(), Ending::Change(cause));
    }

    /// Whether the counts trip a closed breaker, and why: the failure policy before the
    /// slow-call ratio (both asked after a failure or a slow call).
    pub(crate) fn trips(&self, counts: &Counts) -> Option<Cause> {
        let settings = self.settings();
        if settings.trip_policy.should_trip(counts) {
            return Some(Cause::Tripped);
        }
        let ratio = settings.slow_call_ratio?;
        (counts.requests >= ratio.min_requests && counts.slow_call_ratio() >= ratio.ratio)
            .then_some(Cause::SlowCallsTripped)
    }

    /// Takes an admitted call that will never finish out of the counts again: in
    /// half-open this gives its probe slot back.
    pub(crate) fn cancel(&self, admission: Admission) {
        let generation = admission.generation();
        let word = self.state.load();
        if word.generation() != generation {
            return;
        }
        match (&self.shape, admission.state()) {
            (Shape::Rolling(rolling), State::Closed) => {
                if admission.extra != UNCOUNTED
                    && let Read::At(stamp) = self.state.stamp_of(word)
                {
                    rolling.remove_request(self.bucket_of(rolling, stamp, admission));
                }
            }
            _ => {
                let current = || self.generation();
                self.tally
                    .update(REQUESTS, generation, current, |r| Some(r.saturating_sub(1)));
            }
        }
    }

    /// The counts of the generation of `word` as they stand: a closed breaker's over its
    /// window (a rolling window's at bucket `at`: with `None` it counts as empty), others'
    /// over the generation.
    fn window_counts(&self, word: Word, at: Option<u64>) -> Counts {
        let generation = word.generation();
        let mut counts = self.tally.counts(generation);
        if word.state() != State::Closed {
            return counts;
        }
        match &self.shape {
            Shape::Fixed => {}
            Shape::Rolling(rolling) => {
                let sums = at.map_or([0; 5], |at| rolling.totals(at));
                counts.requests = sums[BUCKET_REQUESTS];
                counts.total_successes = sums[BUCKET_SUCCESSES];
                counts.total_failures = sums[BUCKET_FAILURES];
                counts.total_ignored = sums[BUCKET_IGNORED];
                counts.slow_calls = sums[BUCKET_SLOW];
            }
            Shape::Calls(ring) => {
                let totals = ring.totals(generation);
                // Every outcome but an ignored one entered the ring.
                let finished = totals.pushed.saturating_add(counts.total_ignored);
                let in_flight = counts.requests.saturating_sub(finished);
                counts.requests = totals.outcomes + in_flight;
                counts.total_failures = totals.failures;
                counts.total_successes = totals.outcomes - totals.failures;
                counts.total_ignored = 0;
                counts.slow_calls = totals.slow;
            }
        }
        counts
    }

    /// The open period of open attempt `attempt`: `reset_timeout` grown by the backoff,
    /// then drawn with the jitter.
    fn draw(&self, attempt: u64) -> u64 {
        let settings = self.settings();
        let reset = nanos(settings.reset_timeout);
        let period = match settings.backoff {
            None => reset,
            Some(backoff) => {
                let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss
                )]
                let grown = (reset as f64 * backoff.factor.powi(exponent)) as u64;
                grown.min(nanos(backoff.max_reset_timeout))
            }
        };
        let uniform = |below: u64| -> u64 {
            let step = self
                .random
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            #[allow(clippy::cast_possible_truncation)]
            let drawn = ((u128::from(mix(step)) * u128::from(below)) >> 64) as u64;
            drawn
        };
        match settings.jitter {
            Jitter::None => period,
            Jitter::Full => uniform(period),
            Jitter::Equal => period / 2 + uniform(period - period / 2),
        }
    }

    /// Moves from `from` (as read) to a new generation in state `to`, starting at `now`.
    /// Returns `false` if someone else changed the state word first. Only news is
    /// reported: a real change of state, or a reconfiguration; an interval reset, or an
    /// operator action that leaves the state as it was (holding an open breaker open,
    /// resetting a closed one), starts a new generation silently.
    pub(crate) fn transition(&self, from: Word, to: State, now: u64, ending: Ending) -> bool {
        self.transition_to(from, to, now, ending, None)
    }

    /// [`transition`](Self::transition), with the open period and attempt given instead
    /// of drawn (`given`: nanoseconds and attempt), as when following a fleet.
    fn transition_to(
        &self,
        from: Word,
        to: State,
        now: u64,
        ending: Ending,
        given: Option<(u64, u64)>,
    ) -> bool {
        if !self.state.claim(from) {
            return false;
        }
        let old = self.state.claimed_stamp();
        let cause = match ending {
            Ending::Change(cause) => Some(cause),
            Ending::IntervalElapsed => None,
        };
        let forced = cause.and_then(Cause::forces).unwrap_or(from.forced());
        let attempt = match (from.state(), to) {
            (_, State::Closed) => 0,
            (State::Closed, State::Open) if !forced => 1,
            (State::HalfOpen, State::Open) if !forced => old.attempt + 1,
            _ => old.attempt,
        };
        let (period, attempt) = match given {
            Some(given) => given,
            None if to == State::Open && !forced => (self.draw(attempt.max(1)), attempt),
            None => (0, attempt),
        };
        let base = match &self.shape {
            Shape::Rolling(rolling) => self
                .serial(rolling, old, now.max(old.start))
                .wrapping_add(rolling.len())
                .wrapping_add(SERIAL_GAP),
            _ => 0,
        };
        self.state.stamp(Stamp {
            start: now,
            period,
            attempt,
            base,
        });
        let next = from.next(to, forced);
        let news = cause.filter(|c| from.state() != to || *c == Cause::Reconfigured);
        // The counts that caused the change, read before they are retagged.
        let ended = news.map(|_| {
            let at = match &self.shape {
                Shape::Rolling(rolling) => Some(self.serial(rolling, old, now)),
                _ => None,
            };
            self.window_counts(from, at)
        });
        self.state.publish(next);
        self.tally.retag(next.generation());
        if let Shape::Calls(ring) = &self.shape {
            ring.retag(next.generation());
        }
        if let (Some(cause), Some(counts)) = (news, ended) {
            let change = StateChange {
                name: self.name.clone(),
                from: from.state(),
                to,
                cause,
                counts,
                retry_after: (period > 0).then(|| Duration::from_nanos(period)),
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            };
            self.observer.notify(&change);
        }
        #[cfg(feature = "redis")]
        if let (Some(link), Some(cause)) = (self.link.get(), news) {
            link.moved(to, cause, period, attempt);
        }
        true
    }

    /// The breaker's link to its fleet, if it joined one.
    #[cfg(feature = "redis")]
    pub(crate) fn link(&self) -> Option<&std::sync::Arc<crate::link::Link>> {
        self.link.get()
    }

    /// Joins a fleet through `link`; `false` if the breaker has joined one already.
    #[cfg(feature = "redis")]
    pub(crate) fn attach(&self, link: std::sync::Arc<crate::link::Link>) -> bool {
        self.link.set(link).is_ok()
    }

    /// Takes the fleet's state: moves to `to` (an open breaker for `period` nanoseconds,
    /// on open attempt `attempt`), reported with [`Cause::Shared`]. A breaker an operator
    /// holds is left alone. Returns whether it moved.
    #[cfg(feature = "redis")]
    pub(crate) fn follow(&self, to: State, period: u64, attempt: u64) -> bool {
        loop {
            let word = self.state.load();
            if word.busy() {
                std::hint::spin_loop();
                continue;
            }
            if word.forced() {
                return false;
            }
            let ending = Ending::Change(Cause::Shared);
            if self.transition_to(word, to, self.now(), ending, Some((period, attempt))) {
                return true;
            }
        }
    }

    /// Trips a closed breaker for `cause` (the fleet's counts tripped the policy), as a
    /// failure would; nothing happens if it is not closed (or is held closed).
    #[cfg(feature = "redis")]
    pub(crate) fn trip(&self, cause: Cause) {
        loop {
            let word = self.state.load();
            if word.busy() {
                std::hint::spin_loop();
                continue;
            }
            if word.state() != State::Closed || word.forced() {
                return;
            }
            if self.transition(word, State::Open, self.now(), Ending::Change(cause)) {
                return;
            }
        }
    }

    /// Moves to `to` whatever the state, for an operator. Waits out a transition that is
    /// being published (a few instructions) rather than losing to it.
    pub(crate) fn force(&self, to: State, cause: Cause) {
        loop {
            let word = self.state.load();
            if word.busy() {
                std::hint::spin_loop();
                continue;
            }
            if self.transition(word, to, self.now(), Ending::Change(cause)) {
                return;
            }
        }
    }

    /// Whether a window of this breaker's kind and size can take `to`'s place: its
    /// storage is made once, with the breaker.
    fn same_shape(from: Window, to: Window) -> Result<(), BuildError> {
        let same = match (from, to) {
            (Window::Fixed { .. }, Window::Fixed { .. }) => true,
            (Window::Rolling { buckets: a, .. }, Window::Rolling { buckets: b, .. }) => a == b,
            (Window::Calls { calls: a }, Window::Calls { calls: b }) => a == b,
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(BuildError::WindowShapeChanged { from, to })
        }
    }

    /// Whether [`reconfigure`](Self::reconfigure) would take `settings`.
    ///
    /// # Errors
    /// As `reconfigure`'s.
    pub(crate) fn accepts(&self, settings: &Settings) -> Result<(), BuildError> {
        settings.validate()?;
        Self::same_shape(self.settings().window, settings.window)
    }

    /// Replaces the settings and starts a new generation in the same state, reported with
    /// [`Cause::Reconfigured`]. Calls admitted before finish under the generation rule:
    /// their outcomes are stale and dropped.
    ///
    /// # Errors
    /// Invalid settings, or a window of another kind or size than the breaker's (its
    /// storage is made once, with the breaker); nothing changes then.
    pub(crate) fn reconfigure(&self, settings: Settings) -> Result<(), BuildError> {
        settings.validate()?;
        {
            // Concurrent reconfigurations each store all their words under the lock, so
            // the last one's settings are the ones in force; each then starts a
            // generation of its own.
            let mut current = self
                .settings
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            Self::same_shape(current.window, settings.window)?;
            *current = settings;
            self.interval_ns
                .store(settings.interval().map_or(0, nanos), Ordering::Relaxed);
            self.timeout_ns
                .store(settings.timeout.map_or(0, nanos), Ordering::Relaxed);
            self.max_requests
                .store(u64::from(settings.max_requests), Ordering::Relaxed);
            self.slow_ns
                .store(settings.slow_call.map_or(0, nanos), Ordering::Relaxed);
            self.width_ns
                .store(width_of(settings.window), Ordering::Relaxed);
            self.plain.store(plain(&settings), Ordering::Relaxed);
        }
        self.force(self.state.load().state(), Cause::Reconfigured);
        Ok(())
    }

    /// The state word after applying any transition that time alone causes (Open to
    /// HalfOpen once the open period has elapsed, interval resets in Closed).
    pub(crate) fn settle(&self, now: u64) -> View {
        loop {
            let view = self.state.view();
            let Some(stamp) = view.stamp else {
                return view;
            };
            let start = self.state.rebased(stamp.start, now);
            let due = match view.word.state() {
                State::Open if view.word.forced() => None,
                State::Open => (now >= start.saturating_add(stamp.period))
                    .then_some((State::HalfOpen, Ending::Change(Cause::ResetTimeoutElapsed))),
                State::Closed => self
                    .interval_ns()
                    .filter(|i| {
                        matches!(self.shape, Shape::Fixed) && now >= start.saturating_add(*i)
                    })
                    .map(|_| (State::Closed, Ending::IntervalElapsed)),
                State::HalfOpen => None,
            };
            match due {
                Some((to, ending)) => {
                    self.transition(view.word, to, now, ending);
                }
                None => return view,
            }
        }
    }

    /// The counts of the generation in `view`, over the window as it stands at `now`.
    pub(crate) fn counts(&self, view: View, now: u64) -> Counts {
        let at = match (&self.shape, view.stamp) {
            (Shape::Rolling(rolling), Some(stamp)) => Some(self.serial(rolling, stamp, now)),
            _ => None,
        };
        self.window_counts(view.word, at)
    }

    /// How long until an open breaker admits a probe; `None` unless it is open (and not
    /// held open).
    pub(crate) fn retry_after(&self, view: View, now: u64) -> Option<Duration> {
        match (view.word.state(), view.stamp) {
            (State::Open, _) if view.word.forced() => None,
            (State::Open, Some(stamp)) => Some(Duration::from_nanos(
                stamp
                    .start
                    .min(now)
                    .saturating_add(stamp.period)
                    .saturating_sub(now),
            )),
            (State::Open, None) => Some(Duration::ZERO),
            _ => None,
        }
    }

    /// Which open attempt the breaker is on (0 when it is not open and has not re-opened
    /// since it last closed).
    pub(crate) fn attempt(&self, view: View) -> u32 {
        view.stamp
            .map_or(0, |s| u32::try_from(s.attempt).unwrap_or(u32::MAX))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::counts::{self, WORDS};
    use crate::observe::Listeners;
    use crate::state::EPOCH;
    use crate::{Builder, TripPolicy};

    fn machine(builder: Builder) -> Machine {
        let name = builder.name().clone();
        let observer = Observer::new(&name, None, Listeners::new());
        Machine::new(name, builder.settings, observer)
    }

    fn run(m: &Machine, outcome: Outcome, now: u64) {
        let a = m.acquire(|| now).unwrap();
        m.record(a, outcome, false, || now);
    }

    #[test]
    fn the_fast_case_is_chosen_by_window_and_slow_call_timing() {
        let of = |builder: Builder| plain(&builder.settings);
        let b = || Builder::new("unit-plain");
        let rolling = Window::rolling(Duration::from_secs(10));
        let calls = Window::Calls { calls: 10 };
        let interval = Window::Fixed {
            interval: Some(Duration::from_secs(1)),
        };
        assert_eq!(of(b()), PLAIN_FIXED);
        assert_eq!(of(b().window(calls)), PLAIN_CALLS);
        assert_eq!(of(b().window(rolling)), PLAIN_ROLLING);
        assert_eq!(of(b().window(interval)), 0, "an interval needs the clock");
        let slow = Duration::from_secs(1);
        for window in [Window::Fixed { interval: None }, calls, rolling, interval] {
            assert_eq!(of(b().window(window).slow_call(slow)), 0, "timed calls");
        }
    }

    #[test]
    fn a_rolling_admission_counts_in_its_own_bucket_whichever_was_found_last() {
        // 2 buckets of 1 000 ns.
        let m = machine(Builder::new("unit-rolling-guess").window(Window::Rolling {
            length: Duration::from_micros(2),
            buckets: 2,
        }));
        let requests = |now| m.counts(m.view(), now).requests;
        // Bucket 1 is found first; an admission whose clock lags, in bucket 0, comes next.
        m.acquire(|| EPOCH + 1_500).unwrap();
        m.acquire(|| EPOCH + 500).unwrap();
        assert_eq!(
            requests(EPOCH + 500),
            1,
            "bucket 0 holds the lagging admission"
        );
        assert_eq!(requests(EPOCH + 1_500), 2);
        // The bucket's bounds: its last nanosecond is in it, the next one is not.
        m.acquire(|| EPOCH + 1_999).unwrap();
        assert_eq!(requests(EPOCH + 1_999), 3);
        m.acquire(|| EPOCH + 2_000).unwrap();
        assert_eq!(
            requests(EPOCH + 2_000),
            3,
            "bucket 1's two and bucket 2's one"
        );
        assert_eq!(requests(EPOCH + 3_000), 1, "bucket 2's one");
    }

    /// The fleet's counts trip a closed breaker only; any other stays as it is.
    #[cfg(feature = "redis")]
    #[test]
    fn a_fleet_trip_moves_only_a_closed_breaker_that_is_not_held() {
        let m = machine(Builder::new("unit-fleet-trip"));
        let generation = |m: &Machine| m.view().word.generation();
        m.force(State::Closed, Cause::ForcedClosed);
        let held = generation(&m);
        m.trip(Cause::Tripped);
        assert_eq!(generation(&m), held, "held closed");
        m.force(State::Closed, Cause::Reset);
        for state in [State::Open, State::HalfOpen] {
            let word = m.view().word;
            assert!(m.transition(word, state, EPOCH, Ending::Change(Cause::Tripped)));
            let before = generation(&m);
            m.trip(Cause::Tripped);
            assert_eq!(generation(&m), before, "{state:?} stays");
        }
        let word = m.view().word;
        assert!(m.transition(word, State::Closed, EPOCH, Ending::Change(Cause::Reset)));
        m.trip(Cause::Tripped);
        assert_eq!(m.view().word.state(), State::Open);
    }

    #[test]
    fn counts_near_their_maximum_saturate_instead_of_overflowing() {
        let m = machine(
            Builder::new("unit-saturation").trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX)),
        );
        for index in 0..WORDS {
            m.tally.update(index, 0, || 0, |_| Some(counts::MAX - 1));
        }
        for _ in 0..3 {
            run(&m, Outcome::Success, EPOCH);
            run(&m, Outcome::Ignored, EPOCH);
        }
        let c = m.tally.counts(0);
        assert_eq!(c.requests, counts::MAX);
        assert_eq!(c.total_successes, counts::MAX);
        assert_eq!(c.total_ignored, counts::MAX);
        assert_eq!(c.total_failures, counts::MAX - 1);
        for _ in 0..3 {
            run(&m, Outcome::Failure, EPOCH);
        }
        let c = m.tally.counts(0);
        assert_eq!(c.total_failures, counts::MAX);
        assert_eq!(c.consecutive_failures, 3);
        assert_eq!(m.view().word.state(), State::Closed);
    }

    #[test]
    fn transitions_retag_every_count_to_the_new_generation() {
        let m = machine(Builder::new("unit-retag"));
        run(&m, Outcome::Ignored, EPOCH);
        assert!(m.transition(
            m.view().word,
            State::Closed,
            EPOCH + 5,
            Ending::IntervalElapsed
        ));
        assert_eq!(m.tally.counts(1), Counts::default());
        for index in 0..WORDS {
            assert_eq!(m.tally.value(index, 0), 0, "no word keeps the old tag");
        }
        assert_eq!(m.view().stamp.map(|s| s.start), Some(EPOCH + 5));
        // A stale transition attempt from the old word fails and changes nothing.
        let stale = Ending::Change(Cause::Tripped);
        assert!(!m.transition(Word::INITIAL, State::Open, EPOCH + 9, stale));
        assert_eq!(m.view().word.generation(), 1);
        assert_eq!(m.view().stamp.map(|s| s.start), Some(EPOCH + 5));
    }

    #[test]
    fn starts_never_go_backwards() {
        let m = machine(Builder::new("unit-monotonic"));
        let trip = Ending::Change(Cause::Tripped);
        assert!(m.transition(m.view().word, State::Open, EPOCH + 100, trip));
        let half = Ending::Change(Cause::ResetTimeoutElapsed);
        assert!(m.transition(m.view().word, State::HalfOpen, EPOCH + 40, half));
        assert_eq!(m.view().stamp.map(|s| s.start), Some(EPOCH + 100));
    }

    #[test]
    fn the_open_period_grows_by_the_backoff_up_to_its_cap() {
        let m = machine(
            Builder::new("unit-backoff")
                .reset_timeout(Duration::from_secs(1))
                .backoff(2.0, Duration::from_secs(5)),
        );
        let secs = |n: u64| n * 1_000_000_000;
        assert_eq!(
            [1, 2, 3, 4, 5, 60].map(|k| m.draw(k)),
            [1, 2, 4, 5, 5, 5].map(secs)
        );
    }

    #[test]
    fn jitter_draws_within_its_range_and_breakers_draw_apart() {
        let full = |name| machine(Builder::new(name).jitter(Jitter::Full));
        let (a, b) = (full("unit-jitter-a"), full("unit-jitter-b"));
        let d = 60_000_000_000;
        let draws_a: Vec<u64> = (0..64).map(|_| a.draw(1)).collect();
        let draws_b: Vec<u64> = (0..64).map(|_| b.draw(1)).collect();
        assert!(draws_a.iter().all(|&x| x < d));
        assert_ne!(draws_a, draws_b, "each breaker has its own sequence");
        let equal = machine(Builder::new("unit-jitter-equal").jitter(Jitter::Equal));
        assert!(
            (0..64)
                .map(|_| equal.draw(1))
                .all(|x| (d / 2..d).contains(&x))
        );
    }
}
