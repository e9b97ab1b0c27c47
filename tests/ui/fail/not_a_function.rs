// Rule: the attribute goes on an `async fn` with a body.
use async_breaker::circuit_breaker;

#[circuit_breaker]
struct Client;

fn main() {}
