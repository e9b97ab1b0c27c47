//! A circuit breaker for async Rust that you switch on with one attribute.
//!
//! ```
//! use async_breaker::{circuit_breaker, BreakerError};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ShopError {
//!     #[error(transparent)]
//!     Breaker(#[from] BreakerError),
//!     #[error("pricing service answered {0}")]
//!     Status(u16),
//! }
//!
//! #[circuit_breaker(timeout = "2s", max_requests = 3, fallback = cached_price)]
//! async fn fetch_price(sku: &str) -> Result<u64, ShopError> {
//!     // call the pricing service here
//!     if sku.is_empty() { Err(ShopError::Status(400)) } else { Ok(1999) }
//! }
//!
//! async fn cached_price(_sku: &str) -> Result<u64, ShopError> {
//!     Ok(1899) // the last known price, a default, or enqueue for later
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(fetch_price("sku-1").await.unwrap(), 1999);
//! # }
//! ```
//!
//! Every call of `fetch_price` goes through a lazily created static breaker and a 2-second
//! deadline. When the pricing service slows down or fails, the breaker trips and callers
//! get `cached_price` at once instead of piling up behind a dying dependency.
//!
//! The attribute is documented at [`circuit_breaker`]; the breaker itself, usable without
//! the attribute, at [`CircuitBreaker`]. Every rule of the breaker (states, counts, time,
//! cancellation, errors, operator control, the attribute) is written out in
//! `docs/semantics.md` in the repository.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use breaker_macros::circuit_breaker;
#[cfg(any(feature = "tower", feature = "reqwest-middleware"))]
pub use breaker_runtime::HttpClassifier;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub use breaker_runtime::config;
#[cfg(feature = "reqwest-middleware")]
pub use breaker_runtime::reqwest;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use breaker_runtime::shared;
#[cfg(feature = "tower")]
pub use breaker_runtime::tower;
pub use breaker_runtime::{
    Backoff, BreakerError, BuildError, Builder, Cause, CircuitBreaker, Counts, Decided, FallbackOn,
    FallbackReason, Jitter, KeyedBreakers, MAX_BUCKETS, MAX_WINDOW_CALLS, Name, Outcome, Permit,
    Settings, SlowCallRatio, Snapshot, State, StateChange, TripPolicy, Window, registry,
};
pub use breaker_runtime::{BreakerKey, DEFAULT_MAX_KEYS};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's Rust blocks, compiled and run as doctests so that its quickstart and
/// snippets cannot drift from the crate.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
