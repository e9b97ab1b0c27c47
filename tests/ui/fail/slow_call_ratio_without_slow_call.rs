// Rule: `slow_call_ratio` without `slow_call` is an error on `slow_call_ratio`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(slow_call_ratio = 0.5, min_requests = 10)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
