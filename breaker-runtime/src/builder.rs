//! Building a breaker: the settings, their validation, and the errors for bad ones.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{CircuitBreaker, Counts, Name, Outcome, State, TripPolicy};

/// The function called after every state change, with the breaker's name, the old and
/// the new state.
pub(crate) type Hook = Arc<dyn Fn(&str, State, State) + Send + Sync>;

/// Which functions a breaker was configured with, for [`Builder::build_shared`]: each is
/// identified by its type (every fn item and every closure has a type of its own), since
/// function addresses are not reliable (one function can have several, two can share one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Functions {
    hook: Option<TypeId>,
    trip: Option<TypeId>,
    classify: Option<TypeId>,
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

/// The settings of a breaker, as the [`Builder`] collects them.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Deadline for each admitted call; `None` runs calls without a deadline.
    pub timeout: Option<Duration>,
    /// Half-open probe budget, and the consecutive successes that close the breaker.
    pub max_requests: u32,
    /// In the closed state, clear the counts every `interval`; `None` never clears them.
    pub interval: Option<Duration>,
    /// How long the breaker stays open before it admits a probe.
    pub reset_timeout: Duration,
    /// When the closed breaker trips open.
    pub trip_policy: TripPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: None,
            max_requests: 1,
            interval: None,
            reset_timeout: Duration::from_secs(60),
            trip_policy: TripPolicy::default(),
        }
    }
}

impl Settings {
    /// The first setting in which `self` and `other` differ, for conflict messages.
    pub(crate) fn difference(&self, other: &Settings) -> Option<&'static str> {
        if self.timeout != other.timeout {
            Some("timeout")
        } else if self.max_requests != other.max_requests {
            Some("max_requests")
        } else if self.interval != other.interval {
            Some("interval")
        } else if self.reset_timeout != other.reset_timeout {
            Some("reset_timeout")
        } else if !self.trip_policy.same_setting(&other.trip_policy) {
            Some("the trip policy")
        } else {
            None
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if self.max_requests == 0 {
            return Err(BuildError::ZeroMaxRequests);
        }
        for (setting, value) in [
            ("timeout", self.timeout),
            ("interval", self.interval),
            ("reset_timeout", Some(self.reset_timeout)),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(BuildError::ZeroDuration { setting });
            }
        }
        match self.trip_policy {
            TripPolicy::ConsecutiveFailures(0) => Err(BuildError::ZeroConsecutiveFailures),
            TripPolicy::FailureRatio { ratio, .. } if !(ratio > 0.0 && ratio <= 1.0) => {
                Err(BuildError::FailureRatioOutOfRange { ratio })
            }
            TripPolicy::FailureRatio {
                min_requests: 0, ..
            } => Err(BuildError::ZeroMinRequests),
            _ => Ok(()),
        }
    }
}

/// A setting that [`Builder::build`] refused, with what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The name is empty.
    #[error(
        "a circuit breaker needs a non-empty name; it appears in errors, hooks and the registry"
    )]
    EmptyName,
    /// [`Builder::build_shared`] found a live shared breaker of this name whose settings,
    /// hook, trip function or classifier differ from the builder's.
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
    /// `min_requests` of the failure-ratio policy was zero.
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
}

/// Builds a [`CircuitBreaker`]. Every setting has a default; `build` validates them.
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{CircuitBreaker, TripPolicy};
///
/// let breaker = CircuitBreaker::builder("inventory")
///     .timeout(Duration::from_secs(2))
///     .max_requests(3)
///     .reset_timeout(Duration::from_secs(30))
///     .trip_policy(TripPolicy::FailureRatio { ratio: 0.5, min_requests: 10 })
///     .build()?;
/// assert_eq!(breaker.name(), "inventory");
/// # Ok::<(), breaker_runtime::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct Builder {
    pub(crate) name: Name,
    pub(crate) settings: Settings,
    /// Which settings the code gave (the others are the built-in defaults, which a
    /// configuration's `[defaults]` table may replace).
    pub(crate) given: Given,
    /// Whether the loaded configuration was applied already (a keyed set's template takes
    /// its name's settings once, and its breakers are made from it as it is).
    pub(crate) configured: bool,
    /// The code's settings before the configuration was applied.
    pub(crate) code: Option<Settings>,
    pub(crate) hook: Option<Hook>,
    pub(crate) functions: Functions,
}

/// Which settings a builder was given explicitly, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Given(pub(crate) u8);

impl Given {
    pub(crate) const TIMEOUT: u8 = 1;
    pub(crate) const MAX_REQUESTS: u8 = 1 << 1;
    pub(crate) const INTERVAL: u8 = 1 << 2;
    pub(crate) const RESET_TIMEOUT: u8 = 1 << 3;
    pub(crate) const TRIP_POLICY: u8 = 1 << 4;
    pub(crate) const ALL: Given = Given(0b1_1111);

    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

impl Builder {
    /// A builder with the default settings: no deadline, `max_requests` 1, no interval,
    /// `reset_timeout` 60s, trip after 5 consecutive failures.
    pub fn new(name: impl Into<Name>) -> Builder {
        Builder {
            name: name.into(),
            settings: Settings::default(),
            given: Given::default(),
            configured: false,
            code: None,
            hook: None,
            functions: Functions::default(),
        }
    }

    /// The name the breaker will have.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Deadline for each admitted call. A call past it is dropped, counts as a failure and
    /// returns [`BreakerError::Timeout`](crate::BreakerError::Timeout).
    ///
    /// The deadline needs tokio's timer: calls must run inside a tokio runtime with time
    /// enabled. Elsewhere (`futures::executor::block_on`, a runtime built without
    /// `enable_time`) every call returns
    /// [`BreakerError::NoTimer`](crate::BreakerError::NoTimer) without running, whether or
    /// not it would have finished at once.
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.settings.timeout = Some(timeout);
        self.given.0 |= Given::TIMEOUT;
        self
    }

    /// Half-open probe budget, and the consecutive successes that close the breaker.
    pub fn max_requests(mut self, max_requests: u32) -> Builder {
        self.settings.max_requests = max_requests;
        self.given.0 |= Given::MAX_REQUESTS;
        self
    }

    /// In the closed state, clear the counts whenever `interval` has elapsed since the
    /// current generation began.
    pub fn interval(mut self, interval: Duration) -> Builder {
        self.settings.interval = Some(interval);
        self.given.0 |= Given::INTERVAL;
        self
    }

    /// How long the breaker stays open before admitting a probe.
    pub fn reset_timeout(mut self, reset_timeout: Duration) -> Builder {
        self.settings.reset_timeout = reset_timeout;
        self.given.0 |= Given::RESET_TIMEOUT;
        self
    }

    /// When the closed breaker trips open.
    pub fn trip_policy(mut self, policy: TripPolicy) -> Builder {
        self.settings.trip_policy = policy;
        self.given.0 |= Given::TRIP_POLICY;
        self
    }

    /// All settings at once.
    pub fn settings(mut self, settings: Settings) -> Builder {
        self.settings = settings;
        self.given = Given::ALL;
        self
    }

    /// Called after every state change with the breaker's name, the old and the new state.
    ///
    /// The hook runs on the thread of the call that caused the transition, after the
    /// transition is complete and with no lock held, so it may read the breaker. Keep it
    /// short. Only real changes of state call it. A panic in the hook is caught: the
    /// process's panic hook reports it (to stderr by default), the `tracing` feature adds an
    /// error event naming the breaker, and the call or getter (`state()`, a registry
    /// snapshot) that caused the transition carries on unaffected.
    pub fn on_state_change<F>(mut self, hook: F) -> Builder
    where
        F: Fn(&str, State, State) + Send + Sync + 'static,
    {
        self.functions.hook = Some(TypeId::of::<F>());
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Tells [`build_shared`](Self::build_shared) which function the
    /// [`TripPolicy::Custom`] policy calls, so that two breakers shared by name must trip
    /// with the same function. A `fn` pointer cannot say which function it is, so without
    /// this any two custom policies count as the same setting. Pass the function itself
    /// (`&my_trip`), not a pointer to it: it is told apart by its type.
    ///
    /// ```
    /// use breaker_runtime::{BuildError, CircuitBreaker, Counts, TripPolicy};
    ///
    /// fn after_ten(c: &Counts) -> bool { c.total_failures >= 10 }
    /// fn after_two(c: &Counts) -> bool { c.total_failures >= 2 }
    ///
    /// let shared = |trip: fn(&Counts) -> bool| {
    ///     CircuitBreaker::builder("trip-identity-example").trip_policy(TripPolicy::Custom(trip))
    /// };
    /// let first = shared(after_ten).trip_identity(&after_ten).build_shared()?;
    /// let err = shared(after_two).trip_identity(&after_two).build_shared().unwrap_err();
    /// assert!(matches!(err, BuildError::Conflict { setting: "trip function", .. }));
    /// # drop(first);
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn trip_identity<F>(mut self, _trip: &F) -> Builder
    where
        F: Fn(&Counts) -> bool + 'static,
    {
        self.functions.trip = Some(TypeId::of::<F>());
        self
    }

    /// Tells [`build_shared`](Self::build_shared) which classifier the calls of this breaker
    /// pass to [`call_with`](CircuitBreaker::call_with) (the breaker itself does not keep
    /// it), so that two users of one shared breaker must classify outcomes alike. `R` is the
    /// result type it classifies; pass the function itself (`&my_classify`): it is told apart
    /// by its type.
    pub fn classify_identity<R, F>(mut self, _classify: &F) -> Builder
    where
        F: Fn(&R) -> Outcome + 'static,
    {
        self.functions.classify = Some(TypeId::of::<F>());
        self
    }

    /// Validates the settings, creates a new breaker and lists it in the
    /// [`registry`](crate::registry) under its name.
    ///
    /// A breaker made with `build` is independent of every other, whatever its name: two
    /// live breakers may both be called "payments" (two tests running at once, a breaker per
    /// connection), and the registry lists both. To share one breaker by name, use
    /// [`build_shared`](Self::build_shared).
    ///
    /// # Errors
    /// A [`BuildError`] for an invalid setting.
    pub fn build(self) -> Result<CircuitBreaker, BuildError> {
        let builder = self.configured();
        builder.check()?;
        Ok(crate::registry::insert(builder))
    }

    /// Gets or creates the shared breaker of this name: if a live breaker made by
    /// `build_shared` has the name, returns it (a clone sharing its state), provided its
    /// settings are the same; otherwise creates it. Breakers made by
    /// [`build`](Self::build) are never returned: they belong to whoever built them. A
    /// named `#[circuit_breaker]` function gets its breaker this way.
    ///
    /// The same means: equal [`Settings`], the same [`on_state_change`](Self::on_state_change)
    /// hook (the same function or closure, by its type: two closures written apart differ),
    /// the same [`trip_identity`](Self::trip_identity) and
    /// [`classify_identity`](Self::classify_identity). Concurrent callers get one breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{BuildError, CircuitBreaker, State};
    ///
    /// let a = CircuitBreaker::builder("shared-example").build_shared()?;
    /// let b = CircuitBreaker::builder("shared-example").build_shared()?;
    /// a.force_open();
    /// assert_eq!(b.state(), State::Open);
    ///
    /// let err = CircuitBreaker::builder("shared-example")
    ///     .timeout(Duration::from_secs(1))
    ///     .build_shared()
    ///     .unwrap_err();
    /// assert!(matches!(err, BuildError::Conflict { setting: "timeout", .. }));
    /// # Ok::<(), BuildError>(())
    /// ```
    ///
    /// # Errors
    /// A [`BuildError`] for an invalid setting, or [`BuildError::Conflict`] naming the first
    /// setting in which the live shared breaker differs.
    pub fn build_shared(self) -> Result<CircuitBreaker, BuildError> {
        let builder = self.configured();
        builder.check()?;
        crate::registry::shared(builder)
    }

    /// The first setting or function in which a breaker built from `self` would differ
    /// from one with `settings` and `functions`.
    pub(crate) fn difference(
        &self,
        settings: &Settings,
        functions: &Functions,
    ) -> Option<&'static str> {
        let custom = matches!(
            (self.settings.trip_policy, settings.trip_policy),
            (TripPolicy::Custom(_), TripPolicy::Custom(_))
        );
        settings
            .difference(&self.settings)
            .or_else(|| functions.difference(&self.functions, custom))
    }

    /// The same settings and hook under another name (keyed breakers' `name[key]`).
    pub(crate) fn named(mut self, name: Name) -> Builder {
        self.name = name;
        self
    }

    /// The builder with the loaded configuration of its name applied (once): the file's
    /// `[defaults]` under the code's settings, the file's table of the name and the
    /// environment over them. Without the `config` feature, the builder as it is.
    pub(crate) fn configured(mut self) -> Builder {
        if !self.configured {
            self.configured = true;
            self.code = Some(self.settings);
            #[cfg(feature = "config")]
            {
                self.settings = crate::config::effective(&self.name, self.settings, self.given);
            }
        }
        self
    }

    pub(crate) fn check(&self) -> Result<(), BuildError> {
        if self.name.is_empty() {
            return Err(BuildError::EmptyName);
        }
        self.settings.validate()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("on_state_change", &self.hook.as_ref().map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: Builder) -> BuildError {
        b.check().unwrap_err()
    }

    #[test]
    fn bad_settings_are_errors() {
        assert_eq!(err(Builder::new("")), BuildError::EmptyName);
        assert_eq!(
            err(Builder::new("a").max_requests(0)),
            BuildError::ZeroMaxRequests
        );
        assert_eq!(
            err(Builder::new("a").timeout(Duration::ZERO)),
            BuildError::ZeroDuration { setting: "timeout" }
        );
        assert_eq!(
            err(Builder::new("a").interval(Duration::ZERO)),
            BuildError::ZeroDuration {
                setting: "interval"
            }
        );
        assert_eq!(
            err(Builder::new("a").reset_timeout(Duration::ZERO)),
            BuildError::ZeroDuration {
                setting: "reset_timeout"
            }
        );
        assert_eq!(
            err(Builder::new("a").trip_policy(TripPolicy::ConsecutiveFailures(0))),
            BuildError::ZeroConsecutiveFailures
        );
        for ratio in [0.0, -0.5, 1.5, f64::NAN] {
            let e = err(Builder::new("a").trip_policy(TripPolicy::FailureRatio {
                ratio,
                min_requests: 1,
            }));
            assert!(
                matches!(e, BuildError::FailureRatioOutOfRange { .. }),
                "{ratio}"
            );
        }
        assert_eq!(
            err(Builder::new("a").trip_policy(TripPolicy::FailureRatio {
                ratio: 1.0,
                min_requests: 0
            })),
            BuildError::ZeroMinRequests
        );
    }

    #[test]
    fn good_settings_pass() {
        let b = Builder::new("a")
            .timeout(Duration::from_nanos(1))
            .interval(Duration::from_secs(1))
            .max_requests(u32::MAX)
            .trip_policy(TripPolicy::FailureRatio {
                ratio: 1.0,
                min_requests: 1,
            });
        assert!(b.check().is_ok());
        assert!(format!("{b:?}").contains("FailureRatio"));
    }

    #[test]
    fn error_messages_say_how_to_fix() {
        let msg = BuildError::FailureRatioOutOfRange { ratio: 1.5 }.to_string();
        assert!(msg.contains("(0, 1]") && msg.contains("1.5"), "{msg}");
        let msg = BuildError::ZeroDuration { setting: "timeout" }.to_string();
        assert!(msg.contains("timeout must be longer than zero"), "{msg}");
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
    }
}
