// Rule: `max_requests = 0` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(max_requests = 0)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
