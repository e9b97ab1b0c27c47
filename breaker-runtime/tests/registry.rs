//! The registry never keeps a hand-made breaker alive (its own test binary, so that no
//! other test adds breakers while it counts).

use breaker_runtime::{BreakerError, CircuitBreaker, State, registry};

#[test]
fn breakers_made_per_host_and_dropped_leave_the_registry() {
    let before = registry::len();
    let keep = CircuitBreaker::builder("kept").build().unwrap();
    for round in 0..20 {
        let per_host: Vec<CircuitBreaker> = (0..500)
            .map(|i| {
                CircuitBreaker::builder(format!("host-{round}-{i}.example"))
                    .build()
                    .unwrap()
            })
            .collect();
        assert_eq!(registry::len(), before + 1 + 500);
        assert!(registry::get(&format!("host-{round}-7.example")).is_some());
        drop(per_host);
        assert_eq!(
            registry::len(),
            before + 1,
            "dropped breakers must leave the registry"
        );
    }
    assert!(registry::get("host-3-7.example").is_none());
    let listed = registry::snapshot();
    assert_eq!(listed.len(), before + 1);
    assert_eq!(listed[0].name, "kept");
    assert_eq!(listed[0].state, State::Closed);
    // A clone keeps the breaker alive; the registry alone does not.
    let clone = registry::get("kept").unwrap();
    drop(keep);
    assert!(registry::get("kept").is_some());
    drop(clone);
    assert!(registry::get("kept").is_none());
    assert_eq!(registry::len(), before);
}

/// A refusing breaker (what an annotated function whose breaker could not be made calls
/// through) refuses every call with its reason, is listed nowhere and tells no listener
/// anything.
#[test]
fn a_refusing_breaker_is_silent_and_unlisted() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let name = "registry-refusing";
    let heard = Arc::new(AtomicUsize::new(0));
    let id = {
        let heard = Arc::clone(&heard);
        registry::on_state_change(move |change| {
            if change.name == name {
                heard.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let reason = "timeout must be longer than zero";
    let refusing = CircuitBreaker::refusing(name.into(), reason.into());
    assert_eq!(refusing.refusal(), Some(reason));
    assert!(registry::get(name).is_none());
    assert!(registry::snapshot().iter().all(|s| s.name != name));
    // Every call is refused with the reason, also after the hold is renewed.
    for _ in 0..2 {
        match refusing.try_acquire() {
            Err(BreakerError::Misconfigured { name: n, reason: r }) => {
                assert_eq!((n.as_ref(), r.as_str()), (name, reason));
            }
            other => panic!("expected the reason, got {other:?}"),
        }
        refusing.force_open();
    }
    assert_eq!(heard.load(Ordering::SeqCst), 0, "no listener hears it");
    registry::remove_listener(id);
    let ordinary = CircuitBreaker::builder(name).build().unwrap();
    assert_eq!(ordinary.refusal(), None);
}
