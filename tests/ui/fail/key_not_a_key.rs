// Rule: `key = ...` must be a string, an integer, an address or a `BreakerKey`; another
// type is an error on the key expression.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(key = hosts)]
async fn fetch(hosts: Vec<String>) -> Result<u32, BreakerError> {
    Ok(hosts.len() as u32)
}

fn main() {}
