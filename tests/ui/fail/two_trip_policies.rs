// Rule: two trip policies at once is an error on the second.
use async_breaker::{BreakerError, Counts, circuit_breaker};

fn never(_: &Counts) -> bool {
    false
}

#[circuit_breaker(consecutive_failures = 3, trip = never)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
