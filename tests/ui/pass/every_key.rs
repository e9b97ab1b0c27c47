//! Every key at once, durations as strings and as `Duration` expressions, and each trip
//! policy.
use std::time::Duration;

use async_breaker::{BreakerError, Counts, Outcome, State, circuit_breaker};

const PATIENCE: Duration = Duration::from_secs(30);

fn classify(result: &Result<u32, BreakerError>) -> Outcome {
    if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Ignored
    }
}

fn log(name: &str, from: State, to: State) {
    println!("{name}: {from} -> {to}");
}

fn trip(counts: &Counts) -> bool {
    counts.total_failures > 10
}

#[circuit_breaker(
    name = "pass::every_key",
    timeout = "1m 30s",
    max_requests = 3,
    interval = Duration::from_millis(250),
    reset_timeout = PATIENCE,
    failure_ratio = 0.5,
    min_requests = 10,
    classify = classify,
    on_state_change = log,
    fallback = cached,
    crate = "::async_breaker",
)]
async fn everything(id: u32) -> Result<u32, BreakerError> {
    Ok(id)
}

async fn cached(_id: u32) -> Result<u32, BreakerError> {
    Ok(0)
}

#[circuit_breaker(consecutive_failures = 3, reset_timeout = "2s")]
async fn consecutive() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(trip = trip, interval = "1h")]
async fn custom() -> Result<(), BreakerError> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(everything(7).await.unwrap(), 7);
    consecutive().await.unwrap();
    custom().await.unwrap();
    let settings = async_breaker::registry::get("pass::every_key")
        .unwrap()
        .settings();
    assert_eq!(settings.timeout, Some(Duration::from_secs(90)));
    assert_eq!(settings.interval(), Some(Duration::from_millis(250)));
    assert_eq!(settings.reset_timeout, PATIENCE);
    assert_eq!(settings.max_requests, 3);
}
