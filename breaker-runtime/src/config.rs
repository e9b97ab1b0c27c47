//! Settings from outside the code: a TOML file and environment variables, loaded once by
//! the process and applied to every breaker made afterwards (feature `config`).
//!
//! An application ships one binary and tunes its breakers per environment:
//!
//! ```toml
//! # breakers.toml
//! [defaults]                  # fills what the code left unset
//! reset_timeout = "30s"
//!
//! [breakers."pricing"]        # overrides the code for the breaker named "pricing"
//! timeout = "3s"
//! consecutive_failures = 10
//!
//! [breakers."my_app::client::fetch_price"]   # a default attribute name
//! failure_ratio = 0.5
//! min_requests = 20
//! window = "1m"               # the last minute, in 10 buckets
//!
//! [breakers."ledger"]
//! slow_call = "1s"
//! slow_call_ratio = 0.5
//! min_requests = 10
//! backoff = 2.0
//! max_reset_timeout = "10m"
//! jitter = "equal"
//! ```
//!
//! ```
//! use std::time::Duration;
//! use breaker_runtime::{config, CircuitBreaker};
//!
//! config::load_str("inline example", r#"
//!     [breakers."config-doc-pricing"]
//!     timeout = "1m 30s"
//! "#)?;
//! let pricing = CircuitBreaker::builder("config-doc-pricing")
//!     .timeout(Duration::from_secs(2)) // the code's value: the file wins
//!     .build()?;
//! assert_eq!(pricing.settings().timeout, Some(Duration::from_secs(90)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Precedence
//!
//! Lowest first: the built-in defaults, the file's `[defaults]` table (it fills only the
//! settings the code left unset), the code (the attribute's keys or the builder's calls),
//! the file's `[breakers."<name>"]` table, and the environment, whatever order they were
//! loaded in. Loading a second file adds to the first; where both set a key, the later
//! one wins.
//!
//! # Keys
//!
//! The attribute's keys, with the same meaning. `timeout`, `interval`, `window`,
//! `reset_timeout`, `max_reset_timeout` and `slow_call` are durations written as strings in
//! the human form: `"2s"`, `"250ms"`, `"1m 30s"`, `"1h"` (units `ns`, `us`, `ms`, `s`, `m`,
//! `h`, `d` and their long forms; whole numbers only; more than zero). `max_requests`,
//! `consecutive_failures`, `buckets` and `window_calls` are integers of at least 1;
//! `failure_ratio` and `slow_call_ratio` are numbers in (0, 1], `backoff` a number of at
//! least 1; `jitter` is `"none"`, `"full"` or `"equal"`.
//!
//! Some keys make one setting together, so a table gives them together, and a table or
//! variable higher up replaces the setting whole:
//!
//! - the trip policy: `consecutive_failures`, or `failure_ratio` with `min_requests`;
//! - the window: `interval`, or `window` (with `buckets`, 10 when absent), or
//!   `window_calls`; `buckets` goes with `window`;
//! - the slow-call ratio: `slow_call_ratio` with `min_requests` (one `min_requests` serves
//!   both ratios of a table);
//! - the backoff: `backoff` with `max_reset_timeout`.
//!
//! `slow_call`, `reset_timeout` and `timeout` stand alone. A table's settings are checked
//! as the builder checks them ([`Settings::validate`](crate::Settings::validate)) as far as
//! the table alone decides: `slow_call` below a `timeout` of the same table, a window that
//! splits into whole milliseconds per bucket. What depends on the layers underneath (a
//! `slow_call` from the file beside a `timeout` from the code) is checked when the breaker
//! is built. An unknown key is an error that suggests the closest known one.
//!
//! # Environment
//!
//! `BREAKER_<NAME>_<KEY>=value`, where `<NAME>` is the breaker's name upper-cased with
//! every character other than an ASCII letter or digit written as one `_`, and `<KEY>`
//! one of the keys above, upper-cased:
//!
//! | breaker name                    | variable for its timeout                       |
//! |---------------------------------|------------------------------------------------|
//! | `pricing`                       | `BREAKER_PRICING_TIMEOUT`                      |
//! | `app::fetch`                    | `BREAKER_APP__FETCH_TIMEOUT`                   |
//! | `my_app::client::fetch_price`   | `BREAKER_MY_APP__CLIENT__FETCH_PRICE_TIMEOUT`  |
//! | `eu-west.db`                    | `BREAKER_EU_WEST_DB_TIMEOUT`                   |
//!
//! The key is read from the end of the variable, the longest key first
//! (`BREAKER_X_RESET_TIMEOUT` sets `reset_timeout` of `x`). Values are written as in the
//! file, without quotes: `BREAKER_PRICING_TIMEOUT=3s`. Every `BREAKER_` variable must
//! name a known key: one that does not is an error (the prefix belongs to this crate).
//! Two names that map to one variable name (`a-b` and `a_b`) share its variables.
//!
//! # Errors and checks
//!
//! A file or a set of variables with any error applies nothing, and the error names the
//! file or variable, the breaker and the key, and says what is wrong. Loading never
//! panics. [`validate`] reports configured names that no live breaker has (a typo in a
//! name is the most common mistake): call it once the breakers exist (an attribute's
//! breaker is made at the first call of its function).
//!
//! Settings apply to breakers made after they were loaded. A live breaker whose settings
//! a load would change keeps its values; the load returns its name in
//! [`Loaded::already_built`] (and with `tracing` warns once per breaker) so that it is not
//! silently left behind: load first, or apply the new values with
//! [`CircuitBreaker::reconfigure`](crate::CircuitBreaker::reconfigure).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::settings::Given;
use crate::{Backoff, BuildError, Jitter, Name, Settings, SlowCallRatio, TripPolicy, Window};

/// The keys a table or a variable may set, in the order errors list them.
pub const KEYS: [&str; 15] = [
    "timeout",
    "max_requests",
    "interval",
    "window",
    "buckets",
    "window_calls",
    "reset_timeout",
    "backoff",
    "max_reset_timeout",
    "jitter",
    "consecutive_failures",
    "failure_ratio",
    "min_requests",
    "slow_call",
    "slow_call_ratio",
];

/// Settings of which any may be absent: one table of a configuration file, the variables
/// of one breaker, or the body of a live change. Absent settings keep the value they have
/// underneath (see the [module](self) for the order).
///
/// Deserializes (with serde) from a map of the [`KEYS`], durations as strings like `"2s"`;
/// an unknown key is an error. Keys that make one setting together are given together and
/// kept together here: `window` and `buckets` as [`window`](Self::window),
/// `slow_call_ratio` and `min_requests` as [`slow_call_ratio`](Self::slow_call_ratio),
/// `backoff` and `max_reset_timeout` as [`backoff`](Self::backoff).
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::config::PartialSettings;
/// use breaker_runtime::{Settings, Window};
///
/// let p: PartialSettings = "timeout = \"1m 30s\"\nmax_requests = 3\nwindow = \"1m\"".parse()?;
/// let s = p.apply(Settings::default());
/// assert_eq!(s.timeout, Some(Duration::from_secs(90)));
/// assert_eq!(s.max_requests, 3);
/// assert_eq!(s.window, Window::rolling(Duration::from_secs(60)));
/// # Ok::<(), breaker_runtime::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PartialSettings {
    /// Deadline for each admitted call.
    pub timeout: Option<Duration>,
    /// Half-open probe budget.
    pub max_requests: Option<u32>,
    /// Clear the counts of a closed breaker this often (a fixed window; replaces the
    /// window, and excludes [`window`](Self::window)).
    pub interval: Option<Duration>,
    /// A rolling window (keys `window` and `buckets`) or a count window (key
    /// `window_calls`); replaces the window, and excludes [`interval`](Self::interval).
    pub window: Option<Window>,
    /// How long an open breaker waits before a probe.
    pub reset_timeout: Option<Duration>,
    /// Trip after this many failures in a row (replaces the trip policy).
    pub consecutive_failures: Option<u32>,
    /// Trip at this failure ratio (with `min_requests`; replaces the trip policy).
    pub failure_ratio: Option<f64>,
    /// The requests counted before `failure_ratio` may trip.
    pub min_requests: Option<u64>,
    /// Calls that take at least this long are slow.
    pub slow_call: Option<Duration>,
    /// Trip when this share of the calls were slow (keys `slow_call_ratio` and
    /// `min_requests`).
    pub slow_call_ratio: Option<SlowCallRatio>,
    /// Grow the open period while probes fail (keys `backoff` and `max_reset_timeout`).
    pub backoff: Option<Backoff>,
    /// How the open period is drawn.
    pub jitter: Option<Jitter>,
}

impl PartialSettings {
    /// Whether no setting is given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == PartialSettings::default()
    }

    /// Whether the trip policy is given.
    fn has_policy(&self) -> bool {
        self.consecutive_failures.is_some() || self.failure_ratio.is_some()
    }

    /// Whether the window is given.
    fn has_window(&self) -> bool {
        self.interval.is_some() || self.window.is_some()
    }

    /// `self` over `under`: each setting of `self` if given, else `under`'s. The trip
    /// policy counts as one setting, and so does the window.
    #[must_use]
    pub fn over(&self, under: &PartialSettings) -> PartialSettings {
        let policy = if self.has_policy() { self } else { under };
        let window = if self.has_window() { self } else { under };
        PartialSettings {
            timeout: self.timeout.or(under.timeout),
            max_requests: self.max_requests.or(under.max_requests),
            interval: window.interval,
            window: window.window,
            reset_timeout: self.reset_timeout.or(under.reset_timeout),
            consecutive_failures: policy.consecutive_failures,
            failure_ratio: policy.failure_ratio,
            min_requests: policy.min_requests,
            slow_call: self.slow_call.or(under.slow_call),
            slow_call_ratio: self.slow_call_ratio.or(under.slow_call_ratio),
            backoff: self.backoff.or(under.backoff),
            jitter: self.jitter.or(under.jitter),
        }
    }

    /// `settings` with every setting given here replaced.
    #[must_use]
    pub fn apply(&self, settings: Settings) -> Settings {
        self.apply_where(settings, Given(0))
    }

    /// `settings` with the settings given here replaced, except those marked in `keep`.
    fn apply_where(&self, mut settings: Settings, keep: Given) -> Settings {
        if let Some(t) = self.timeout.filter(|_| !keep.has(Given::TIMEOUT)) {
            settings.timeout = Some(t);
        }
        if let Some(n) = self.max_requests.filter(|_| !keep.has(Given::MAX_REQUESTS)) {
            settings.max_requests = n;
        }
        if !keep.has(Given::WINDOW) {
            if let Some(i) = self.interval {
                settings.window = Window::Fixed { interval: Some(i) };
            } else if let Some(w) = self.window {
                settings.window = w;
            }
        }
        if let Some(r) = self
            .reset_timeout
            .filter(|_| !keep.has(Given::RESET_TIMEOUT))
        {
            settings.reset_timeout = r;
        }
        if !keep.has(Given::TRIP_POLICY) {
            if let Some(n) = self.consecutive_failures {
                settings.trip_policy = TripPolicy::ConsecutiveFailures(n);
            } else if let (Some(ratio), Some(min_requests)) =
                (self.failure_ratio, self.min_requests)
            {
                settings.trip_policy = TripPolicy::FailureRatio {
                    ratio,
                    min_requests,
                };
            }
        }
        if let Some(d) = self.slow_call.filter(|_| !keep.has(Given::SLOW_CALL)) {
            settings.slow_call = Some(d);
        }
        if let Some(r) = self
            .slow_call_ratio
            .filter(|_| !keep.has(Given::SLOW_CALL_RATIO))
        {
            settings.slow_call_ratio = Some(r);
        }
        if let Some(b) = self.backoff.filter(|_| !keep.has(Given::BACKOFF)) {
            settings.backoff = Some(b);
        }
        if let Some(j) = self.jitter.filter(|_| !keep.has(Given::JITTER)) {
            settings.jitter = j;
        }
        settings
    }

    /// A table of settings, from a map of keys to values (file or JSON).
    fn from_table(table: &toml::Table) -> Result<PartialSettings, (String, Problem)> {
        let mut keys = Keys::default();
        for (key, value) in table {
            keys.set(key, Value::Toml(value))
                .map_err(|p| (key.clone(), p))?;
        }
        keys.finish()
            .map_err(|(key, msg)| (key.to_string(), Problem::Value(msg)))
    }
}

/// The keys of one table, or of one breaker's variables, as given: checked one by one as
/// they are set, then together, and combined into [`PartialSettings`] by
/// [`finish`](Keys::finish).
#[derive(Clone, Copy, Default)]
struct Keys {
    /// The keys that are settings on their own.
    partial: PartialSettings,
    window: Option<Duration>,
    buckets: Option<u32>,
    window_calls: Option<u32>,
    slow_call_ratio: Option<f64>,
    backoff: Option<f64>,
    max_reset_timeout: Option<Duration>,
}

impl Keys {
    /// Sets `key` from `value`; the message says what is wrong.
    fn set(&mut self, key: &str, value: Value<'_>) -> Result<(), Problem> {
        let p = &mut self.partial;
        match key {
            "timeout" => p.timeout = Some(value.duration()?),
            "interval" => p.interval = Some(value.duration()?),
            "reset_timeout" => p.reset_timeout = Some(value.duration()?),
            "max_requests" => p.max_requests = Some(value.count_u32()?),
            "consecutive_failures" => p.consecutive_failures = Some(value.count_u32()?),
            "min_requests" => p.min_requests = Some(value.count_u64()?),
            "failure_ratio" => {
                let ratio = value.number()?;
                if !(ratio > 0.0 && ratio <= 1.0) {
                    return Err(Problem::Value(format!(
                        "must be a number in (0, 1], got {ratio}"
                    )));
                }
                p.failure_ratio = Some(ratio);
            }
            "slow_call" => p.slow_call = Some(value.duration()?),
            "jitter" => p.jitter = Some(value.jitter()?),
            "window" => self.window = Some(value.duration()?),
            "buckets" => self.buckets = Some(value.count_u32()?),
            "window_calls" => self.window_calls = Some(value.count_u32()?),
            "slow_call_ratio" => self.slow_call_ratio = Some(value.number()?),
            "backoff" => self.backoff = Some(value.number()?),
            "max_reset_timeout" => self.max_reset_timeout = Some(value.duration()?),
            _ => return Err(Problem::UnknownKey(suggest(key, &KEYS))),
        }
        Ok(())
    }

    /// The checks that need the whole table, and the settings it makes: the trip policy
    /// and the window are each set one way, keys that go together are given together, and
    /// the settings the table gives are valid as far as they can be judged without the
    /// layers underneath ([`Settings::validate`]).
    fn finish(self) -> Result<PartialSettings, (&'static str, String)> {
        let mut p = self.partial;
        if p.consecutive_failures.is_some() && p.failure_ratio.is_some() {
            return Err((
                "consecutive_failures",
                "sets the trip policy, as failure_ratio does: give one or the other".into(),
            ));
        }
        let windows = [
            ("interval", p.interval.is_some()),
            ("window", self.window.is_some()),
            ("window_calls", self.window_calls.is_some()),
        ];
        let mut given = windows
            .iter()
            .filter(|(_, given)| *given)
            .map(|(key, _)| *key);
        if let (Some(first), Some(second)) = (given.next(), given.next()) {
            return Err((
                second,
                format!(
                    "sets the window, as {first} does: give one of interval (fixed), window \
                     with buckets (rolling) or window_calls (count)"
                ),
            ));
        }
        if self.buckets.is_some() && self.window.is_none() {
            return Err((
                "buckets",
                "goes with window (the rolling window it splits): give window beside it, \
                 or remove buckets"
                    .into(),
            ));
        }
        if self.backoff.is_some() != self.max_reset_timeout.is_some() {
            return Err(if self.backoff.is_some() {
                (
                    "backoff",
                    "needs max_reset_timeout beside it (the longest the open period grows to)"
                        .into(),
                )
            } else {
                (
                    "max_reset_timeout",
                    "goes with backoff: give both, or neither".into(),
                )
            });
        }
        let ratios = p.failure_ratio.is_some() || self.slow_call_ratio.is_some();
        match (ratios, p.min_requests) {
            (true, None) => {
                let key = if p.failure_ratio.is_some() {
                    "failure_ratio"
                } else {
                    "slow_call_ratio"
                };
                return Err((
                    key,
                    "needs min_requests beside it (the requests counted before the ratio may \
                     trip)"
                        .into(),
                ));
            }
            (false, Some(_)) => {
                return Err((
                    "min_requests",
                    "goes with failure_ratio or slow_call_ratio: give both, or neither".into(),
                ));
            }
            _ => {}
        }
        if let Some(length) = self.window {
            p.window = Some(Window::Rolling {
                length,
                buckets: self.buckets.unwrap_or(Window::DEFAULT_BUCKETS),
            });
        } else if let Some(calls) = self.window_calls {
            p.window = Some(Window::Calls { calls });
        }
        p.slow_call_ratio = self.slow_call_ratio.map(|ratio| SlowCallRatio {
            ratio,
            min_requests: p.min_requests.unwrap_or(1),
        });
        if p.failure_ratio.is_none() {
            // Only the slow-call ratio's.
            p.min_requests = None;
        }
        p.backoff = self
            .backoff
            .zip(self.max_reset_timeout)
            .map(|(factor, max)| Backoff {
                factor,
                max_reset_timeout: max,
            });
        // What the table gives, over settings that leave every check between two settings
        // the table does not both give to the layers underneath.
        let alone = Settings {
            reset_timeout: p.reset_timeout.unwrap_or(Duration::from_nanos(1)),
            slow_call: p.slow_call.or(Some(Duration::from_nanos(1))),
            ..Settings::default()
        };
        p.apply(alone)
            .validate()
            .map_err(|e| (key_of(&e, self.buckets.is_some()), e.to_string()))?;
        Ok(p)
    }
}

/// The key a [`BuildError`] of a table's settings is about.
fn key_of(error: &BuildError, buckets_given: bool) -> &'static str {
    match error {
        BuildError::ZeroBuckets | BuildError::TooManyBuckets { .. } if buckets_given => "buckets",
        BuildError::ZeroBuckets
        | BuildError::TooManyBuckets { .. }
        | BuildError::WindowNotDivisible { .. } => "window",
        BuildError::ZeroWindowCalls | BuildError::TooManyWindowCalls { .. } => "window_calls",
        BuildError::SlowCallNotBelowTimeout { .. } => "slow_call",
        BuildError::SlowCallRatioOutOfRange { .. } => "slow_call_ratio",
        BuildError::BackoffOutOfRange { .. } => "backoff",
        BuildError::MaxResetBelowReset { .. } => "max_reset_timeout",
        BuildError::FailureRatioOutOfRange { .. } => "failure_ratio",
        BuildError::ZeroMinRequests => "min_requests",
        BuildError::ZeroMaxRequests => "max_requests",
        BuildError::ZeroConsecutiveFailures => "consecutive_failures",
        BuildError::ZeroDuration { setting } => setting,
        BuildError::UnknownJitter { .. } => "jitter",
        _ => "settings",
    }
}

impl std::str::FromStr for PartialSettings {
    type Err = ConfigError;

    /// Parses one table in TOML (`timeout = "2s"` lines).
    fn from_str(text: &str) -> Result<PartialSettings, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            origin: "settings".into(),
            breaker: None,
            key: None,
            problem: e.message().to_string(),
        })?;
        PartialSettings::from_table(&table).map_err(|(key, problem)| ConfigError {
            origin: "settings".into(),
            breaker: None,
            key: Some(key),
            problem: problem.to_string(),
        })
    }
}

impl<'de> serde::Deserialize<'de> for PartialSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        PartialSettings::from_table(&table)
            .map_err(|(key, problem)| serde::de::Error::custom(format!("`{key}`: {problem}")))
    }
}

/// A value as a file or a variable gives it.
#[derive(Clone, Copy)]
enum Value<'a> {
    Toml(&'a toml::Value),
    Text(&'a str),
}

/// What is wrong with one key.
#[derive(Debug)]
enum Problem {
    /// Not a known key; the closest one, if any is close.
    UnknownKey(Option<&'static str>),
    Value(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownKey(Some(close)) => {
                write!(f, "unknown key; did you mean `{close}`?")
            }
            Problem::UnknownKey(None) => {
                write!(f, "unknown key; the keys are {}", KEYS.join(", "))
            }
            Problem::Value(msg) => f.write_str(msg),
        }
    }
}

impl Value<'_> {
    fn duration(self) -> Result<Duration, Problem> {
        let text: &str = match self {
            Value::Toml(toml::Value::String(s)) => s,
            Value::Text(s) => s,
            Value::Toml(other) => {
                return Err(Problem::Value(format!(
                    "a duration is written as a string like \"2s\" or \"1m 30s\", got {}",
                    shown(other)
                )));
            }
        };
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            Problem::Value(format!(
                "\"{text}\" is not a duration ({e}); write it like \"2s\", \"250ms\" or \"1m 30s\""
            ))
        })?;
        if d.is_zero() {
            return Err(Problem::Value(
                "must be longer than zero; leave it out to keep the code's value".into(),
            ));
        }
        Ok(d)
    }

    fn count_u64(self) -> Result<u64, Problem> {
        let n = match self {
            Value::Toml(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
            Value::Text(s) => s.trim().parse::<u64>().ok(),
            Value::Toml(other) => {
                return Err(Problem::Value(format!(
                    "must be a whole number, got {}",
                    shown(other)
                )));
            }
        };
        match n {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(Problem::Value(format!(
                "must be a whole number of at least 1, got {}",
                self.shown()
            ))),
        }
    }

    fn count_u32(self) -> Result<u32, Problem> {
        let n = self.count_u64()?;
        u32::try_from(n)
            .map_err(|_| Problem::Value(format!("must be at most {}, got {n}", u32::MAX)))
    }

    fn number(self) -> Result<f64, Problem> {
        match self {
            Value::Toml(toml::Value::Float(x)) => Ok(*x),
            #[allow(clippy::cast_precision_loss)]
            Value::Toml(toml::Value::Integer(n)) => Ok(*n as f64),
            Value::Text(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| Problem::Value(format!("must be a number, got \"{s}\""))),
            Value::Toml(other) => Err(Problem::Value(format!(
                "must be a number, got {}",
                shown(other)
            ))),
        }
    }

    fn jitter(self) -> Result<Jitter, Problem> {
        let text: &str = match self {
            Value::Toml(toml::Value::String(s)) => s,
            Value::Text(s) => s.trim(),
            Value::Toml(other) => {
                return Err(Problem::Value(format!(
                    "must be a string, \"none\", \"full\" or \"equal\", got {}",
                    shown(other)
                )));
            }
        };
        text.parse::<Jitter>()
            .map_err(|e| Problem::Value(e.to_string()))
    }

    fn shown(self) -> String {
        match self {
            Value::Toml(v) => shown(v),
            Value::Text(s) => format!("\"{s}\""),
        }
    }
}

/// A TOML value as an error message shows it.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("\"{s}\""),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

/// A configuration that could not be loaded, or a name [`validate`] found no breaker for.
/// It names where the mistake is (`origin`: the file, or the variable), the breaker and
/// the key when they are known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the mistake is: the file (as given to [`load_file`] or [`load_str`]), or
    /// `environment variable BREAKER_...`.
    pub origin: String,
    /// The breaker the mistake is about.
    pub breaker: Option<String>,
    /// The key the mistake is about.
    pub key: Option<String>,
    /// What is wrong, and how to put it right.
    pub problem: String,
}

impl ConfigError {
    fn describe(&self) -> String {
        let mut out = self.origin.clone();
        if let Some(breaker) = &self.breaker {
            out.push_str(&format!(": breaker \"{breaker}\""));
        }
        if let Some(key) = &self.key {
            out.push_str(&format!(": key `{key}`"));
        }
        out.push_str(": ");
        out.push_str(&self.problem);
        out
    }
}

/// What a successful load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loaded {
    /// The breaker names the load gave settings to (from the file's tables, or the
    /// environment's names as written in the variables).
    pub names: Vec<String>,
    /// Live breakers made before this load whose settings it would change: they keep
    /// their values (apply them with
    /// [`reconfigure`](crate::CircuitBreaker::reconfigure)).
    pub already_built: Vec<Name>,
}

/// Everything loaded so far.
#[derive(Default)]
struct Store {
    defaults: PartialSettings,
    /// By name, from files; the source of each, for [`validate`].
    named: BTreeMap<String, (PartialSettings, String)>,
    /// By the environment's form of the name; the variable of each, for [`validate`].
    env: BTreeMap<String, (PartialSettings, String)>,
}

static STORE: RwLock<Option<Store>> = RwLock::new(None);
/// Whether anything was loaded: breakers made in a process that loads nothing skip the
/// lock.
static ANY: AtomicBool = AtomicBool::new(false);
/// Breakers already reported as made before a load (by address), so that each is said
/// once.
static REPORTED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// The environment's form of a breaker name: ASCII letters and digits upper-cased, every
/// other character (`:`, `-`, `.`, `[`, non-ASCII letters) as one `_`.
///
/// ```
/// use breaker_runtime::config::env_name;
/// assert_eq!(env_name("app::fetch"), "APP__FETCH");
/// assert_eq!(env_name("my_app::client::fetch_price"), "MY_APP__CLIENT__FETCH_PRICE");
/// assert_eq!(env_name("eu-west.db"), "EU_WEST_DB");
/// ```
#[must_use]
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The settings a breaker named `name` gets, given the code's `settings` (of which
/// `given` were set by the code).
pub(crate) fn effective(name: &str, settings: Settings, given: Given) -> Settings {
    if !ANY.load(Ordering::Acquire) {
        return settings;
    }
    let store = STORE.read().unwrap_or_else(PoisonError::into_inner);
    let Some(store) = store.as_ref() else {
        return settings;
    };
    resolve(store, name, settings, given)
}

fn resolve(store: &Store, name: &str, settings: Settings, given: Given) -> Settings {
    let mut settings = store.defaults.apply_where(settings, given);
    if let Some((named, _)) = store.named.get(name) {
        settings = named.apply(settings);
    }
    if let Some((env, _)) = store.env.get(&env_name(name)) {
        settings = env.apply(settings);
    }
    settings
}

/// Loads a TOML file of settings (see the [module](self) for its form).
///
/// # Errors
/// A [`ConfigError`] naming the file, and the breaker and key when the mistake is in
/// one: the file cannot be read, is not TOML, has an unknown table or key, or a bad value.
/// Nothing of a file with an error is applied.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded, ConfigError> {
    let path = path.as_ref();
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        origin: source.clone(),
        breaker: None,
        key: None,
        problem: format!("cannot be read: {e}"),
    })?;
    load_str(&source, &text)
}

/// Loads settings written as the TOML file would be; `source` names it in errors (a
/// path, or "inline settings").
///
/// # Errors
/// As [`load_file`].
pub fn load_str(source: &str, text: &str) -> Result<Loaded, ConfigError> {
    let (defaults, named) = parse_file(source, text)?;
    let names = named.keys().cloned().collect();
    let loaded = commit(|store| {
        store.defaults = defaults.over(&store.defaults);
        for (name, partial) in named {
            let entry = store
                .named
                .entry(name)
                .or_insert_with(|| (PartialSettings::default(), source.to_string()));
            entry.0 = partial.over(&entry.0);
            entry.1 = source.to_string();
        }
    });
    Ok(Loaded {
        names,
        already_built: loaded,
    })
}

fn parse_file(
    origin: &str,
    text: &str,
) -> Result<(PartialSettings, BTreeMap<String, PartialSettings>), ConfigError> {
    let error = |breaker: Option<&str>, key: Option<&str>, problem: String| ConfigError {
        origin: origin.to_string(),
        breaker: breaker.map(str::to_string),
        key: key.map(str::to_string),
        problem,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(None, None, format!("not valid TOML: {e}")))?;
    let mut defaults = PartialSettings::default();
    let mut named = BTreeMap::new();
    for (top, value) in &table {
        match (top.as_str(), value) {
            ("defaults", toml::Value::Table(t)) => {
                defaults = PartialSettings::from_table(t).map_err(|(key, p)| {
                    error(None, Some(&format!("defaults.{key}")), p.to_string())
                })?;
            }
            ("breakers", toml::Value::Table(breakers)) => {
                for (name, value) in breakers {
                    let toml::Value::Table(t) = value else {
                        return Err(error(
                            Some(name),
                            None,
                            format!(
                                "expected a table of settings, like [breakers.\"{name}\"] with timeout = \"2s\" under it"
                            ),
                        ));
                    };
                    if name.is_empty() {
                        return Err(error(
                            Some(name),
                            None,
                            "a breaker name cannot be empty".into(),
                        ));
                    }
                    let partial = PartialSettings::from_table(t)
                        .map_err(|(key, p)| error(Some(name), Some(&key), p.to_string()))?;
                    named.insert(name.clone(), partial);
                }
            }
            ("defaults" | "breakers", _) => {
                return Err(error(
                    None,
                    Some(top),
                    "must be a table ([defaults], or [breakers.\"<name>\"])".into(),
                ));
            }
            (other, _) => {
                let hint = match suggest(other, &["defaults", "breakers"]) {
                    Some(close) => format!("did you mean `{close}`?"),
                    // A key of a breaker's table written at the top.
                    None if KEYS.contains(&other) => "settings go in a table: [defaults], or \
                         [breakers.\"<name>\"] for one breaker"
                        .to_string(),
                    None => {
                        "the file has a [defaults] table and [breakers.\"<name>\"] tables".into()
                    }
                };
                return Err(error(None, Some(other), format!("unknown table; {hint}")));
            }
        }
    }
    Ok((defaults, named))
}

/// Loads the process's `BREAKER_<NAME>_<KEY>` environment variables (see the
/// [module](self)). Variables of other names are left alone.
///
/// # Errors
/// A [`ConfigError`] naming the variable, the breaker (in the variable's form) and the
/// key: an unknown key (with the closest known one), a bad value, or a value that is not
/// UTF-8. Nothing is applied when one variable is wrong.
pub fn load_env() -> Result<Loaded, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(PREFIX) {
            continue;
        }
        let Some(value) = value.to_str() else {
            return Err(ConfigError {
                origin: format!("environment variable {name}"),
                breaker: None,
                key: None,
                problem: "the value is not valid UTF-8".into(),
            });
        };
        vars.push((name.to_string(), value.to_string()));
    }
    load_vars(vars)
}

const PREFIX: &str = "BREAKER_";

/// Loads `(variable, value)` pairs as [`load_env`] loads the environment's, for tests and
/// for values that come from elsewhere (a secrets store). Pairs whose name does not start
/// with `BREAKER_` are left alone.
///
/// # Errors
/// As [`load_env`].
pub fn load_vars<I, K, V>(vars: I) -> Result<Loaded, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    // By name: the keys given, and the variable that gave each.
    let mut given: BTreeMap<String, (Keys, BTreeMap<&'static str, String>)> = BTreeMap::new();
    for (var, value) in vars {
        let (var, value) = (var.as_ref(), value.as_ref());
        let Some(rest) = var.strip_prefix(PREFIX) else {
            continue;
        };
        let error = |breaker: Option<&str>, key: Option<&str>, problem: String| ConfigError {
            origin: format!("environment variable {var}"),
            breaker: breaker.map(str::to_string),
            key: key.map(str::to_string),
            problem,
        };
        let Some((name, key)) = split_var(rest) else {
            let hint = close_var_key(rest).map_or_else(
                || format!("the keys are {}", upper_keys()),
                |(name, key)| format!("did you mean {PREFIX}{name}_{key}?"),
            );
            return Err(error(
                None,
                None,
                format!("not a known setting: write {PREFIX}<NAME>_<KEY>; {hint}"),
            ));
        };
        let entry = given.entry(name.to_string()).or_default();
        entry
            .0
            .set(key, Value::Text(value))
            .map_err(|p| error(Some(name), Some(key), p.to_string()))?;
        entry.1.insert(key, var.to_string());
    }
    let mut env: BTreeMap<String, (PartialSettings, String)> = BTreeMap::new();
    for (name, (keys, vars)) in given {
        // The variable of the key a problem is about (every key given has one).
        let var_of = |key: &str| vars.get(key).or(vars.values().next()).cloned();
        let partial = keys.finish().map_err(|(key, problem)| ConfigError {
            origin: format!("environment variable {}", var_of(key).unwrap_or_default()),
            breaker: Some(name.clone()),
            key: Some(key.to_string()),
            problem,
        })?;
        let var = vars.values().next().cloned().unwrap_or_default();
        env.insert(name, (partial, var));
    }
    let names = env.keys().cloned().collect();
    let already_built = commit(|store| {
        for (name, (partial, var)) in env {
            let entry = store
                .env
                .entry(name)
                .or_insert_with(|| (PartialSettings::default(), var.clone()));
            entry.0 = partial.over(&entry.0);
            entry.1 = var;
        }
    });
    Ok(Loaded {
        names,
        already_built,
    })
}

fn upper_keys() -> String {
    KEYS.map(str::to_ascii_uppercase).join(", ")
}

/// `NAME_KEY` split into the name and the (lower-case) key, the longest key first.
fn split_var(rest: &str) -> Option<(&str, &'static str)> {
    let mut keys = KEYS;
    keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
    keys.into_iter().find_map(|key| {
        let upper = key.to_ascii_uppercase();
        let name = rest.strip_suffix(upper.as_str())?.strip_suffix('_')?;
        (!name.is_empty()).then_some((name, key))
    })
}

/// For a variable whose key is unknown: the name and the closest key, trying the last one,
/// two and three `_`-separated words (as many as the longest key has) as the key; of two
/// keys equally close, the longer.
fn close_var_key(rest: &str) -> Option<(String, String)> {
    let upper: Vec<String> = KEYS.iter().map(|k| k.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let mut best: Option<(usize, String, String)> = None;
    for words in 1..=3 {
        let mut cut = Some(rest.len());
        for _ in 0..words {
            cut = cut.and_then(|c| rest[..c].rfind('_'));
        }
        let Some(cut) = cut else { break };
        let (name, tail) = (&rest[..cut], &rest[cut + 1..]);
        if name.is_empty() {
            continue;
        }
        for key in &upper {
            let d = edit_distance(tail, key);
            if d <= 2 && best.as_ref().is_none_or(|(b, ..)| d <= *b) {
                best = Some((d, name.to_string(), (*key).to_string()));
            }
        }
    }
    best.map(|(_, name, key)| (name, key))
}

/// Applies a parsed load to the store, and lists the live breakers it would change.
fn commit(apply: impl FnOnce(&mut Store)) -> Vec<Name> {
    let live = crate::registry::live();
    // What each live breaker would get: a keyed breaker takes the settings of its set's
    // name.
    let would_get = |store: &Store| -> Vec<Settings> {
        live.iter()
            .map(|b| {
                let core = &b.core;
                let name = core.name().split('[').next().unwrap_or(core.name());
                resolve(store, name, core.code, core.given)
            })
            .collect()
    };
    let mut guard = STORE.write().unwrap_or_else(PoisonError::into_inner);
    let store = guard.get_or_insert_with(Store::default);
    let before = would_get(store);
    apply(store);
    ANY.store(true, Ordering::Release);
    let after = would_get(store);
    drop(guard);
    // The breakers this load would change, and that do not have those settings already.
    let changed: Vec<(Name, usize)> = live
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(b, (before, after))| {
            before.difference(after).is_some() && after.difference(&b.core.built).is_some()
        })
        .map(|(b, _)| {
            (
                b.core.name().clone(),
                std::sync::Arc::as_ptr(&b.core) as usize,
            )
        })
        .collect();
    // Dropped with no lock held: the last handle of a breaker takes the registry's lock.
    drop(live);
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    let reported = reported.get_or_insert_with(HashSet::new);
    let mut names = Vec::new();
    for (name, address) in changed {
        if reported.insert(address) {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "breaker",
                breaker = %name,
                "settings loaded after this breaker was made do not apply to it; load them first, or call reconfigure"
            );
        }
        names.push(name);
    }
    names
}

/// Checks the loaded configuration against the live breakers: every name given settings
/// (in a file's `[breakers."<name>"]` table or a `BREAKER_<NAME>_...` variable) must be
/// the name of a live breaker, or of a keyed set with live breakers (`name[key]`).
///
/// Call it once the breakers exist: an attribute's breaker is made at the first call of
/// its function, and a configuration for a name no breaker has yet is not an error until
/// then.
///
/// # Errors
/// One [`ConfigError`] per unknown name, naming the file or variable, with the closest
/// live name when one is close.
pub fn validate() -> Result<(), Vec<ConfigError>> {
    let live: Vec<Name> = crate::registry::live()
        .iter()
        .map(|b| b.core.name().clone())
        .collect();
    let mut known: Vec<String> = Vec::new();
    for name in &live {
        known.push(name.to_string());
        if let Some(set) = name.split_once('[').map(|(set, _)| set) {
            known.push(set.to_string());
        }
    }
    let guard = STORE.read().unwrap_or_else(PoisonError::into_inner);
    let Some(store) = guard.as_ref() else {
        return Ok(());
    };
    let mut errors = Vec::new();
    let closest = |name: &str, form: &dyn Fn(&str) -> String| {
        known
            .iter()
            .map(|k| (edit_distance(name, &form(k)), k))
            .filter(|(d, _)| *d <= 3)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k.clone())
    };
    for (name, (_, source)) in &store.named {
        if !known.iter().any(|k| k == name) {
            let hint = closest(name, &|k: &str| k.to_string())
                .map_or_else(String::new, |k| format!("; did you mean \"{k}\"?"));
            errors.push(ConfigError {
                origin: source.clone(),
                breaker: Some(name.clone()),
                key: None,
                problem: format!("no live breaker has this name{hint}"),
            });
        }
    }
    for (name, (_, var)) in &store.env {
        if !known.iter().any(|k| env_name(k) == *name) {
            let hint = closest(name, &env_name).map_or_else(String::new, |k| {
                format!("; did you mean \"{k}\" ({})?", env_name(&k))
            });
            errors.push(ConfigError {
                origin: format!("environment variable {var}"),
                breaker: Some(name.clone()),
                key: None,
                problem: format!("no live breaker has this name{hint}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Forgets everything loaded: breakers made afterwards get the code's settings alone.
/// (Live breakers keep theirs.) For tests, and for a process that reloads from scratch.
pub fn clear() {
    *STORE.write().unwrap_or_else(PoisonError::into_inner) = None;
    ANY.store(false, Ordering::Release);
}

/// The closest of `candidates` to `word`, if any is within two edits.
fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_the_code_gave_is_kept_and_the_others_replaced() {
        use crate::{Backoff, SlowCallRatio};
        let given = PartialSettings {
            timeout: Some(Duration::from_secs(7)),
            max_requests: Some(7),
            window: Some(Window::Calls { calls: 7 }),
            reset_timeout: Some(Duration::from_secs(70)),
            consecutive_failures: Some(7),
            slow_call: Some(Duration::from_secs(1)),
            slow_call_ratio: Some(SlowCallRatio {
                ratio: 0.7,
                min_requests: 7,
            }),
            backoff: Some(Backoff {
                factor: 7.0,
                max_reset_timeout: Duration::from_secs(700),
            }),
            jitter: Some(Jitter::Full),
            ..PartialSettings::default()
        };
        let code = Settings::default();
        let all = given.apply(code);
        // Which field each bit keeps, read as the code's value or the table's.
        let kept = |s: &Settings| {
            [
                s.timeout == code.timeout,
                s.max_requests == code.max_requests,
                s.window == code.window,
                s.reset_timeout == code.reset_timeout,
                s.trip_policy.same_setting(&code.trip_policy),
                s.slow_call == code.slow_call,
                s.slow_call_ratio.is_none(),
                s.backoff.is_none(),
                s.jitter == code.jitter,
            ]
        };
        assert_eq!(kept(&all), [false; 9], "every setting replaced");
        let bits = [
            Given::TIMEOUT,
            Given::MAX_REQUESTS,
            Given::WINDOW,
            Given::RESET_TIMEOUT,
            Given::TRIP_POLICY,
            Given::SLOW_CALL,
            Given::SLOW_CALL_RATIO,
            Given::BACKOFF,
            Given::JITTER,
        ];
        for (i, bit) in bits.into_iter().enumerate() {
            let mut expected = [false; 9];
            expected[i] = true;
            assert_eq!(
                kept(&given.apply_where(code, Given(bit))),
                expected,
                "bit {i}"
            );
        }
        assert_eq!(kept(&given.apply_where(code, Given::ALL)), [true; 9]);
    }

    #[test]
    fn env_names_map_each_other_character_to_one_underscore() {
        assert_eq!(env_name("app::fetch"), "APP__FETCH");
        assert_eq!(env_name("a-b"), env_name("a_b"));
        assert_eq!(env_name("inventory[10.0.0.7]"), "INVENTORY_10_0_0_7_");
        assert_eq!(env_name("café"), "CAF_");
    }

    #[test]
    fn variables_split_at_the_longest_key() {
        assert_eq!(split_var("X_RESET_TIMEOUT"), Some(("X", "reset_timeout")));
        assert_eq!(split_var("X_TIMEOUT"), Some(("X", "timeout")));
        assert_eq!(
            split_var("APP__FETCH_MAX_REQUESTS"),
            Some(("APP__FETCH", "max_requests"))
        );
        assert_eq!(split_var("TIMEOUT"), None);
        assert_eq!(split_var("X_TIMEOT"), None);
        assert_eq!(
            close_var_key("PRICING_TIMEOT"),
            Some(("PRICING".into(), "TIMEOUT".into()))
        );
        assert_eq!(
            close_var_key("PRICING_MAX_REQUEST"),
            Some(("PRICING".into(), "MAX_REQUESTS".into()))
        );
    }

    #[test]
    fn the_longest_new_keys_split_first() {
        assert_eq!(
            split_var("X_SLOW_CALL_RATIO"),
            Some(("X", "slow_call_ratio"))
        );
        assert_eq!(split_var("X_SLOW_CALL"), Some(("X", "slow_call")));
        assert_eq!(split_var("X_WINDOW_CALLS"), Some(("X", "window_calls")));
        assert_eq!(split_var("X_WINDOW"), Some(("X", "window")));
        assert_eq!(
            split_var("X_MAX_RESET_TIMEOUT"),
            Some(("X", "max_reset_timeout"))
        );
        assert_eq!(
            close_var_key("PRICING_MAX_RESET_TIMEOT"),
            Some(("PRICING".into(), "MAX_RESET_TIMEOUT".into()))
        );
        assert_eq!(
            close_var_key("PRICING_JITER"),
            Some(("PRICING".into(), "JITTER".into()))
        );
    }

    /// A store with `[defaults]` of `defaults`, for layering tests that leave the
    /// process's configuration alone.
    fn store_with_defaults(defaults: &str) -> Store {
        Store {
            defaults: defaults.parse().unwrap(),
            ..Store::default()
        }
    }

    #[test]
    fn defaults_fill_only_the_new_settings_the_code_left_unset() {
        let store = store_with_defaults(
            "window = \"1m\"\nslow_call = \"1s\"\nslow_call_ratio = 0.5\nmin_requests = 7\n\
             backoff = 2.0\nmax_reset_timeout = \"1h\"\njitter = \"full\"",
        );
        let unset = resolve(&store, "a", Settings::default(), Given(0));
        assert_eq!(unset.window, Window::rolling(Duration::from_secs(60)));
        assert_eq!(unset.slow_call, Some(Duration::from_secs(1)));
        assert_eq!(
            unset.slow_call_ratio,
            Some(SlowCallRatio {
                ratio: 0.5,
                min_requests: 7
            })
        );
        assert_eq!(
            unset.backoff,
            Some(Backoff {
                factor: 2.0,
                max_reset_timeout: Duration::from_secs(3600)
            })
        );
        assert_eq!(unset.jitter, Jitter::Full);
        assert!(
            matches!(unset.trip_policy, TripPolicy::ConsecutiveFailures(5)),
            "min_requests of the slow-call ratio sets no trip policy"
        );

        // Each setting the code gave is kept, one bit at a time.
        for (bit, kept) in [
            (Given::WINDOW, "window"),
            (Given::SLOW_CALL, "slow_call"),
            (Given::SLOW_CALL_RATIO, "slow_call_ratio"),
            (Given::BACKOFF, "backoff"),
            (Given::JITTER, "jitter"),
        ] {
            let code = Settings::default();
            let s = resolve(&store, "a", code, Given(bit));
            let differs: Vec<&str> = [
                ("window", s.window != code.window),
                ("slow_call", s.slow_call != code.slow_call),
                ("slow_call_ratio", s.slow_call_ratio != code.slow_call_ratio),
                ("backoff", s.backoff != code.backoff),
                ("jitter", s.jitter != code.jitter),
            ]
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(name, _)| name)
            .collect();
            assert!(!differs.contains(&kept), "{kept} was replaced");
            assert_eq!(differs.len(), 4, "{kept}: {differs:?}");
        }
    }

    #[test]
    fn defaults_with_an_interval_fill_a_window_the_code_left_unset() {
        let store = store_with_defaults("interval = \"7m\"");
        let s = resolve(&store, "a", Settings::default(), Given(0));
        assert_eq!(s.interval(), Some(Duration::from_secs(420)));
        let code = Settings {
            window: Window::Calls { calls: 3 },
            ..Settings::default()
        };
        let s = resolve(&store, "a", code, Given(Given::WINDOW));
        assert_eq!(s.window, Window::Calls { calls: 3 });
    }

    #[test]
    fn layers_replace_the_window_whole() {
        let file: PartialSettings = "window = \"1m\"\nbuckets = 6".parse().unwrap();
        let env: PartialSettings = "interval = \"5s\"".parse().unwrap();
        let both = env.over(&file);
        assert_eq!(both.window, None);
        assert_eq!(both.interval, Some(Duration::from_secs(5)));
        let both = PartialSettings::default().over(&file);
        assert_eq!(
            both.window,
            Some(Window::Rolling {
                length: Duration::from_secs(60),
                buckets: 6
            })
        );
        let calls: PartialSettings = "window_calls = 9".parse().unwrap();
        let both = calls.over(&env);
        assert_eq!(both.interval, None);
        assert_eq!(both.window, Some(Window::Calls { calls: 9 }));
    }

    #[test]
    fn layers_replace_the_trip_policy_whole() {
        let file = PartialSettings {
            failure_ratio: Some(0.5),
            min_requests: Some(10),
            timeout: Some(Duration::from_secs(1)),
            ..PartialSettings::default()
        };
        let env = PartialSettings {
            consecutive_failures: Some(3),
            ..PartialSettings::default()
        };
        let both = env.over(&file);
        assert_eq!(both.failure_ratio, None);
        assert_eq!(both.min_requests, None);
        assert_eq!(both.consecutive_failures, Some(3));
        assert_eq!(both.timeout, Some(Duration::from_secs(1)));
        let s = both.apply(Settings::default());
        assert!(matches!(s.trip_policy, TripPolicy::ConsecutiveFailures(3)));
    }
}
