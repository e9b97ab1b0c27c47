//! The expansion of `#[circuit_breaker]` is warning-free in users' code: these annotated
//! functions compile under strict lints, and `cargo clippy --all-targets` checks them with
//! clippy's pedantic group as well.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_lifetimes,
    unused_results,
    rust_2018_idioms,
    unreachable_pub,
    single_use_lifetimes,
    trivial_casts,
    clippy::all,
    clippy::pedantic
)]

use std::fmt::Display;
use std::io;
use std::time::Duration;

use async_breaker::{BreakerError, Outcome, State, circuit_breaker};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("not found")]
    NotFound,
}

fn classify(result: &Result<String, AppError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(AppError::NotFound) => Outcome::Ignored,
        Err(AppError::Breaker(_)) => Outcome::Failure,
    }
}

fn log(name: &str, from: State, to: State) {
    println!("{name}: {from} -> {to}");
}

#[circuit_breaker(
    name = "lints::every_key",
    timeout = "2s",
    max_requests = 3,
    interval = Duration::from_secs(60),
    reset_timeout = "30s",
    failure_ratio = 0.5,
    min_requests = 10,
    classify = classify,
    on_state_change = log,
    fallback = cached
)]
async fn fetch(
    sku: &str,
    label: impl Display + Send,
    (a, b): (u8, u8),
) -> Result<String, AppError> {
    if sku.is_empty() {
        return Err(AppError::NotFound);
    }
    tokio::task::yield_now().await;
    Ok(format!("{label}: {sku} {a} {b}"))
}

async fn cached(sku: &str, label: impl Display + Send, pair: (u8, u8)) -> Result<String, AppError> {
    tokio::task::yield_now().await;
    Ok(format!("{label}: {sku} cached {pair:?}"))
}

#[circuit_breaker(key = host, max_keys = 16, consecutive_failures = 2)]
async fn keyed(host: &str) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    Ok(host.len())
}

#[circuit_breaker(
    window = "1m",
    buckets = 12,
    timeout = "2s",
    slow_call = "1s",
    slow_call_ratio = 0.5,
    failure_ratio = 0.25,
    min_requests = 20,
    backoff = 2,
    max_reset_timeout = Duration::from_secs(600),
    jitter = "full"
)]
async fn rolling(n: u32) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[circuit_breaker(window_calls = 100, slow_call = Duration::from_millis(250), shared = false)]
async fn counted(n: u32) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[cfg(feature = "redis")]
#[circuit_breaker(name = "lints::shared", shared = true, timeout = "1s", fallback = cached_fleet)]
async fn fleet(n: u32) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[cfg(feature = "redis")]
async fn cached_fleet(n: u32) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[circuit_breaker(consecutive_failures = 2)]
async fn generic<T: Display + Send + Sync>(value: &T) -> io::Result<String> {
    tokio::task::yield_now().await;
    Ok(value.to_string())
}

struct Client {
    calls: u32,
}

impl Client {
    #[circuit_breaker(fallback = cached_calls)]
    async fn calls(&self) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        Ok(self.calls)
    }

    async fn cached_calls(&self) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        Ok(self.calls)
    }

    #[circuit_breaker(timeout = "1s")]
    async fn bump(&mut self) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        self.calls += 1;
        Ok(self.calls)
    }

    #[circuit_breaker]
    async fn into_calls(self) -> Result<u32, AppError> {
        tokio::task::yield_now().await;
        Ok(self.calls)
    }
}

#[tokio::test]
async fn annotated_functions_are_lint_clean() {
    assert_eq!(fetch("a", "x", (1, 2)).await.unwrap(), "x: a 1 2");
    assert_eq!(generic(&7).await.unwrap(), "7");
    assert_eq!(keyed("host").await.unwrap(), 4);
    assert_eq!(rolling(3).await.unwrap(), 3);
    assert_eq!(counted(4).await.unwrap(), 4);
    #[cfg(feature = "redis")]
    assert_eq!(fleet(5).await.unwrap(), 5);
    let mut client = Client { calls: 0 };
    assert_eq!(client.bump().await.unwrap(), 1);
    assert_eq!(client.calls().await.unwrap(), 1);
    assert_eq!(client.into_calls().await.unwrap(), 1);
}
