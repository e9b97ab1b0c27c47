//! Keyed breakers: one breaker per key, made lazily, bounded, evicting the least recently
//! used closed and idle one, and sharing an overflow breaker when none can go.

use std::sync::{Arc, Barrier};

use breaker_runtime::{
    BreakerError, BuildError, CircuitBreaker, KeyedBreakers, State, TripPolicy, registry,
};

fn keyed(name: &str, max_keys: usize) -> KeyedBreakers<String> {
    KeyedBreakers::with_max_keys(
        CircuitBreaker::builder(name.to_string()).trip_policy(TripPolicy::ConsecutiveFailures(1)),
        max_keys,
    )
    .expect("valid")
}

fn trip(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("closed").failure();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn each_key_gets_its_own_breaker_named_after_it() {
    let hosts = keyed("keyed-own", 8);
    let a = hosts.get("a:80");
    trip(&a);
    let b = hosts.get("b:80");
    assert_eq!(
        b.state(),
        State::Closed,
        "a dying host must not open another's breaker"
    );
    assert_eq!(a.name(), "keyed-own[a:80]");
    assert_eq!(b.name(), "keyed-own[b:80]");
    // The same key gives the same breaker back.
    assert_eq!(hosts.get("a:80").state(), State::Open);
    assert_eq!(hosts.len(), 2);
    // The registry, and so snapshots, listeners and metrics, see each one by its name.
    let snapshot = registry::get("keyed-own[a:80]")
        .expect("registered")
        .snapshot();
    assert_eq!(snapshot.state, State::Open);
}

#[test]
fn concurrent_first_lookups_of_one_key_get_one_breaker() {
    let hosts = keyed("keyed-race", 8);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<CircuitBreaker> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let hosts = hosts.clone();
                s.spawn(move || {
                    barrier.wait();
                    hosts.get("same")
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(hosts.len(), 1);
    // Tripping one handle opens them all: they are one breaker.
    trip(&handles[0]);
    for handle in &handles {
        assert_eq!(handle.state(), State::Open);
    }
}

#[test]
fn a_full_set_evicts_the_least_recently_used_closed_idle_breaker() {
    let hosts = keyed("keyed-lru", 2);
    hosts.get("a").try_acquire().unwrap().success();
    hosts.get("b").try_acquire().unwrap().success();
    // `a` is looked up again, so `b` is now the least recently used.
    assert_eq!(hosts.get("a").counts().total_successes, 1);
    let c = hosts.get("c");
    assert_eq!(c.name(), "keyed-lru[c]");
    assert_eq!(hosts.len(), 2);
    assert!(
        registry::get("keyed-lru[b]").is_none(),
        "b was evicted and dropped"
    );
    assert_eq!(hosts.get("a").counts().total_successes, 1, "a was kept");
    drop(c);
    // `b` comes back with a fresh breaker, evicting `c` (older than `a`'s last lookup).
    assert_eq!(hosts.get("b").counts().total_successes, 0);
    assert!(registry::get("keyed-lru[c]").is_none());
}

#[test]
fn open_breakers_are_never_evicted_and_new_keys_overflow_until_one_can_go() {
    let hosts = keyed("keyed-overflow", 1);
    trip(&hosts.get("a"));
    let b = hosts.get("b");
    assert_eq!(
        b.name(),
        "keyed-overflow[*]",
        "the open breaker stays; b overflows"
    );
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts.get("a").state(), State::Open);
    drop(b);
    // Once `a` is closed and idle, `b` gets a breaker of its own at its next lookup.
    hosts.get("a").reset();
    assert_eq!(hosts.get("b").name(), "keyed-overflow[b]");
    assert_eq!(hosts.len(), 1);
}

#[test]
fn a_breaker_with_a_call_in_flight_is_not_evicted() {
    let hosts = keyed("keyed-busy", 1);
    let a = hosts.get("a");
    let in_flight = a.try_acquire().expect("closed");
    assert_eq!(hosts.get("b").name(), "keyed-busy[*]");
    in_flight.success();
    assert_eq!(a.counts().total_successes, 1, "a kept its counts");
}

#[test]
fn bad_settings_are_errors() {
    let zero = KeyedBreakers::<String>::with_max_keys(CircuitBreaker::builder("keyed-zero"), 0);
    assert_eq!(zero.unwrap_err(), BuildError::ZeroMaxKeys);
    let bad = KeyedBreakers::<String>::new(CircuitBreaker::builder("keyed-bad").max_requests(0));
    assert_eq!(bad.unwrap_err(), BuildError::ZeroMaxRequests);
    assert!(
        BuildError::ZeroMaxKeys
            .to_string()
            .contains("max_keys must be at least 1")
    );
}

#[tokio::test(start_paused = true)]
async fn calls_go_through_the_key_s_breaker() {
    let hosts = keyed("keyed-call", 4);
    let failed: Result<(), BreakerError> = hosts
        .call("down", async {
            Err(BreakerError::Misconfigured {
                name: "dependency".into(),
                reason: "down".into(),
            })
        })
        .await;
    assert!(failed.is_err());
    let rejected: Result<(), BreakerError> = hosts.call("down", async { Ok(()) }).await;
    assert!(matches!(rejected, Err(BreakerError::Open { .. })));
    let fine: Result<u8, BreakerError> = hosts.call("up", async { Ok(1) }).await;
    assert_eq!(fine.unwrap(), 1);
}
