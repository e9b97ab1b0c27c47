// Rule: `failure_ratio` outside (0, 1] is an error on the number (both ends shown).
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(failure_ratio = 0.0)]
async fn zero() -> Result<u32, BreakerError> {
    Ok(1)
}

#[circuit_breaker(failure_ratio = 1.5)]
async fn above_one() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
