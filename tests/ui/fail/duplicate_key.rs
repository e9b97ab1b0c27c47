// Rule: a key given twice is an error on the second one.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "1s", timeout = "2s")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
