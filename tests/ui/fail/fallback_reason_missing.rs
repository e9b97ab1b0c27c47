// Rule: with `fallback_reason = true` the fallback takes the reason as one more, last
// argument; a fallback without it is an error on the `fallback = ...` path.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached, fallback_on = "error", fallback_reason = true)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(_sku: &str) -> Result<u32, BreakerError> {
    Ok(0)
}

fn main() {}
