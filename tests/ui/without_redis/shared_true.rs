// Rule: without the facade's `redis` feature, `shared = true` is one error, on the key,
// saying to enable the feature; `shared = false` needs nothing. (Run by tests/features.rs
// when the `redis` feature is off.)
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "2s", shared = true)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

#[circuit_breaker(name = "inventory", shared = true)]
async fn reserve() -> Result<u32, BreakerError> {
    Ok(1)
}

#[circuit_breaker(key = host, shared = true)]
async fn stock(host: &str) -> Result<usize, BreakerError> {
    Ok(host.len())
}

#[circuit_breaker(shared = false)]
async fn local() -> Result<u32, BreakerError> {
    Ok(1)
}

async fn caller() -> u32 {
    fetch().await.unwrap_or(0) + reserve().await.unwrap_or(0) + local().await.unwrap_or(0)
        + stock("a").await.map_or(0, |n| n as u32)
}

fn main() {
    let _ = caller();
}
