// Rule: `min_requests` without `failure_ratio` is an error on `min_requests`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(consecutive_failures = 3, min_requests = 10)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
