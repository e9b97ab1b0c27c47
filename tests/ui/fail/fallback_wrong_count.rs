// Rule: a fallback taking a different number of arguments is an error on the `fallback = ...` path.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached)]
async fn fetch(sku: &str, region: u8) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32 + u32::from(region))
}

async fn cached(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

fn main() {}
