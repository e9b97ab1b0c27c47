// Rule: `max_reset_timeout` without `backoff` is an error on `max_reset_timeout`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(max_reset_timeout = "10m")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
