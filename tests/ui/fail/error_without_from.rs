// Rule: an error type without `From<BreakerError>` is one error, on the return type.
use async_breaker::circuit_breaker;

#[derive(Debug)]
struct ShopError;

#[circuit_breaker]
async fn fetch() -> Result<u32, ShopError> {
    Err(ShopError)
}

fn main() {}
