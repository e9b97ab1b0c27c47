//! `std::io::Result<T>`, an alias whose error type is `std::io::Error`.
use std::io;

use async_breaker::circuit_breaker;

#[circuit_breaker(timeout = "250ms")]
async fn read_config(path: &str) -> io::Result<String> {
    if path.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no path"));
    }
    Ok(String::from(path))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(read_config("a.toml").await.unwrap(), "a.toml");
    assert_eq!(
        read_config("").await.unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}
