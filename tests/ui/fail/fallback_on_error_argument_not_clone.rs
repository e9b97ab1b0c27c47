// Rule: with `fallback_on = "error"` the fallback gets the arguments after the call used
// them, so each is cloned before the call: one that is not `Clone` is an error on it.
use async_breaker::{BreakerError, circuit_breaker};

struct Order {
    id: u32,
}

#[circuit_breaker(fallback = queued, fallback_on = "error")]
async fn place(order: Order) -> Result<u32, BreakerError> {
    Ok(order.id)
}

async fn queued(order: Order) -> Result<u32, BreakerError> {
    Ok(order.id)
}

fn main() {}
