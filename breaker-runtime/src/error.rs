//! [`BreakerError`], what a call through a breaker returns when the breaker refused or cut
//! it (or could not be set up), and the duration formatting its messages use.
//!
//! Every message names the breaker and says what happens next or what to do; durations
//! print in at most two natural units (`4.2s`, `1m 30s`, `1h`, `3d 4h`).

use std::fmt;
use std::time::Duration;

use crate::Name;

/// Why a call through a circuit breaker did not run, or did not finish.
///
/// The error type of a protected function must implement `From<BreakerError>`, so these
/// reach callers inside the function's own error type (a thiserror `#[from]` variant or
/// `anyhow::Error` both work).
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::BreakerError;
///
/// let err = BreakerError::Open { name: "pricing".into(), retry_after: Duration::from_millis(4200) };
/// assert_eq!(err.to_string(), r#"circuit breaker "pricing" is open; next probe in 4.2s"#);
/// assert!(err.is_rejection());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError {
    /// The breaker is open and rejected the call without running it.
    #[error(
        "circuit breaker \"{name}\" is open; next probe in {}",
        HumanDuration(*retry_after)
    )]
    Open {
        /// The breaker's name.
        name: Name,
        /// How long until the breaker admits a probe call.
        retry_after: Duration,
    },
    /// The breaker is half-open and has no probe slot free: its probe budget
    /// (`max_requests`) is taken by calls still in flight, or, for a breaker that shares its
    /// state with a fleet, this replica holds no free probe token (it asks the fleet for one
    /// at its next sync). The call was rejected without running.
    #[error(
        "circuit breaker \"{name}\" is half-open and has no probe slot free (its probes are in flight, or its fleet has not granted this replica one); retry shortly"
    )]
    HalfOpenFull {
        /// The breaker's name.
        name: Name,
    },
    /// The call ran past the breaker's deadline. It was dropped and counted as a failure.
    #[error(
        "call through circuit breaker \"{name}\" timed out after {}; it counts as a failure",
        HumanDuration(*after)
    )]
    Timeout {
        /// The breaker's name.
        name: Name,
        /// The deadline that passed.
        after: Duration,
    },
    /// An operator holds the breaker open
    /// ([`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open)); calls are
    /// refused until it is [`reset`](crate::CircuitBreaker::reset).
    #[error(
        "circuit breaker \"{name}\" is held open by an operator; calls are refused until it is reset"
    )]
    ForcedOpen {
        /// The breaker's name.
        name: Name,
    },
    /// The breaker has a `timeout`, and the call had to wait where no tokio timer is
    /// available: outside a tokio runtime (`futures::executor::block_on`, a plain thread),
    /// or in a runtime built without its time driver. The call's future was dropped after
    /// its first poll and nothing was recorded. (A call that finishes at its first poll
    /// needs no timer.)
    #[error(
        "circuit breaker \"{name}\" has a timeout of {} but no tokio timer is available where the call runs; \
         run it inside a tokio runtime with time enabled (`#[tokio::main]`, or `enable_time()` / \
         `enable_all()` on the runtime builder), or build the breaker without a timeout",
        HumanDuration(*timeout)
    )]
    NoTimer {
        /// The breaker's name.
        name: Name,
        /// The breaker's `timeout`.
        timeout: Duration,
    },
    /// Two `#[circuit_breaker]` functions share an explicit `name` but not their settings,
    /// or settings given as run-time expressions were invalid. Every call of the affected
    /// function returns this error until the code is fixed.
    #[error("circuit breaker \"{name}\" is misconfigured: {reason}")]
    Misconfigured {
        /// The breaker's name.
        name: Name,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl BreakerError {
    /// The name of the breaker that produced this error.
    #[must_use]
    pub fn name(&self) -> &Name {
        match self {
            BreakerError::Open { name, .. }
            | BreakerError::HalfOpenFull { name }
            | BreakerError::ForcedOpen { name }
            | BreakerError::Timeout { name, .. }
            | BreakerError::NoTimer { name, .. }
            | BreakerError::Misconfigured { name, .. } => name,
        }
    }

    /// `true` when the breaker refused the call without running it (`Open`,
    /// `HalfOpenFull` or `ForcedOpen`): the case in which an annotated function serves
    /// its fallback.
    #[must_use]
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            BreakerError::Open { .. }
                | BreakerError::HalfOpenFull { .. }
                | BreakerError::ForcedOpen { .. }
        )
    }

    /// How long to wait before trying again, when the breaker knows it.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BreakerError::Open { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// For functions returning `std::io::Result`: a timeout becomes
/// [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut), anything else
/// [`io::ErrorKind::Other`](std::io::ErrorKind::Other), with the `BreakerError` inside
/// (reach it with `get_ref()` and `downcast_ref`).
///
/// ```
/// use std::io;
/// use breaker_runtime::BreakerError;
///
/// let e = io::Error::from(BreakerError::HalfOpenFull { name: "disk".into() });
/// assert_eq!(e.kind(), io::ErrorKind::Other);
/// let inner = e.get_ref().and_then(|e| e.downcast_ref::<BreakerError>());
/// assert!(matches!(inner, Some(BreakerError::HalfOpenFull { .. })));
/// ```
impl From<BreakerError> for std::io::Error {
    fn from(e: BreakerError) -> Self {
        let kind = match e {
            BreakerError::Timeout { .. } => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// Displays a duration the way people read them, in at most two units: `4.2s`, `250ms`,
/// `1m 30s`, `1h`, `2h 5m`, `3d 4h`. Days are the largest unit, so even `Duration::MAX`
/// reads as a (very large) number of days and hours.
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        const DAY: u64 = 24 * HOUR;
        let d = self.0;
        let secs = d.as_secs();
        // The largest unit, and the next one down when it is not zero.
        let two = |f: &mut fmt::Formatter<'_>, big: u64, unit: &str, small: u64, sub: &str| {
            if small == 0 {
                write!(f, "{big}{unit}")
            } else {
                write!(f, "{big}{unit} {small}{sub}")
            }
        };
        if secs >= DAY {
            two(f, secs / DAY, "d", secs % DAY / HOUR, "h")
        } else if secs >= HOUR {
            two(f, secs / HOUR, "h", secs % HOUR / MINUTE, "m")
        } else if secs >= MINUTE {
            two(f, secs / MINUTE, "m", secs % MINUTE, "s")
        } else if secs >= 1 {
            let tenths = d.subsec_millis() / 100;
            if tenths == 0 {
                write!(f, "{secs}s")
            } else {
                write!(f, "{secs}.{tenths}s")
            }
        } else if d.subsec_millis() >= 1 {
            write!(f, "{}ms", d.subsec_millis())
        } else if d.subsec_micros() >= 1 {
            write!(f, "{}µs", d.subsec_micros())
        } else {
            write!(f, "{}ns", d.subsec_nanos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_natural_units_at_every_boundary() {
        let cases = [
            (Duration::from_secs(59), "59s"),
            (Duration::from_millis(59_900), "59.9s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(61), "1m 1s"),
            (Duration::from_secs(59 * 60 + 59), "59m 59s"),
            (Duration::from_secs(60 * 60), "1h"),
            (Duration::from_secs(60 * 60 + 59), "1h"),
            (Duration::from_secs(2 * 60 * 60 + 5 * 60), "2h 5m"),
            (Duration::from_secs(24 * 60 * 60 - 1), "23h 59m"),
            (Duration::from_secs(24 * 60 * 60), "1d"),
            (Duration::from_secs(3 * 24 * 60 * 60 + 4 * 60 * 60), "3d 4h"),
            (Duration::from_millis(999), "999ms"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_000), "1µs"),
            (Duration::MAX, "213503982334601d 7h"),
        ];
        for (d, want) in cases {
            assert_eq!(HumanDuration(d).to_string(), want, "{d:?}");
        }
        let huge = BreakerError::Open {
            name: "db".into(),
            retry_after: Duration::from_secs(18_446_744_073),
        };
        assert_eq!(
            huge.to_string(),
            "circuit breaker \"db\" is open; next probe in 213503d 23h"
        );
    }

    #[test]
    fn human_durations() {
        let cases = [
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_millis(4200), "4.2s"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_micros(7), "7µs"),
            (Duration::from_nanos(3), "3ns"),
            (Duration::ZERO, "0ns"),
        ];
        for (d, want) in cases {
            assert_eq!(HumanDuration(d).to_string(), want, "{d:?}");
        }
    }

    #[test]
    fn messages_name_the_breaker_and_say_what_to_do() {
        let e = BreakerError::HalfOpenFull { name: "db".into() };
        assert!(e.to_string().contains("\"db\""));
        assert!(e.to_string().contains("retry"));
        let e = BreakerError::Timeout {
            name: "db".into(),
            after: Duration::from_secs(2),
        };
        assert_eq!(
            e.to_string(),
            "call through circuit breaker \"db\" timed out after 2s; it counts as a failure"
        );
        assert!(!e.is_rejection());
        assert_eq!(e.retry_after(), None);
        assert_eq!(e.name(), "db");
    }
}
