//! The state machine: admission, recording and transitions on a handful of atomic words.
//!
//! The whole state is
//! - the state word ([`Word`]): state, generation and a "transition in progress" bit;
//! - `since`: when the current generation began, in nanoseconds after `base`, published
//!   seqlock-style under the busy bit of the state word;
//! - five count words, each tagged with the generation it belongs to (see `counts.rs`).
//!
//! Admission and recording are a load of the state word and one compare-and-swap on a
//! count word; no lock is taken and nothing is allocated. A transition is won by exactly
//! one caller with a compare-and-swap on the state word, so each transition happens once
//! and is followed by exactly one hook call.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::builder::{Builder, Functions, Hook};
use crate::call::Call;
use crate::counts::{
    self, FAILURES, IGNORED, REQUESTS, STREAK, SUCCESSES, WORDS, incremented, split_streak,
    streak_after,
};
use crate::observe::{Cause, Observer, StateChange};
use crate::permit::CoreRef;
use crate::settings::{Given, Settings};
use crate::state::Word;
use crate::sync::{AtomicU64, Ordering, fence};
use crate::{BreakerError, BuildError, Counts, Name, Outcome, Permit, State};

/// The state word as read, with the start of its generation when it could be read
/// consistently (it cannot while a transition is being published).
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    pub(crate) word: Word,
    pub(crate) since: Option<u64>,
}

/// The start of a generation, as a seqlock read found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    At(u64),
    /// A transition is being published.
    Busy,
    /// The state word changed while the start was read; read the word again.
    Changed,
}

/// Why `acquire` refused a call: small, so the admission path returns it in registers;
/// the full [`BreakerError`] is built off the hot path by [`Core::reject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    Open(Duration),
    HalfOpenFull,
    ForcedOpen,
}

/// What became of an attempt to change a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// Applied; the new value.
    Applied(u64),
    /// The change function declined (the half-open budget is taken).
    Refused,
    /// The generation has moved on; nothing was changed.
    Stale,
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

/// The breaker's reading of its creation instant. Readings are nanoseconds from creation
/// offset by this much, so that an instant before creation (read on another runtime's clock,
/// say a real one after a paused one that jumped ahead) is still a smaller number rather
/// than zero: about 146 years either way.
pub(crate) const EPOCH: u64 = 1 << 62;

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The shared state of one breaker.
pub(crate) struct Core {
    word: AtomicU64,
    since: AtomicU64,
    counters: [AtomicU64; WORDS],
    base: Instant,
    // The settings the state machine reads on its paths, one word each, so that a
    // reconfiguration can change them without a lock on the call path: stored before the
    // reconfiguration's new generation is published (Release), so that a caller that sees
    // the new generation sees them.
    reset_ns: AtomicU64,
    /// `interval` in nanoseconds, 0 for none.
    interval_ns: AtomicU64,
    /// `timeout` in nanoseconds, 0 for none.
    timeout_ns: AtomicU64,
    max_requests: AtomicU64,
    /// The whole settings: read off the call path (snapshots, the trip policy after a
    /// failure), written only by a reconfiguration.
    settings: RwLock<Settings>,
    /// The settings it was built with (after the loaded configuration), which sharing by
    /// name compares: a reconfigured shared breaker still matches its code.
    pub(crate) built: Settings,
    /// The code's own settings, and which of them the code gave, before any loaded
    /// configuration: to tell whether a later load would change this breaker.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) code: Settings,
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) given: Given,
    pub(crate) name: Name,
    hook: Option<Hook>,
    pub(crate) functions: Functions,
    pub(crate) observer: Observer,
}

impl Core {
    pub(crate) fn new(builder: Builder) -> Core {
        let Builder {
            name,
            settings,
            given,
            code,
            hook,
            functions,
            configured: _,
        } = builder;
        Core {
            word: AtomicU64::new(Word::INITIAL.0),
            since: AtomicU64::new(EPOCH),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            base: Instant::now(),
            reset_ns: AtomicU64::new(nanos(settings.reset_timeout)),
            interval_ns: AtomicU64::new(settings.interval().map_or(0, nanos)),
            timeout_ns: AtomicU64::new(settings.timeout.map_or(0, nanos)),
            max_requests: AtomicU64::new(u64::from(settings.max_requests)),
            observer: Observer::new(&name),
            name,
            settings: RwLock::new(settings),
            built: settings,
            code: code.unwrap_or(settings),
            given,
            hook,
            functions,
        }
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Settings {
        *self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// `reset_timeout` in nanoseconds.
    #[inline]
    fn reset_ns(&self) -> u64 {
        self.reset_ns.load(Ordering::Relaxed)
    }

    /// `interval` in nanoseconds, if any.
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

    /// Replaces the settings (checked already) and starts a new generation in the same
    /// state, reported with [`Cause::Reconfigured`]. Calls admitted before finish under
    /// the generation rule: their outcomes are stale and dropped.
    pub(crate) fn reconfigure(&self, settings: Settings) {
        {
            // Concurrent reconfigurations each store all their words under the lock, so
            // the last one's settings are the ones in force; each then starts a
            // generation of its own.
            let mut current = self
                .settings
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *current = settings;
            self.reset_ns
                .store(nanos(settings.reset_timeout), Ordering::Relaxed);
            self.interval_ns
                .store(settings.interval().map_or(0, nanos), Ordering::Relaxed);
            self.timeout_ns
                .store(settings.timeout.map_or(0, nanos), Ordering::Relaxed);
            self.max_requests
                .store(u64::from(settings.max_requests), Ordering::Relaxed);
        }
        loop {
            let word = Word(self.word.load(Ordering::Acquire));
            if word.busy() {
                std::hint::spin_loop();
                continue;
            }
            if self.transition(word, word.state(), self.now(), Some(Cause::Reconfigured)) {
                return;
            }
        }
    }

    /// Nanoseconds since the breaker was created, on tokio's clock, plus [`EPOCH`]: an
    /// instant before the creation reads as less than `EPOCH`.
    pub(crate) fn now(&self) -> u64 {
        let now = Instant::now();
        match now.checked_duration_since(self.base) {
            Some(after) => EPOCH.saturating_add(nanos(after)),
            None => EPOCH.saturating_sub(nanos(self.base.saturating_duration_since(now))),
        }
    }

    /// The start of the current generation as a reader at `now` should use it. A clock
    /// read earlier than the start means the clock went backwards between callers (two
    /// runtimes, one paused and moved ahead): the start is moved back to `now`, so the
    /// breaker never waits longer than its period once real time has passed. Losing the
    /// exchange to a transition is fine: its start is `now` or later anyway.
    #[inline]
    fn rebased(&self, since: u64, now: u64) -> u64 {
        if now < since {
            let _ = self
                .since
                .compare_exchange(since, now, Ordering::Relaxed, Ordering::Relaxed);
            now
        } else {
            since
        }
    }

    fn generation(&self) -> u64 {
        Word(self.word.load(Ordering::Acquire)).generation()
    }

    /// The state word and, unless a transition is being published, its generation's start.
    pub(crate) fn view(&self) -> View {
        loop {
            let word = Word(self.word.load(Ordering::Acquire));
            match self.since_of(word) {
                Since::At(since) => {
                    return View {
                        word,
                        since: Some(since),
                    };
                }
                Since::Busy => return View { word, since: None },
                Since::Changed => {}
            }
        }
    }

    /// The start of `word`'s generation (a seqlock read), read only where it is needed:
    /// the hot path of a closed breaker without `interval` never reads it.
    #[inline]
    fn since_of(&self, word: Word) -> Since {
        if word.busy() {
            return Since::Busy;
        }
        let since = self.since.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.word.load(Ordering::Relaxed) == word.0 {
            Since::At(since)
        } else {
            // A transition completed meanwhile: someone made progress, so the caller's
            // retry keeps this lock-free.
            Since::Changed
        }
    }

    /// Applies `change` to count `index` of `generation`, unless the generation is over.
    #[inline]
    pub(crate) fn update(
        &self,
        index: usize,
        generation: u64,
        change: impl Fn(u64) -> Option<u64>,
    ) -> Update {
        let cell = &self.counters[index];
        // Acquire: a word retagged by a newer generation must not be paired with an older
        // state word in the check below (the retag is written after the state word).
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let value = match counts::unpack(current, generation) {
                Some(value) => value,
                // The word still holds an older generation's count: it reads as zero,
                // but only the current generation may claim it.
                None if self.generation() == generation => 0,
                None => return Update::Stale,
            };
            let Some(new) = change(value) else {
                return Update::Refused;
            };
            match cell.compare_exchange_weak(
                current,
                counts::pack(generation, new),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Update::Applied(new),
                Err(actual) => current = actual,
            }
        }
    }

    fn value(&self, index: usize, generation: u64) -> u64 {
        counts::unpack(self.counters[index].load(Ordering::Acquire), generation).unwrap_or(0)
    }

    pub(crate) fn counts_of(&self, generation: u64) -> Counts {
        counts::from_values(std::array::from_fn(|i| self.value(i, generation)))
    }

    /// Admits a call or says why not; on success returns the admitting generation and
    /// its state.
    #[inline]
    pub(crate) fn acquire(&self, clock: impl FnMut() -> u64) -> Result<(u64, State), Rejection> {
        let mut clock = LazyNow { clock, now: None };
        loop {
            let word = Word(self.word.load(Ordering::Acquire));
            let generation = word.generation();
            match word.state() {
                State::Closed => {
                    if let Some(interval) = self.interval_ns() {
                        match self.since_of(word) {
                            Since::Changed => continue,
                            Since::At(since) => {
                                let now = clock.get();
                                let since = self.rebased(since, now);
                                if now >= since.saturating_add(interval) {
                                    self.transition(word, State::Closed, now, None);
                                    continue;
                                }
                            }
                            // A transition is being published: admit into the current
                            // generation (the outcome will be stale and dropped).
                            Since::Busy => {}
                        }
                    }
                    if let Update::Applied(_) =
                        self.update(REQUESTS, generation, |r| Some(incremented(r)))
                    {
                        return Ok((generation, State::Closed));
                    }
                }
                State::Open => {
                    if word.held() {
                        return Err(Rejection::ForcedOpen);
                    }
                    let since = match self.since_of(word) {
                        Since::At(since) => since,
                        Since::Changed => continue,
                        // The transition to half-open is being published right now.
                        Since::Busy => return Err(Rejection::Open(Duration::ZERO)),
                    };
                    let now = clock.get();
                    let until = self.rebased(since, now).saturating_add(self.reset_ns());
                    if now >= until {
                        self.transition(
                            word,
                            State::HalfOpen,
                            now,
                            Some(Cause::ResetTimeoutElapsed),
                        );
                        continue;
                    }
                    return Err(Rejection::Open(Duration::from_nanos(until - now)));
                }
                State::HalfOpen => {
                    let ignored = self.value(IGNORED, generation);
                    let budget = self.max_requests();
                    match self.update(REQUESTS, generation, |r| {
                        (r.saturating_sub(ignored) < budget).then(|| incremented(r))
                    }) {
                        Update::Applied(_) => return Ok((generation, State::HalfOpen)),
                        Update::Refused => return Err(Rejection::HalfOpenFull),
                        Update::Stale => {}
                    }
                }
            }
        }
    }

    /// The error for a rejection, reported to the observers.
    #[cold]
    pub(crate) fn reject(&self, rejection: Rejection) -> BreakerError {
        let name = self.name.clone();
        let error = match rejection {
            Rejection::Open(retry_after) => BreakerError::Open { name, retry_after },
            Rejection::HalfOpenFull => BreakerError::HalfOpenFull { name },
            Rejection::ForcedOpen => BreakerError::ForcedOpen { name },
        };
        self.observer.rejected(&error);
        error
    }

    /// Records the outcome of a call admitted in `generation`. Outcomes of a generation
    /// that is over are dropped.
    #[inline]
    pub(crate) fn record(&self, generation: u64, outcome: Outcome, clock: impl FnOnce() -> u64) {
        let word = Word(self.word.load(Ordering::Acquire));
        if word.generation() != generation {
            return;
        }
        let failed = match outcome {
            Outcome::Ignored => {
                self.update(IGNORED, generation, |v| Some(incremented(v)));
                return;
            }
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let total = if failed { FAILURES } else { SUCCESSES };
        let Update::Applied(total) = self.update(total, generation, |v| Some(incremented(v)))
        else {
            return;
        };
        let Update::Applied(streak) =
            self.update(STREAK, generation, |s| Some(streak_after(s, failed)))
        else {
            return;
        };
        let (consecutive_successes, consecutive_failures) = split_streak(streak);
        let (to, cause) = match (word.state(), failed) {
            (State::HalfOpen, true) => (State::Open, Cause::ProbeFailed),
            (State::HalfOpen, false) if consecutive_successes >= self.max_requests() => {
                (State::Closed, Cause::ProbesSucceeded)
            }
            // A breaker held closed never trips.
            (State::Closed, true) if !word.held() => {
                // The counts as this failure left them: its own updates are exact, the
                // others are read now.
                let mut counts = self.counts_of(generation);
                counts.total_failures = counts.total_failures.max(total);
                counts.consecutive_successes = consecutive_successes;
                counts.consecutive_failures = consecutive_failures;
                if !self.settings().trip_policy.should_trip(&counts) {
                    return;
                }
                (State::Open, Cause::Tripped)
            }
            _ => return,
        };
        self.transition(word, to, clock(), Some(cause));
    }

    /// Takes an admitted call that will never finish out of the counts again: in
    /// half-open this gives its probe slot back.
    pub(crate) fn cancel(&self, generation: u64) {
        if self.generation() == generation {
            self.update(REQUESTS, generation, |r| Some(r.saturating_sub(1)));
        }
    }

    /// Moves from `from` (as read) to a new generation in state `to`, starting at `now`.
    /// Returns `false` if someone else changed the state word first. `cause` is `None`
    /// for interval resets, which are not state changes and are not reported.
    pub(crate) fn transition(&self, from: Word, to: State, now: u64, cause: Option<Cause>) -> bool {
        if from.busy()
            || self
                .word
                .compare_exchange(
                    from.0,
                    from.claimed().0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return false;
        }
        // Seqlock write: the busy bit is visible before the new start time.
        fence(Ordering::Release);
        // Starts never go backwards, even if `now` was read a while ago. One read-modify-
        // write, so that a concurrent rebase (see `rebased`) either lands before it and is
        // superseded, or fails against the new start.
        self.since.fetch_max(now, Ordering::Relaxed);
        let held = cause.and_then(Cause::holds).unwrap_or(from.held());
        let next = from.next(to, held);
        // The counts that caused the change, read before they are retagged. Only a real
        // change of state is reported: an interval reset, or an operator action that
        // leaves the state as it was (holding an open breaker open, resetting a closed
        // one), starts a new generation silently.
        // A reconfiguration is reported whatever the state: its settings are news.
        let ended = cause
            .filter(|c| from.state() != to || *c == Cause::Reconfigured)
            .map(|_| self.counts_of(from.generation()));
        self.word.store(next.0, Ordering::Release);
        // Retag the counts so that none keeps an ancient generation's tag, which 2^24
        // generations later would read as current. A failed exchange means a newer
        // count was just written, which is recent enough.
        for cell in &self.counters {
            let current = cell.load(Ordering::Relaxed);
            if counts::unpack(current, next.generation()).is_none() {
                let _ = cell.compare_exchange(
                    current,
                    counts::pack(next.generation(), 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
        if let (Some(cause), Some(counts)) = (cause, ended) {
            let change = StateChange {
                name: self.name.clone(),
                from: from.state(),
                to,
                cause,
                counts,
                retry_after: (to == State::Open && !held)
                    .then(|| Duration::from_nanos(self.reset_ns())),
            };
            self.notify(&change);
        }
        true
    }

    /// Tells the observers, the listeners and the hook about a change, with no lock held.
    /// Each runs contained: a panic in one is reported and skips none of the others, and
    /// never reaches the caller (which may be a getter such as `state()`).
    fn notify(&self, change: &StateChange) {
        self.observer.transition(change);
        crate::registry::notify_listeners(change);
        // The hook hears real changes of state only.
        if let Some(hook) = self.hook.as_ref().filter(|_| change.from != change.to) {
            contained(&self.name, "on_state_change hook", || {
                hook(&self.name, change.from, change.to);
            });
        }
    }

    /// Moves to `to` whatever the state, for an operator. Waits out a transition that is
    /// being published (a few instructions) rather than losing to it.
    pub(crate) fn force(&self, to: State, cause: Cause) {
        loop {
            let word = Word(self.word.load(Ordering::Acquire));
            if word.busy() {
                std::hint::spin_loop();
                continue;
            }
            if self.transition(word, to, self.now(), Some(cause)) {
                return;
            }
        }
    }

    /// The state word after applying any transition that time alone causes (Open to
    /// HalfOpen once `reset_timeout` has elapsed, interval resets in Closed).
    pub(crate) fn look(&self, now: u64) -> View {
        loop {
            let view = self.view();
            let Some(since) = view.since else {
                return view;
            };
            let since = self.rebased(since, now);
            let due = match view.word.state() {
                State::Open if view.word.held() => None,
                State::Open => (now >= since.saturating_add(self.reset_ns()))
                    .then_some((State::HalfOpen, Some(Cause::ResetTimeoutElapsed))),
                State::Closed => self
                    .interval_ns()
                    .filter(|i| now >= since.saturating_add(*i))
                    .map(|_| (State::Closed, None)),
                State::HalfOpen => None,
            };
            match due {
                Some((to, cause)) => {
                    self.transition(view.word, to, now, cause);
                }
                None => return view,
            }
        }
    }

    pub(crate) fn retry_after(&self, view: View, now: u64) -> Option<Duration> {
        match (view.word.state(), view.since) {
            (State::Open, _) if view.word.held() => None,
            (State::Open, Some(since)) => Some(Duration::from_nanos(
                since
                    .min(now)
                    .saturating_add(self.reset_ns())
                    .saturating_sub(now),
            )),
            (State::Open, None) => Some(Duration::ZERO),
            _ => None,
        }
    }
}

/// Runs a user's hook or listener, containing a panic: the panic hook of the process has
/// already reported it (to stderr by default), and with the `tracing` feature an error event
/// names the breaker. Nothing else is skipped, and the breaker is consistent either way.
pub(crate) fn contained(name: &Name, what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        #[cfg(feature = "tracing")]
        tracing::error!(target: "breaker", breaker = %name, "{what} panicked; the panic was contained");
        #[cfg(not(feature = "tracing"))]
        let _ = (name, what);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        crate::registry::remove(self);
    }
}

/// A circuit breaker. Cheap to clone: clones share one breaker.
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{BreakerError, CircuitBreaker, State};
///
/// #[derive(Debug)]
/// enum AppError { Breaker(BreakerError), Down }
/// impl From<BreakerError> for AppError {
///     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = CircuitBreaker::builder("doc-example")
///     .timeout(Duration::from_secs(2))
///     .trip_policy(breaker_runtime::TripPolicy::ConsecutiveFailures(2))
///     .build()?;
///
/// let ok: Result<u32, AppError> = breaker.call(async { Ok(7) }).await;
/// assert_eq!(ok.unwrap(), 7);
///
/// for _ in 0..2 {
///     let _ = breaker.call(async { Err::<u32, _>(AppError::Down) }).await;
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.call(async { Ok::<u32, AppError>(1) }).await;
/// assert!(matches!(rejected, Err(AppError::Breaker(BreakerError::Open { .. }))));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) core: Arc<Core>,
}

impl CircuitBreaker {
    /// Starts building a breaker with this name. See [`Builder`].
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name)
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.core.name
    }

    /// The breaker's settings now (they change only by
    /// [`reconfigure`](Self::reconfigure)).
    #[must_use]
    pub fn settings(&self) -> Settings {
        self.core.settings()
    }

    /// Applies new settings to this live breaker, for an operator during an incident.
    ///
    /// The settings are checked first: invalid ones are an error and change nothing.
    /// Valid ones start a new generation in the current state (counts cleared; outcomes of
    /// calls admitted before are stale and dropped; an open breaker's `reset_timeout`
    /// counts afresh from now), and listeners receive a [`StateChange`] with
    /// [`Cause::Reconfigured`] (with `from == to` unless time moved the state first), as
    /// do tracing and metrics (`breaker_reconfigurations_total`). The breaker's own
    /// `on_state_change` hook hears only real changes of state, so not this. A hold
    /// ([`force_open`](Self::force_open)) stays. Safe against concurrent calls: a call
    /// reads the settings of the generation that admitted it, and one admitted before
    /// finishes under the generation rule like any stale call (its deadline is the one it
    /// was admitted with).
    ///
    /// Every clone of the breaker sees the new settings; a breaker shared by name
    /// ([`Builder::build_shared`]) still matches builders with its original settings.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{BuildError, CircuitBreaker};
    ///
    /// let b = CircuitBreaker::builder("reconfigure-example").build()?;
    /// let mut settings = b.settings();
    /// settings.timeout = Some(Duration::from_millis(500));
    /// b.reconfigure(settings)?;
    /// assert_eq!(b.settings().timeout, Some(Duration::from_millis(500)));
    ///
    /// settings.max_requests = 0;
    /// assert_eq!(b.reconfigure(settings), Err(BuildError::ZeroMaxRequests));
    /// assert_eq!(b.settings().max_requests, 1, "unchanged");
    /// # Ok::<(), BuildError>(())
    /// ```
    ///
    /// # Errors
    /// The [`BuildError`] of an invalid setting; nothing changes then.
    pub fn reconfigure(&self, settings: Settings) -> Result<(), BuildError> {
        settings.validate()?;
        self.core.reconfigure(settings);
        Ok(())
    }

    /// The current state. Looking moves an open breaker whose `reset_timeout` has elapsed
    /// to half-open, and clears the counts of a closed one whose `interval` has elapsed.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.look(self.core.now()).word.state()
    }

    /// The counts of the current generation (after the same time-driven transitions as
    /// [`state`](Self::state)).
    #[must_use]
    pub fn counts(&self) -> Counts {
        let view = self.core.look(self.core.now());
        self.core.counts_of(view.word.generation())
    }

    /// How long until an open breaker admits a probe; `None` unless it is open.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        let now = self.core.now();
        self.core.retry_after(self.core.look(now), now)
    }

    /// State, counts and settings in one consistent look.
    #[must_use]
    pub fn snapshot(&self) -> crate::Snapshot {
        let now = self.core.now();
        let view = self.core.look(now);
        crate::Snapshot {
            name: self.core.name.clone(),
            state: view.word.state(),
            forced: view.word.held(),
            counts: self.core.counts_of(view.word.generation()),
            retry_after: self.core.retry_after(view, now),
            settings: self.core.settings(),
        }
    }

    /// Asks to run one call. The returned [`Permit`] records the call's outcome; dropped
    /// without recording, it records nothing (and gives a half-open probe slot back).
    ///
    /// # Errors
    /// [`BreakerError::Open`] or [`BreakerError::HalfOpenFull`] when the call is rejected.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerError> {
        match self.core.acquire(|| self.core.now()) {
            Ok((generation, state)) => Ok(Permit::new(
                CoreRef::Borrowed(&self.core),
                generation,
                state,
            )),
            Err(rejection) => Err(self.core.reject(rejection)),
        }
    }

    /// Like [`try_acquire`](Self::try_acquire), for a call that must own what it uses: the
    /// permit shares the breaker (one reference count) instead of borrowing it, so it and
    /// the future of its [`run`](Permit::run) are `'static` and can move into a spawned
    /// task or a `tower` response future.
    ///
    /// # Errors
    /// [`BreakerError::Open`] or [`BreakerError::HalfOpenFull`] when the call is rejected.
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<Permit<'static>, BreakerError> {
        let mut permit = self.clone().waiting_permit();
        permit.admit()?;
        Ok(permit)
    }

    /// A permit that holds this handle's reference count and no admission yet: admitting
    /// it is [`try_acquire_owned`](Self::try_acquire_owned) without a clone.
    #[inline]
    pub(crate) fn waiting_permit(self) -> Permit<'static> {
        Permit::waiting(CoreRef::Shared(self.core))
    }

    /// Runs `fut` through the breaker: rejected at once when open, raced against the
    /// deadline when a `timeout` is set, and its outcome recorded (`Ok` is a success,
    /// `Err` a failure).
    ///
    /// Admission happens when the returned future is first polled. Dropping the future
    /// records nothing (also when it is dropped because another future panicked, as in a
    /// `join!`), and gives a half-open probe slot back only after `fut` is dropped; a panic
    /// inside `fut` counts as a failure and keeps unwinding.
    ///
    /// # Errors
    /// `fut`'s own error, or a [`BreakerError`] converted into `E`: a rejection, a
    /// [`Timeout`](BreakerError::Timeout), or [`NoTimer`](BreakerError::NoTimer) when the
    /// breaker has a `timeout` and the call runs where tokio's timer is not available.
    pub fn call<F, T, E>(&self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
    {
        Call::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            fut,
            Outcome::of,
            |e| Err(E::from(e)),
        )
    }

    /// Like [`call`](Self::call), with a custom classification of the result.
    ///
    /// # Errors
    /// `fut`'s own error, or a [`BreakerError`] converted into `E`.
    pub fn call_with<F, T, E, C>(&self, fut: F, classify: C) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        Call::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            fut,
            classify,
            |e| Err(E::from(e)),
        )
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let view = self.core.view();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.core.name)
            .field("state", &view.word.state())
            .field("counts", &self.core.counts_of(view.word.generation()))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::TripPolicy;

    #[test]
    fn counts_near_their_maximum_saturate_instead_of_overflowing() {
        let core = Core::new(
            Builder::new("unit-saturation").trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX)),
        );
        for index in 0..WORDS {
            core.update(index, 0, |_| Some(counts::MAX - 1));
        }
        for _ in 0..3 {
            let (g, _) = core.acquire(|| EPOCH).unwrap();
            core.record(g, Outcome::Success, || EPOCH);
            let (g, _) = core.acquire(|| EPOCH).unwrap();
            core.record(g, Outcome::Ignored, || EPOCH);
        }
        let c = core.counts_of(0);
        assert_eq!(c.requests, counts::MAX);
        assert_eq!(c.total_successes, counts::MAX);
        assert_eq!(c.total_ignored, counts::MAX);
        assert_eq!(c.total_failures, counts::MAX - 1);
        for _ in 0..3 {
            let (g, _) = core.acquire(|| EPOCH).unwrap();
            core.record(g, Outcome::Failure, || EPOCH);
        }
        let c = core.counts_of(0);
        assert_eq!(c.total_failures, counts::MAX);
        assert_eq!(c.consecutive_failures, 3);
        assert_eq!(core.view().word.state(), State::Closed);
    }

    #[test]
    fn transitions_retag_every_count_to_the_new_generation() {
        let core = Core::new(Builder::new("unit-retag"));
        let (g, _) = core.acquire(|| EPOCH).unwrap();
        core.record(g, Outcome::Ignored, || EPOCH);
        assert!(core.transition(core.view().word, State::Closed, EPOCH + 5, None));
        for cell in &core.counters {
            assert_eq!(
                counts::unpack(cell.load(Ordering::Relaxed), 1),
                Some(0),
                "no word keeps the old generation's tag"
            );
        }
        assert_eq!(core.view().since, Some(EPOCH + 5));
        // A stale transition attempt from the old word fails and changes nothing.
        assert!(!core.transition(Word::INITIAL, State::Open, EPOCH + 9, Some(Cause::Tripped)));
        assert_eq!(core.view().word.generation(), 1);
        assert_eq!(core.view().since, Some(EPOCH + 5));
    }

    #[test]
    fn starts_never_go_backwards() {
        let core = Core::new(Builder::new("unit-monotonic"));
        assert!(core.transition(
            core.view().word,
            State::Open,
            EPOCH + 100,
            Some(Cause::Tripped)
        ));
        assert!(core.transition(
            core.view().word,
            State::HalfOpen,
            EPOCH + 40,
            Some(Cause::ResetTimeoutElapsed)
        ));
        assert_eq!(core.view().since, Some(EPOCH + 100));
    }
}
