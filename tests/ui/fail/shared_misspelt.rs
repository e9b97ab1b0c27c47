// Rule: a misspelt `shared` is an unknown key that suggests `shared`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(shraed = true)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
