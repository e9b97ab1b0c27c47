// Rule: `window` and `interval` together are an error on the later key.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(interval = "1m", window = "1m")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
