//! Methods of trait impls (native `async fn` in traits), a trait's default method, and
//! futures that stay `Send` so they can be spawned.
use async_breaker::{BreakerError, circuit_breaker};

trait Prices {
    async fn price(&self, sku: &str) -> Result<u64, BreakerError>;

    /// A default method: one breaker for every implementing type.
    #[circuit_breaker(name = "pass::trait_default")]
    async fn default_price(&self) -> Result<u64, BreakerError> {
        Ok(9)
    }
}

struct Live;

impl Prices for Live {
    #[circuit_breaker(timeout = "1s", fallback = cached)]
    async fn price(&self, sku: &str) -> Result<u64, BreakerError> {
        Ok(sku.len() as u64)
    }
}

impl Live {
    async fn cached(&self, _sku: &str) -> Result<u64, BreakerError> {
        Ok(0)
    }
}

#[circuit_breaker(timeout = "1s")]
async fn spawned(sku: String) -> Result<u64, BreakerError> {
    tokio::task::yield_now().await;
    Ok(sku.len() as u64)
}

#[tokio::main]
async fn main() {
    assert_eq!(Live.price("abc").await.unwrap(), 3);
    assert_eq!(Live.default_price().await.unwrap(), 9);
    let handle = tokio::spawn(spawned(String::from("abcd")));
    assert_eq!(handle.await.unwrap().unwrap(), 4);
}
