// Rule: `max_keys = 0` is an error on the literal.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(key = host, max_keys = 0)]
async fn fetch(host: &str) -> Result<usize, BreakerError> {
    Ok(host.len())
}

fn main() {}
