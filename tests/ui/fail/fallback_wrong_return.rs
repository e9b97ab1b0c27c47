// Rule: a fallback returning another type is one error, on the `fallback = ...` path.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(_sku: &str) -> Result<String, BreakerError> {
    Ok(String::new())
}

fn main() {}
