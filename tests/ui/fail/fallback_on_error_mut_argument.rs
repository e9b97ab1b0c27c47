// Rule: with `fallback_on = "error"` a `&mut` argument (or `&mut self`) cannot be handed
// to both the call and the fallback: an error on the argument.
use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(fallback = cached, fallback_on = "error")]
async fn fill(buf: &mut Vec<u8>) -> Result<usize, BreakerError> {
    buf.push(1);
    Ok(buf.len())
}

async fn cached(_buf: &mut Vec<u8>) -> Result<usize, BreakerError> {
    Ok(0)
}

fn main() {}
