// Rule: a fallback taking other arguments is an error on the `fallback = ...` path.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(sku: u64) -> Result<u32, BreakerError> {
    Ok(sku as u32)
}

fn main() {}
