//! Windows, slow calls and the backoff of the open period, on tokio's paused clock: every
//! boundary (`now >= start + d` has elapsed, one nanosecond earlier has not).

mod support;

use std::time::Duration;

use breaker_runtime::{
    BreakerError, BuildError, Builder, Cause, CircuitBreaker, Jitter, Outcome, State, TripPolicy,
    Window,
};
use tokio::time::advance;

const NS: Duration = Duration::from_nanos(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn build(name: &'static str, configure: impl FnOnce(Builder) -> Builder) -> CircuitBreaker {
    configure(CircuitBreaker::builder(name)).build().unwrap()
}

/// Never trips on failures: the window's counts can be watched alone.
fn never() -> TripPolicy {
    TripPolicy::ConsecutiveFailures(u32::MAX)
}

fn outcome(b: &CircuitBreaker, outcome: Outcome) {
    b.try_acquire().unwrap().record(outcome);
}

/// A rolling window of 10s in 10 buckets of 1s.
fn rolling(name: &'static str, policy: TripPolicy) -> CircuitBreaker {
    build(name, |b| {
        b.window(Window::Rolling {
            length: secs(10),
            buckets: 10,
        })
        .trip_policy(policy)
    })
}

#[tokio::test(start_paused = true)]
async fn a_rolling_bucket_leaves_the_window_exactly_when_its_time_is_up() {
    let b = rolling("windows.rolling-boundary", never());
    outcome(&b, Outcome::Failure);
    advance(ms(2500)).await;
    outcome(&b, Outcome::Success);
    outcome(&b, Outcome::Ignored);
    let c = b.counts();
    assert_eq!(
        (
            c.requests,
            c.total_failures,
            c.total_successes,
            c.total_ignored
        ),
        (3, 1, 1, 1)
    );
    // Bucket 0 covers [0s, 1s) and leaves at 10s.
    advance(ms(7500) - NS).await;
    assert_eq!(b.counts().total_failures, 1, "one nanosecond before");
    advance(NS).await;
    let c = b.counts();
    assert_eq!((c.requests, c.total_failures, c.total_successes), (2, 0, 1));
    assert_eq!(
        c.consecutive_successes, 1,
        "consecutive counts are not windowed"
    );
    // Bucket 2 (the success at 2.5s) leaves at 12s.
    advance(secs(2) - NS).await;
    assert_eq!(b.counts().total_successes, 1);
    advance(NS).await;
    assert_eq!(b.counts().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_belongs_to_the_bucket_of_its_admission_and_is_dropped_with_it() {
    let b = rolling("windows.rolling-stale", never());
    let early = b.try_acquire().unwrap();
    let stays = b.try_acquire().unwrap();
    assert_eq!(b.counts().requests, 2, "in flight, counted at admission");
    advance(secs(10) - NS).await;
    stays.failure();
    assert_eq!(
        b.counts().total_failures,
        1,
        "its bucket was still in the window"
    );
    advance(NS).await;
    assert_eq!(
        b.counts().requests,
        0,
        "the in-flight call left with its bucket"
    );
    early.failure();
    let c = b.counts();
    assert_eq!(
        (c.total_failures, c.consecutive_failures),
        (0, 1),
        "dropped whole"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rolling_window_keeps_a_steady_failure_rate_steady() {
    // One failure in ten, forever: a rolling window never sees more than that, where a
    // fixed interval would start over and see the first call's failure as 100%.
    let b = rolling(
        "windows.rolling-steady",
        TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 5,
        },
    );
    for i in 0..200 {
        outcome(
            &b,
            if i % 10 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        advance(ms(250)).await;
    }
    assert_eq!(b.state(), State::Closed);
    let c = b.counts();
    assert!(
        (36..=40).contains(&c.requests),
        "about 10s at 4 calls a second: {c:?}"
    );
    assert!(c.failure_ratio() < 0.15, "{c:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rolling_window_trips_on_its_windowed_ratio() {
    let b = rolling(
        "windows.rolling-trip",
        TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 4,
        },
    );
    outcome(&b, Outcome::Failure);
    outcome(&b, Outcome::Failure);
    // Those two leave the window before the next two arrive.
    advance(secs(10)).await;
    outcome(&b, Outcome::Success);
    outcome(&b, Outcome::Failure);
    outcome(&b, Outcome::Success);
    assert_eq!(
        b.state(),
        State::Closed,
        "3 requests in the window, below 4"
    );
    outcome(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open, "2 of 4 failed");
}

#[tokio::test(start_paused = true)]
async fn a_count_window_covers_the_last_calls_that_finished() {
    let b = build("windows.calls", |b| {
        b.window(Window::Calls { calls: 3 })
            .trip_policy(TripPolicy::FailureRatio {
                ratio: 0.6,
                min_requests: 3,
            })
    });
    outcome(&b, Outcome::Failure);
    outcome(&b, Outcome::Failure);
    outcome(&b, Outcome::Ignored);
    let c = b.counts();
    assert_eq!(
        (c.requests, c.total_failures, c.total_ignored),
        (2, 2, 0),
        "ignored outcomes do not enter the window"
    );
    let in_flight = b.try_acquire().unwrap();
    assert_eq!(
        b.counts().requests,
        3,
        "outcomes in the window plus calls in flight"
    );
    outcome(&b, Outcome::Success);
    outcome(&b, Outcome::Success);
    let c = b.counts();
    assert_eq!(
        (c.requests, c.total_failures, c.total_successes),
        (4, 1, 2),
        "the first failure left; the call in flight still counts"
    );
    in_flight.failure();
    assert_eq!(
        b.state(),
        State::Closed,
        "1 failure of the last 3 (then 1 of 3 again)"
    );
    outcome(&b, Outcome::Failure);
    assert_eq!(b.state(), State::Open, "2 of the last 3 failed");
}

#[tokio::test(start_paused = true)]
async fn a_call_is_slow_from_exactly_its_threshold() {
    let b = build("windows.slow-boundary", |b| {
        b.slow_call(ms(100)).trip_policy(never())
    });
    let fast = b.try_acquire().unwrap();
    advance(ms(100) - NS).await;
    fast.success();
    assert_eq!(b.counts().slow_calls, 0);
    let slow = b.try_acquire().unwrap();
    advance(ms(100)).await;
    slow.failure();
    let slow = b.try_acquire().unwrap();
    advance(ms(100)).await;
    slow.success();
    let c = b.counts();
    assert_eq!((c.slow_calls, c.consecutive_slow_calls), (2, 2));
    assert_eq!(
        c.consecutive_successes, 1,
        "a slow success is still a success"
    );
    let ignored = b.try_acquire().unwrap();
    advance(secs(1)).await;
    ignored.ignore();
    assert_eq!(b.counts().slow_calls, 2, "an ignored call is never slow");
    outcome(&b, Outcome::Success);
    assert_eq!(b.counts().consecutive_slow_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_slow() {
    let b = build("windows.slow-timeout", |b| {
        b.timeout(secs(1)).slow_call(ms(500)).trip_policy(never())
    });
    let r = b
        .call(async {
            std::future::pending::<()>().await;
            Ok::<(), BreakerError>(())
        })
        .await;
    assert!(matches!(r, Err(BreakerError::Timeout { .. })));
    assert_eq!(b.counts().slow_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn the_slow_call_ratio_trips_a_closed_breaker() {
    let b = build("windows.slow-ratio", |b| {
        b.slow_call(ms(100))
            .slow_call_ratio(0.5, 4)
            .trip_policy(never())
    });
    let (id, seen) = support::listen("windows.slow-ratio");
    outcome(&b, Outcome::Success);
    for _ in 0..2 {
        let slow = b.try_acquire().unwrap();
        advance(ms(100)).await;
        slow.success();
    }
    assert_eq!(b.state(), State::Closed, "3 requests, below min_requests");
    let slow = b.try_acquire().unwrap();
    advance(ms(100)).await;
    slow.success();
    assert_eq!(b.state(), State::Open, "3 slow of 4");
    breaker_runtime::registry::remove_listener(id);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].cause, Cause::SlowCallsTripped);
    assert_eq!(seen[0].counts.slow_calls, 3);
}

#[tokio::test(start_paused = true)]
async fn the_failure_cause_wins_when_both_policies_trip() {
    let b = build("windows.slow-both", |b| {
        b.slow_call(ms(100))
            .slow_call_ratio(1.0, 1)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
    });
    let (id, seen) = support::listen("windows.slow-both");
    let slow = b.try_acquire().unwrap();
    advance(ms(100)).await;
    slow.failure();
    breaker_runtime::registry::remove_listener(id);
    assert_eq!(seen.lock().unwrap()[0].cause, Cause::Tripped);
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_reopens_the_breaker() {
    let b = build("windows.slow-probe", |b| {
        b.slow_call(ms(100))
            .reset_timeout(secs(1))
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
    });
    let (id, seen) = support::listen("windows.slow-probe");
    outcome(&b, Outcome::Failure);
    advance(secs(1)).await;
    let probe = b.try_acquire().unwrap();
    assert_eq!(probe.state(), State::HalfOpen);
    advance(ms(100)).await;
    probe.success();
    assert_eq!(
        b.state(),
        State::Open,
        "a dependency that answers slowly stays shut out"
    );
    breaker_runtime::registry::remove_listener(id);
    let causes: Vec<Cause> = seen.lock().unwrap().iter().map(|c| c.cause).collect();
    assert_eq!(
        causes,
        [Cause::Tripped, Cause::ResetTimeoutElapsed, Cause::ProbeSlow]
    );
}

/// Trips `b` or fails its probe, with a consecutive-failures policy of 1.
fn fail_once(b: &CircuitBreaker) {
    b.try_acquire().unwrap().failure();
}

#[tokio::test(start_paused = true)]
async fn the_open_period_grows_by_the_backoff_and_closing_starts_over() {
    let b = build("windows.backoff", |b| {
        b.reset_timeout(secs(1))
            .backoff(2.0, secs(5))
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
    });
    let (id, seen) = support::listen("windows.backoff");
    fail_once(&b);
    for period in [1, 2, 4, 5, 5] {
        assert_eq!(b.retry_after(), Some(secs(period)), "attempt's period");
        match b.try_acquire() {
            Err(BreakerError::Open { retry_after, .. }) => assert_eq!(retry_after, secs(period)),
            other => panic!("expected open, got {other:?}"),
        }
        advance(secs(period) - NS).await;
        assert_eq!(b.state(), State::Open, "one nanosecond before");
        advance(NS).await;
        assert_eq!(b.state(), State::HalfOpen, "exactly at opened + period");
        fail_once(&b);
    }
    advance(secs(5)).await;
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);
    fail_once(&b);
    assert_eq!(b.retry_after(), Some(secs(1)), "closing reset the attempts");
    assert_eq!(b.snapshot().attempt, 1);
    breaker_runtime::registry::remove_listener(id);
    let opens: Vec<(u32, Option<Duration>)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.to == State::Open)
        .map(|c| (c.attempt, c.retry_after))
        .collect();
    let expected: Vec<(u32, Option<Duration>)> =
        [(1, 1), (2, 2), (3, 4), (4, 5), (5, 5), (6, 5), (1, 1)]
            .map(|(k, s)| (k, Some(secs(s))))
            .to_vec();
    assert_eq!(opens, expected);
}

#[tokio::test(start_paused = true)]
async fn a_jittered_breaker_half_opens_exactly_when_its_drawn_period_is_up() {
    for (name, jitter, low) in [
        ("windows.jitter-full", Jitter::Full, Duration::ZERO),
        ("windows.jitter-equal", Jitter::Equal, secs(5)),
    ] {
        let b = build(name, |b| {
            b.reset_timeout(secs(10))
                .jitter(jitter)
                .trip_policy(TripPolicy::ConsecutiveFailures(1))
        });
        let mut drawn = Vec::new();
        for _ in 0..20 {
            fail_once(&b);
            let period = b.retry_after().unwrap();
            assert!((low..secs(10)).contains(&period), "{jitter:?}: {period:?}");
            drawn.push(period);
            if period > Duration::ZERO {
                advance(period - NS).await;
                assert_eq!(b.state(), State::Open);
            }
            advance(period.min(NS)).await;
            assert_eq!(b.state(), State::HalfOpen);
            b.try_acquire().unwrap().success();
        }
        drawn.dedup();
        assert!(drawn.len() > 10, "{jitter:?} draws differ: {drawn:?}");
    }
}

#[test]
fn breakers_draw_from_sequences_of_their_own() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let breakers: Vec<CircuitBreaker> = (0..50)
            .map(|_| {
                build("windows.jitter-many", |b| {
                    b.jitter(Jitter::Full)
                        .trip_policy(TripPolicy::ConsecutiveFailures(1))
                })
            })
            .collect();
        for b in &breakers {
            fail_once(b);
        }
        let mut periods: Vec<Duration> = breakers.iter().filter_map(|b| b.retry_after()).collect();
        periods.sort();
        periods.dedup();
        assert!(
            periods.len() > 40,
            "50 breakers opened together: {periods:?}"
        );
    });
}

#[test]
fn a_live_window_keeps_its_kind_and_size() {
    let b = CircuitBreaker::builder("windows.reshape")
        .window(Window::Rolling {
            length: secs(10),
            buckets: 10,
        })
        .build()
        .unwrap();
    let mut settings = b.settings();
    settings.window = Window::Rolling {
        length: secs(20),
        buckets: 10,
    };
    assert_eq!(b.reconfigure(settings), Ok(()), "a new length is fine");
    settings.window = Window::Calls { calls: 10 };
    let err = b.reconfigure(settings).unwrap_err();
    assert!(matches!(err, BuildError::WindowShapeChanged { .. }));
    assert!(err.to_string().contains("build a new breaker"), "{err}");
    assert_eq!(
        b.settings().window,
        Window::Rolling {
            length: secs(20),
            buckets: 10
        }
    );
}

/// A call that finishes within the poll that admitted it is timed by the one clock reading
/// its admission took: its bucket is in the window at that instant, so its success counts,
/// even when the poll itself (a body that blocks its thread) outlasted the window. A breaker
/// that times calls for slowness reads the clock again instead, and drops the outcome of a
/// bucket that has left. This is about real time spent inside one poll, which tokio's paused
/// clock cannot show: the body blocks for 20ms against buckets of 1ms.
#[tokio::test]
async fn a_call_that_finishes_in_its_admitting_poll_is_timed_by_one_reading() {
    let window = Window::Rolling {
        length: ms(2),
        buckets: 2,
    };
    #[derive(Debug)]
    struct Down;
    impl From<BreakerError> for Down {
        fn from(_: BreakerError) -> Down {
            Down
        }
    }
    let blocking = || async {
        std::thread::sleep(ms(20));
        Ok::<(), Down>(())
    };
    let one_reading = build("windows.one-reading", |b| {
        b.window(window).trip_policy(never())
    });
    let timed = build("windows.one-reading-timed", |b| {
        b.window(window).trip_policy(never()).slow_call(ms(1_000))
    });
    for b in [&one_reading, &timed] {
        b.call(async { Err::<(), _>(Down) }).await.unwrap_err();
        assert_eq!(b.counts().consecutive_failures, 1);
        b.call(blocking()).await.unwrap();
    }
    assert_eq!(
        one_reading.counts().consecutive_failures,
        0,
        "the success counted: its bucket was in the window at the one reading"
    );
    assert_eq!(
        timed.counts().consecutive_failures,
        1,
        "timed for slowness, the outcome was read again, after its bucket had left"
    );
}

#[test]
fn a_rolling_window_takes_up_to_its_most_buckets_and_jitters_print_as_written() {
    use breaker_runtime::MAX_BUCKETS;
    let most = Window::Rolling {
        length: ms(u64::from(MAX_BUCKETS)),
        buckets: MAX_BUCKETS,
    };
    assert!(
        CircuitBreaker::builder("windows.most-buckets")
            .window(most)
            .build()
            .is_ok()
    );
    let one_more = Window::Rolling {
        length: ms(u64::from(MAX_BUCKETS) + 1),
        buckets: MAX_BUCKETS + 1,
    };
    assert_eq!(
        CircuitBreaker::builder("windows.too-many-buckets")
            .window(one_more)
            .build()
            .err(),
        Some(BuildError::TooManyBuckets {
            buckets: MAX_BUCKETS + 1
        })
    );
    let printed = [Jitter::None, Jitter::Full, Jitter::Equal].map(|j| j.to_string());
    assert_eq!(printed, ["none", "full", "equal"]);
}
