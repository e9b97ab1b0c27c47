//! The smallest useful program: one attribute gives a function a circuit breaker and a
//! deadline.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The "weather service" is simulated in-process. The example checks each state it
//! describes and exits non-zero if one is wrong.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_breaker::{BreakerError, circuit_breaker};

/// The function's own error type. It needs `From<BreakerError>`, so that rejections and
/// timeouts fit in it: a thiserror `#[from]` variant does that.
#[derive(Debug, thiserror::Error)]
enum WeatherError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("weather service answered {0}")]
    Status(u16),
}

/// Whether the simulated weather service is failing.
static DOWN: AtomicBool = AtomicBool::new(false);

// Every call goes through one breaker (created on first use) and a 100ms deadline.
// Three failures in a row open it; while open, calls fail at once with
// `BreakerError::Open` instead of waiting on a failing service. After 200ms it lets one
// probe call through, and a success closes it again.
#[circuit_breaker(timeout = "100ms", consecutive_failures = 3, reset_timeout = "200ms")]
async fn forecast(city: &str) -> Result<String, WeatherError> {
    if DOWN.load(Ordering::SeqCst) {
        return Err(WeatherError::Status(503));
    }
    Ok(format!("{city}: sunny, 21°C"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", forecast("Oslo").await?);

    // The service fails: the first three errors come back as they are...
    DOWN.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let err = forecast("Oslo").await.unwrap_err();
        println!("error: {err}");
        assert!(matches!(err, WeatherError::Status(503)));
    }

    // ...and then the breaker is open: the call is refused without running.
    let err = forecast("Oslo").await.unwrap_err();
    println!("error: {err}");
    assert!(matches!(
        err,
        WeatherError::Breaker(BreakerError::Open { .. })
    ));

    // The service recovers; once reset_timeout has passed, a probe call goes through
    // and its success closes the breaker.
    DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("{}", forecast("Oslo").await?);
    println!("{}", forecast("Bergen").await?);
    Ok(())
}
