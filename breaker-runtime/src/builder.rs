//! Building a breaker: the settings, their validation, and the errors for bad ones.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{Core, Functions, Parts};
use crate::observe::{Hook, Observer};
use crate::settings::Given;
use crate::{
    Backoff, BuildError, CircuitBreaker, Counts, Jitter, Name, Outcome, Settings, SlowCallRatio,
    State, TripPolicy, Window,
};

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
    /// Joins the process's fleet (see [`Builder::shared`]).
    #[cfg(feature = "redis")]
    pub(crate) shared: bool,
}

impl CircuitBreaker {
    /// Starts building a breaker with this name. See [`Builder`].
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name)
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
            #[cfg(feature = "redis")]
            shared: false,
        }
    }

    /// Shares the breaker's state with the other replicas of the service: with `true` it
    /// joins the fleet installed with [`shared::install`](crate::shared::install) (when
    /// the install happens, if the breaker is built before it). The call path never waits
    /// on the store; see the [`shared`](crate::shared) module for what is shared and what
    /// happens when the store fails. A keyed set built from this builder shares each key's
    /// breaker.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared(mut self, on: bool) -> Builder {
        self.shared = on;
        self
    }

    /// The name the breaker will have.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Deadline for each admitted call. A call past it is dropped, counts as a failure and
    /// returns [`BreakerError::Timeout`](crate::BreakerError::Timeout).
    ///
    /// The deadline is armed only when a call has to wait: it counts from the end of the
    /// first poll that left the call pending, and a call that finishes at its first poll
    /// never reads the clock or touches the timer for it. Waiting needs tokio's timer:
    /// elsewhere (`futures::executor::block_on`, a runtime built without `enable_time`) a
    /// call that has to wait returns [`BreakerError::NoTimer`](crate::BreakerError::NoTimer)
    /// at once (its future is dropped, and nothing is recorded).
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

    /// What the counts of the closed breaker cover: see [`Window`]. The default is a fixed
    /// window without interval (the whole closed period).
    pub fn window(mut self, window: Window) -> Builder {
        self.settings.window = window;
        self.given.0 |= Given::WINDOW;
        self
    }

    /// In the closed state, clear the counts whenever `interval` has elapsed since the
    /// current generation began: `window(Window::Fixed { interval: Some(interval) })`.
    pub fn interval(self, interval: Duration) -> Builder {
        self.window(Window::Fixed {
            interval: Some(interval),
        })
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

    /// Calls that take at least `threshold` (from admission to outcome) are slow: counted in
    /// [`Counts::slow_calls`], and a slow probe re-opens a half-open breaker (a dependency
    /// that still answers slowly does not close it). A call that reaches `timeout` is slow
    /// too; `threshold` must be below it. Slow calls trip a closed breaker only with
    /// [`slow_call_ratio`](Self::slow_call_ratio).
    pub fn slow_call(mut self, threshold: Duration) -> Builder {
        self.settings.slow_call = Some(threshold);
        self.given.0 |= Given::SLOW_CALL;
        self
    }

    /// Trip the closed breaker when at least `ratio` of the counted calls in the window
    /// (requests minus ignored) were slow, once the window holds `min_requests` requests.
    /// Checked in addition to the trip policy; needs [`slow_call`](Self::slow_call).
    pub fn slow_call_ratio(mut self, ratio: f64, min_requests: u64) -> Builder {
        self.settings.slow_call_ratio = Some(SlowCallRatio {
            ratio,
            min_requests,
        });
        self.given.0 |= Given::SLOW_CALL_RATIO;
        self
    }

    /// Grow the open period while probes keep failing: open attempt k (a trip from closed
    /// is attempt 1, each re-opening from half-open adds one, closing starts over) lasts
    /// `min(reset_timeout · factor^(k-1), max_reset_timeout)`.
    pub fn backoff(mut self, factor: f64, max_reset_timeout: Duration) -> Builder {
        self.settings.backoff = Some(Backoff {
            factor,
            max_reset_timeout,
        });
        self.given.0 |= Given::BACKOFF;
        self
    }

    /// How the actual open period is drawn from the one the backoff gives (or from
    /// `reset_timeout`): see [`Jitter`].
    pub fn jitter(mut self, jitter: Jitter) -> Builder {
        self.settings.jitter = jitter;
        self.given.0 |= Given::JITTER;
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
        #[cfg(feature = "redis")]
        let shared = builder.shared;
        let breaker = crate::registry::insert(builder.into_core());
        #[cfg(feature = "redis")]
        if shared {
            crate::shared::enlist(&breaker);
        }
        Ok(breaker)
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
        let name = builder.name.clone();
        match crate::registry::shared(&name, || builder.clone().into_core()) {
            Ok(breaker) => {
                #[cfg(feature = "redis")]
                if builder.shared {
                    crate::shared::enlist(&breaker);
                }
                Ok(breaker)
            }
            Err(existing) => {
                match builder.difference(&existing.core.built, &existing.core.functions) {
                    None => Ok(existing),
                    Some(setting) => Err(BuildError::Conflict { name, setting }),
                }
            }
        }
    }

    /// The breaker's pieces, made from this (configured and checked) builder, reporting to
    /// the registry's listeners.
    pub(crate) fn into_core(self) -> Core {
        self.core_with(|name, hook| Observer::new(name, hook, crate::registry::listeners()))
    }

    /// A breaker with this builder's settings that reports to no one and is listed nowhere
    /// (see [`CircuitBreaker::refusing`]).
    pub(crate) fn into_silent_core(self) -> Core {
        self.core_with(|_, _| Observer::silent())
    }

    /// The breaker's pieces, reporting to the observer `observer` makes of its name and
    /// hook.
    fn core_with(self, observer: impl FnOnce(&Name, Option<Hook>) -> Observer) -> Core {
        let Builder {
            name,
            settings,
            given,
            code,
            hook,
            functions,
            configured: _,
            #[cfg(feature = "redis")]
                shared: _,
        } = self;
        let observer = observer(&name, hook);
        Core::new(Parts {
            name,
            settings,
            code: code.unwrap_or(settings),
            given,
            functions,
            observer,
        })
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
}
