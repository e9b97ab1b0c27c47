// Rule: more than 65536 `window_calls` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window_calls = 100_000)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
