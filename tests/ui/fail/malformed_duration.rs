// Rule: a duration string that humantime cannot parse is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "2x")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
