// Rule: `fallback_on` and `fallback_reason` say how the fallback is called: without a
// `fallback` each is an error on its key.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback_on = "error", fallback_reason = true)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

fn main() {}
