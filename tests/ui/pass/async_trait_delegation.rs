//! What the message for `#[circuit_breaker]` inside an `#[async_trait]` block suggests when
//! the trait is used as `dyn Trait`: the body in an inherent `#[circuit_breaker] async fn`
//! that the trait method calls (its future is `Send`, as `#[async_trait]` requires).
use async_breaker::{BreakerError, circuit_breaker};
use async_trait::async_trait;

#[async_trait]
trait Prices {
    async fn price(&self, sku: &str) -> Result<u64, BreakerError>;
}

struct Shop;

#[async_trait]
impl Prices for Shop {
    async fn price(&self, sku: &str) -> Result<u64, BreakerError> {
        self.price_protected(sku).await
    }
}

impl Shop {
    #[circuit_breaker(timeout = "2s", fallback = cached)]
    async fn price_protected(&self, sku: &str) -> Result<u64, BreakerError> {
        Ok(sku.len() as u64)
    }

    async fn cached(&self, _sku: &str) -> Result<u64, BreakerError> {
        Ok(0)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let shop: Box<dyn Prices + Send + Sync> = Box::new(Shop);
    assert_eq!(shop.price("abc").await.unwrap(), 3);
}
