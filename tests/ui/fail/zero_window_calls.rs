// Rule: zero `window_calls` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window_calls = 0)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
