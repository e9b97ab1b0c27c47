// Rule: a zero `window` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window = "0ms")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
