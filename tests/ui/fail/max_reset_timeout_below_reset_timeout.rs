// Rule: a literal `max_reset_timeout` below the literal or default `reset_timeout` is an
// error on `max_reset_timeout`'s literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(backoff = 2.0, max_reset_timeout = "30s")]
async fn below_the_default() -> Result<u32, BreakerError> {
    Ok(1)
}

#[circuit_breaker(reset_timeout = "5m", backoff = 2.0, max_reset_timeout = "4m")]
async fn below_the_given() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
