// Rule: with `fallback_reason = true` the fallback's last argument is a `FallbackReason`;
// another type is an error on the `fallback = ...` path, like any argument that does not
// fit.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached, fallback_reason = true)]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

async fn cached(_sku: &str, _reason: u8) -> Result<u32, BreakerError> {
    Ok(0)
}

fn main() {}
