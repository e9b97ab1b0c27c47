//! The `#[circuit_breaker]` attribute of the [`async-breaker`](https://docs.rs/async-breaker) crate.
//! Use it through `async-breaker`, which re-exports it: see [`circuit_breaker`].
//!
//! The crate is organised by phase, one per file: this file drives them;
//! `attr.rs` parses the `key = value` list, `duration.rs` reads duration strings,
//! `valid.rs` checks values, settings and the function's shape (with `valid/timing.rs` for
//! the window, slow-call and open-period keys), `expand.rs` generates the
//! code; `errors.rs` collects every error of one expansion. The generated code calls into
//! `async_breaker::__private`, which is not a stable API.

mod attr;
mod duration;
mod errors;
mod expand;
#[cfg(test)]
mod never_panics;
mod valid;

use proc_macro::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::errors::{Errors, FUNCTION};

/// Puts an `async fn` behind a circuit breaker and a deadline.
///
/// ```
/// use async_breaker::{BreakerError, circuit_breaker};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ShopError {
///     #[error(transparent)]
///     Breaker(#[from] BreakerError),
///     #[error("pricing answered {0}")]
///     Status(u16),
/// }
///
/// #[circuit_breaker(timeout = "2s", max_requests = 3, fallback = cached_price)]
/// async fn fetch_price(sku: &str) -> Result<u64, ShopError> {
///     // call the pricing service
///     if sku.is_empty() { Err(ShopError::Status(400)) } else { Ok(1999) }
/// }
///
/// async fn cached_price(_sku: &str) -> Result<u64, ShopError> {
///     Ok(1899) // the last known price
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(fetch_price("sku-1").await.unwrap(), 1999);
/// # }
/// ```
///
/// Every call of the function goes through one circuit breaker, created on the first call
/// and kept in a `static` inside the function: one breaker per function, shared by every
/// instance of a method's type and every instantiation of a generic function. An admitted
/// call runs the body unchanged (`return` and `?` keep their meaning) under the breaker's
/// deadline, and its result is recorded: `Ok` as a success, `Err` as a failure. A rejected
/// call (the breaker is open, or half-open with its probe budget taken) runs the fallback
/// if there is one (with `fallback_on = "error"` also a call that failed or timed out), and
/// otherwise returns `Err(E::from(BreakerError::Open { .. }))` or
/// `HalfOpenFull` at once, without running the body.
///
/// The signature is kept as written: visibility, attributes, doc comments, generics,
/// `where` clauses, `&self` / `&mut self` / `self`, `impl Trait` and reference arguments.
/// Only its `async` changes form: the function becomes a plain `fn` returning
/// `impl Future<Output = R>` that borrows what the `async fn`'s future borrowed (every
/// lifetime of the arguments, elided ones too, in any edition), so that the breaker's
/// hand-written future inlines into the caller's. Callers see no difference: calling it
/// makes the function's breaker at the first call, and the call is admitted when the
/// future is first polled. With `key` or `fallback_on = "error"` it stays an `async fn`.
/// The function must be an `async fn` returning `Result<T, E>` (directly or through an
/// alias such as `io::Result<T>` or `anyhow::Result<T>`) whose error type implements
/// `From<BreakerError>` (a thiserror `#[from]` variant or `anyhow::Error` both do;
/// `std::io::Error` is supported too: see [Return types](#return-types)).
///
/// # Keys
///
/// All keys are optional: `#[circuit_breaker]` alone is a breaker with the defaults.
///
/// | key | value | default | meaning |
/// |---|---|---|---|
/// | `name` | string | module path, `Self` type and function name | the breaker's name in errors, hooks and the registry; one explicit name shared by several functions is one breaker |
/// | `timeout` | duration | none | deadline for each admitted call; past it the call is dropped, counts as a failure and returns `BreakerError::Timeout` |
/// | `max_requests` | integer ≥ 1 | `1` | probe calls admitted while half-open, and consecutive successes that close the breaker |
/// | `interval` | duration | none | fixed window: while closed, clear the counts every `interval` |
/// | `window` | duration | none | rolling window: the counts cover the last `window`, moving by one bucket at a time |
/// | `buckets` | integer, 1 to 1024 | `10` | with `window` only: how many buckets it is split into (whole milliseconds each) |
/// | `window_calls` | integer, 1 to 65536 | none | count window: the counts cover the last this many finished calls |
/// | `reset_timeout` | duration | `"60s"` | how long the breaker stays open before it admits a probe (the first open period, with `backoff`) |
/// | `backoff` | number ≥ 1.0 | none | each re-opening multiplies the open period by it, up to `max_reset_timeout` |
/// | `max_reset_timeout` | duration ≥ `reset_timeout` | — | with `backoff` (and required by it): the longest open period |
/// | `jitter` | `"none"`, `"full"` or `"equal"` | `"none"` | how the open period `d` is drawn: exactly `d`, from `[0, d)`, or from `[d/2, d)` |
/// | `consecutive_failures` | integer ≥ 1 | `5` | trip policy: open after this many failures in a row |
/// | `failure_ratio` | number in (0, 1] | — | trip policy: open when this share of the calls failed, once there were `min_requests` |
/// | `min_requests` | integer ≥ 1 | `1` | with `failure_ratio` or `slow_call_ratio` (both, when both are given): calls counted before a ratio applies |
/// | `slow_call` | duration < `timeout` | none | a call that takes at least this long, or times out, is slow: counted, and a slow probe re-opens the breaker |
/// | `slow_call_ratio` | number in (0, 1] | — | with `slow_call`: also open when this share of the calls were slow, once there were `min_requests` |
/// | `trip` | path to `fn(&Counts) -> bool` | — | trip policy: your own |
/// | `classify` | path to `fn(&Result<T, E>) -> Outcome` | `Ok` succeeds, `Err` fails | which results count as success, failure or neither |
/// | `on_state_change` | path to `fn(&str, State, State)` | — | called after every state change with the name, the old and the new state |
/// | `fallback` | path to an `async fn` | none | called with the same arguments when the breaker rejects the call |
/// | `key` | expression over the arguments | none | one breaker per value (a host, a tenant), named `name[value]` |
/// | `max_keys` | integer ≥ 1 | `1024` | with `key` only: how many keyed breakers the function keeps |
/// | `shared` | `true` or `false` | `false` | with the `redis` feature: the breaker shares its state with the service's other replicas through Redis, in the fleet the application installs at start-up (see the [`shared`](https://docs.rs/async-breaker/latest/async_breaker/shared/index.html) module) |
/// | `fallback_on` | `"rejected"` or `"error"` | `"rejected"` | with `"error"`, the fallback also answers admitted calls that fail or time out (after they were recorded) |
/// | `fallback_reason` | `true` or `false` | `false` | the fallback takes one more, last argument: a `FallbackReason` |
/// | `crate` | string path | `"::async_breaker"` | where `async-breaker` is, for crates that re-export it |
///
/// At most one trip policy may be given; without one, the breaker opens after 5
/// consecutive failures. At most one window may be given (`interval`, `window` or
/// `window_calls`); without one, the counts cover the whole closed period.
///
/// **Durations** are string literals parsed at compile time, by this grammar exactly: one
/// or more parts separated by one space, each part an integer immediately followed by a
/// unit, `ns`, `us`, `ms`, `s`, `m` (minutes), `h` or `d` (days of 24 hours); the parts add
/// up. So `"250ms"`, `"2s"`, `"1m 30s"`, `"1h"`, `"1d"`, `"1d 12h"`. Nothing else is
/// accepted, each with a compile error that says what to write instead: fractions
/// (`"1.5s"`: write `"1s 500ms"`), spaces around the string or between a number and its
/// unit (`" 2s"`, `"2 s"`), spelled-out units (`"2sec"`, `"2 seconds"`), weeks, months
/// and years (`"100y"`), and a zero duration.
///
/// A duration can also be any expression of type `std::time::Duration`: a constant, a
/// static's value, `Duration::from_millis(250)`, a function call. It is evaluated once, on
/// the first call, when the breaker is made, and an invalid one (zero, or a combination
/// the builder refuses, such as a `slow_call` not below the `timeout`) makes every call
/// return `BreakerError::Misconfigured`; the checks between settings that compare two
/// durations are made at compile time when both are literals. Settings belong to the breaker, not to a call, so
/// such an expression must not read the function's arguments, `self`, `Self` or its generic
/// parameters (`timeout = Duration::from_millis(ms)`, `timeout = self.timeout`): that is a
/// compile error on the expression, as is a `trip` or `on_state_change` path naming an
/// argument. For a setting that varies per call, build breakers with the runtime API
/// (`CircuitBreaker::builder`).
///
/// ## `name`
///
/// Without `name`, a free function's breaker is named after its module path and name
/// (`my_crate::prices::fetch_price`) and a method's after its `Self` type without generic
/// arguments and its name (`my_crate::Client::get`). A breaker with a default name belongs
/// to its function alone: it is never shared, not even with a function whose explicit
/// `name` equals that default name, and two functions with one default name (methods of two
/// `impl` blocks of one generic type, say) get a breaker each, both listed in the registry
/// under that name.
///
/// Functions that give the same explicit `name` share one breaker: failures of one trip
/// it for all. They must configure it the same way: settings, `on_state_change`, `trip`
/// and `classify` (functions are told apart by their type, so the same function named by
/// two paths is the same). A difference is reported at first use: every call of the
/// function that came second returns `BreakerError::Misconfigured`, whose message names the
/// breaker and what differs.
///
/// ```
/// use async_breaker::{BreakerError, State, circuit_breaker, registry};
/// # #[derive(Debug)]
/// # enum AppError { Breaker(BreakerError), Down }
/// # impl From<BreakerError> for AppError {
/// #     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// # }
///
/// #[circuit_breaker(name = "inventory", consecutive_failures = 1)]
/// async fn reserve(_sku: &str) -> Result<u32, AppError> {
///     Err(AppError::Down)
/// }
///
/// #[circuit_breaker(name = "inventory", consecutive_failures = 1)]
/// async fn release(_sku: &str) -> Result<u32, AppError> {
///     Ok(1)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(matches!(reserve("sku-1").await, Err(AppError::Down)));
/// assert_eq!(registry::get("inventory").unwrap().state(), State::Open);
/// // One breaker: `reserve` tripped it for `release` too.
/// assert!(matches!(release("sku-1").await, Err(AppError::Breaker(BreakerError::Open { .. }))));
/// # }
/// ```
///
/// ## `timeout`
///
/// The call is raced against the deadline inside the breaker, so a hanging dependency
/// is recorded as failing and trips the breaker. The deadline is armed only when the call
/// has to wait (it counts from the end of the first poll that left it pending), so a call
/// that finishes at once pays nothing for it. Waiting needs a tokio timer: outside a tokio
/// runtime with time enabled (`futures::executor::block_on`, or a runtime built without
/// `enable_time`), a call that has to wait returns `BreakerError::NoTimer` (its future is
/// dropped and nothing is recorded).
///
/// **Clocks.** A breaker reads the clock of the tokio runtime that calls it, and an
/// annotated function's breaker is a static shared by every caller in the process,
/// including every test. When it is read on a clock that is behind the one that last changed
/// it (a paused test clock moved ahead, then a real one), its current period restarts at
/// that reading: it stays open at most `reset_timeout` of the reading clock's time, never
/// for the gap between the clocks; on a clock that is ahead, the time simply looks elapsed.
/// Tests on paused clocks are deterministic when each test uses its own functions.
///
/// ```
/// use std::time::Duration;
/// use async_breaker::{BreakerError, circuit_breaker};
///
/// #[circuit_breaker(timeout = "250ms")]
/// async fn slow() -> Result<(), BreakerError> {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let err = slow().await.unwrap_err();
/// assert!(matches!(err, BreakerError::Timeout { after, .. } if after == Duration::from_millis(250)));
/// # }
/// ```
///
/// ## `max_requests` and `reset_timeout`
///
/// After `reset_timeout` the open breaker turns half-open and admits `max_requests` probe
/// calls; one failed probe re-opens it, `max_requests` successful ones close it.
///
/// ```
/// use std::time::Duration;
/// use async_breaker::{BreakerError, State, circuit_breaker, registry};
/// # #[derive(Debug)]
/// # enum AppError { Breaker(BreakerError), Down }
/// # impl From<BreakerError> for AppError {
/// #     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// # }
///
/// #[circuit_breaker(name = "probes", consecutive_failures = 1, reset_timeout = "10s", max_requests = 2)]
/// async fn call(fail: bool) -> Result<(), AppError> {
///     if fail { Err(AppError::Down) } else { Ok(()) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(call(true).await.is_err()); // trips
/// tokio::time::advance(Duration::from_secs(10)).await;
/// call(false).await.unwrap(); // first probe
/// assert_eq!(registry::get("probes").unwrap().state(), State::HalfOpen);
/// call(false).await.unwrap(); // second probe closes it
/// assert_eq!(registry::get("probes").unwrap().state(), State::Closed);
/// # }
/// ```
///
/// ## Windows: `interval`, `window` and `buckets`, `window_calls`
///
/// What the counts of the closed breaker cover, so that failures spread over hours don't
/// add up to a trip. One window per breaker; every state change starts the counts afresh
/// whatever the window, and a half-open breaker counts its probes plainly.
///
/// - `interval = D` (fixed window): the counts start over every `D`.
/// - `window = D` with `buckets = B` (rolling window, `B` 10 by default, at most 1024):
///   the counts cover the last `D`, split into `B` buckets of `D / B` each, which must be a
///   whole number of milliseconds; the oldest bucket leaves the window as a new one
///   begins. A call belongs to the bucket current when it was admitted: its outcome is
///   dropped if that bucket has left the window by the time the call finishes.
/// - `window_calls = N` (count window, at most 65536): the counts cover the last `N` calls
///   that finished, in the order they finished. Ignored outcomes (see `classify`) do not
///   enter it.
///
/// With a rolling or count window, a ratio with `min_requests` is the usual trip policy:
/// consecutive counts are never windowed, and a ratio over one call trips on the first
/// failure.
///
/// ```
/// use std::time::Duration;
/// use async_breaker::{BreakerError, Window, circuit_breaker, registry};
///
/// // Open when half of the calls of the last minute failed, once there were 20.
/// #[circuit_breaker(name = "search", window = "1m", buckets = 12, failure_ratio = 0.5, min_requests = 20)]
/// async fn search(query: &str) -> Result<Vec<String>, BreakerError> {
///     Ok(vec![query.to_owned()])
/// }
///
/// // Open when 10 of the last 100 calls failed.
/// #[circuit_breaker(name = "checkout", window_calls = 100, failure_ratio = 0.1, min_requests = 100)]
/// async fn checkout(cart: u64) -> Result<u64, BreakerError> {
///     Ok(cart)
/// }
///
/// // Start over every minute.
/// #[circuit_breaker(consecutive_failures = 10, interval = "1m")]
/// async fn sync_orders() -> Result<(), BreakerError> {
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// search("lamp").await.unwrap();
/// checkout(7).await.unwrap();
/// let search = registry::get("search").unwrap().settings();
/// assert_eq!(search.window, Window::Rolling { length: Duration::from_secs(60), buckets: 12 });
/// let checkout = registry::get("checkout").unwrap().settings();
/// assert_eq!(checkout.window, Window::Calls { calls: 100 });
/// # }
/// ```
///
/// ## `consecutive_failures`
///
/// ```
/// use async_breaker::{BreakerError, circuit_breaker};
///
/// #[derive(Debug, thiserror::Error)]
/// enum MailError {
///     #[error(transparent)]
///     Breaker(#[from] BreakerError),
///     #[error("the mail server is down")]
///     Down,
/// }
///
/// #[circuit_breaker(consecutive_failures = 3)]
/// async fn send(ok: bool) -> Result<(), MailError> {
///     if ok { Ok(()) } else { Err(MailError::Down) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// for _ in 0..3 {
///     assert!(matches!(send(false).await, Err(MailError::Down)));
/// }
/// // Open: rejected at once, without calling the mail server.
/// assert!(matches!(send(true).await, Err(MailError::Breaker(BreakerError::Open { .. }))));
/// # }
/// ```
///
/// ## `failure_ratio` and `min_requests`
///
/// Opens when `failures / (requests - ignored) >= failure_ratio`, once the current counts
/// hold at least `min_requests` calls. `min_requests` also applies to `slow_call_ratio`.
///
/// ```
/// # use async_breaker::{BreakerError, circuit_breaker};
/// #[circuit_breaker(failure_ratio = 0.5, min_requests = 20, interval = "30s")]
/// async fn search(query: &str) -> Result<Vec<String>, BreakerError> {
///     Ok(vec![query.to_owned()])
/// }
/// ```
///
/// ## `slow_call` and `slow_call_ratio`
///
/// A call is slow when it takes at least `slow_call` from its admission to its outcome,
/// success or failure alike; a call that reaches `timeout` is slow too, so `slow_call` must
/// be below `timeout`. Slow calls are counted (`Counts::slow_calls`), and a slow probe
/// re-opens a half-open breaker, like a failed one: a dependency that still answers slowly
/// does not close it. With `slow_call_ratio`, slow calls also trip the closed breaker: it
/// opens when `slow_calls / (requests - ignored) >= slow_call_ratio`, once the counts hold
/// `min_requests` calls. That is checked in addition to the trip policy: either one opens
/// the breaker.
///
/// ```
/// use std::time::Duration;
/// use async_breaker::{BreakerError, SlowCallRatio, circuit_breaker, registry};
///
/// // Open when half of the last minute's calls took a second or more, once there were 10;
/// // or after 5 failures in a row, as by default.
/// #[circuit_breaker(
///     name = "recommendations",
///     timeout = "2s",
///     slow_call = "1s",
///     slow_call_ratio = 0.5,
///     min_requests = 10,
///     window = "1m",
/// )]
/// async fn recommendations(user: u64) -> Result<Vec<u64>, BreakerError> {
///     Ok(vec![user])
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// recommendations(7).await.unwrap();
/// let settings = registry::get("recommendations").unwrap().settings();
/// assert_eq!(settings.slow_call, Some(Duration::from_secs(1)));
/// assert_eq!(settings.slow_call_ratio, Some(SlowCallRatio { ratio: 0.5, min_requests: 10 }));
/// # }
/// ```
///
/// ## `backoff`, `max_reset_timeout` and `jitter`
///
/// Without `backoff`, every open period lasts `reset_timeout`. With `backoff = F` the
/// period grows while probes keep failing: open attempt `k` (a trip from closed is attempt
/// 1, each re-opening from half-open adds one) lasts
/// `min(reset_timeout · F^(k-1), max_reset_timeout)`, and closing starts over at attempt 1.
/// `max_reset_timeout` is required with `backoff`.
///
/// `jitter` draws the actual open period from the one above, `d`, so that breakers (or
/// replicas) that opened together do not all probe at once: `"full"` uniformly from
/// `[0, d)`, `"equal"` from `[d/2, d)`, `"none"` (the default) exactly `d`. It applies with
/// or without `backoff`. Each breaker draws from its own random sequence.
///
/// ```
/// use std::time::Duration;
/// use async_breaker::{Backoff, BreakerError, Jitter, circuit_breaker, registry};
///
/// // Open for 10s, then 20s, 40s, ... up to 5 minutes while probes fail; each period drawn
/// // from its second half.
/// #[circuit_breaker(
///     name = "ledger",
///     reset_timeout = "10s",
///     backoff = 2.0,
///     max_reset_timeout = "5m",
///     jitter = "equal",
/// )]
/// async fn post_entry(amount: i64) -> Result<i64, BreakerError> {
///     Ok(amount)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// post_entry(12).await.unwrap();
/// let settings = registry::get("ledger").unwrap().settings();
/// assert_eq!(
///     settings.backoff,
///     Some(Backoff { factor: 2.0, max_reset_timeout: Duration::from_secs(300) })
/// );
/// assert_eq!(settings.jitter, Jitter::Equal);
/// # }
/// ```
///
/// ## `trip`
///
/// ```
/// use async_breaker::{BreakerError, Counts, circuit_breaker};
///
/// fn too_many_failures(counts: &Counts) -> bool {
///     counts.total_failures >= 10 && counts.consecutive_failures >= 2
/// }
///
/// #[circuit_breaker(trip = too_many_failures)]
/// async fn upload(bytes: &[u8]) -> Result<usize, BreakerError> {
///     Ok(bytes.len())
/// }
/// ```
///
/// ## `classify`
///
/// A result classified [`Ignored`](https://docs.rs/async-breaker/latest/async_breaker/enum.Outcome.html)
/// counts neither way: a 404 says nothing about the service's health. An `Ok` can count as
/// a failure too.
///
/// ```
/// use async_breaker::{BreakerError, Outcome, State, circuit_breaker, registry};
///
/// #[derive(Debug, thiserror::Error)]
/// enum HttpError {
///     #[error(transparent)]
///     Breaker(#[from] BreakerError),
///     #[error("not found")]
///     NotFound,
///     #[error("unavailable")]
///     Unavailable,
/// }
///
/// fn classify(result: &Result<String, HttpError>) -> Outcome {
///     match result {
///         Ok(_) => Outcome::Success,
///         Err(HttpError::NotFound) => Outcome::Ignored,
///         Err(_) => Outcome::Failure,
///     }
/// }
///
/// #[circuit_breaker(name = "users", consecutive_failures = 2, classify = classify)]
/// async fn user(id: u32) -> Result<String, HttpError> {
///     if id == 0 { Err(HttpError::NotFound) } else { Err(HttpError::Unavailable) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// for _ in 0..5 {
///     assert!(matches!(user(0).await, Err(HttpError::NotFound)));
/// }
/// assert_eq!(registry::get("users").unwrap().state(), State::Closed);
/// # }
/// ```
///
/// ## `on_state_change`
///
/// The hook runs after the transition, with no lock held, on the task whose call caused
/// it; keep it short (log, count, set a flag).
///
/// ```
/// use async_breaker::{BreakerError, State, circuit_breaker};
///
/// fn log_transition(name: &str, from: State, to: State) {
///     eprintln!("circuit breaker {name}: {from} -> {to}");
/// }
///
/// #[circuit_breaker(on_state_change = log_transition)]
/// async fn ping() -> Result<(), BreakerError> {
///     Ok(())
/// }
/// ```
///
/// ## `key` and `max_keys`
///
/// `key = <expression>` gives the function one breaker per distinct value of the
/// expression, which may read the arguments and `self` (unlike the settings, it is
/// evaluated on every call, before the body runs): a dying host must not open the breaker
/// of a healthy one. Each breaker is made on first use with the function's settings and
/// named `name[value]`, `name` being the explicit `name` or the default one. A key is a
/// string (`&str` and `&String` are looked up without allocating), an integer, a `char`, an
/// IP or socket address, or a type of yours that implements `BreakerKey`; anything else is
/// a compile error on the expression.
///
/// The function keeps at most `max_keys` breakers (default 1024). When a new key arrives
/// and all are taken, the least recently used breaker that is closed and idle is evicted;
/// if none can be, the new key shares the overflow breaker `name[*]` until one can. Keyed
/// breakers belong to their function: an explicit `name` names them but shares nothing.
/// The fallback, the deadline and every other key work per keyed breaker as they do for
/// one.
///
/// ```
/// use async_breaker::{BreakerError, State, circuit_breaker, registry};
/// # #[derive(Debug)]
/// # enum AppError { Breaker(BreakerError), Down }
/// # impl From<BreakerError> for AppError {
/// #     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// # }
///
/// #[circuit_breaker(name = "stock", key = host, max_keys = 256, consecutive_failures = 1)]
/// async fn stock(host: &str, sku: &str) -> Result<u32, AppError> {
///     if host == "10.0.0.7:8080" { Err(AppError::Down) } else { Ok(3) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(stock("10.0.0.7:8080", "sku-1").await.is_err());
/// assert_eq!(stock("10.0.0.8:8080", "sku-1").await.unwrap(), 3);
/// assert_eq!(registry::get("stock[10.0.0.7:8080]").unwrap().state(), State::Open);
/// assert_eq!(registry::get("stock[10.0.0.8:8080]").unwrap().state(), State::Closed);
/// # }
/// ```
///
/// ## `fallback`
///
/// The fallback is an `async fn` taking the same arguments and returning the same type.
/// It is called only when the breaker refuses the call (open, or half-open and full), with
/// the arguments of that call, which the body never saw. Errors and timeouts of admitted
/// calls go to the caller, not to the fallback. For a method, the fallback is called on the
/// same receiver: `fallback = cached` calls `Self::cached(self, ...)`; any path with more
/// than one segment (`fallback = Self::cached`, `fallback = cache::lookup`) is called as
/// written, with the receiver as its first argument. Arguments bound by a pattern, such as
/// `(a, b): (u32, u32)`, reach the fallback whole.
///
/// A fallback with other arguments, another return type, or one that is not `async`, is a
/// compile error on the `fallback = ...` path. A fallback that calls its own function again
/// while the breaker rejects it would recurse without end; after 16 nested fallbacks the
/// rejection is returned as the function's error instead.
///
/// ## `fallback_on` and `fallback_reason`
///
/// `fallback_on = "error"` makes the fallback answer an admitted call that fails (its
/// result classified `Outcome::Failure`) or times out too, after the outcome was recorded,
/// so the breaker still learns from it. A result classified `Outcome::Ignored` goes to the
/// caller. Since the body takes the arguments, each is cloned before the call for the
/// fallback: every argument (and the receiver) must be `Clone` (references are copied), and
/// a `&mut` argument or `&mut self` is a compile error. It fits a fallback that serves
/// something instead (a cache, a default); a fallback that defers the work (a queue of
/// writes) wants the default `"rejected"`, since a write that failed may have happened.
///
/// With `fallback_reason = true` the fallback takes one more, last argument of type
/// `FallbackReason` (`RejectedOpen`, `HalfOpenFull`, `Failed`, `TimedOut`); a fallback
/// without it, or with another type there, is a compile error on the `fallback = ...`
/// path.
///
/// ```
/// use async_breaker::{BreakerError, FallbackReason, circuit_breaker};
/// # #[derive(Debug)]
/// # enum AppError { Breaker(BreakerError), Down }
/// # impl From<BreakerError> for AppError {
/// #     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// # }
///
/// #[circuit_breaker(fallback = cached, fallback_on = "error", fallback_reason = true)]
/// async fn quote(sku: &str) -> Result<u64, AppError> {
///     Err(AppError::Down)
/// }
///
/// async fn cached(_sku: &str, reason: FallbackReason) -> Result<u64, AppError> {
///     assert_eq!(reason, FallbackReason::Failed);
///     Ok(1899)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(quote("a").await.unwrap(), 1899); // failed, recorded, answered by the cache
/// # }
/// ```
///
/// ```
/// use std::collections::HashMap;
/// use async_breaker::{BreakerError, circuit_breaker};
/// # #[derive(Debug)]
/// # enum AppError { Breaker(BreakerError), Down }
/// # impl From<BreakerError> for AppError {
/// #     fn from(e: BreakerError) -> Self { AppError::Breaker(e) }
/// # }
///
/// struct Prices {
///     last_known: HashMap<String, u64>,
/// }
///
/// impl Prices {
///     #[circuit_breaker(consecutive_failures = 1, fallback = last_known)]
///     async fn fetch(&self, _sku: &str) -> Result<u64, AppError> {
///         Err(AppError::Down) // the pricing service fails
///     }
///
///     async fn last_known(&self, sku: &str) -> Result<u64, AppError> {
///         Ok(self.last_known.get(sku).copied().unwrap_or(0))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let prices = Prices { last_known: HashMap::from([(String::from("a"), 7)]) };
/// assert!(prices.fetch("a").await.is_err()); // the failure trips the breaker
/// assert_eq!(prices.fetch("a").await.unwrap(), 7); // rejected: the fallback answers
/// # }
/// ```
///
/// ## `crate`
///
/// For a crate that re-exports `async-breaker` and wants the attribute to work for its users
/// without a direct dependency on `async-breaker`:
///
/// ```
/// mod my_platform {
///     pub use async_breaker as breaker;
/// }
///
/// #[my_platform::breaker::circuit_breaker(crate = "crate::my_platform::breaker", timeout = "1s")]
/// async fn fetch() -> Result<u8, my_platform::breaker::BreakerError> {
///     Ok(1)
/// }
/// # fn main() {}
/// ```
///
/// # Return types
///
/// The return type must be `Result<T, E>` with `E: From<BreakerError>`, written directly
/// or through an alias. `std::io::Result<T>` works as well, although `io::Error` has no
/// such `From`: rejections become `io::ErrorKind::Other` and timeouts
/// `io::ErrorKind::TimedOut`, with the `BreakerError` as the inner error
/// (`err.get_ref()` and `downcast_ref::<BreakerError>()`). Any other return type is a
/// compile error on the return type, and an error type without `From<BreakerError>` one on
/// the error type.
///
/// # Equivalent code without the macro
///
/// The first example does about what this hand-written function does with the runtime API:
///
/// ```
/// use std::sync::OnceLock;
/// use std::time::Duration;
/// use async_breaker::{BreakerError, CircuitBreaker};
///
/// # #[derive(Debug)] struct ShopError;
/// # impl From<BreakerError> for ShopError { fn from(_: BreakerError) -> Self { ShopError } }
/// # async fn cached_price(_sku: &str) -> Result<u64, ShopError> { Ok(1899) }
/// async fn fetch_price(sku: &str) -> Result<u64, ShopError> {
///     static BREAKER: OnceLock<CircuitBreaker> = OnceLock::new();
///     let breaker = BREAKER.get_or_init(|| {
///         CircuitBreaker::builder(concat!(module_path!(), "::fetch_price"))
///             .timeout(Duration::from_secs(2))
///             .max_requests(3)
///             .build()
///             .expect("valid settings")
///     });
///     match breaker.try_acquire() {
///         // Admitted: run the body under the permit and the deadline, record its outcome.
///         Ok(permit) => {
///             permit
///                 .run(async move {
///                     // the body, unchanged
///                     Ok(1999)
///                 })
///                 .await
///         }
///         // Rejected: the fallback, with the same arguments.
///         Err(_rejected) => cached_price(sku).await,
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() { assert_eq!(fetch_price("a").await.unwrap(), 1999); }
/// ```
///
/// What the attribute adds over it: the settings are checked at compile time; a breaker
/// that cannot be built (a zero `Duration` expression, a name shared with other settings)
/// turns into `Err(BreakerError::Misconfigured)` on every call instead of a panic; default
/// names never collide; `io::Result` is supported; the body's type is pinned to the
/// declared return type so that `?` converts errors as in the original function; and the
/// return type, the error type, the fallback and the classifier are checked with error
/// messages that point at the attribute or the signature. The generated code uses
/// `async_breaker::__private`, which is not a stable API.
///
/// # Compile errors
///
/// Each mistake is reported on the offending token, all of them at once, and the function
/// is then emitted unchanged so that no unrelated errors follow: an unknown key (the
/// message lists the valid ones), a duplicate key, a value of the wrong kind, a malformed
/// or zero duration, `max_requests = 0`, `consecutive_failures = 0`, `min_requests = 0`, a
/// ratio outside (0, 1], two trip policies, `min_requests` without a ratio, two windows
/// (`interval`, `window`, `window_calls`), `buckets` without `window`, zero or too many
/// `buckets` or `window_calls`, a `window` that does not split into whole milliseconds per
/// bucket, `slow_call` not below `timeout`, `slow_call_ratio` without `slow_call`, a
/// `backoff` below 1.0 or not finite, `backoff` or `max_reset_timeout` without the other,
/// `max_reset_timeout` below `reset_timeout`, an unknown `jitter`, an empty name, a setting that reads the function's arguments or `self`, a function that
/// is not `async`, a `const fn`, a missing return type, a method already rewritten by
/// `#[async_trait]` (see [Limits](#limits)). `shared = true` without the `redis` feature
/// of `async-breaker` is one error on the `shared` key, which says how to enable it. The
/// type checker then reports, on the return type, a return type that is not a `Result`;
/// on the error type, an error type without `From<BreakerError>`; and on the
/// `fallback = ...` or `classify = ...` path, a fallback or classifier that does not fit
/// the function (a fallback that is not `async`, takes other arguments or returns another
/// type).
///
/// # Limits
///
/// - Not inside an `#[async_trait]` impl or trait: the attribute of the block expands
///   first and turns each `async fn` into a `fn` returning `Pin<Box<dyn Future>>` before
///   `#[circuit_breaker]` sees it, whatever the order of the attributes. Trait methods can
///   be `async fn` without `#[async_trait]` (unless the trait is used as `dyn Trait`); or
///   put the body in an inherent `#[circuit_breaker] async fn` that the trait method calls.
/// - An associated function without a receiver (`fn new(...)` in an `impl`) cannot see
///   its type's name, so its default name is the module path and the function's name. Its
///   fallback is a path as written, e.g. `fallback = Self::new_cached`.
/// - A default method of a trait has one breaker for all implementing types, named after
///   the first type that calls it; give it a `name` to make that explicit.
/// - The default name of a method comes from `std::any::type_name`, whose exact output may
///   change between compiler versions; give a `name` where it must be stable (dashboards,
///   alerts).
/// - The breaker lives as long as the process. Tests that call one annotated function
///   share its breaker; give each test its own functions, or build breakers by hand with
///   `CircuitBreaker::builder`.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_circuit_breaker(args.into(), item.into()).into()
}

/// The whole attribute: parse the arguments and the function, check them, generate. On any
/// error the function is emitted unchanged, followed by one `compile_error!` per problem,
/// so that a mistake in the attribute does not turn into a cascade of errors at every call
/// of the function.
fn expand_circuit_breaker(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => Some(func),
        Err(e) => {
            errors.push(
                FUNCTION,
                syn::Error::new(
                    e.span(),
                    format!("`#[circuit_breaker]` goes on an `async fn` with a body ({e})"),
                ),
            );
            None
        }
    };
    let config = valid::config(args, func.as_ref(), &mut errors);
    if let Some(func) = &func {
        valid::function(func, &mut errors);
    }
    match func {
        Some(func) if errors.is_empty() => expand::generate(&config, func),
        _ => {
            let errors = errors.to_compile_errors();
            quote!(#item #errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;

    /// The expansion parsed back as items: the function, then any `compile_error!`s.
    fn items(args: TokenStream, item: TokenStream) -> Vec<syn::Item> {
        let out = expand_circuit_breaker(args, item);
        syn::parse2::<syn::File>(out)
            .expect("the output parses")
            .items
    }

    fn compile_errors(items: &[syn::Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Macro(m)
                    if m.mac.path.is_ident("compile_error")
                        || m.mac
                            .path
                            .segments
                            .last()
                            .is_some_and(|s| s.ident == "compile_error") =>
                {
                    Some(m.mac.parse_body::<syn::LitStr>().unwrap().value())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn errors_keep_the_function_unchanged() {
        let item: ItemFn = syn::parse_quote! {
            fn f() -> Result<(), E> {
                Ok(())
            }
        };
        let items = items(quote!(max_requests = 0), quote!(#item));
        assert_eq!(items[0], syn::Item::Fn(item));
        let errors = compile_errors(&items);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("max_requests must be at least 1"));
        assert!(errors[1].starts_with("`#[circuit_breaker]` needs an `async fn`"));
    }

    #[test]
    fn items_that_are_not_functions() {
        let items = items(
            TokenStream::new(),
            quote!(
                struct S;
            ),
        );
        assert_eq!(
            items[0],
            syn::parse_quote!(
                struct S;
            )
        );
        let errors = compile_errors(&items);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`#[circuit_breaker]` goes on an `async fn` with a body"));
    }

    #[test]
    fn settings_reading_arguments_are_reported_with_the_function_unchanged() {
        let item = quote!(
            async fn f(ms: u64) -> Result<(), E> {
                Ok(())
            }
        );
        let items = items(quote!(timeout = Duration::from_millis(ms)), item);
        let errors = compile_errors(&items);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`timeout` cannot depend on the argument `ms`"));
    }
}
