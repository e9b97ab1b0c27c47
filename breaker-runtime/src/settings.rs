//! What a breaker is configured with: [`Settings`] and its parts, their validation, and
//! the [`BuildError`] for a bad one. A leaf module: everything else reads settings, and
//! settings read nothing but the trip policy.

use std::fmt;
use std::time::Duration;

use crate::{Name, TripPolicy};

/// The most buckets a rolling window may have.
pub const MAX_BUCKETS: u32 = 1024;

/// The most calls a count window may hold.
pub const MAX_WINDOW_CALLS: u32 = 1 << 16;

/// What the counts of a closed breaker cover. Exactly one per breaker; every state change
/// starts a new generation with an empty window, and a half-open breaker keeps plain counts
/// of its probes whatever the window.
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{CircuitBreaker, TripPolicy, Window};
///
/// // Trip when half of the calls of the last minute failed, once there were 20.
/// let breaker = CircuitBreaker::builder("window-example")
///     .window(Window::Rolling { length: Duration::from_secs(60), buckets: 12 })
///     .trip_policy(TripPolicy::FailureRatio { ratio: 0.5, min_requests: 20 })
///     .build()?;
/// # drop(breaker);
/// # Ok::<(), breaker_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Window {
    /// The counts cover the whole closed period, or, with an `interval`, are cleared (a new
    /// generation) whenever `interval` has elapsed since the generation began. The default,
    /// without interval.
    Fixed {
        /// How often the counts start over; `None` never.
        interval: Option<Duration>,
    },
    /// The counts cover the last `length`, split into `buckets` equal buckets (bucket k
    /// of a generation covers `[start + k·w, start + (k+1)·w)` with `w = length / buckets`,
    /// and leaves the window once `now >= start + (k + buckets)·w`). A call belongs to the
    /// bucket current when it was admitted: it counts in `requests` while that bucket is in
    /// the window, and its outcome is dropped if the bucket left the window before the call
    /// finished. `length` must divide into whole milliseconds per bucket.
    Rolling {
        /// How far back the counts reach.
        length: Duration,
        /// How many buckets the window moves by (1 to [`MAX_BUCKETS`]; 10 is usual).
        buckets: u32,
    },
    /// The counts cover the outcomes of the last `calls` calls that finished, in the order
    /// they finished (1 to [`MAX_WINDOW_CALLS`]). Ignored outcomes do not enter it
    /// (`total_ignored` stays 0); `requests` is the number of outcomes in the window plus
    /// the calls of this generation in flight.
    Calls {
        /// How many outcomes the window holds.
        calls: u32,
    },
}

impl Window {
    /// The default number of buckets of a rolling window.
    pub const DEFAULT_BUCKETS: u32 = 10;

    /// A rolling window of `length` in the default 10 buckets.
    #[must_use]
    pub const fn rolling(length: Duration) -> Window {
        Window::Rolling {
            length,
            buckets: Window::DEFAULT_BUCKETS,
        }
    }

    fn validate(self) -> Result<(), BuildError> {
        match self {
            Window::Fixed {
                interval: Some(Duration::ZERO),
            } => Err(BuildError::ZeroDuration {
                setting: "interval",
            }),
            Window::Fixed { .. } => Ok(()),
            Window::Rolling { length, .. } if length.is_zero() => {
                Err(BuildError::ZeroDuration { setting: "window" })
            }
            Window::Rolling { buckets: 0, .. } => Err(BuildError::ZeroBuckets),
            Window::Rolling { buckets, .. } if buckets > MAX_BUCKETS => {
                Err(BuildError::TooManyBuckets { buckets })
            }
            Window::Rolling { length, buckets } => {
                let per_bucket = 1_000_000 * u128::from(buckets);
                if length.as_nanos() % per_bucket == 0 {
                    Ok(())
                } else {
                    Err(BuildError::WindowNotDivisible { length, buckets })
                }
            }
            Window::Calls { calls: 0 } => Err(BuildError::ZeroWindowCalls),
            Window::Calls { calls } if calls > MAX_WINDOW_CALLS => {
                Err(BuildError::TooManyWindowCalls { calls })
            }
            Window::Calls { .. } => Ok(()),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::Fixed { interval: None }
    }
}

/// When slow calls trip a closed breaker: `ratio` of the counted calls (requests minus
/// ignored) were slow, once there were at least `min_requests` requests in the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowCallRatio {
    /// The share of slow calls that trips, in (0, 1].
    pub ratio: f64,
    /// How many requests the window must hold before the ratio counts (at least 1).
    pub min_requests: u64,
}

/// How the open period grows when probes keep failing: each re-opening from half-open
/// multiplies it by `factor`, up to `max_reset_timeout`; closing starts over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The factor, finite and at least 1.0.
    pub factor: f64,
    /// The longest open period, at least `reset_timeout`.
    pub max_reset_timeout: Duration,
}

/// How the actual open period is drawn from the period the backoff gives (`d`), so that
/// many breakers (or replicas) that opened together do not probe in lockstep. Each breaker
/// draws from its own random sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `d`.
    #[default]
    None,
    /// Uniformly from `[0, d)`.
    Full,
    /// Uniformly from `[d/2, d)`.
    Equal,
}

impl Jitter {
    /// The name as the attribute and configuration write it: `none`, `full` or `equal`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Jitter {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Jitter, BuildError> {
        match s {
            "none" => Ok(Jitter::None),
            "full" => Ok(Jitter::Full),
            "equal" => Ok(Jitter::Equal),
            _ => Err(BuildError::UnknownJitter { given: s.into() }),
        }
    }
}

/// The settings of a breaker, as the [`Builder`](crate::Builder) collects them.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Deadline for each admitted call; `None` runs calls without a deadline.
    pub timeout: Option<Duration>,
    /// Half-open probe budget, and the consecutive successes that close the breaker.
    pub max_requests: u32,
    /// What the counts of the closed breaker cover.
    pub window: Window,
    /// How long the breaker stays open before it admits a probe (the first open period,
    /// with a backoff).
    pub reset_timeout: Duration,
    /// When the closed breaker trips open on its failures.
    pub trip_policy: TripPolicy,
    /// Calls that take at least this long (from admission to outcome, success or failure
    /// alike) are slow: counted in `slow_calls`, and a slow probe re-opens a half-open
    /// breaker. A call that reaches `timeout` is slow too. Must be below `timeout`.
    pub slow_call: Option<Duration>,
    /// When slow calls trip the closed breaker (in addition to the trip policy); `None`:
    /// slow calls are counted but never trip it.
    pub slow_call_ratio: Option<SlowCallRatio>,
    /// How the open period grows while probes keep failing; `None`: always
    /// `reset_timeout`.
    pub backoff: Option<Backoff>,
    /// How the actual open period is drawn.
    pub jitter: Jitter,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: None,
            max_requests: 1,
            window: Window::default(),
            reset_timeout: Duration::from_secs(60),
            trip_policy: TripPolicy::default(),
            slow_call: None,
            slow_call_ratio: None,
            backoff: None,
            jitter: Jitter::None,
        }
    }
}

impl Settings {
    /// The `interval` of a fixed window, if any.
    #[must_use]
    pub fn interval(&self) -> Option<Duration> {
        match self.window {
            Window::Fixed { interval } => interval,
            _ => None,
        }
    }

    /// The first setting in which `self` and `other` differ, for conflict messages.
    pub(crate) fn difference(&self, other: &Settings) -> Option<&'static str> {
        if self.timeout != other.timeout {
            Some("timeout")
        } else if self.max_requests != other.max_requests {
            Some("max_requests")
        } else if self.window != other.window {
            Some("window")
        } else if self.reset_timeout != other.reset_timeout {
            Some("reset_timeout")
        } else if !self.trip_policy.same_setting(&other.trip_policy) {
            Some("the trip policy")
        } else if self.slow_call != other.slow_call {
            Some("slow_call")
        } else if !same_bits(self.slow_call_ratio, other.slow_call_ratio, |r| {
            (r.ratio.to_bits(), r.min_requests)
        }) {
            Some("slow_call_ratio")
        } else if !same_bits(self.backoff, other.backoff, |b| {
            (b.factor.to_bits(), b.max_reset_timeout.as_nanos() as u64)
        }) {
            Some("backoff")
        } else if self.jitter != other.jitter {
            Some("jitter")
        } else {
            None
        }
    }

    /// Checks every setting, and their combinations.
    ///
    /// # Errors
    /// The [`BuildError`] of the first bad setting.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.max_requests == 0 {
            return Err(BuildError::ZeroMaxRequests);
        }
        for (setting, value) in [
            ("timeout", self.timeout),
            ("reset_timeout", Some(self.reset_timeout)),
            ("slow_call", self.slow_call),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(BuildError::ZeroDuration { setting });
            }
        }
        self.window.validate()?;
        match self.trip_policy {
            TripPolicy::ConsecutiveFailures(0) => return Err(BuildError::ZeroConsecutiveFailures),
            TripPolicy::FailureRatio { ratio, .. } if !(ratio > 0.0 && ratio <= 1.0) => {
                return Err(BuildError::FailureRatioOutOfRange { ratio });
            }
            TripPolicy::FailureRatio {
                min_requests: 0, ..
            } => return Err(BuildError::ZeroMinRequests),
            _ => {}
        }
        if let (Some(slow_call), Some(timeout)) = (self.slow_call, self.timeout)
            && slow_call >= timeout
        {
            return Err(BuildError::SlowCallNotBelowTimeout { slow_call, timeout });
        }
        if let Some(r) = self.slow_call_ratio {
            if self.slow_call.is_none() {
                return Err(BuildError::SlowCallRatioWithoutSlowCall);
            }
            if !(r.ratio > 0.0 && r.ratio <= 1.0) {
                return Err(BuildError::SlowCallRatioOutOfRange { ratio: r.ratio });
            }
            if r.min_requests == 0 {
                return Err(BuildError::ZeroMinRequests);
            }
        }
        if let Some(b) = self.backoff {
            if !(b.factor.is_finite() && b.factor >= 1.0) {
                return Err(BuildError::BackoffOutOfRange { factor: b.factor });
            }
            if b.max_reset_timeout < self.reset_timeout {
                return Err(BuildError::MaxResetBelowReset {
                    max_reset_timeout: b.max_reset_timeout,
                    reset_timeout: self.reset_timeout,
                });
            }
        }
        Ok(())
    }
}

fn same_bits<T: Copy, K: PartialEq>(a: Option<T>, b: Option<T>, key: impl Fn(T) -> K) -> bool {
    a.map(&key) == b.map(&key)
}

/// A setting that [`Builder::build`](crate::Builder::build) (or a reconfiguration) refused,
/// with what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The name is empty.
    #[error(
        "a circuit breaker needs a non-empty name; it appears in errors, hooks and the registry"
    )]
    EmptyName,
    /// [`Builder::build_shared`](crate::Builder::build_shared) found a live shared breaker
    /// of this name whose settings, hook, trip function or classifier differ from the
    /// builder's.
    #[error(
        "a shared circuit breaker named \"{name}\" already exists with a different {setting}; give both the same settings, or different names"
    )]
    Conflict {
        /// The name asked for.
        name: Name,
        /// The first setting that differs, e.g. `timeout` or `on_state_change hook`.
        setting: &'static str,
    },
    /// `max_requests` was zero.
    #[error(
        "max_requests must be at least 1: it is the number of probe calls a half-open breaker admits"
    )]
    ZeroMaxRequests,
    /// `TripPolicy::ConsecutiveFailures(0)`.
    #[error("consecutive failures must be at least 1: with 0 the breaker could never stay closed")]
    ZeroConsecutiveFailures,
    /// The failure ratio was not in (0, 1].
    #[error(
        "failure ratio must be in (0, 1], got {ratio}; 0.5 trips when half of the counted calls failed"
    )]
    FailureRatioOutOfRange {
        /// The ratio given.
        ratio: f64,
    },
    /// `min_requests` of a ratio was zero.
    #[error("min_requests must be at least 1")]
    ZeroMinRequests,
    /// A keyed set of breakers was asked to hold at most zero of them.
    #[error(
        "max_keys must be at least 1: it bounds how many keyed breakers a set holds (default 1024)"
    )]
    ZeroMaxKeys,
    /// A duration setting was zero.
    #[error(
        "{setting} must be longer than zero; leave it unset for the default or for no {setting}"
    )]
    ZeroDuration {
        /// Which setting.
        setting: &'static str,
    },
    /// A rolling window with zero buckets.
    #[error("buckets must be at least 1; 10 is usual (a window of 60s moves by 6s then)")]
    ZeroBuckets,
    /// A rolling window with more than [`MAX_BUCKETS`] buckets.
    #[error(
        "a rolling window has at most {MAX_BUCKETS} buckets, got {buckets}; use fewer, longer buckets"
    )]
    TooManyBuckets {
        /// The number given.
        buckets: u32,
    },
    /// A rolling window whose length does not split into whole milliseconds per bucket.
    #[error(
        "a rolling window of {length:?} does not split into {buckets} buckets of whole milliseconds; pick a window that is a multiple of {buckets}ms"
    )]
    WindowNotDivisible {
        /// The window's length.
        length: Duration,
        /// The number of buckets.
        buckets: u32,
    },
    /// A count window of zero calls.
    #[error("window_calls must be at least 1: it is how many of the last outcomes are counted")]
    ZeroWindowCalls,
    /// A count window of more than [`MAX_WINDOW_CALLS`] calls.
    #[error(
        "a count window holds at most {MAX_WINDOW_CALLS} calls, got {calls}; use a rolling time window for more"
    )]
    TooManyWindowCalls {
        /// The number given.
        calls: u32,
    },
    /// `slow_call` was not below `timeout`.
    #[error(
        "slow_call ({slow_call:?}) must be below timeout ({timeout:?}): a call that reaches the timeout is slow already"
    )]
    SlowCallNotBelowTimeout {
        /// The slow-call threshold.
        slow_call: Duration,
        /// The timeout.
        timeout: Duration,
    },
    /// A slow-call ratio without a slow-call threshold.
    #[error("slow_call_ratio needs slow_call: say how long a call takes to count as slow")]
    SlowCallRatioWithoutSlowCall,
    /// The slow-call ratio was not in (0, 1].
    #[error(
        "slow_call_ratio must be in (0, 1], got {ratio}; 0.5 trips when half of the counted calls were slow"
    )]
    SlowCallRatioOutOfRange {
        /// The ratio given.
        ratio: f64,
    },
    /// A backoff factor below 1 or not finite.
    #[error(
        "backoff must be a finite factor of at least 1.0, got {factor}; 2.0 doubles the open period at each failed probe"
    )]
    BackoffOutOfRange {
        /// The factor given.
        factor: f64,
    },
    /// `max_reset_timeout` below `reset_timeout`.
    #[error(
        "max_reset_timeout ({max_reset_timeout:?}) must be at least reset_timeout ({reset_timeout:?}): it caps the open period that starts at reset_timeout"
    )]
    MaxResetBelowReset {
        /// The cap given.
        max_reset_timeout: Duration,
        /// The first open period.
        reset_timeout: Duration,
    },
    /// A reconfiguration asked a live breaker for a window of another kind or size: its
    /// window's storage is made once, with the breaker.
    #[error(
        "a live breaker's window can change its length or interval, but not its kind, buckets or calls ({from:?} to {to:?}); build a new breaker for that"
    )]
    WindowShapeChanged {
        /// The breaker's window.
        from: Window,
        /// The window asked for.
        to: Window,
    },
    /// A jitter that is not `none`, `full` or `equal`.
    #[error("unknown jitter \"{given}\"; use \"none\", \"full\" or \"equal\"")]
    UnknownJitter {
        /// What was given.
        given: String,
    },
}

/// Which settings a builder was given explicitly, one bit each (the others are the
/// built-in defaults, which a configuration's `[defaults]` table may replace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Given(pub(crate) u16);

impl Given {
    pub(crate) const TIMEOUT: u16 = 1;
    pub(crate) const MAX_REQUESTS: u16 = 1 << 1;
    pub(crate) const WINDOW: u16 = 1 << 2;
    pub(crate) const RESET_TIMEOUT: u16 = 1 << 3;
    pub(crate) const TRIP_POLICY: u16 = 1 << 4;
    pub(crate) const SLOW_CALL: u16 = 1 << 5;
    pub(crate) const SLOW_CALL_RATIO: u16 = 1 << 6;
    pub(crate) const BACKOFF: u16 = 1 << 7;
    pub(crate) const JITTER: u16 = 1 << 8;
    pub(crate) const ALL: Given = Given(0b1_1111_1111);

    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: impl FnOnce(&mut Settings)) -> BuildError {
        let mut s = Settings::default();
        f(&mut s);
        s.validate().unwrap_err()
    }

    #[test]
    fn windows_are_checked() {
        assert_eq!(
            err(|s| s.window = Window::rolling(Duration::ZERO)),
            BuildError::ZeroDuration { setting: "window" }
        );
        assert_eq!(
            err(|s| s.window = Window::Rolling {
                length: Duration::from_secs(1),
                buckets: 0
            }),
            BuildError::ZeroBuckets
        );
        assert_eq!(
            err(|s| s.window = Window::Rolling {
                length: Duration::from_secs(10),
                buckets: MAX_BUCKETS + 1
            }),
            BuildError::TooManyBuckets {
                buckets: MAX_BUCKETS + 1
            }
        );
        assert_eq!(
            err(|s| s.window = Window::Rolling {
                length: Duration::from_millis(1001),
                buckets: 10
            }),
            BuildError::WindowNotDivisible {
                length: Duration::from_millis(1001),
                buckets: 10
            }
        );
        assert_eq!(
            err(|s| s.window = Window::Calls { calls: 0 }),
            BuildError::ZeroWindowCalls
        );
        assert_eq!(
            err(|s| s.window = Window::Calls {
                calls: MAX_WINDOW_CALLS + 1
            }),
            BuildError::TooManyWindowCalls {
                calls: MAX_WINDOW_CALLS + 1
            }
        );
        let mut s = Settings::default();
        for window in [
            Window::rolling(Duration::from_secs(60)),
            Window::Rolling {
                length: Duration::from_millis(7),
                buckets: 7,
            },
            Window::Calls {
                calls: MAX_WINDOW_CALLS,
            },
            Window::Fixed {
                interval: Some(Duration::from_nanos(1)),
            },
        ] {
            s.window = window;
            assert_eq!(s.validate(), Ok(()), "{window:?}");
        }
    }

    #[test]
    fn slow_calls_are_checked() {
        let ratio = |ratio, min_requests| {
            Some(SlowCallRatio {
                ratio,
                min_requests,
            })
        };
        assert_eq!(
            err(|s| s.slow_call = Some(Duration::ZERO)),
            BuildError::ZeroDuration {
                setting: "slow_call"
            }
        );
        assert_eq!(
            err(|s| {
                s.slow_call = Some(Duration::from_secs(2));
                s.timeout = Some(Duration::from_secs(2));
            }),
            BuildError::SlowCallNotBelowTimeout {
                slow_call: Duration::from_secs(2),
                timeout: Duration::from_secs(2)
            }
        );
        assert_eq!(
            err(|s| s.slow_call_ratio = ratio(0.5, 1)),
            BuildError::SlowCallRatioWithoutSlowCall
        );
        for bad in [0.0, 1.01, f64::NAN] {
            let e = err(|s| {
                s.slow_call = Some(Duration::from_secs(1));
                s.slow_call_ratio = ratio(bad, 1);
            });
            assert!(
                matches!(e, BuildError::SlowCallRatioOutOfRange { .. }),
                "{bad}"
            );
        }
        assert_eq!(
            err(|s| {
                s.slow_call = Some(Duration::from_secs(1));
                s.slow_call_ratio = ratio(0.5, 0);
            }),
            BuildError::ZeroMinRequests
        );
    }

    #[test]
    fn backoff_is_checked() {
        let backoff = |factor, max| {
            Some(Backoff {
                factor,
                max_reset_timeout: max,
            })
        };
        for bad in [0.99, f64::INFINITY, f64::NAN, -2.0] {
            let e = err(|s| s.backoff = backoff(bad, Duration::from_secs(600)));
            assert!(matches!(e, BuildError::BackoffOutOfRange { .. }), "{bad}");
        }
        assert_eq!(
            err(|s| s.backoff = backoff(2.0, Duration::from_secs(59))),
            BuildError::MaxResetBelowReset {
                max_reset_timeout: Duration::from_secs(59),
                reset_timeout: Duration::from_secs(60)
            }
        );
        let s = Settings {
            backoff: backoff(1.0, Duration::from_secs(60)),
            ..Settings::default()
        };
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn jitter_parses_its_three_names() {
        for j in [Jitter::None, Jitter::Full, Jitter::Equal] {
            assert_eq!(j.as_str().parse::<Jitter>(), Ok(j));
        }
        let e = "half".parse::<Jitter>().unwrap_err();
        assert!(e.to_string().contains("\"full\""), "{e}");
    }

    #[test]
    fn differences_are_named() {
        let a = Settings::default();
        let mut b = a;
        assert_eq!(a.difference(&b), None);
        b.timeout = Some(Duration::from_secs(1));
        assert_eq!(a.difference(&b), Some("timeout"));
        let mut c = a;
        c.trip_policy = TripPolicy::ConsecutiveFailures(2);
        assert_eq!(a.difference(&c), Some("the trip policy"));
        let mut d = a;
        d.window = Window::Calls { calls: 10 };
        assert_eq!(a.difference(&d), Some("window"));
        let mut e = a;
        e.jitter = Jitter::Full;
        assert_eq!(a.difference(&e), Some("jitter"));
    }
}
