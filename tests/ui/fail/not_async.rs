// Rule: the attribute needs an `async fn`; the error is on the `fn` token.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "2s")]
fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {
    // The function is still emitted unchanged, so its callers compile.
    let _ = fetch();
}
