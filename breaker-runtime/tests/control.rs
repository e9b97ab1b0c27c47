//! Operator control (force open, force closed, reset) and state-change listeners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{
    BreakerError, Cause, CircuitBreaker, State, StateChange, TripPolicy, registry,
};
use tokio::time::advance;

async fn fail(b: &CircuitBreaker) {
    let _ = b
        .call(async {
            Err::<(), BreakerError>(BreakerError::Misconfigured {
                name: "dependency".into(),
                reason: "down".into(),
            })
        })
        .await;
}

fn listen(name: &'static str) -> (registry::ListenerId, Arc<Mutex<Vec<StateChange>>>) {
    let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let log = Arc::clone(&seen);
    let id = registry::on_state_change(move |change| {
        if change.name == name {
            log.lock().unwrap().push(change.clone());
        }
    });
    (id, seen)
}

#[tokio::test(start_paused = true)]
async fn held_open_refuses_everything_and_never_probes_until_reset() {
    let hook_calls = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&hook_calls);
    let b = CircuitBreaker::builder("ctl-open")
        .reset_timeout(Duration::from_secs(1))
        .on_state_change(move |_, from, to| h.lock().unwrap().push((from, to)))
        .build()
        .unwrap();
    let (id, seen) = listen("ctl-open");
    b.force_open();
    assert_eq!(b.state(), State::Open);
    assert!(b.is_forced());
    let err = b.try_acquire().unwrap_err();
    assert_eq!(
        err,
        BreakerError::ForcedOpen {
            name: "ctl-open".into()
        }
    );
    assert!(err.is_rejection());
    assert!(err.to_string().contains("held open by an operator"));
    advance(Duration::from_secs(3600)).await;
    assert_eq!(b.state(), State::Open, "no probe while held open");
    assert_eq!(b.retry_after(), None);
    let snap = b.snapshot();
    assert!(snap.forced);
    assert_eq!(snap.retry_after, None);

    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert!(!b.is_forced());
    assert!(b.try_acquire().is_ok());
    assert!(registry::remove_listener(id));
    assert!(!registry::remove_listener(id));

    let seen = seen.lock().unwrap();
    let steps: Vec<_> = seen.iter().map(|c| (c.from, c.to, c.cause)).collect();
    assert_eq!(
        steps,
        [
            (State::Closed, State::Open, Cause::ForcedOpen),
            (State::Open, State::Closed, Cause::Reset),
        ]
    );
    assert_eq!(
        seen[0].retry_after, None,
        "held open: no probe is scheduled"
    );
    assert_eq!(
        *hook_calls.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}

#[tokio::test(start_paused = true)]
async fn held_closed_counts_but_never_trips() {
    let b = CircuitBreaker::builder("ctl-closed")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .build()
        .unwrap();
    let (id, seen) = listen("ctl-closed");
    b.force_closed();
    for _ in 0..10 {
        fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed);
    assert!(b.is_forced());
    assert_eq!(b.counts().total_failures, 10);
    b.reset();
    assert!(!b.is_forced());
    assert_eq!(b.counts().total_failures, 0, "reset starts afresh");
    fail(&b).await;
    assert_eq!(b.state(), State::Open, "the policy applies again");
    registry::remove_listener(id);
    let seen = seen.lock().unwrap();
    let causes: Vec<_> = seen.iter().map(|c| (c.from, c.to, c.cause)).collect();
    assert_eq!(
        causes,
        [
            (State::Closed, State::Closed, Cause::ForcedClosed),
            (State::Closed, State::Closed, Cause::Reset),
            (State::Closed, State::Open, Cause::Tripped),
        ],
        "operator actions are events even without a change of state"
    );
    assert_eq!(
        seen[1].counts.total_failures, 10,
        "the counts the reset cleared"
    );
    assert_eq!(seen[2].counts.consecutive_failures, 1);
    assert_eq!(seen[2].retry_after, Some(Duration::from_secs(60)));
}

#[tokio::test(start_paused = true)]
async fn operators_can_force_any_state_and_in_flight_calls_go_stale() {
    let b = CircuitBreaker::builder("ctl-stale")
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    fail(&b).await;
    advance(Duration::from_secs(1)).await;
    let probe = b.try_acquire().unwrap();
    assert_eq!(probe.state(), State::HalfOpen);
    b.force_closed();
    probe.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.counts().total_failures,
        0,
        "the probe's outcome went stale"
    );
    b.force_open();
    b.force_open();
    assert_eq!(b.state(), State::Open);
    b.reset();
    b.reset();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn natural_transitions_reach_listeners_with_their_cause_and_counts() {
    let b = CircuitBreaker::builder("ctl-natural")
        .trip_policy(TripPolicy::ConsecutiveFailures(2))
        .reset_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (id, seen) = listen("ctl-natural");
    fail(&b).await;
    fail(&b).await;
    advance(Duration::from_secs(5)).await;
    fail(&b).await;
    advance(Duration::from_secs(5)).await;
    let _ = b.call(async { Ok::<(), BreakerError>(()) }).await;
    registry::remove_listener(id);
    let seen = seen.lock().unwrap();
    let steps: Vec<_> = seen.iter().map(|c| (c.to, c.cause)).collect();
    assert_eq!(
        steps,
        [
            (State::Open, Cause::Tripped),
            (State::HalfOpen, Cause::ResetTimeoutElapsed),
            (State::Open, Cause::ProbeFailed),
            (State::HalfOpen, Cause::ResetTimeoutElapsed),
            (State::Closed, Cause::ProbesSucceeded),
        ]
    );
    assert_eq!(seen[0].counts.total_failures, 2);
    assert_eq!(seen[0].retry_after, Some(Duration::from_secs(5)));
    assert!(seen.iter().all(|c| !c.cause.describe().is_empty()));
}
