// Rule: `fallback_reason` takes `true` or `false`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached, fallback_reason = "yes")]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(_sku: &str, _reason: async_breaker::FallbackReason) -> Result<u32, BreakerError> {
    Ok(0)
}

fn main() {}
