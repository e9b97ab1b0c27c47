//! Manual control for operators: hold a breaker open or closed, and reset it.

use crate::observe::Cause;
use crate::{CircuitBreaker, State};

impl CircuitBreaker {
    /// Holds the breaker open: every call is refused with
    /// [`BreakerError::ForcedOpen`](crate::BreakerError::ForcedOpen) (annotated functions
    /// serve their fallback) and no probe is made, until [`reset`](Self::reset).
    ///
    /// Like every operator action, this starts a new generation. It is reported to
    /// listeners, tracing, metrics and the `on_state_change` hook only when it changes the
    /// state: holding an already open breaker open is not a transition.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, State};
    ///
    /// let b = CircuitBreaker::builder("maintenance-window").build()?;
    /// b.force_open();
    /// assert_eq!(b.state(), State::Open);
    /// assert!(b.is_forced());
    /// assert!(b.try_acquire().is_err());
    /// b.reset();
    /// assert_eq!(b.state(), State::Closed);
    /// assert!(b.try_acquire().is_ok());
    /// # Ok::<(), breaker_runtime::BuildError>(())
    /// ```
    pub fn force_open(&self) {
        self.core.machine.force(State::Open, Cause::ForcedOpen);
    }

    /// Holds the breaker closed: every call is admitted and counted, and the trip policy
    /// is not consulted, until [`reset`](Self::reset).
    pub fn force_closed(&self) {
        self.core.machine.force(State::Closed, Cause::ForcedClosed);
    }

    /// Releases any hold and starts afresh: closed, with zeroed counts.
    pub fn reset(&self) {
        self.core.machine.force(State::Closed, Cause::Reset);
    }

    /// Whether an operator holds the breaker in its state
    /// ([`force_open`](Self::force_open) or [`force_closed`](Self::force_closed)).
    #[must_use]
    pub fn is_forced(&self) -> bool {
        self.core.machine.view().word.forced()
    }
}
