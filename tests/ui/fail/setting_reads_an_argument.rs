// Rule: a setting is made once per breaker, so an expression that reads the function's
// arguments, `self` or generic parameters is an error on that expression.
use std::time::Duration;

use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = Duration::from_millis(ms))]
async fn fetch(ms: u64) -> Result<u64, BreakerError> {
    Ok(ms)
}

struct Client {
    timeout: Duration,
}

impl Client {
    #[circuit_breaker(timeout = self.timeout)]
    async fn get(&self) -> Result<u64, BreakerError> {
        Ok(1)
    }
}

fn main() {}
