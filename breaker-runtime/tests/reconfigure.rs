//! Live reconfiguration: checked first, a new generation in the same state, reported to
//! listeners but not to the hook, safe against concurrent calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{
    BreakerError, BuildError, Cause, CircuitBreaker, Outcome, State, TripPolicy, registry,
};
use tokio::time::advance;

mod support;

use support::{fail, listen};

#[tokio::test(start_paused = true)]
async fn reconfigure_with_invalid_settings_changes_nothing() {
    let b = CircuitBreaker::builder("rc-invalid")
        .trip_policy(TripPolicy::ConsecutiveFailures(5))
        .build()
        .unwrap();
    let (id, seen) = listen("rc-invalid");
    fail(&b).await;
    fail(&b).await;
    let before = b.settings();
    let generation = b.try_acquire().unwrap().generation();
    let mut bad = before;
    bad.max_requests = 0;
    assert_eq!(b.reconfigure(bad), Err(BuildError::ZeroMaxRequests));
    let mut bad = before;
    bad.trip_policy = TripPolicy::FailureRatio {
        ratio: 2.0,
        min_requests: 1,
    };
    assert!(matches!(
        b.reconfigure(bad),
        Err(BuildError::FailureRatioOutOfRange { .. })
    ));
    let mut bad = before;
    bad.reset_timeout = Duration::ZERO;
    assert!(b.reconfigure(bad).is_err());
    // `Settings` has no `PartialEq` (a custom trip function cannot be compared): its
    // debug form tells two apart.
    assert_eq!(format!("{:?}", b.settings()), format!("{before:?}"));
    assert_eq!(b.counts().total_failures, 2, "counts kept");
    assert_eq!(
        b.try_acquire().unwrap().generation(),
        generation,
        "same generation"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing reported");
    registry::remove_listener(id);
}

#[tokio::test(start_paused = true)]
async fn reconfigure_clears_the_counts_and_drops_stale_outcomes() {
    let b = CircuitBreaker::builder("rc-generation")
        .trip_policy(TripPolicy::ConsecutiveFailures(3))
        .build()
        .unwrap();
    fail(&b).await;
    fail(&b).await;
    let in_flight = b.try_acquire().unwrap();
    let mut s = b.settings();
    s.trip_policy = TripPolicy::ConsecutiveFailures(2);
    b.reconfigure(s).unwrap();
    assert_eq!(b.counts().total_failures, 0);
    assert_eq!(b.counts().requests, 0);
    // Admitted under the old settings: its outcome belongs to an ended generation.
    in_flight.record(Outcome::Failure);
    assert_eq!(b.counts().total_failures, 0, "stale outcome dropped");
    assert_eq!(b.state(), State::Closed);
    fail(&b).await;
    assert_eq!(b.state(), State::Closed);
    fail(&b).await;
    assert_eq!(b.state(), State::Open, "the new policy trips after two");
}

#[tokio::test(start_paused = true)]
async fn reconfiguring_an_open_breaker_starts_its_period_afresh() {
    let b = CircuitBreaker::builder("rc-open")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    fail(&b).await;
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(8)).await;
    let mut s = b.settings();
    s.reset_timeout = Duration::from_secs(5);
    b.reconfigure(s).unwrap();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(Duration::from_secs(5)));
    advance(Duration::from_secs(4)).await;
    assert_eq!(
        b.state(),
        State::Open,
        "5s from the reconfiguration, not from the trip"
    );
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_a_reconfiguration_and_the_hook_does_not() {
    let hook_calls = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&hook_calls);
    let b = CircuitBreaker::builder("rc-listeners")
        .trip_policy(TripPolicy::ConsecutiveFailures(2))
        .on_state_change(move |_, from, to| h.lock().unwrap().push((from, to)))
        .build()
        .unwrap();
    let (id, seen) = listen("rc-listeners");
    fail(&b).await;
    b.reconfigure(b.settings()).unwrap();
    fail(&b).await;
    fail(&b).await;
    let mut s = b.settings();
    s.reset_timeout = Duration::from_secs(7);
    b.reconfigure(s).unwrap();
    registry::remove_listener(id);
    let seen = seen.lock().unwrap();
    let shown: Vec<_> = seen.iter().map(|c| (c.from, c.to, c.cause)).collect();
    assert_eq!(
        shown,
        [
            (State::Closed, State::Closed, Cause::Reconfigured),
            (State::Closed, State::Open, Cause::Tripped),
            (State::Open, State::Open, Cause::Reconfigured),
        ]
    );
    assert_eq!(seen[0].counts.total_failures, 1, "the counts it cleared");
    assert_eq!(seen[0].retry_after, None);
    assert_eq!(seen[2].retry_after, Some(Duration::from_secs(7)));
    assert_eq!(*hook_calls.lock().unwrap(), [(State::Closed, State::Open)]);
    assert!(Cause::Reconfigured.describe().contains("reconfigured"));
}

#[tokio::test(start_paused = true)]
async fn a_hold_survives_a_reconfiguration() {
    let b = CircuitBreaker::builder("rc-held").build().unwrap();
    b.force_open();
    b.reconfigure(b.settings()).unwrap();
    assert!(b.is_forced());
    assert_eq!(b.state(), State::Open);
    assert!(matches!(
        b.try_acquire(),
        Err(BreakerError::ForcedOpen { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_new_timeout_applies_to_the_next_call() {
    let b = CircuitBreaker::builder("rc-timeout").build().unwrap();
    let mut s = b.settings();
    s.timeout = Some(Duration::from_secs(1));
    b.reconfigure(s).unwrap();
    let slow = b.call(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<(), BreakerError>(())
    });
    assert!(matches!(slow.await, Err(BreakerError::Timeout { .. })));
    assert_eq!(b.counts().total_failures, 1);
    assert_eq!(b.snapshot().settings.timeout, Some(Duration::from_secs(1)));
}

#[test]
fn reconfigure_by_name_reaches_every_live_breaker_of_the_name() {
    let a = CircuitBreaker::builder("rc-by-name").build().unwrap();
    let b = CircuitBreaker::builder("rc-by-name").build().unwrap();
    let mut s = a.settings();
    s.max_requests = 4;
    assert_eq!(registry::reconfigure("rc-by-name", s), Ok(2));
    assert_eq!(a.settings().max_requests, 4);
    assert_eq!(b.settings().max_requests, 4);
    s.max_requests = 0;
    assert_eq!(
        registry::reconfigure("rc-by-name", s),
        Err(BuildError::ZeroMaxRequests)
    );
    assert_eq!(a.settings().max_requests, 4);
    assert_eq!(
        registry::reconfigure("rc-no-such-breaker", a.settings()),
        Ok(0)
    );
}

#[test]
fn a_reconfigured_shared_breaker_still_matches_its_code() {
    let a = CircuitBreaker::builder("rc-shared").build_shared().unwrap();
    let mut s = a.settings();
    s.timeout = Some(Duration::from_secs(3));
    a.reconfigure(s).unwrap();
    let b = CircuitBreaker::builder("rc-shared").build_shared().unwrap();
    assert_eq!(
        b.settings().timeout,
        Some(Duration::from_secs(3)),
        "the same breaker"
    );
}

#[test]
fn reconfiguring_under_concurrent_calls_keeps_the_breaker_consistent() {
    let b = CircuitBreaker::builder("rc-concurrent")
        .trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX))
        .build()
        .unwrap();
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                for n in 0..20_000_u32 {
                    if let Ok(p) = b.try_acquire() {
                        if (n + i) % 3 == 0 {
                            p.failure()
                        } else {
                            p.success()
                        }
                    }
                }
            })
        })
        .collect();
    let mut last = 0;
    for n in 1..=200 {
        let mut s = b.settings();
        s.max_requests = n;
        b.reconfigure(s).unwrap();
        last = n;
    }
    for c in callers {
        c.join().unwrap();
    }
    assert_eq!(b.settings().max_requests, last);
    assert_eq!(b.state(), State::Closed);
    let c = b.counts();
    assert_eq!(
        c.requests,
        c.total_successes + c.total_failures,
        "every counted outcome belongs to a counted request of this generation: {c:?}"
    );
}

#[test]
fn a_count_window_keeps_its_size_and_reconfiguring_by_name_checks_every_breaker_first() {
    use breaker_runtime::Window;
    let calls = |n| Window::Calls { calls: n };
    let counting = CircuitBreaker::builder("rc-shape")
        .window(calls(10))
        .build()
        .unwrap();
    let mut s = counting.settings();
    s.window = calls(20);
    assert_eq!(
        counting.reconfigure(s),
        Err(BuildError::WindowShapeChanged {
            from: calls(10),
            to: calls(20)
        })
    );
    s.window = calls(10);
    s.max_requests = 7;
    assert_eq!(counting.reconfigure(s), Ok(()));
    // A second breaker of the name with a rolling window cannot take a count window: the
    // reconfiguration by name is refused before any breaker changes.
    let rolling = CircuitBreaker::builder("rc-shape")
        .window(Window::rolling(Duration::from_secs(10)))
        .build()
        .unwrap();
    s.max_requests = 9;
    assert!(matches!(
        registry::reconfigure("rc-shape", s),
        Err(BuildError::WindowShapeChanged { .. })
    ));
    assert_eq!(counting.settings().max_requests, 7, "nothing changed");
    assert_eq!(rolling.settings().max_requests, 1);
}

#[test]
fn shared_breakers_differ_by_their_slow_call_ratio_and_backoff() {
    let base = || {
        CircuitBreaker::builder("rc-float-settings")
            .slow_call(Duration::from_millis(100))
            .slow_call_ratio(0.5, 10)
            .backoff(2.0, Duration::from_secs(600))
    };
    let _first = base().build_shared().unwrap();
    assert!(base().build_shared().is_ok(), "the same settings share it");
    let conflict = |b: breaker_runtime::Builder| match b.build_shared() {
        Err(BuildError::Conflict { setting, .. }) => setting,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert_eq!(conflict(base().slow_call_ratio(0.6, 10)), "slow_call_ratio");
    assert_eq!(
        conflict(base().backoff(3.0, Duration::from_secs(600))),
        "backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn holding_a_breaker_open_is_no_open_attempt() {
    let b = CircuitBreaker::builder("rc-forced-attempt")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (id, seen) = listen("rc-forced-attempt");
    // Held open from closed: attempt 0, no open period of its own.
    b.force_open();
    b.reset();
    // Tripped (attempt 1), half-open, then held open: still attempt 1.
    fail(&b).await;
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    b.force_open();
    registry::remove_listener(id);
    let attempts: Vec<(State, State, u32)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to, c.attempt))
        .collect();
    assert_eq!(
        attempts,
        [
            (State::Closed, State::Open, 0),
            (State::Open, State::Closed, 0),
            (State::Closed, State::Open, 1),
            (State::Open, State::HalfOpen, 1),
            (State::HalfOpen, State::Open, 1),
        ]
    );
}
