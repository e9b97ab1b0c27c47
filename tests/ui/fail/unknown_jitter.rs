// Rule: an unknown `jitter` is an error on the string, with the three names.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(jitter = "ful")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
