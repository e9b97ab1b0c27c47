// Rule: more than 1024 `buckets` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(window = "1h", buckets = 2048)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
