//! The permit for one admitted call, and running a future under it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::CircuitBreaker;
use crate::breaker::Core;
use crate::machine::{Admission, Machine};
use crate::observe::Finished;
use crate::{BreakerError, Outcome, State};

/// Permission to run one call, from [`CircuitBreaker::try_acquire`](crate::CircuitBreaker::try_acquire).
///
/// Record the call's outcome with [`success`](Self::success), [`failure`](Self::failure),
/// [`ignore`](Self::ignore) or [`record`](Self::record), or hand the call to
/// [`run`](Self::run). A permit dropped without an outcome records nothing and gives a
/// half-open probe slot back, so cancelled calls can never wedge the breaker.
///
/// A permit held by hand and dropped while its thread panics records a failure: it cannot
/// tell a panic of the code it guards from another one on the same thread. Handed to
/// [`run`](Self::run), it is more precise: only a panic inside the call's own poll is a
/// failure, and a call dropped while a sibling future panics (in a `join!`, say) records
/// nothing.
///
/// ```
/// use breaker_runtime::{BreakerError, CircuitBreaker};
///
/// let breaker = CircuitBreaker::builder("permit-example").build()?;
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let worked = true; // call the dependency here
///         if worked { permit.success() } else { permit.failure() }
///     }
///     Err(rejected) => eprintln!("not calling: {rejected}"),
/// }
/// assert_eq!(breaker.counts().total_successes, 1);
/// # Ok::<(), breaker_runtime::BuildError>(())
/// ```
#[must_use = "a permit records nothing unless its outcome is recorded"]
pub struct Permit<'a> {
    pub(crate) core: CoreRef<'a>,
    /// What it was admitted as (meaningless until armed), as the two words of an
    /// [`Admission`], kept apart so that storing and reloading them is two plain moves.
    admitted: u64,
    admitted_extra: u64,
    /// [`ARMED`], [`FAIL_ON_PANIC`] and [`STARTED`], in one word: written and copied whole,
    /// never byte by byte.
    flags: u64,
    #[cfg(feature = "metrics")]
    started: Option<tokio::time::Instant>,
}

/// The permit holds an admission (to record, or to give back when dropped). A call future
/// holds an unarmed permit until its first poll admits it.
const ARMED: u64 = 1;
/// Dropped while the thread panics, the permit records a failure.
const FAIL_ON_PANIC: u64 = 2;
/// The call future holding the permit was polled once (and admitted, unless the permit came
/// admitted).
const STARTED: u64 = 4;

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(core: CoreRef<'a>, admission: Admission) -> Permit<'a> {
        let (admitted, admitted_extra) = admission.into_parts();
        Permit {
            core,
            admitted,
            admitted_extra,
            flags: ARMED | FAIL_ON_PANIC,
            #[cfg(feature = "metrics")]
            started: Some(tokio::time::Instant::now()),
        }
    }

    /// A permit that holds no admission yet, for a call admitted at its first poll.
    #[inline]
    pub(crate) fn waiting(core: CoreRef<'a>) -> Permit<'a> {
        let (admitted, admitted_extra) = Admission::NONE.into_parts();
        Permit {
            core,
            admitted,
            admitted_extra,
            flags: 0,
            #[cfg(feature = "metrics")]
            started: None,
        }
    }

    /// Asks the breaker to admit the call this waiting permit stands for. Returns the
    /// clock reading the admission took, or 0 if it took none.
    #[inline(always)]
    pub(crate) fn admit(&mut self) -> Result<u64, BreakerError> {
        let m = &*self.core;
        let mut reading = 0;
        let clock = || {
            reading = m.now();
            reading
        };
        match m.acquire(clock) {
            Ok(admission) => {
                (self.admitted, self.admitted_extra) = admission.into_parts();
                self.flags |= ARMED;
                #[cfg(feature = "metrics")]
                {
                    self.started = Some(tokio::time::Instant::now());
                }
                Ok(reading)
            }
            Err(rejection) => Err(m.reject(rejection)),
        }
    }

    /// Whether the permit holds an admission.
    /// What it was admitted as.
    #[inline]
    fn admission(&self) -> Admission {
        Admission::from_parts(self.admitted, self.admitted_extra)
    }

    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.flags & ARMED != 0
    }

    /// Whether being dropped while the thread panics records a failure: only while the
    /// call's own future is polled.
    #[inline]
    pub(crate) fn set_fail_on_panic(&mut self, on: bool) {
        if on {
            self.flags |= FAIL_ON_PANIC;
        } else {
            self.flags &= !FAIL_ON_PANIC;
        }
    }

    /// Marks the first poll of the call that holds this permit; `true` if it had happened
    /// already.
    #[inline]
    pub(crate) fn start(&mut self) -> bool {
        let started = self.flags & STARTED != 0;
        self.flags |= STARTED;
        started
    }

    /// Gives the admission back, recording nothing (as dropping the permit does).
    #[inline]
    pub(crate) fn give_back(&mut self) {
        if self.is_armed() {
            self.flags &= !ARMED;
            self.core.cancel(self.admission());
        }
    }

    /// The state the breaker was in when it admitted this call: `Closed`, or `HalfOpen`
    /// for a probe.
    #[must_use]
    pub fn state(&self) -> State {
        self.admission().state()
    }

    /// The generation that admitted this call. Every state change and every interval
    /// reset starts a new generation; the outcome of a call counts only if its generation
    /// is still current when it is recorded.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.admission().generation()
    }

    /// Records the call's outcome.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.finish(outcome, Finished::from(outcome));
    }

    /// Records the outcome of the admitted call; the permit holds nothing afterwards.
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome, how: Finished) {
        self.finish_at(outcome, how, 0);
    }

    /// [`finish`](Self::finish) for a call that finished within the poll that admitted it,
    /// which read the clock at `reading` (0: it did not). That reading then stands for the
    /// time of the outcome too, unless the breaker times calls for slowness.
    #[inline]
    pub(crate) fn finish_at(&mut self, outcome: Outcome, how: Finished, reading: u64) {
        self.flags &= !ARMED;
        #[cfg(feature = "metrics")]
        if let Some(started) = self.started {
            self.core.observer.finished(how, started);
        }
        let m = &*self.core;
        let reuse = reading != 0 && m.reuses_admission_reading();
        let clock = || if reuse { reading } else { m.now() };
        m.record_at(
            self.admission(),
            outcome,
            how == Finished::Timeout,
            reuse,
            clock,
        );
    }

    /// Records a success.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Records an ignored outcome: it counts in `total_ignored` only.
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.is_armed() {
            return;
        }
        if self.flags & FAIL_ON_PANIC != 0 && std::thread::panicking() {
            self.finish(Outcome::Failure, Finished::Failure);
        } else {
            self.give_back();
        }
    }
}

/// How a permit or a call reaches its breaker: borrowed from a [`CircuitBreaker`] for calls
/// that live within the borrow, or sharing it for calls that must own what they use
/// ([`CircuitBreaker::try_acquire_owned`](crate::CircuitBreaker::try_acquire_owned)).
///
/// [`CircuitBreaker`]: crate::CircuitBreaker
#[derive(Clone)]
pub(crate) enum CoreRef<'a> {
    Borrowed(&'a Core),
    Shared(Arc<Core>),
}

impl Deref for CoreRef<'_> {
    type Target = Machine;

    #[inline]
    fn deref(&self) -> &Machine {
        match self {
            CoreRef::Borrowed(core) => &core.machine,
            CoreRef::Shared(core) => &core.machine,
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.core.name)
            .field("generation", &self.admission().generation())
            .field("state", &self.admission().state())
            .finish()
    }
}

impl CircuitBreaker {
    /// Asks to run one call. The returned [`Permit`] records the call's outcome; dropped
    /// without recording, it records nothing (and gives a half-open probe slot back).
    ///
    /// # Errors
    /// [`BreakerError::Open`] or [`BreakerError::HalfOpenFull`] when the call is rejected.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerError> {
        let m = &self.core.machine;
        match m.acquire(|| m.now()) {
            Ok(admission) => Ok(Permit::new(CoreRef::Borrowed(&self.core), admission)),
            Err(rejection) => Err(m.reject(rejection)),
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
}
