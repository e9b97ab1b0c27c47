//! Every duration unit, parts combined, and settings written as expressions that read no
//! argument: constants, a static's value, `Duration` constructors and functions of them,
//! next to arguments whose names they could be confused with.
use std::time::Duration;

use async_breaker::{BreakerError, circuit_breaker};

const PATIENCE: Duration = Duration::from_secs(30);
static LIMIT_MS: u64 = 250;

mod config {
    pub(crate) fn interval() -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }
}

#[circuit_breaker(timeout = "1d", interval = "1h", reset_timeout = "1d 2h 3m 4s 5ms 6us 7ns")]
async fn days_and_hours() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(timeout = "500us", interval = "100ns", reset_timeout = "1m 30s")]
async fn small_units() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(
    timeout = Duration::from_millis(LIMIT_MS),
    interval = config::interval(),
    reset_timeout = PATIENCE
)]
async fn expressions(ms: u64, timeout: Duration) -> Result<u64, BreakerError> {
    Ok(ms + timeout.as_secs())
}

struct Client;

impl Client {
    #[circuit_breaker(timeout = Duration::from_secs(2), reset_timeout = self::PATIENCE)]
    async fn get(&self, interval: u8) -> Result<u8, BreakerError> {
        Ok(interval)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    days_and_hours().await.unwrap();
    small_units().await.unwrap();
    assert_eq!(expressions(1, Duration::from_secs(2)).await.unwrap(), 3);
    assert_eq!(Client.get(4).await.unwrap(), 4);
}
