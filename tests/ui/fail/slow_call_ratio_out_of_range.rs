// Rule: a `slow_call_ratio` outside (0, 1] is an error on the number.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(slow_call = "1s", slow_call_ratio = 1.5)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
