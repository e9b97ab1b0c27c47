//! The runtime of [`async-breaker`](https://docs.rs/async-breaker): the circuit-breaker state machine,
//! the deadline, the errors and the registry. Most users reach it through the
//! `#[circuit_breaker]` attribute of the `async-breaker` crate; this crate is the same breaker
//! by hand, for breakers made at run time and for integrations.
//!
//! ```
//! use std::time::Duration;
//! use breaker_runtime::{BreakerError, CircuitBreaker, State, TripPolicy};
//!
//! #[derive(Debug)]
//! enum FetchError { Breaker(BreakerError), Http(u16) }
//! impl From<BreakerError> for FetchError {
//!     fn from(e: BreakerError) -> Self { FetchError::Breaker(e) }
//! }
//!
//! async fn fetch(status: u16) -> Result<String, FetchError> {
//!     if status == 200 { Ok("body".into()) } else { Err(FetchError::Http(status)) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = CircuitBreaker::builder("upstream")
//!     .timeout(Duration::from_secs(2))
//!     .trip_policy(TripPolicy::ConsecutiveFailures(3))
//!     .reset_timeout(Duration::from_secs(10))
//!     .build()?;
//!
//! assert!(breaker.call(fetch(200)).await.is_ok());
//! for _ in 0..3 {
//!     assert!(matches!(breaker.call(fetch(503)).await, Err(FetchError::Http(503))));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! match breaker.call(fetch(200)).await {
//!     Err(FetchError::Breaker(e @ BreakerError::Open { .. })) => println!("{e}"),
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How it behaves
//!
//! The semantics are sony/gobreaker's; `docs/semantics.md` in the repository states every
//! rule in full, and the tests cite its sections. A breaker is **closed** (calls run and their
//! outcomes are counted), **open** (calls are rejected at once with
//! [`BreakerError::Open`]) or **half-open** (up to `max_requests` probe calls run; one
//! failure re-opens it, `max_requests` consecutive successes close it).
//!
//! Counts belong to a *generation*. Every state change, and every `interval` reset while
//! closed, starts a new generation with zeroed counts; a call's outcome is recorded only
//! if its generation is still current, so a slow call admitted before a trip can never
//! change the counts after it.
//!
//! While closed, the counts cover a [`Window`]: the whole closed period (or a fixed
//! `interval`), a rolling time window of buckets (a call counts in the bucket of its
//! admission, and its outcome is dropped once that bucket has left the window), or the last
//! N calls that finished. Calls that take at least [`Settings::slow_call`] are slow: counted,
//! able to trip the breaker by ratio, and a slow probe re-opens it. With a [`Backoff`], each
//! re-opening lengthens the open period, and [`Jitter`] draws it at random so that breakers
//! that opened together do not probe together.
//!
//! Time is [`tokio::time::Instant`], read only at call sites (no background task), so
//! tests run on tokio's paused clock. A duration has elapsed when
//! `now >= start + duration`. A breaker reads the clock of the runtime that calls or looks
//! at it: tests that each pause their own clock should each use their own breakers, and
//! should not look at other tests' breakers (through [`registry::snapshot`]) while those
//! run.
//!
//! Clocks of different runtimes can disagree (a paused test clock moved a year ahead, then
//! a real one). A breaker is robust to a clock that reads earlier than the start of its
//! current period: the period restarts at that reading, so the breaker never stays open
//! longer than `reset_timeout` (nor waits longer than `interval`) of the reading clock's
//! time. A clock that reads later just sees the time as elapsed.
//!
//! A call dropped before it finishes records nothing and gives its half-open slot back
//! once its future is dropped (so a cancelled probe's body is gone before another probe
//! may start); a call that panics inside its own poll counts as a failure and keeps
//! unwinding, while a call merely dropped because another future panicked (a sibling in a
//! `join!`) records nothing; a call past its deadline is dropped, counts as a failure and
//! returns [`BreakerError::Timeout`].
//!
//! # Operators and observers
//!
//! [`CircuitBreaker::force_open`], [`force_closed`](CircuitBreaker::force_closed) and
//! [`reset`](CircuitBreaker::reset) let an operator hold a breaker in a state.
//! [`CircuitBreaker::reconfigure`] applies new settings to a live breaker (a new
//! generation, reported with [`Cause::Reconfigured`]).
//! [`registry::on_state_change`] listeners hear every transition of every breaker with its
//! [`Cause`] and the counts that caused it. Cargo features add, at no cost when off:
//!
//! - `tracing`: an event per transition (`warn` when it opens, `info` otherwise) with the
//!   breaker's name, the states, the cause, the counts and `retry_after`; rejections and
//!   timeouts at `debug`. Target `breaker`.
//! - `metrics`: `breaker_calls_total{breaker, outcome}` (outcome: success, failure,
//!   ignored, timeout, rejected_open, rejected_half_open), `breaker_state{breaker}` (0
//!   closed, 1 half-open, 2 open), `breaker_transitions_total{breaker, from, to}` and
//!   `breaker_call_duration_seconds{breaker}`, through the `metrics` facade. The handles are
//!   made when the breaker is created, so install the recorder first. The facade cannot
//!   remove a series: a dropped breaker's 13 series stay in the recorder (same-named
//!   breakers share theirs), so breakers made per tenant or per key grow it by 13 series
//!   per distinct name; keep names bounded or let the exporter expire idle series.
//! - `serde`: `Serialize` for [`Snapshot`] (durations in seconds).
//! - `redis`: one breaker for a whole fleet of replicas, its state shared through Redis
//!   ([`Builder::shared`] and the `shared` module; with `metrics`, also
//!   `breaker_shared_sync_errors_total{breaker}`); the call path never waits on Redis.
//! - `config`: settings from a TOML file and `BREAKER_<NAME>_<KEY>` environment variables,
//!   applied to the breakers made after they are loaded (the `config` module).
//!
//! # Concurrency
//!
//! Admission and recording are a few atomic operations on the breaker's own words: no
//! lock, no allocation. Each transition is won by exactly one caller with a
//! compare-and-swap, and exactly one [`on_state_change`](Builder::on_state_change) call
//! follows it, made with no lock held. Counts are tagged with the low 24 bits of their
//! generation; an outcome is also checked against the full generation just before it is
//! applied, so only a call that sleeps inside that check while 16 million transitions
//! happen could be miscounted.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod builder;
mod call;
mod clock;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
mod control;
mod counts;
mod error;
mod fallback;
#[cfg(any(feature = "tower", feature = "reqwest-middleware"))]
#[path = "integrations/http.rs"]
mod http_classify;
mod keyed;
#[cfg(feature = "redis")]
mod link;
#[cfg(all(test, loom))]
mod loom_models;
mod machine;
mod name;
mod observe;
mod permit;
mod policy;
pub mod registry;
#[cfg(feature = "reqwest-middleware")]
#[path = "integrations/reqwest.rs"]
pub mod reqwest;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
mod serde_impl;
mod settings;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod shared;
mod state;
mod sync;
#[cfg(feature = "tower")]
#[path = "integrations/tower.rs"]
pub mod tower;
mod window;

pub use breaker::CircuitBreaker;
pub use breaker::Snapshot;
pub use builder::Builder;
pub use call::Decided;
pub use counts::Counts;
pub use error::BreakerError;
pub use fallback::{FallbackOn, FallbackReason};
#[cfg(any(feature = "tower", feature = "reqwest-middleware"))]
pub use http_classify::HttpClassifier;
pub use keyed::{BreakerKey, DEFAULT_MAX_KEYS, KeyedBreakers};
pub use name::Name;
pub use observe::{Cause, StateChange};
pub use permit::Permit;
pub use policy::{Outcome, TripPolicy};
pub use settings::{
    Backoff, BuildError, Jitter, MAX_BUCKETS, MAX_WINDOW_CALLS, Settings, SlowCallRatio, Window,
};
pub use state::State;
