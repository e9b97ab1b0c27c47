//! Operator control (force open, force closed, reset) and state-change listeners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{BreakerError, Cause, CircuitBreaker, State, TripPolicy, registry};
use tokio::time::advance;

mod support;

use support::{fail, listen};

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
        [(State::Closed, State::Open, Cause::Tripped)],
        "holding a closed breaker closed, or resetting it, is no change of state"
    );
    assert_eq!(seen[0].counts.consecutive_failures, 1);
    assert_eq!(seen[0].retry_after, Some(Duration::from_secs(60)));
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

#[tokio::test(start_paused = true)]
async fn a_listener_holding_opened_breakers_open_does_not_recurse() {
    let b = CircuitBreaker::builder("ctl-hold-in-listener")
        .build()
        .unwrap();
    let (log_id, seen) = listen("ctl-hold-in-listener");
    let id = registry::on_state_change(|change| {
        if change.name == "ctl-hold-in-listener" && change.to == State::Open {
            // Holding an open breaker open is not a change of state, so it is not reported.
            registry::get("ctl-hold-in-listener").unwrap().force_open();
        }
    });
    b.force_open();
    assert!(registry::remove_listener(id));
    assert!(registry::remove_listener(log_id));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].from, seen[0].to), (State::Closed, State::Open));
    assert!(b.is_forced());
}

#[tokio::test(start_paused = true)]
async fn no_op_operator_actions_are_not_transitions() {
    let hook_calls = Arc::new(Mutex::new(0));
    let h = Arc::clone(&hook_calls);
    let b = CircuitBreaker::builder("ctl-no-op")
        .on_state_change(move |_, _, _| *h.lock().unwrap() += 1)
        .build()
        .unwrap();
    let (id, seen) = listen("ctl-no-op");
    b.reset();
    b.force_closed();
    b.reset();
    b.force_open();
    b.force_open();
    b.reset();
    b.reset();
    assert!(registry::remove_listener(id));
    let changes: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to, c.cause))
        .collect();
    assert_eq!(
        changes,
        [
            (State::Closed, State::Open, Cause::ForcedOpen),
            (State::Open, State::Closed, Cause::Reset),
        ]
    );
    assert_eq!(*hook_calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_skips_neither_the_hook_nor_later_listeners() {
    let hook_calls = Arc::new(Mutex::new(0));
    let h = Arc::clone(&hook_calls);
    let b = CircuitBreaker::builder("ctl-panicking-listener")
        .on_state_change(move |_, _, _| *h.lock().unwrap() += 1)
        .build()
        .unwrap();
    let first = registry::on_state_change(|change| {
        if change.name == "ctl-panicking-listener" {
            panic!("listener failure injected by the test");
        }
    });
    let (second, seen) = listen("ctl-panicking-listener");
    b.force_open();
    b.reset();
    assert!(registry::remove_listener(first));
    assert!(registry::remove_listener(second));
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(*hook_calls.lock().unwrap(), 2);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hook_never_comes_out_of_a_getter() {
    let b = CircuitBreaker::builder("ctl-panicking-hook")
        .reset_timeout(Duration::from_secs(1))
        .trip_policy(TripPolicy::ConsecutiveFailures(1))
        .on_state_change(|_, _, to| {
            if to == State::HalfOpen {
                panic!("hook failure injected by the test");
            }
        })
        .build()
        .unwrap();
    let (id, seen) = listen("ctl-panicking-hook");
    fail(&b).await;
    advance(Duration::from_secs(1)).await;
    // The look moves the breaker to half-open, whose hook panics: contained.
    assert_eq!(b.state(), State::HalfOpen);
    assert!(
        registry::snapshot()
            .iter()
            .any(|s| s.name == "ctl-panicking-hook" && s.state == State::HalfOpen)
    );
    assert!(registry::remove_listener(id));
    assert_eq!(
        seen.lock().unwrap().last().map(|c| c.to),
        Some(State::HalfOpen)
    );
}
