// Rule: the attribute cannot go on a `const fn`; the error is on `const`.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker]
const fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
