// Rule: a function without a return type cannot report rejections; the error says what to add.
use async_breaker::circuit_breaker;

#[circuit_breaker]
async fn fetch() {}

fn main() {}
