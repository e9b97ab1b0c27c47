//! `call_or_else`: the fallback answers rejections, and with `FallbackOn::Error` failures
//! and timeouts too (recorded first); ignored outcomes go to the caller.

use std::time::Duration;

use breaker_runtime::{
    BreakerError, CircuitBreaker, FallbackOn, FallbackReason, Outcome, State, TripPolicy,
};

#[derive(Debug, PartialEq)]
enum AppError {
    Breaker(BreakerError),
    Down,
    NotFound,
}

impl From<BreakerError> for AppError {
    fn from(e: BreakerError) -> Self {
        AppError::Breaker(e)
    }
}

fn classify(r: &Result<u32, AppError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(AppError::NotFound) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

async fn served(
    b: &CircuitBreaker,
    on: FallbackOn,
    call: Result<u32, AppError>,
) -> (Result<u32, AppError>, Option<FallbackReason>) {
    let mut reason = None;
    let result = b
        .call_with_or_else(async { call }, classify, on, |r| {
            reason = Some(r);
            async { Ok(0) }
        })
        .await;
    (result, reason)
}

fn breaker(name: &'static str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .trip_policy(TripPolicy::ConsecutiveFailures(2))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn on_rejected_a_failure_goes_to_the_caller() {
    let b = breaker("fb-rejected");
    let (r, reason) = served(&b, FallbackOn::Rejected, Err(AppError::Down)).await;
    assert_eq!(r, Err(AppError::Down));
    assert_eq!(reason, None);
    assert_eq!(b.counts().total_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn on_error_a_failure_is_recorded_then_answered_by_the_fallback() {
    let b = breaker("fb-failed");
    let (r, reason) = served(&b, FallbackOn::Error, Err(AppError::Down)).await;
    assert_eq!(r, Ok(0));
    assert_eq!(reason, Some(FallbackReason::Failed));
    assert_eq!(b.counts().total_failures, 1, "the breaker learned");
    let _ = served(&b, FallbackOn::Error, Err(AppError::Down)).await;
    assert_eq!(
        b.state(),
        State::Open,
        "failures answered by the fallback still trip it"
    );
    let (r, reason) = served(&b, FallbackOn::Error, Ok(5)).await;
    assert_eq!(r, Ok(0));
    assert_eq!(reason, Some(FallbackReason::RejectedOpen));
}

#[tokio::test(start_paused = true)]
async fn on_error_an_ignored_outcome_goes_to_the_caller() {
    let b = breaker("fb-ignored");
    let (r, reason) = served(&b, FallbackOn::Error, Err(AppError::NotFound)).await;
    assert_eq!(r, Err(AppError::NotFound));
    assert_eq!(reason, None);
    assert_eq!(b.counts().total_ignored, 1);
    let (r, reason) = served(&b, FallbackOn::Error, Ok(3)).await;
    assert_eq!((r, reason), (Ok(3), None));
}

#[tokio::test(start_paused = true)]
async fn on_error_a_timeout_is_recorded_then_answered() {
    let b = CircuitBreaker::builder("fb-timeout")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut reason = None;
    let r: Result<u32, AppError> = b
        .call_or_else(
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(1)
            },
            FallbackOn::Error,
            |why| {
                reason = Some(why);
                async { Ok(0) }
            },
        )
        .await;
    assert_eq!(r, Ok(0));
    assert_eq!(reason, Some(FallbackReason::TimedOut));
    assert_eq!(b.counts().total_failures, 1);
    // On rejected, the timeout is the caller's error.
    let r: Result<u32, AppError> = b
        .call_or_else(
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(1)
            },
            FallbackOn::Rejected,
            |_| async { Ok(0) },
        )
        .await;
    assert!(matches!(
        r,
        Err(AppError::Breaker(BreakerError::Timeout { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn rejections_say_open_or_half_open_full() {
    let b = CircuitBreaker::builder("fb-reasons")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    b.force_open();
    let (_, reason) = served(&b, FallbackOn::Rejected, Ok(1)).await;
    assert_eq!(reason, Some(FallbackReason::RejectedOpen), "held open");
    b.reset();
    let _ = served(&b, FallbackOn::Rejected, Err(AppError::Down)).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let probe = b.try_acquire().unwrap();
    assert_eq!(probe.state(), State::HalfOpen);
    let (_, reason) = served(&b, FallbackOn::Rejected, Ok(1)).await;
    assert_eq!(reason, Some(FallbackReason::HalfOpenFull));
    assert!(reason.unwrap().is_rejection());
    assert!(!FallbackReason::Failed.is_rejection());
    drop(probe);
}
