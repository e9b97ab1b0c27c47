// Rule: `window` and `window_calls` together are an error on the later key.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window = "1m", window_calls = 100)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
