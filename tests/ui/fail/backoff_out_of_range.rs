// Rule: a `backoff` below 1.0 or not finite is an error on the number.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(backoff = 0.5, max_reset_timeout = "10m")]
async fn shrinking() -> Result<u32, BreakerError> {
    Ok(1)
}

#[circuit_breaker(backoff = 1e400, max_reset_timeout = "10m")]
async fn infinite() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
