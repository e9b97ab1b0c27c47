// Rule: a literal `slow_call` at or above a literal `timeout` is an error on `slow_call`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "2s", slow_call = "2s")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
