//! A crate's own `Result` alias, and a return type with `impl Trait` in it.
use std::fmt::Display;

use async_breaker::{BreakerError, circuit_breaker};

type Result<T> = std::result::Result<T, BreakerError>;

#[circuit_breaker]
async fn alias(n: u8) -> Result<u8> {
    Ok(n)
}

#[circuit_breaker]
async fn opaque(n: u8) -> Result<impl Display> {
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(alias(3).await.unwrap(), 3);
    assert_eq!(opaque(4).await.unwrap().to_string(), "4");
}
