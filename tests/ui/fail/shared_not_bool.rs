// Rule: `shared` takes `true` or `false`; anything else is an error on the value.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(name = "pricing", shared = "yes")]
async fn fetch(sku: &str) -> Result<u32, BreakerError> {
    Ok(sku.len() as u32)
}

fn main() {}
