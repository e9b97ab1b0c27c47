//! Fault injection: hanging dependencies, clock jumps, panicking hooks, and thousands of
//! tasks cancelled at random, with the breaker's invariants checked afterwards.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use breaker_runtime::{BreakerError, CircuitBreaker, State, TripPolicy};
use tokio::time::advance;

#[derive(Debug)]
enum E {
    Breaker(BreakerError),
    Down,
}

impl From<BreakerError> for E {
    fn from(e: BreakerError) -> Self {
        E::Breaker(e)
    }
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_hangs_forever_trips_the_breaker_through_the_deadline() {
    let b = CircuitBreaker::builder("fault-hang")
        .timeout(Duration::from_secs(2))
        .trip_policy(TripPolicy::ConsecutiveFailures(3))
        .build()
        .unwrap();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let b = b.clone();
        handles.push(tokio::spawn(async move {
            b.call(pending::<Result<(), E>>()).await
        }));
    }
    for h in handles {
        assert!(matches!(
            h.await.unwrap(),
            Err(E::Breaker(BreakerError::Timeout { .. }))
        ));
    }
    assert_eq!(b.state(), State::Open);
    // Later callers are rejected at once instead of hanging for two seconds each.
    let start = tokio::time::Instant::now();
    assert!(matches!(
        b.call(pending::<Result<(), E>>()).await,
        Err(E::Breaker(BreakerError::Open { .. }))
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn huge_clock_jumps_are_just_elapsed_time() {
    let b = CircuitBreaker::builder("fault-jump")
        .interval(Duration::from_secs(1))
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let _ = b.call(async { Err::<(), E>(E::Down) }).await;
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(60 * 60 * 24 * 365 * 100)).await;
    assert_eq!(b.retry_after(), None);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.call(async { Ok::<(), E>(()) }).await.is_ok());
    assert_eq!(b.state(), State::Closed);
    advance(Duration::from_secs(60 * 60 * 24 * 365 * 100)).await;
    assert_eq!(b.counts().requests, 0, "the interval reset happened");
    assert!(b.call(async { Ok::<(), E>(()) }).await.is_ok());
    assert_eq!(b.counts().total_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hook_is_contained_and_leaves_the_breaker_consistent() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let b = CircuitBreaker::builder("fault-hook-panic")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .on_state_change(move |_, _, to| {
            c.fetch_add(1, Ordering::SeqCst);
            assert!(to != State::Open, "hook refuses to see the breaker open");
        })
        .build()
        .unwrap();
    let b2 = b.clone();
    let task = tokio::spawn(async move { b2.call(async { Err::<(), E>(E::Down) }).await });
    assert!(
        matches!(task.await, Ok(Err(E::Down))),
        "the hook's panic is contained: the caller gets its own result"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The transition was complete before the hook ran.
    assert_eq!(b.state(), State::Open);
    assert!(b.try_acquire().is_err());
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.call(async { Ok::<(), E>(()) }).await.is_ok());
    assert_eq!(b.state(), State::Closed);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_hook_panicking_while_a_call_unwinds_does_not_abort() {
    let b = CircuitBreaker::builder("fault-hook-double-panic")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .on_state_change(|_, _, _| panic!("hook panics too"))
        .build()
        .unwrap();
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        b2.call(async {
            panic!("the call panics");
            #[allow(unreachable_code)]
            Ok::<(), E>(())
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(
        b.state(),
        State::Open,
        "the failure was recorded, the process lives"
    );
}

/// A tiny deterministic generator (xorshift), one per task.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_tasks_with_random_outcomes_and_cancellations() {
    const TASKS: u64 = 2_000;
    let b = CircuitBreaker::builder("fault-swarm")
        .timeout(Duration::from_millis(5))
        .max_requests(3)
        .trip_policy(TripPolicy::FailureRatio {
            ratio: 0.6,
            min_requests: 20,
        })
        .reset_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let b = b.clone();
        let admitted = Arc::clone(&admitted);
        handles.push(tokio::spawn(async move {
            let mut rng = 0x2545_F491_4F6C_DD1D ^ (task + 1);
            for _ in 0..10 {
                let roll = next(&mut rng) % 100;
                let call = b.call(async {
                    admitted.fetch_add(1, Ordering::Relaxed);
                    match roll {
                        0..=49 => Ok(()),
                        50..=79 => Err(E::Down),
                        // Hangs until the deadline or the select below drops it.
                        _ => pending().await,
                    }
                });
                tokio::select! {
                    _ = call => {}
                    () = tokio::time::sleep(Duration::from_micros(roll * 30)) => {}
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(admitted.load(Ordering::Relaxed) > 0);
    // Whatever happened, the breaker is not wedged: once the dependency is healthy it
    // closes again within a bounded number of attempts.
    let mut attempts = 0;
    while b.state() != State::Closed {
        attempts += 1;
        assert!(
            attempts < 10_000,
            "the breaker never closed: {:?}",
            b.snapshot()
        );
        let _ = b.call(async { Ok::<(), E>(()) }).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every admitted call of the current generation finished or was taken out again:
    // nothing cancelled is left counted as in flight.
    let c = b.counts();
    assert_eq!(
        c.requests,
        c.total_successes + c.total_failures + c.total_ignored,
        "{c:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_while_a_sibling_panics_records_nothing() {
    let b = CircuitBreaker::builder("fault-sibling-panic")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .build()
        .unwrap();
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        let price = b2.call(pending::<Result<(), E>>());
        let stock = async {
            tokio::task::yield_now().await;
            panic!("a sibling future panics");
        };
        tokio::join!(price, stock)
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Closed, "the dropped call is no failure");
    assert_eq!(b.counts().total_failures, 0);
    assert_eq!(b.counts().requests, 0, "its admission was taken back");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_panics_in_its_own_poll_still_counts_as_a_failure() {
    let b = CircuitBreaker::builder("fault-own-panic")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .build()
        .unwrap();
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        b2.call(async {
            tokio::task::yield_now().await;
            panic!("the call itself panics");
            #[allow(unreachable_code)]
            Ok::<(), E>(())
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

/// Tries for a probe slot while the probe body that holds it is being dropped.
struct TriesForASlotOnDrop {
    breaker: CircuitBreaker,
    admitted_during_drop: Arc<AtomicU64>,
}

impl Drop for TriesForASlotOnDrop {
    fn drop(&mut self) {
        if self.breaker.try_acquire().is_ok() {
            self.admitted_during_drop.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot_only_after_its_body_is_dropped() {
    let b = CircuitBreaker::builder("fault-probe-drop-order")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .max_requests(1)
        .build()
        .unwrap();
    let _ = b.call(async { Err::<(), E>(E::Down) }).await;
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    let admitted_during_drop = Arc::new(AtomicU64::new(0));
    let guard = TriesForASlotOnDrop {
        breaker: b.clone(),
        admitted_during_drop: Arc::clone(&admitted_during_drop),
    };
    let probe = b.call(async move {
        let _guard = guard;
        pending::<Result<(), E>>().await
    });
    let probe = async move {
        tokio::select! {
            biased;
            r = probe => Some(r),
            () = tokio::task::yield_now() => None,
        }
    };
    assert!(probe.await.is_none(), "the probe was cancelled");
    assert_eq!(
        admitted_during_drop.load(Ordering::SeqCst),
        0,
        "no second probe while the first one's body was being dropped"
    );
    assert!(b.try_acquire().is_ok(), "the slot came back afterwards");
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

const A_YEAR: Duration = Duration::from_secs(60 * 60 * 24 * 365);

#[test]
fn a_breaker_made_on_a_clock_that_jumped_ahead_recovers_on_a_clock_behind_it() {
    let ahead = paused_runtime();
    let b = ahead.block_on(async {
        advance(A_YEAR).await;
        let b = CircuitBreaker::builder("fault-clock-made-ahead")
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let _ = b.call(async { Err::<(), E>(E::Down) }).await;
        assert_eq!(b.state(), State::Open);
        b
    });
    // Another runtime, paused a year behind the first.
    let behind = paused_runtime();
    behind.block_on(async {
        assert_eq!(b.state(), State::Open);
        assert!(b.retry_after().unwrap() <= Duration::from_secs(30));
        advance(Duration::from_secs(30)).await;
        assert_eq!(
            b.state(),
            State::HalfOpen,
            "open for its period, not a year"
        );
        assert!(b.call(async { Ok::<(), E>(()) }).await.is_ok());
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn a_breaker_tripped_on_a_clock_ahead_recovers_on_a_clock_behind_it() {
    let behind = paused_runtime();
    let b = behind.block_on(async {
        CircuitBreaker::builder("fault-clock-tripped-ahead")
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    });
    let ahead = paused_runtime();
    ahead.block_on(async {
        advance(A_YEAR).await;
        let _ = b.call(async { Err::<(), E>(E::Down) }).await;
        assert_eq!(b.state(), State::Open);
    });
    behind.block_on(async {
        assert_eq!(b.state(), State::Open);
        advance(Duration::from_secs(30)).await;
        assert_eq!(
            b.state(),
            State::HalfOpen,
            "open for its period, not a year"
        );
        assert!(b.call(async { Ok::<(), E>(()) }).await.is_ok());
        assert_eq!(b.state(), State::Closed);
    });
}

/// Polling a call again after it gave its output is a bug of the caller's: it panics, and
/// the breaker neither admits it again nor counts anything for it, whichever way the call
/// was made.
#[test]
fn a_call_polled_after_it_finished_panics_and_counts_nothing() {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let b = CircuitBreaker::builder("fault-poll-after-finish")
        .build()
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut by_call = pin!(b.call(async { Ok::<_, E>(1) }));
    assert!(matches!(by_call.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    let permit = b.try_acquire().unwrap();
    let mut by_permit = pin!(permit.run(async { Ok::<_, E>(2) }));
    assert!(matches!(
        by_permit.as_mut().poll(&mut cx),
        Poll::Ready(Ok(2))
    ));
    for again in [
        catch_unwind(AssertUnwindSafe(|| {
            by_call.as_mut().poll(&mut cx).is_ready()
        })),
        catch_unwind(AssertUnwindSafe(|| {
            by_permit.as_mut().poll(&mut cx).is_ready()
        })),
    ] {
        assert!(again.is_err(), "a second poll panics");
    }
    let c = b.counts();
    assert_eq!(
        (c.requests, c.total_successes, c.total_failures),
        (2, 2, 0),
        "neither second poll was admitted or counted as a failure"
    );
}
