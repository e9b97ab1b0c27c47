// Rule: `fallback_on` is "rejected" or "error"; anything else is an error on the value,
// with the closest one suggested.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached, fallback_on = "errors")]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(_sku: &str) -> Result<u32, BreakerError> {
    Ok(0)
}

fn main() {}
