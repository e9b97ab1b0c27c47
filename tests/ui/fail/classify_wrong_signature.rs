// Rule: a classifier for another result type is an error on the `classify = ...` path.
use async_breaker::{BreakerError, Outcome, circuit_breaker};

fn classify(_: &Result<String, BreakerError>) -> Outcome {
    Outcome::Success
}

#[circuit_breaker(classify = classify)]
async fn fetch() -> Result<u32, BreakerError> {
    Ok(1)
}

fn main() {}
