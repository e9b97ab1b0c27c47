// Rule: every mistake in one attribute is reported at once, and nothing else: the function
// is emitted unchanged, so its callers don't add errors of their own.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(
    timeout = "2x",
    max_requests = 0,
    colour = "red",
    failure_ratio = 2.0,
    timeout = "1s"
)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

async fn caller() -> u32 {
    fetch().await.unwrap_or(0)
}

fn main() {
    let _ = caller();
}
