//! Fallback strategy: serve the last successful result for the same argument while the
//! breaker is open.
//!
//! ```text
//! cargo run --example fallback_cached
//! ```
//!
//! Good for data that may be a little stale but must be there: prices, exchange rates,
//! feature flags, profile pictures. The fallback gets the very arguments of the call, so it
//! can look up the cache entry for exactly that argument. The rates service is simulated
//! in-process; the example checks what it prints and exits non-zero if a check fails.
//!
//! A cache wants `fallback_on = "error"`: the caller needs a rate whether the breaker
//! refused the call or the service failed it, so the cache answers both (a failure is
//! recorded first, so the breaker still trips). Compare `fallback_queue.rs`, whose
//! fallback defers writes and so answers refusals only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use async_breaker::{BreakerError, circuit_breaker};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rate {
    /// Units of the currency per euro.
    per_euro: f64,
    /// `false` when it came from the cache rather than from the service.
    fresh: bool,
}

#[derive(Debug, thiserror::Error)]
enum RateError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("rates service answered {0}")]
    Status(u16),
    #[error("no rate for {0} yet, and the rates service is unavailable")]
    NothingCached(String),
}

/// The simulated rates service: whether it fails, and how often it was called.
static DOWN: AtomicBool = AtomicBool::new(false);
static SERVICE_CALLS: AtomicU32 = AtomicU32::new(0);

async fn rates_service(currency: &str) -> Result<f64, RateError> {
    SERVICE_CALLS.fetch_add(1, Ordering::SeqCst);
    if DOWN.load(Ordering::SeqCst) {
        return Err(RateError::Status(503));
    }
    match currency {
        "USD" => Ok(1.08),
        "GBP" => Ok(0.85),
        "JPY" => Ok(162.4),
        _ => Err(RateError::Status(404)),
    }
}

/// The last good rate per currency.
static LAST_GOOD: LazyLock<Mutex<HashMap<String, f64>>> = LazyLock::new(Mutex::default);

#[circuit_breaker(
    consecutive_failures = 2,
    reset_timeout = "300ms",
    fallback = cached_rate,
    fallback_on = "error"
)]
async fn exchange_rate(currency: &str) -> Result<Rate, RateError> {
    let per_euro = rates_service(currency).await?;
    // Remember every success, per argument, for the fallback.
    LAST_GOOD
        .lock()
        .expect("cache lock")
        .insert(currency.to_owned(), per_euro);
    Ok(Rate {
        per_euro,
        fresh: true,
    })
}

/// Answers for `exchange_rate` when the breaker refuses the call or the service fails it,
/// with the same argument. It never touches the rates service.
async fn cached_rate(currency: &str) -> Result<Rate, RateError> {
    let cache = LAST_GOOD.lock().expect("cache lock");
    match cache.get(currency) {
        Some(&per_euro) => Ok(Rate {
            per_euro,
            fresh: false,
        }),
        None => Err(RateError::NothingCached(currency.to_owned())),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Healthy: fresh rates, and each success fills the cache.
    for currency in ["USD", "GBP"] {
        let rate = exchange_rate(currency).await?;
        println!("{currency}: {} (fresh)", rate.per_euro);
        assert!(rate.fresh);
    }

    // The service fails. With `fallback_on = "error"` the cache answers the failed calls
    // too, after each failure was recorded: two in a row still open the breaker.
    DOWN.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let rate = exchange_rate("USD").await?;
        println!("USD: {} (cached: the service failed)", rate.per_euro);
        assert!(!rate.fresh);
    }

    // Open: every call is answered from the cache, for its own argument, and the
    // service is not called at all.
    let calls_before = SERVICE_CALLS.load(Ordering::SeqCst);
    let usd = exchange_rate("USD").await?;
    let gbp = exchange_rate("GBP").await?;
    println!("USD: {} (cached)", usd.per_euro);
    println!("GBP: {} (cached)", gbp.per_euro);
    assert_eq!(
        usd,
        Rate {
            per_euro: 1.08,
            fresh: false
        }
    );
    assert_eq!(
        gbp,
        Rate {
            per_euro: 0.85,
            fresh: false
        }
    );
    // A currency never fetched has nothing cached: the fallback says so.
    let err = exchange_rate("JPY").await.unwrap_err();
    println!("JPY: error: {err}");
    assert!(matches!(err, RateError::NothingCached(_)));
    assert_eq!(SERVICE_CALLS.load(Ordering::SeqCst), calls_before);

    // The service recovers; after reset_timeout a probe goes through, succeeds and
    // closes the breaker: rates are fresh again.
    DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jpy = exchange_rate("JPY").await?;
    println!("JPY: {} (fresh)", jpy.per_euro);
    assert!(jpy.fresh);
    assert!(exchange_rate("USD").await?.fresh);
    println!("fallback_cached: every check passed");
    Ok(())
}
