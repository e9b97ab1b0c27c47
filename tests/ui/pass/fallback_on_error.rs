// `fallback_on = "error"` and `fallback_reason = true` on free functions and methods: the
// fallback answers failures (after they were recorded) and rejections, with the reason;
// ignored outcomes go to the caller.
use std::sync::Mutex;

use async_breaker::{BreakerError, FallbackReason, Outcome, circuit_breaker};

#[derive(Debug)]
enum ShopError {
    Breaker(BreakerError),
    Down,
    NotFound,
}

impl From<BreakerError> for ShopError {
    fn from(e: BreakerError) -> Self {
        ShopError::Breaker(e)
    }
}

fn classify(r: &Result<u64, ShopError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(ShopError::NotFound) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

#[circuit_breaker(
    consecutive_failures = 2,
    classify = classify,
    fallback = cached_price,
    fallback_on = "error",
    fallback_reason = true
)]
async fn price(sku: String, up: bool, found: bool) -> Result<u64, ShopError> {
    match (up, found) {
        (_, false) => Err(ShopError::NotFound),
        (true, true) => Ok(sku.len() as u64),
        (false, true) => Err(ShopError::Down),
    }
}

static REASONS: Mutex<Vec<FallbackReason>> = Mutex::new(Vec::new());

async fn cached_price(
    _sku: String,
    _up: bool,
    _found: bool,
    reason: FallbackReason,
) -> Result<u64, ShopError> {
    REASONS.lock().unwrap().push(reason);
    Ok(1)
}

struct Client {
    calls: u32,
}

impl Client {
    #[circuit_breaker(fallback = stale, fallback_on = "error")]
    async fn get(&self, key: &str) -> Result<u32, ShopError> {
        if key.is_empty() { Err(ShopError::Down) } else { Ok(self.calls) }
    }

    async fn stale(&self, _key: &str) -> Result<u32, ShopError> {
        Ok(self.calls + 100)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(price("abc".into(), true, true).await.unwrap(), 3);
    assert!(matches!(price("abc".into(), true, false).await, Err(ShopError::NotFound)));
    assert_eq!(price("abc".into(), false, true).await.unwrap(), 1);
    assert_eq!(price("abc".into(), false, true).await.unwrap(), 1);
    assert_eq!(price("abc".into(), true, true).await.unwrap(), 1);
    assert_eq!(
        *REASONS.lock().unwrap(),
        [FallbackReason::Failed, FallbackReason::Failed, FallbackReason::RejectedOpen]
    );
    let client = Client { calls: 2 };
    assert_eq!(client.get("k").await.unwrap(), 2);
    assert_eq!(client.get("").await.unwrap(), 102);
}
