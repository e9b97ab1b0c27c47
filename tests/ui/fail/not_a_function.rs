// Rule: the attribute goes on an `async fn` with a body.
use breaker::circuit_breaker;

#[circuit_breaker]
struct Client;

fn main() {}
