//! The breaker as users hold it: [`CircuitBreaker`], a thin handle on the shared [`Core`]
//! (the state machine and what the registry and configuration need to know about how it
//! was made), and the [`Snapshot`] of one.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::machine::Machine;
use crate::observe::Observer;
use crate::settings::{Given, Settings};
use crate::{BuildError, Counts, Name, State};

/// Which functions a breaker was configured with, for [`Builder::build_shared`](crate::Builder::build_shared): each is
/// identified by its type (every fn item and every closure has a type of its own), since
/// function addresses are not reliable (one function can have several, two can share one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Functions {
    pub(crate) hook: Option<TypeId>,
    pub(crate) trip: Option<TypeId>,
    pub(crate) classify: Option<TypeId>,
}

impl Functions {
    /// The first function in which `self` and `other` differ. A trip function counts only
    /// when both trip policies are `Custom` (otherwise the policies differ already).
    pub(crate) fn difference(&self, other: &Functions, custom_trip: bool) -> Option<&'static str> {
        if self.hook != other.hook {
            Some("on_state_change hook")
        } else if custom_trip && self.trip != other.trip {
            Some("trip function")
        } else if self.classify != other.classify {
            Some("classify function")
        } else {
            None
        }
    }
}

/// What the pieces of a breaker are made from, for [`Core::new`].
pub(crate) struct Parts {
    pub(crate) name: Name,
    pub(crate) settings: Settings,
    pub(crate) code: Settings,
    pub(crate) given: Given,
    pub(crate) functions: Functions,
    pub(crate) observer: Observer,
}

/// One breaker, shared by its handles.
pub(crate) struct Core {
    pub(crate) machine: Machine,
    /// The settings it was built with (after the loaded configuration), which sharing by
    /// name compares: a reconfigured shared breaker still matches its code.
    pub(crate) built: Settings,
    /// The code's own settings, and which of them the code gave, before any loaded
    /// configuration: to tell whether a later load would change this breaker.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) code: Settings,
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) given: Given,
    pub(crate) functions: Functions,
}

impl Core {
    pub(crate) fn new(parts: Parts) -> Core {
        let Parts {
            name,
            settings,
            code,
            given,
            functions,
            observer,
        } = parts;
        Core {
            machine: Machine::new(name, settings, observer),
            built: settings,
            code,
            given,
            functions,
        }
    }

    pub(crate) fn name(&self) -> &Name {
        &self.machine.name
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
    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.core.machine.name
    }

    /// The breaker's settings now (they change only by
    /// [`reconfigure`](Self::reconfigure)).
    #[must_use]
    pub fn settings(&self) -> Settings {
        self.core.machine.settings()
    }

    /// Applies new settings to this live breaker, for an operator during an incident.
    ///
    /// The settings are checked first: invalid ones are an error and change nothing.
    /// Valid ones start a new generation in the current state (counts cleared; outcomes of
    /// calls admitted before are stale and dropped; an open breaker draws its open period
    /// afresh from now), and listeners receive a [`StateChange`](crate::StateChange) with
    /// [`Cause::Reconfigured`](crate::Cause::Reconfigured) (with `from == to` unless time
    /// moved the state first), as do tracing and metrics
    /// (`breaker_reconfigurations_total`). The breaker's own `on_state_change` hook hears
    /// only real changes of state, so not this. A hold ([`force_open`](Self::force_open))
    /// stays. The window may change its length or interval but not its kind or size. Safe
    /// against concurrent calls: a call reads the settings of the generation that admitted
    /// it, and one admitted before finishes under the generation rule like any stale call
    /// (a deadline it armed already stays as it was).
    ///
    /// Every clone of the breaker sees the new settings; a breaker shared by name
    /// ([`Builder::build_shared`](crate::Builder::build_shared)) still matches builders
    /// with its original settings.
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
    /// The [`BuildError`] of an invalid setting, or
    /// [`BuildError::WindowShapeChanged`] for a window of another kind or size; nothing
    /// changes then.
    pub fn reconfigure(&self, settings: Settings) -> Result<(), BuildError> {
        self.core.machine.reconfigure(settings)
    }

    /// The current state. Looking moves an open breaker whose open period has elapsed to
    /// half-open, and clears the counts of a closed one whose `interval` has elapsed.
    #[must_use]
    pub fn state(&self) -> State {
        let m = &self.core.machine;
        m.settle(m.now()).word.state()
    }

    /// The counts as they stand (after the same time-driven transitions as
    /// [`state`](Self::state)): a closed breaker's over its window, others' over the
    /// current generation.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let m = &self.core.machine;
        let now = m.now();
        m.counts(m.settle(now), now)
    }

    /// How long until an open breaker admits a probe; `None` unless it is open.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        let m = &self.core.machine;
        let now = m.now();
        m.retry_after(m.settle(now), now)
    }

    /// State, counts and settings in one consistent look.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let m = &self.core.machine;
        let now = m.now();
        let view = m.settle(now);
        Snapshot {
            name: m.name.clone(),
            state: view.word.state(),
            forced: view.word.forced(),
            counts: m.counts(view, now),
            retry_after: m.retry_after(view, now),
            attempt: m.attempt(view),
            settings: m.settings(),
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.core.machine;
        let view = m.view();
        f.debug_struct("CircuitBreaker")
            .field("name", &m.name)
            .field("state", &view.word.state())
            .field("counts", &m.counts(view, m.now()))
            .finish_non_exhaustive()
    }
}

/// One breaker as the registry lists it.
///
/// With the `serde` feature it serializes with durations as seconds (`f64`), e.g.
/// `{"name":"db","state":"open","forced":false,"counts":{..},"retry_after":4.2,"settings":{..}}`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// Whether an operator holds it in that state.
    pub forced: bool,
    /// The counts of its current generation.
    pub counts: Counts,
    /// How long until it admits a probe, when open (and not held open).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_impl::seconds")
    )]
    pub retry_after: Option<Duration>,
    /// Which open attempt it is on (see [`StateChange::attempt`](crate::StateChange::attempt)).
    pub attempt: u32,
    /// Its settings.
    pub settings: Settings,
}
