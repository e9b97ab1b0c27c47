// Rule: a return type that is not a `Result` is one error, on the return type.
use async_breaker::circuit_breaker;

#[circuit_breaker(timeout = "2s")]
async fn fetch() -> u32 {
    1
}

fn main() {}
