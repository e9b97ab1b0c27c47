//! What a breaker tells the world: its `on_state_change` hook, the state-change
//! listeners, and (behind the `tracing` and `metrics` features) events and metrics. With
//! both features off this module compiles to nothing on the call path.
//!
//! A breaker is handed its [`Observer`] when it is made: the hook, the list of listeners it
//! reports to (the registry's, for every breaker the crate makes) and its metric handles.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

#[cfg(feature = "metrics")]
use tokio::time::Instant;

use crate::{BreakerError, Counts, Name, Outcome, State};

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Cause {
    /// Closed → Open: the trip policy said trip after a failure.
    Tripped,
    /// Closed → Open: the share of slow calls reached `slow_call_ratio`.
    SlowCallsTripped,
    /// Open → HalfOpen: `reset_timeout` elapsed.
    ResetTimeoutElapsed,
    /// HalfOpen → Open: a probe failed.
    ProbeFailed,
    /// HalfOpen → Open: a probe succeeded, but took at least `slow_call`.
    ProbeSlow,
    /// HalfOpen → Closed: `max_requests` probes succeeded in a row.
    ProbesSucceeded,
    /// An operator held the breaker open ([`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open)).
    ForcedOpen,
    /// An operator held the breaker closed ([`CircuitBreaker::force_closed`](crate::CircuitBreaker::force_closed)).
    ForcedClosed,
    /// An operator reset the breaker ([`CircuitBreaker::reset`](crate::CircuitBreaker::reset)).
    Reset,
    /// New settings were applied
    /// ([`CircuitBreaker::reconfigure`](crate::CircuitBreaker::reconfigure)): a new
    /// generation in the same state (`from == to`), reported to listeners, tracing and
    /// metrics but not to the breaker's `on_state_change` hook.
    Reconfigured,
    /// The breaker follows the state its fleet shares (another replica tripped it, probed
    /// it or closed it; see the `shared` module).
    Shared,
}

impl Cause {
    /// A short human explanation, e.g. for logs.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Tripped => "the trip policy tripped on the failures counted",
            Cause::SlowCallsTripped => "too many calls were slow",
            Cause::ResetTimeoutElapsed => "reset_timeout elapsed; probing the dependency",
            Cause::ProbeFailed => "a probe call failed",
            Cause::ProbeSlow => "a probe call was slow",
            Cause::ProbesSucceeded => "the probe calls succeeded",
            Cause::ForcedOpen => "held open by an operator",
            Cause::ForcedClosed => "held closed by an operator",
            Cause::Reset => "reset by an operator",
            Cause::Reconfigured => "reconfigured with new settings",
            Cause::Shared => "the fleet's shared state moved",
        }
    }

    /// Whether the new state is forced (held until [`reset`](crate::CircuitBreaker::reset)),
    /// for operator actions; `None` for the others, which keep the flag as it was.
    pub(crate) fn forces(self) -> Option<bool> {
        match self {
            Cause::ForcedOpen | Cause::ForcedClosed => Some(true),
            Cause::Reset => Some(false),
            _ => None,
        }
    }
}

/// One change of a breaker's state (or of its settings, with [`Cause::Reconfigured`]), as [`registry::on_state_change`](crate::registry::on_state_change)
/// listeners receive it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateChange {
    /// The breaker's name.
    pub name: Name,
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Why it changed.
    pub cause: Cause,
    /// The counts of the generation that ended, the ones that caused the change (or that
    /// a reconfiguration cleared).
    pub counts: Counts,
    /// When the new state is open: how long until it admits a probe, the open period
    /// drawn for it (`None` when held open, or not open).
    pub retry_after: Option<Duration>,
    /// When the new state is open: which open attempt this is (1 for a trip from closed,
    /// one more for each re-opening from half-open, back to 0 once it closes). The open
    /// period grows with it when a backoff is set.
    pub attempt: u32,
}

/// The function called after every state change, with the breaker's name, the old and
/// the new state.
pub(crate) type Hook = Arc<dyn Fn(&str, State, State) + Send + Sync>;

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// A list of state-change listeners, each with its id.
#[derive(Default)]
pub(crate) struct Listeners {
    all: RwLock<Vec<(u64, Listener)>>,
    /// How many there are, read without the lock on every transition.
    count: AtomicUsize,
}

impl Listeners {
    pub(crate) fn new() -> Arc<Listeners> {
        Arc::default()
    }

    pub(crate) fn add(&self, id: u64, listener: Listener) {
        let mut all = self.all.write().unwrap_or_else(PoisonError::into_inner);
        all.push((id, listener));
        self.count.store(all.len(), Ordering::Release);
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut all = self.all.write().unwrap_or_else(PoisonError::into_inner);
        let before = all.len();
        all.retain(|(i, _)| *i != id);
        self.count.store(all.len(), Ordering::Release);
        all.len() != before
    }

    fn notify(&self, change: &StateChange) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        // Copied out so that no lock is held while listeners run.
        let listeners: Vec<Listener> = self
            .all
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| Arc::clone(l))
            .collect();
        for listener in listeners {
            contained(&change.name, "state-change listener", || listener(change));
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

/// How an admitted call ended, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finished {
    Success,
    Failure,
    Ignored,
    Timeout,
}

impl From<Outcome> for Finished {
    #[inline]
    fn from(outcome: Outcome) -> Finished {
        match outcome {
            Outcome::Success => Finished::Success,
            Outcome::Failure => Finished::Failure,
            Outcome::Ignored => Finished::Ignored,
        }
    }
}

/// Everything one breaker reports to: its hook, its listeners, its metric handles (made
/// once, at creation).
pub(crate) struct Observer {
    hook: Option<Hook>,
    listeners: Arc<Listeners>,
    /// Whether it reports at all: a silent observer tells no one anything.
    reports: bool,
    #[cfg(feature = "metrics")]
    metrics: metrics_impl::Handles,
}

impl Observer {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(name: &Name, hook: Option<Hook>, listeners: Arc<Listeners>) -> Observer {
        Observer {
            hook,
            listeners,
            reports: true,
            #[cfg(feature = "metrics")]
            metrics: metrics_impl::Handles::new(name),
        }
    }

    /// An observer that reports nothing to anyone: no tracing, no metric series, no
    /// listener, no hook.
    pub(crate) fn silent() -> Observer {
        Observer {
            hook: None,
            listeners: Listeners::new(),
            reports: false,
            #[cfg(feature = "metrics")]
            metrics: metrics_impl::Handles::noop(),
        }
    }

    /// Tells tracing, metrics, the listeners and the hook about a change (called after it
    /// is published, with no lock held). Each user function runs contained: a panic in one
    /// is reported and skips none of the others, and never reaches the caller (which may
    /// be a getter such as `state()`).
    pub(crate) fn notify(&self, change: &StateChange) {
        if !self.reports {
            return;
        }
        #[cfg(feature = "tracing")]
        tracing_impl::transition(change);
        #[cfg(feature = "metrics")]
        self.metrics
            .transition(change.from, change.to, change.cause == Cause::Reconfigured);
        self.listeners.notify(change);
        // The hook hears real changes of state only.
        if let Some(hook) = self.hook.as_ref().filter(|_| change.from != change.to) {
            contained(&change.name, "on_state_change hook", || {
                hook(&change.name, change.from, change.to);
            });
        }
    }

    /// A call was refused.
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        allow(unused_variables)
    )]
    pub(crate) fn rejected(&self, error: &BreakerError) {
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        if self.reports {
            #[cfg(feature = "tracing")]
            tracing::debug!(target: "breaker", breaker = %error.name(), error = %error, "call rejected");
            #[cfg(feature = "metrics")]
            self.metrics.rejected(error);
        }
    }

    /// An admitted call finished (stale outcomes included: the call did happen).
    #[cfg(feature = "metrics")]
    pub(crate) fn finished(&self, how: Finished, started: Instant) {
        self.metrics.finished(how, started.elapsed());
    }

    /// An admitted call was slow.
    #[cfg(feature = "metrics")]
    pub(crate) fn slow(&self) {
        self.metrics.slow.increment(1);
    }

    /// A call ran past its deadline.
    #[cfg(feature = "tracing")]
    pub(crate) fn timed_out(name: &Name, after: Duration) {
        tracing::debug!(target: "breaker", breaker = %name, after = ?after, "call timed out; counted as a failure");
    }
}

#[cfg(feature = "tracing")]
mod tracing_impl {
    use super::StateChange;
    use crate::State;

    pub(super) fn transition(c: &StateChange) {
        macro_rules! event {
            ($level:ident, $message:literal) => {
                tracing::$level!(
                    target: "breaker",
                    breaker = %c.name,
                    from = %c.from,
                    to = %c.to,
                    cause = c.cause.describe(),
                    requests = c.counts.requests,
                    failures = c.counts.total_failures,
                    successes = c.counts.total_successes,
                    ignored = c.counts.total_ignored,
                    consecutive_failures = c.counts.consecutive_failures,
                    slow_calls = c.counts.slow_calls,
                    attempt = c.attempt,
                    retry_after = ?c.retry_after,
                    $message
                )
            };
        }
        match c.to {
            _ if c.cause == crate::Cause::Reconfigured => {
                event!(info, "circuit breaker reconfigured");
            }
            State::Open => event!(warn, "circuit breaker opened"),
            State::HalfOpen => event!(info, "circuit breaker half-open; probing"),
            State::Closed => event!(info, "circuit breaker closed"),
        }
    }
}

#[cfg(feature = "metrics")]
mod metrics_impl {
    use std::sync::Once;
    use std::time::Duration;

    use metrics::{Counter, Gauge, Histogram};

    use super::Finished;
    use crate::{BreakerError, Name, State};

    /// The outcome labels of `breaker_calls_total`, in index order.
    const OUTCOMES: [&str; 6] = [
        "success",
        "failure",
        "ignored",
        "timeout",
        "rejected_open",
        "rejected_half_open",
    ];

    /// The transitions that can happen, in index order.
    const TRANSITIONS: [(State, State); 5] = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Open),
        (State::HalfOpen, State::Closed),
        (State::Open, State::Closed),
    ];

    pub(crate) struct Handles {
        calls: [Counter; 6],
        state: Gauge,
        transitions: [Counter; 5],
        reconfigured: Counter,
        pub(super) slow: Counter,
        duration: Histogram,
    }

    fn describe() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            metrics::describe_counter!(
                "breaker_calls_total",
                "Calls through circuit breakers, by outcome."
            );
            metrics::describe_gauge!(
                "breaker_state",
                "State of each circuit breaker: 0 closed, 1 half-open, 2 open."
            );
            metrics::describe_counter!(
                "breaker_transitions_total",
                "State changes of circuit breakers."
            );
            metrics::describe_counter!(
                "breaker_slow_calls_total",
                "Calls that took at least the breaker's slow_call threshold."
            );
            metrics::describe_counter!(
                "breaker_reconfigurations_total",
                "Settings applied to live circuit breakers."
            );
            metrics::describe_histogram!(
                "breaker_call_duration_seconds",
                metrics::Unit::Seconds,
                "Duration of calls admitted by circuit breakers."
            );
        });
    }

    pub(crate) fn gauge_value(state: State) -> f64 {
        match state {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        }
    }

    impl Handles {
        pub(crate) fn new(name: &Name) -> Handles {
            describe();
            let breaker = name.to_string();
            let handles = Handles {
                calls: OUTCOMES.map(|outcome| {
                    metrics::counter!("breaker_calls_total", "breaker" => breaker.clone(), "outcome" => outcome)
                }),
                state: metrics::gauge!("breaker_state", "breaker" => breaker.clone()),
                transitions: TRANSITIONS.map(|(from, to)| {
                    metrics::counter!(
                        "breaker_transitions_total",
                        "breaker" => breaker.clone(),
                        "from" => from.as_str(),
                        "to" => to.as_str()
                    )
                }),
                reconfigured: metrics::counter!("breaker_reconfigurations_total", "breaker" => breaker.clone()),
                slow: metrics::counter!("breaker_slow_calls_total", "breaker" => breaker.clone()),
                duration: metrics::histogram!("breaker_call_duration_seconds", "breaker" => breaker),
            };
            handles.state.set(gauge_value(State::Closed));
            handles
        }

        /// Handles that record nothing and make no series.
        pub(crate) fn noop() -> Handles {
            Handles {
                calls: std::array::from_fn(|_| Counter::noop()),
                state: Gauge::noop(),
                transitions: std::array::from_fn(|_| Counter::noop()),
                reconfigured: Counter::noop(),
                slow: Counter::noop(),
                duration: Histogram::noop(),
            }
        }

        pub(crate) fn transition(&self, from: State, to: State, reconfigured: bool) {
            if reconfigured {
                self.reconfigured.increment(1);
            }
            if let Some(i) = TRANSITIONS.iter().position(|t| *t == (from, to)) {
                self.transitions[i].increment(1);
            }
            self.state.set(gauge_value(to));
        }

        pub(crate) fn rejected(&self, error: &BreakerError) {
            let index = match error {
                BreakerError::HalfOpenFull { .. } => 5,
                _ => 4,
            };
            self.calls[index].increment(1);
        }

        pub(crate) fn finished(&self, how: Finished, took: Duration) {
            let index = match how {
                Finished::Success => 0,
                Finished::Failure => 1,
                Finished::Ignored => 2,
                Finished::Timeout => 3,
            };
            self.calls[index].increment(1);
            self.duration.record(took.as_secs_f64());
        }
    }
}
