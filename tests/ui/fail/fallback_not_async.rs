// Rule: a fallback that is not async is one error, on the `fallback = ...` path.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

fn cached(_sku: &str) -> Result<u32, BreakerError> {
    Ok(0)
}

fn main() {}
