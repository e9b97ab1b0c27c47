// Rule: durations follow one grammar (integers with units ns, us, ms, s, m, h, d, parts
// separated by one space); anything else is an error on the literal saying what to write.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(timeout = "1.5s", interval = " 2s", reset_timeout = "2 seconds")]
async fn a() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(timeout = "2sec", interval = "100y", reset_timeout = "1m  30s")]
async fn b() -> Result<(), BreakerError> {
    Ok(())
}

fn main() {}
