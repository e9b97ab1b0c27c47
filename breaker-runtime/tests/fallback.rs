//! `call_or_else`: the fallback answers rejections, and with `FallbackOn::Error` failures
//! and timeouts too (recorded first); ignored outcomes go to the caller.

use std::time::Duration;

use breaker_runtime::{
    BreakerError, CircuitBreaker, Decided, FallbackOn, FallbackReason, Outcome, State, TripPolicy,
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

// `call_deciding`: the call's future is made at the first poll, from the decision.

/// A call through `call_deciding` whose body returns `call` when admitted, and whose
/// refused answer waits once (a yield) before it answers `Ok(0)`. Returns the result and
/// the decision `start` received.
async fn deciding(
    b: &CircuitBreaker,
    call: Result<u32, AppError>,
) -> (Result<u32, AppError>, Option<Result<(), BreakerError>>) {
    let mut decision = None;
    let result = b
        .call_deciding(
            |admission| {
                decision = Some(admission.clone());
                match admission {
                    Ok(()) => Decided::Admitted(async move { call }),
                    Err(_) => Decided::Refused(async {
                        tokio::task::yield_now().await;
                        Ok(0)
                    }),
                }
            },
            classify,
        )
        .await;
    (result, decision)
}

#[tokio::test(start_paused = true)]
async fn a_deciding_call_admitted_runs_its_body_and_is_recorded() {
    let b = breaker("deciding-admitted");
    let (r, decision) = deciding(&b, Ok(7)).await;
    assert_eq!((r, decision), (Ok(7), Some(Ok(()))));
    let (r, _) = deciding(&b, Err(AppError::Down)).await;
    assert_eq!(r, Err(AppError::Down));
    let (r, _) = deciding(&b, Err(AppError::NotFound)).await;
    assert_eq!(
        r,
        Err(AppError::NotFound),
        "an ignored outcome goes to the caller"
    );
    let c = b.counts();
    // Three admitted requests: one success, one failure, one ignored.
    assert_eq!((c.requests, c.total_successes, c.total_failures), (3, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_deciding_call_refused_runs_its_answer_and_records_nothing() {
    let b = breaker("deciding-refused");
    b.force_open();
    let before = b.counts();
    let (r, decision) = deciding(&b, Ok(7)).await;
    assert_eq!(
        r,
        Ok(0),
        "the refused answer, which waited once, is the result"
    );
    assert!(matches!(
        decision,
        Some(Err(BreakerError::ForcedOpen { .. }))
    ));
    assert_eq!(b.counts(), before, "nothing is recorded for a refused call");
}

#[tokio::test(start_paused = true)]
async fn a_deciding_call_refused_in_half_open_leaves_the_probe_slot_alone() {
    let b = CircuitBreaker::builder("deciding-half-open")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let _ = deciding(&b, Err(AppError::Down)).await;
    assert_eq!(b.state(), State::Open);
    let (r, decision) = deciding(&b, Ok(7)).await;
    assert_eq!(r, Ok(0));
    assert!(matches!(decision, Some(Err(BreakerError::Open { .. }))));
    tokio::time::advance(Duration::from_secs(1)).await;
    let probe = b.try_acquire().expect("the one probe slot is free");
    let (r, decision) = deciding(&b, Ok(7)).await;
    assert_eq!(r, Ok(0));
    assert!(matches!(
        decision,
        Some(Err(BreakerError::HalfOpenFull { .. }))
    ));
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_deciding_call_past_its_deadline_is_a_timeout_and_a_failure() {
    let b = CircuitBreaker::builder("deciding-timeout")
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let r: Result<u32, AppError> = b
        .call_deciding(
            |admission| match admission {
                Ok(()) => Decided::Admitted(std::future::pending()),
                Err(_) => Decided::Refused(std::future::ready(Ok(0))),
            },
            classify,
        )
        .await;
    assert!(matches!(
        r,
        Err(AppError::Breaker(BreakerError::Timeout { .. }))
    ));
    assert_eq!(b.counts().total_failures, 1);
}

#[test]
fn a_deciding_call_dropped_or_polled_after_it_finished_counts_nothing_more() {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let b = CircuitBreaker::builder("deciding-poll-after-finish")
        .build()
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let start = |admission: Result<(), BreakerError>| match admission {
        Ok(()) => Decided::Admitted(async { Ok::<u32, AppError>(1) }),
        Err(_) => Decided::Refused(async { Ok(0) }),
    };
    // Admitted, finished, polled again.
    let mut admitted = pin!(b.call_deciding(start, Outcome::of));
    assert!(matches!(
        admitted.as_mut().poll(&mut cx),
        Poll::Ready(Ok(1))
    ));
    let again = catch_unwind(AssertUnwindSafe(|| {
        admitted.as_mut().poll(&mut cx).is_ready()
    }));
    assert!(again.is_err(), "a second poll panics");
    let c = b.counts();
    assert_eq!((c.requests, c.total_successes), (1, 1));
    // Refused and pending, then dropped: nothing recorded, nothing held.
    b.force_open();
    let held_open = b.counts();
    let pending = |admission: Result<(), BreakerError>| match admission {
        Ok(()) => Decided::Admitted(std::future::pending::<Result<u32, AppError>>()),
        Err(_) => Decided::Refused(std::future::pending()),
    };
    {
        let mut refused = pin!(b.call_deciding(pending, Outcome::of));
        assert!(refused.as_mut().poll(&mut cx).is_pending());
        assert!(
            refused.as_mut().poll(&mut cx).is_pending(),
            "polled again, still its answer"
        );
    }
    // Refused, finished, polled again.
    let mut refused = pin!(b.call_deciding(start, Outcome::of));
    assert!(matches!(refused.as_mut().poll(&mut cx), Poll::Ready(Ok(0))));
    let again = catch_unwind(AssertUnwindSafe(|| {
        refused.as_mut().poll(&mut cx).is_ready()
    }));
    assert!(again.is_err(), "a second poll panics");
    assert_eq!(b.counts(), held_open, "refused calls record nothing");
    b.reset();
    assert!(b.try_acquire().is_ok(), "no admission is left behind");
}

// `call_made_converting`: the call's future is made only when the call is admitted.

#[tokio::test(start_paused = true)]
async fn a_made_call_makes_its_future_only_when_admitted() {
    use std::cell::Cell;

    let b = breaker("made-call");
    let made = Cell::new(0);
    let convert = |e: BreakerError| Err::<u32, AppError>(AppError::Breaker(e));
    let call = |result: Result<u32, AppError>| {
        b.call_made_converting(
            || {
                made.set(made.get() + 1);
                async move {
                    tokio::task::yield_now().await;
                    result
                }
            },
            classify,
            convert,
        )
    };
    assert_eq!(
        call(Ok(7)).await,
        Ok(7),
        "admitted: made, polled again, recorded"
    );
    assert_eq!(made.get(), 1);
    let unpolled = call(Ok(8));
    drop(unpolled);
    assert_eq!(made.get(), 1, "nothing is made before the first poll");
    b.force_open();
    let refused = call(Ok(9)).await;
    assert!(matches!(
        refused,
        Err(AppError::Breaker(BreakerError::ForcedOpen { .. }))
    ));
    assert_eq!(made.get(), 1, "a refused call never makes its future");
    b.reset();
    let _ = call(Err(AppError::Down)).await;
    let c = b.counts();
    assert_eq!((c.requests, c.total_failures), (1, 1));

    let timed = CircuitBreaker::builder("made-call-timeout")
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let r = timed
        .call_made_converting(std::future::pending, Outcome::of, convert)
        .await;
    assert!(matches!(
        r,
        Err(AppError::Breaker(BreakerError::Timeout { .. }))
    ));
    assert_eq!(timed.counts().total_failures, 1);
}
