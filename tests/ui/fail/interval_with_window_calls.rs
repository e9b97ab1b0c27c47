// Rule: `interval` and `window_calls` together are an error on the later key.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window_calls = 100, interval = "1m")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
