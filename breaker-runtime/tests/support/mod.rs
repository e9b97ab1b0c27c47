//! What several runtime test files share: a failing call and a listener that records one
//! breaker's state changes. Each file includes it with `mod support;` and uses what it needs.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use breaker_runtime::{BreakerError, CircuitBreaker, StateChange, registry};

/// The error of a dependency that is down.
pub(crate) fn down() -> BreakerError {
    BreakerError::Misconfigured {
        name: "dependency".into(),
        reason: "down".into(),
    }
}

/// One failed call through `b`.
pub(crate) async fn fail(b: &CircuitBreaker) {
    let _ = b.call(async { Err::<(), BreakerError>(down()) }).await;
}

/// Records every state change of the breaker called `name`, until the listener is removed.
pub(crate) fn listen(name: &'static str) -> (registry::ListenerId, Arc<Mutex<Vec<StateChange>>>) {
    let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let log = Arc::clone(&seen);
    let id = registry::on_state_change(move |change| {
        if change.name == name {
            log.lock().unwrap().push(change.clone());
        }
    });
    (id, seen)
}
