//! The attribute used through a renamed dependency (`breaker = { package = "async-breaker" }`),
//! with no `crate = "..."`: the generated code must find the runtime as `::breaker`.

use breaker::{BreakerError, circuit_breaker};

/// The error of the functions below.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The breaker refused the call or its deadline passed.
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    /// The call itself failed.
    #[error("the dependency failed")]
    Failed,
}

/// A protected call with a deadline and a fallback.
#[circuit_breaker(timeout = "1s", consecutive_failures = 1, fallback = cached)]
pub async fn fetch(fail: bool) -> Result<u32, AppError> {
    if fail { Err(AppError::Failed) } else { Ok(1) }
}

async fn cached(_fail: bool) -> Result<u32, AppError> {
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_attribute_finds_a_renamed_dependency() {
        assert_eq!(fetch(false).await.unwrap(), 1);
        assert!(matches!(fetch(true).await, Err(AppError::Failed)));
        // One failure opened the breaker: the fallback answers.
        assert_eq!(fetch(false).await.unwrap(), 0);
        let breaker = breaker::registry::get("renamed_dependency::fetch").expect("registered");
        assert_eq!(breaker.state(), breaker::State::Open);
    }
}
