//! `anyhow::Error`, which converts from any error, as the error type.
use async_breaker::circuit_breaker;

#[circuit_breaker(consecutive_failures = 2)]
async fn fetch(ok: bool) -> anyhow::Result<u32> {
    anyhow::ensure!(ok, "upstream failed");
    Ok(1)
}

#[circuit_breaker(fallback = cached)]
async fn with_fallback(id: u32) -> Result<u32, anyhow::Error> {
    Ok(id)
}

async fn cached(_id: u32) -> Result<u32, anyhow::Error> {
    Ok(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(fetch(true).await.unwrap(), 1);
    assert_eq!(with_fallback(5).await.unwrap(), 5);
    for _ in 0..2 {
        assert!(fetch(false).await.is_err());
    }
    let rejected = fetch(true).await.unwrap_err();
    assert!(rejected.downcast_ref::<async_breaker::BreakerError>().is_some());
}
