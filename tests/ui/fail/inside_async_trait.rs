// Rule: inside an `#[async_trait]` impl, the attribute sees the method after async_trait
// rewrote it; the error says why and what to do instead, on the method's name.
use async_breaker::{BreakerError, circuit_breaker};
use async_trait::async_trait;

#[async_trait]
trait Prices {
    async fn price(&self, sku: &str) -> Result<u64, BreakerError>;
}

struct Shop;

#[async_trait]
impl Prices for Shop {
    #[circuit_breaker(timeout = "2s")]
    async fn price(&self, sku: &str) -> Result<u64, BreakerError> {
        Ok(sku.len() as u64)
    }
}

fn main() {}
