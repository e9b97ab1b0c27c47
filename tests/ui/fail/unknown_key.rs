// Rule: an unknown key is an error on the key, listing the valid keys (and suggesting one).
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(max_request = 3)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
