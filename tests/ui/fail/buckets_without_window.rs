// Rule: `buckets` without `window` is an error on `buckets`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(consecutive_failures = 3, buckets = 12)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
