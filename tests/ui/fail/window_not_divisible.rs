// Rule: a literal `window` that does not split into whole milliseconds per bucket is an error on the window.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window = "1001ms")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
