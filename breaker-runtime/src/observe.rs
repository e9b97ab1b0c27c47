//! What a breaker tells the world: state-change events for listeners, and (behind the
//! `tracing` and `metrics` features) events and metrics. With both features off this
//! module compiles to nothing on the call path.

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
    /// Open → HalfOpen: `reset_timeout` elapsed.
    ResetTimeoutElapsed,
    /// HalfOpen → Open: a probe failed.
    ProbeFailed,
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
}

impl Cause {
    /// A short human explanation, e.g. for logs.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Tripped => "the trip policy tripped on the failures counted",
            Cause::ResetTimeoutElapsed => "reset_timeout elapsed; probing the dependency",
            Cause::ProbeFailed => "a probe call failed",
            Cause::ProbesSucceeded => "the probe calls succeeded",
            Cause::ForcedOpen => "held open by an operator",
            Cause::ForcedClosed => "held closed by an operator",
            Cause::Reset => "reset by an operator",
            Cause::Reconfigured => "reconfigured with new settings",
        }
    }

    /// Whether the new state is held until [`reset`](crate::CircuitBreaker::reset).
    pub(crate) fn holds(self) -> Option<bool> {
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
    /// When the new state is open: how long until it admits a probe (`None` when held
    /// open, or not open).
    pub retry_after: Option<Duration>,
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

/// The per-breaker side of observability: metric handles made once, at creation.
pub(crate) struct Observer {
    #[cfg(feature = "metrics")]
    metrics: metrics_impl::Handles,
}

impl Observer {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(name: &Name) -> Observer {
        Observer {
            #[cfg(feature = "metrics")]
            metrics: metrics_impl::Handles::new(name),
        }
    }

    /// A transition happened (called after it is published, with no lock held).
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        allow(unused_variables, clippy::unused_self)
    )]
    pub(crate) fn transition(&self, change: &StateChange) {
        #[cfg(feature = "tracing")]
        tracing_impl::transition(change);
        #[cfg(feature = "metrics")]
        self.metrics
            .transition(change.from, change.to, change.cause == Cause::Reconfigured);
    }

    /// A call was refused.
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        allow(unused_variables)
    )]
    pub(crate) fn rejected(&self, error: &BreakerError) {
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "breaker", breaker = %error.name(), error = %error, "call rejected");
        #[cfg(feature = "metrics")]
        self.metrics.rejected(error);
    }

    /// An admitted call finished (stale outcomes included: the call did happen).
    #[cfg(feature = "metrics")]
    pub(crate) fn finished(&self, how: Finished, started: Instant) {
        self.metrics.finished(how, started.elapsed());
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
                duration: metrics::histogram!("breaker_call_duration_seconds", "breaker" => breaker),
            };
            handles.state.set(gauge_value(State::Closed));
            handles
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
