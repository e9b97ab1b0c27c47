//! The state machine on tokio's paused clock: every transition and rule of the sections
//! "States", "Counts and generations", "Trip policies" and "Time" of docs/semantics.md.

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{
    BreakerError, BuildError, Builder, CircuitBreaker, Counts, Outcome, State, TripPolicy, registry,
};
use tokio::time::advance;

#[derive(Debug, PartialEq)]
enum E {
    Breaker(BreakerError),
    Down,
    NotFound,
}

impl From<BreakerError> for E {
    fn from(e: BreakerError) -> Self {
        E::Breaker(e)
    }
}

async fn ok() -> Result<u32, E> {
    Ok(1)
}

async fn fail() -> Result<u32, E> {
    Err(E::Down)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn build(name: &'static str, configure: impl FnOnce(Builder) -> Builder) -> CircuitBreaker {
    configure(CircuitBreaker::builder(name)).build().unwrap()
}

fn counts(requests: u64, successes: u64, failures: u64, ignored: u64) -> Counts {
    let mut c = Counts::default();
    c.requests = requests;
    c.total_successes = successes;
    c.total_failures = failures;
    c.total_ignored = ignored;
    c
}

/// Trips the breaker open with consecutive failures (the policy must trip on them).
async fn trip(b: &CircuitBreaker) {
    while b.state() != State::Open {
        let _ = b.call(fail()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn counts_every_outcome_while_closed() {
    let b = build("sm-counts", |b| b);
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.call(fail()).await, Err(E::Down));
    let c = b.counts();
    assert_eq!(c.requests, 3);
    assert_eq!(c.total_successes, 2);
    assert_eq!(c.total_failures, 1);
    assert_eq!(c.consecutive_failures, 1);
    assert_eq!(c.consecutive_successes, 0);
    assert_eq!(b.call(ok()).await, Ok(1));
    let c = b.counts();
    assert_eq!((c.consecutive_successes, c.consecutive_failures), (1, 0));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.retry_after(), None);
}

#[tokio::test(start_paused = true)]
async fn default_policy_trips_after_five_consecutive_failures() {
    let b = build("sm-default-five", |b| b);
    for _ in 0..4 {
        let _ = b.call(fail()).await;
    }
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(ok()).await;
    for _ in 0..4 {
        let _ = b.call(fail()).await;
    }
    assert_eq!(b.state(), State::Closed, "a success resets the streak");
    let _ = b.call(fail()).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_running_and_counts_down_retry_after() {
    let b = build("sm-open", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(2))
            .reset_timeout(secs(10))
    });
    trip(&b).await;
    assert_eq!(
        b.counts(),
        Counts::default(),
        "a new generation starts at zero"
    );

    let ran = AtomicBool::new(false);
    let result = b
        .call(async {
            ran.store(true, Ordering::SeqCst);
            Ok::<u32, E>(1)
        })
        .await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "an open breaker must not run the call"
    );
    assert_eq!(
        result,
        Err(E::Breaker(BreakerError::Open {
            name: "sm-open".into(),
            retry_after: secs(10)
        }))
    );

    advance(Duration::from_millis(4200)).await;
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(5800)));
    assert_eq!(
        err.to_string(),
        "circuit breaker \"sm-open\" is open; next probe in 5.8s"
    );
    assert_eq!(b.retry_after(), Some(Duration::from_millis(5800)));

    advance(Duration::from_millis(5800) - Duration::from_nanos(1)).await;
    assert_eq!(b.state(), State::Open, "1ns before reset_timeout");
    assert_eq!(b.retry_after(), Some(Duration::from_nanos(1)));
    advance(Duration::from_nanos(1)).await;
    assert_eq!(b.state(), State::HalfOpen, "exactly at reset_timeout");
    assert_eq!(b.retry_after(), None);
}

#[tokio::test(start_paused = true)]
async fn a_call_moves_an_elapsed_open_breaker_to_half_open() {
    let b = build("sm-open-call", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
    });
    trip(&b).await;
    advance(secs(1)).await;
    // No look at state() first: the call itself performs the transition.
    let permit = b.try_acquire().unwrap();
    assert_eq!(permit.state(), State::HalfOpen);
    permit.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_max_requests_and_closes_after_as_many_successes() {
    let b = build("sm-half-open", |b| {
        b.max_requests(3)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
    });
    trip(&b).await;
    advance(secs(1)).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let p3 = b.try_acquire().unwrap();
    assert_eq!(p3.state(), State::HalfOpen);
    let full = b.try_acquire().unwrap_err();
    assert_eq!(
        full,
        BreakerError::HalfOpenFull {
            name: "sm-half-open".into()
        }
    );
    assert_eq!(
        b.call(ok()).await,
        Err(E::Breaker(full)),
        "call() reports the same rejection"
    );
    p1.success();
    p2.success();
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.try_acquire().is_err(), "finished probes keep their slots");
    let c = b.counts();
    assert_eq!((c.requests, c.consecutive_successes), (3, 2));
    p3.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counts(), Counts::default());
}

#[tokio::test(start_paused = true)]
async fn one_failure_reopens_half_open() {
    let b = build("sm-reopen", |b| {
        b.max_requests(3)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(5))
    });
    trip(&b).await;
    advance(secs(5)).await;
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.call(fail()).await, Err(E::Down));
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.retry_after(),
        Some(secs(5)),
        "the open period starts again"
    );
}

#[tokio::test(start_paused = true)]
async fn interval_clears_closed_counts_exactly_when_it_elapses() {
    let b = build("sm-interval", |b| {
        b.interval(secs(10))
            .trip_policy(TripPolicy::ConsecutiveFailures(3))
    });
    let _ = b.call(fail()).await;
    let _ = b.call(fail()).await;
    advance(secs(10) - Duration::from_nanos(1)).await;
    assert_eq!(b.counts(), {
        let mut c = counts(2, 0, 2, 0);
        c.consecutive_failures = 2;
        c
    });
    advance(Duration::from_nanos(1)).await;
    assert_eq!(b.counts(), Counts::default());
    let _ = b.call(fail()).await;
    let _ = b.call(fail()).await;
    assert_eq!(
        b.state(),
        State::Closed,
        "four failures split by a reset do not trip at three"
    );
    // The next interval is measured from the reset, and a call (not only a look) resets.
    advance(secs(10)).await;
    let _ = b.call(fail()).await;
    assert_eq!(b.counts().total_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn failure_ratio_trips_only_with_min_requests() {
    let b = build("sm-ratio", |b| {
        b.trip_policy(TripPolicy::FailureRatio {
            ratio: 0.5,
            min_requests: 4,
        })
    });
    let _ = b.call(fail()).await;
    let _ = b.call(ok()).await;
    let _ = b.call(fail()).await;
    assert_eq!(b.state(), State::Closed, "3 requests < min_requests 4");
    let _ = b.call(ok()).await;
    assert_eq!(b.state(), State::Closed, "successes never trip");
    let _ = b.call(ok()).await;
    let _ = b.call(fail()).await;
    // 6 requests, 3 failures: ratio 0.5.
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn custom_trip_policy_sees_the_counts() {
    fn trip(c: &Counts) -> bool {
        c.total_failures >= 2 && c.requests >= 3
    }
    let b = build("sm-custom", |b| b.trip_policy(TripPolicy::Custom(trip)));
    let _ = b.call(fail()).await;
    let _ = b.call(fail()).await;
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(ok()).await;
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(fail()).await;
    assert_eq!(b.state(), State::Open);
}

fn not_found_is_ignored(r: &Result<u32, E>) -> Outcome {
    match r {
        Err(E::NotFound) => Outcome::Ignored,
        other => Outcome::of(other),
    }
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_touch_only_total_ignored_and_free_half_open_slots() {
    let b = build("sm-ignored", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
    });
    for _ in 0..3 {
        let r = b
            .call_with(async { Err::<u32, E>(E::NotFound) }, not_found_is_ignored)
            .await;
        assert_eq!(r, Err(E::NotFound), "the caller still gets its error");
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counts(), counts(3, 0, 0, 3));

    trip(&b).await;
    advance(secs(1)).await;
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    probe.ignore();
    assert_eq!(b.state(), State::HalfOpen, "ignored is not a success");
    let probe = b
        .try_acquire()
        .expect("the ignored probe gave its slot back");
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn classification_can_fail_an_ok() {
    let b = build("sm-classify-ok", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
    });
    let r = b
        .call_with(async { Ok::<u32, E>(503) }, |r| match r {
            Ok(503) => Outcome::Failure,
            other => Outcome::of(other),
        })
        .await;
    assert_eq!(r, Ok(503));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_admitted_before_a_trip_changes_nothing_after_it() {
    let b = build("sm-stale", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(5))
    });
    let slow_success = b.try_acquire().unwrap();
    let slow_failure = b.try_acquire().unwrap();
    let _ = b.call(fail()).await;
    assert_eq!(b.state(), State::Open);
    slow_success.success();
    slow_failure.failure();
    assert_eq!(b.counts(), Counts::default());
    assert_eq!(
        b.retry_after(),
        Some(secs(5)),
        "the open period was not restarted"
    );

    // A slow call finishing in the half-open period of a later generation.
    let slower = b.try_acquire();
    assert!(slower.is_err());
    advance(secs(5)).await;
    let probe = b.try_acquire().unwrap();
    let b2 = b.clone();
    let stale = tokio::spawn(async move {
        // Admitted in the half-open generation, finishes after it closed.
        b2.call(async {
            tokio::time::sleep(secs(1)).await;
            Err::<u32, E>(E::Down)
        })
        .await
    });
    tokio::task::yield_now().await;
    assert!(
        b.try_acquire().is_err(),
        "max_requests 1: the spawned call holds no slot yet or the probe does"
    );
    probe.success();
    assert_eq!(b.state(), State::Closed);
    let _ = stale.await.unwrap();
    assert_eq!(b.state(), State::Closed, "a stale failure cannot re-open");
    assert_eq!(b.counts(), Counts::default());
}

#[tokio::test(start_paused = true)]
async fn the_deadline_fails_the_call_and_trips_the_breaker() {
    let b = build("sm-deadline", |b| {
        b.timeout(Duration::from_millis(250))
            .trip_policy(TripPolicy::ConsecutiveFailures(2))
    });
    let start = tokio::time::Instant::now();
    let r = b.call(pending::<Result<u32, E>>()).await;
    assert_eq!(
        r,
        Err(E::Breaker(BreakerError::Timeout {
            name: "sm-deadline".into(),
            after: Duration::from_millis(250)
        }))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(b.counts(), {
        let mut c = counts(1, 0, 1, 0);
        c.consecutive_failures = 1;
        c
    });
    let _ = b.call(pending::<Result<u32, E>>()).await;
    assert_eq!(
        b.state(),
        State::Open,
        "a hanging dependency trips the breaker"
    );

    // A call that finishes in time is not affected by the deadline.
    let b = build("sm-deadline-ok", |b| b.timeout(secs(1)));
    let r = b
        .call(async {
            tokio::time::sleep(Duration::from_millis(999)).await;
            Ok::<u32, E>(2)
        })
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(b.counts().total_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_probe_dropped_by_select_gives_its_slot_back() {
    let b = build("sm-drop-probe", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
    });
    trip(&b).await;
    advance(secs(1)).await;
    for _ in 0..3 {
        tokio::select! {
            _ = b.call(pending::<Result<u32, E>>()) => unreachable!("pending never finishes"),
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        assert_eq!(b.state(), State::HalfOpen);
        assert_eq!(b.counts().requests, 0, "the dropped probe recorded nothing");
    }
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_past_its_deadline_reopens_and_a_healthy_probe_closes() {
    let b = build("sm-deadline-probe", |b| {
        b.timeout(Duration::from_millis(100))
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
    });
    trip(&b).await;
    advance(secs(1)).await;
    let r = b.call(pending::<Result<u32, E>>()).await;
    assert!(matches!(r, Err(E::Breaker(BreakerError::Timeout { .. }))));
    assert_eq!(b.state(), State::Open);
    advance(secs(1)).await;
    assert_eq!(b.call(ok()).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_records_nothing() {
    let b = build("sm-drop-permit", |b| b);
    let p = b.try_acquire().unwrap();
    assert_eq!(b.counts().requests, 1, "in-flight calls are counted");
    drop(p);
    assert_eq!(b.counts(), Counts::default());
}

#[tokio::test(start_paused = true)]
async fn a_panic_counts_as_a_failure_and_keeps_unwinding() {
    let b = build("sm-panic", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(2))
            .reset_timeout(secs(1))
    });
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        b2.call(async {
            tokio::task::yield_now().await;
            panic!("the dependency client panicked");
            #[allow(unreachable_code)]
            Ok::<u32, E>(0)
        })
        .await
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic(), "the panic reaches the task");
    assert_eq!(b.counts(), {
        let mut c = counts(1, 0, 1, 0);
        c.consecutive_failures = 1;
        c
    });

    // A panicking half-open probe re-opens the breaker instead of wedging it.
    trip(&b).await;
    advance(secs(1)).await;
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        b2.call(async {
            panic!("probe panicked");
            #[allow(unreachable_code)]
            Ok::<u32, E>(0)
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_hook_sees_every_transition_once_and_may_read_the_breaker() {
    type Seen = Vec<(String, State, State, State)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    let b = build("sm-hook", move |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(1))
            .on_state_change(move |name, from, to| {
                // Reading the breaker from its own hook must not deadlock.
                let me = registry::get(name).expect("registered");
                let _ = me.counts();
                let _ = me.snapshot();
                log.lock()
                    .unwrap()
                    .push((name.to_owned(), from, to, me.state()));
            })
    });
    let _ = b.call(fail()).await;
    advance(secs(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    let _ = b.call(fail()).await;
    advance(secs(1)).await;
    let _ = b.call(ok()).await;
    let seen = seen.lock().unwrap().clone();
    let steps: Vec<_> = seen.iter().map(|(_, f, t, now)| (*f, *t, *now)).collect();
    assert_eq!(
        steps,
        vec![
            (State::Closed, State::Open, State::Open),
            (State::Open, State::HalfOpen, State::HalfOpen),
            (State::HalfOpen, State::Open, State::Open),
            (State::Open, State::HalfOpen, State::HalfOpen),
            (State::HalfOpen, State::Closed, State::Closed),
        ]
    );
    assert!(seen.iter().all(|(name, ..)| name == "sm-hook"));
}

#[tokio::test(start_paused = true)]
async fn interval_resets_do_not_call_the_hook() {
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let b = build("sm-hook-interval", move |b| {
        b.interval(secs(1))
            .on_state_change(move |_, _, _| *c.lock().unwrap() += 1)
    });
    for _ in 0..5 {
        let _ = b.call(ok()).await;
        advance(secs(1)).await;
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(*calls.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_are_errors_not_panics() {
    let err = CircuitBreaker::builder("sm-invalid")
        .max_requests(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroMaxRequests);
    assert!(registry::get("sm-invalid").is_none());
    let huge = build("sm-huge-durations", |b| {
        b.reset_timeout(Duration::MAX)
            .interval(Duration::MAX)
            .timeout(Duration::MAX)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
    });
    assert_eq!(huge.call(ok()).await, Ok(1));
    let _ = huge.call(fail()).await;
    advance(secs(1_000_000)).await;
    assert_eq!(huge.state(), State::Open);
    assert!(huge.retry_after().unwrap() > secs(1_000_000_000));
}

#[tokio::test(start_paused = true)]
async fn snapshots_list_state_counts_and_settings() {
    let b = build("sm-snapshot", |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(secs(3))
    });
    let _ = b.call(fail()).await;
    let all = registry::snapshot();
    let s = all
        .iter()
        .find(|s| s.name == "sm-snapshot")
        .expect("listed");
    assert_eq!(s.state, State::Open);
    assert_eq!(s.retry_after, Some(secs(3)));
    assert_eq!(s.settings.reset_timeout, secs(3));
    assert!(all.windows(2).all(|w| w[0].name <= w[1].name), "sorted");
    assert_eq!(b.snapshot().state, State::Open);
    assert_eq!(b.settings().reset_timeout, secs(3));
    assert!(matches!(
        b.settings().trip_policy,
        TripPolicy::ConsecutiveFailures(1)
    ));
}
