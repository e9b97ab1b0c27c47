// Rule: `max_keys` without `key` is an error on `max_keys`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(max_keys = 10)]
async fn fetch(host: &str) -> Result<usize, BreakerError> {
    Ok(host.len())
}

fn main() {}
