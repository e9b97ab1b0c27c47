// Rule: a duration string outside the grammar is an error on the literal, listing the units.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "2x")]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
