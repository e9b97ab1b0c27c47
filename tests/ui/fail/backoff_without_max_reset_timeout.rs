// Rule: `backoff` without `max_reset_timeout` is an error on `backoff`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(backoff = 2.0)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
