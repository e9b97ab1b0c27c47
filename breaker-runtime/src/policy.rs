//! How outcomes are classified and when the breaker trips.

use std::fmt;

use crate::Counts;

/// How one finished call counts.
///
/// By default `Ok` is a [`Success`](Outcome::Success) and `Err` a
/// [`Failure`](Outcome::Failure). A custom classification lets a 404 or a validation
/// error be [`Ignored`](Outcome::Ignored), or an `Ok` carrying a 503 count as a failure:
///
/// ```
/// use breaker_runtime::Outcome;
///
/// enum HttpError { NotFound, Unavailable }
///
/// fn classify(result: &Result<String, HttpError>) -> Outcome {
///     match result {
///         Ok(_) => Outcome::Success,
///         Err(HttpError::NotFound) => Outcome::Ignored,
///         Err(HttpError::Unavailable) => Outcome::Failure,
///     }
/// }
/// assert_eq!(classify(&Err(HttpError::NotFound)), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency worked.
    Success,
    /// The dependency failed; counts against the trip policy.
    Failure,
    /// Counts only in `total_ignored`; in half-open it gives its probe slot back.
    Ignored,
}

impl Outcome {
    /// The default classification: `Ok` is a success, `Err` a failure.
    #[must_use]
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// When a closed breaker trips open. Exactly one policy applies to a breaker.
///
/// The policy is consulted after every failure, and every slow call (see
/// [`Builder::slow_call`](crate::Builder::slow_call)), in the closed state.
///
/// ```
/// use breaker_runtime::{Counts, TripPolicy};
///
/// let policy = TripPolicy::FailureRatio { ratio: 0.5, min_requests: 4 };
/// let mut counts = Counts::default();
/// counts.requests = 4;
/// counts.total_failures = 2;
/// assert!(policy.should_trip(&counts));
/// counts.requests = 3;
/// assert!(!policy.should_trip(&counts));
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum TripPolicy {
    /// Trip when this many failures in a row have been seen (the default, with 5).
    ConsecutiveFailures(u32),
    /// Trip when `requests >= min_requests` and
    /// `total_failures / (requests - total_ignored) >= ratio`.
    FailureRatio {
        /// In (0, 1].
        ratio: f64,
        /// At least 1.
        min_requests: u64,
    },
    /// Trip when the function returns `true`.
    Custom(fn(&Counts) -> bool),
}

impl TripPolicy {
    /// Whether a closed breaker with these counts trips.
    #[must_use]
    pub fn should_trip(&self, counts: &Counts) -> bool {
        match *self {
            TripPolicy::ConsecutiveFailures(n) => counts.consecutive_failures >= u64::from(n),
            TripPolicy::FailureRatio {
                ratio,
                min_requests,
            } => counts.requests >= min_requests && counts.failure_ratio() >= ratio,
            TripPolicy::Custom(trip) => trip(counts),
        }
    }

    /// Whether two policies are the same setting. Custom functions compare by kind only:
    /// function addresses are not reliable across codegen units.
    pub(crate) fn same_setting(&self, other: &TripPolicy) -> bool {
        match (self, other) {
            (TripPolicy::ConsecutiveFailures(a), TripPolicy::ConsecutiveFailures(b)) => a == b,
            (
                TripPolicy::FailureRatio {
                    ratio: a,
                    min_requests: m,
                },
                TripPolicy::FailureRatio {
                    ratio: b,
                    min_requests: n,
                },
            ) => a.to_bits() == b.to_bits() && m == n,
            (TripPolicy::Custom(_), TripPolicy::Custom(_)) => true,
            _ => false,
        }
    }
}

impl Default for TripPolicy {
    fn default() -> Self {
        TripPolicy::ConsecutiveFailures(5)
    }
}

impl fmt::Debug for TripPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TripPolicy::ConsecutiveFailures(n) => {
                f.debug_tuple("ConsecutiveFailures").field(n).finish()
            }
            TripPolicy::FailureRatio {
                ratio,
                min_requests,
            } => f
                .debug_struct("FailureRatio")
                .field("ratio", ratio)
                .field("min_requests", min_requests)
                .finish(),
            TripPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u64, failures: u64, ignored: u64, consecutive: u64) -> Counts {
        Counts {
            requests,
            total_failures: failures,
            total_ignored: ignored,
            consecutive_failures: consecutive,
            ..Counts::default()
        }
    }

    #[test]
    fn consecutive_failures_trips_at_n() {
        let p = TripPolicy::ConsecutiveFailures(3);
        assert!(!p.should_trip(&counts(9, 9, 0, 2)));
        assert!(p.should_trip(&counts(3, 3, 0, 3)));
        assert!(p.should_trip(&counts(4, 4, 0, 4)));
    }

    #[test]
    fn ratio_needs_min_requests_and_excludes_ignored() {
        let p = TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 4,
        };
        assert!(!p.should_trip(&counts(3, 3, 0, 3)));
        assert!(p.should_trip(&counts(4, 2, 0, 1)));
        assert!(!p.should_trip(&counts(4, 1, 0, 1)));
        // 1 failure out of 2 counted calls (2 ignored) is 50%.
        assert!(p.should_trip(&counts(4, 1, 2, 1)));
    }

    #[test]
    fn custom_policy_is_called() {
        let p = TripPolicy::Custom(|c| c.total_failures == 7);
        assert!(p.should_trip(&counts(7, 7, 0, 0)));
        assert!(!p.should_trip(&counts(7, 6, 0, 0)));
    }

    #[test]
    fn default_classification() {
        assert_eq!(Outcome::of::<(), ()>(&Ok(())), Outcome::Success);
        assert_eq!(Outcome::of::<(), ()>(&Err(())), Outcome::Failure);
    }

    #[test]
    fn settings_compare() {
        let a = TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 1,
        };
        assert!(a.same_setting(&a));
        assert!(!a.same_setting(&TripPolicy::default()));
        assert!(TripPolicy::default().same_setting(&TripPolicy::ConsecutiveFailures(5)));
        let other_min = TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 2,
        };
        let other_ratio = TripPolicy::FailureRatio {
            ratio: 0.25,
            min_requests: 1,
        };
        assert!(!a.same_setting(&other_min));
        assert!(!a.same_setting(&other_ratio));
        // Custom functions cannot be compared reliably, so any two count as the same.
        let custom = TripPolicy::Custom(|c| c.total_failures > 3);
        assert!(custom.same_setting(&TripPolicy::Custom(|c| c.requests > 9)));
        assert!(!custom.same_setting(&a));
        assert!(!TripPolicy::default().same_setting(&TripPolicy::ConsecutiveFailures(4)));
    }
}
