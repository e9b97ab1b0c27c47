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
    /// The breaker is half-open and its probe budget (`max_requests`) is taken by calls
    /// still in flight; the call was rejected without running.
    #[error(
        "circuit breaker \"{name}\" is half-open and all its probe slots are taken; retry once the probes finish"
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

/// Displays a duration the way people read them: `4.2s`, `250ms`, `1m 30s`.
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs >= 60 {
            let (m, s) = (secs / 60, secs % 60);
            if s == 0 {
                write!(f, "{m}m")
            } else {
                write!(f, "{m}m {s}s")
            }
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
