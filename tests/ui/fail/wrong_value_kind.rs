// Rule: a value of the wrong kind (a string for an integer) is an error on the value.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(max_requests = "3")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
