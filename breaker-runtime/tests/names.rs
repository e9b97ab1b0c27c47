//! Names: independently built breakers never collide, and `build_shared` gets or creates
//! one breaker per name, refusing to share it with different settings or functions.

use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use breaker_runtime::{BuildError, CircuitBreaker, Counts, Outcome, State, TripPolicy, registry};

const THREADS: usize = 8;

/// Taken by every test here: `registry::snapshot` holds each live breaker for as long as it
/// builds its list, so a test counting the breakers of a name after dropping them must not
/// run while another test takes a snapshot.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `make` on `THREADS` threads released at the same instant.
fn at_once<T: Send + 'static>(make: fn() -> T) -> Vec<T> {
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                make()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn listed(name: &str) -> usize {
    registry::snapshot()
        .iter()
        .filter(|s| s.name == name)
        .count()
}

#[test]
fn same_named_breakers_built_on_many_threads_at_once_are_all_independent() {
    let _serial = serial();
    let built = at_once(|| CircuitBreaker::builder("names-payments").build());
    let built: Vec<CircuitBreaker> = built.into_iter().map(Result::unwrap).collect();
    assert_eq!(listed("names-payments"), THREADS);
    built[0].force_open();
    assert!(built[1..].iter().all(|b| b.state() == State::Closed));
    // `get` finds the oldest live one; here, one of them.
    assert!(registry::get("names-payments").is_some());
    drop(built);
    assert_eq!(listed("names-payments"), 0);
    assert!(registry::get("names-payments").is_none());
}

#[test]
fn same_named_shared_breakers_built_on_many_threads_at_once_are_one() {
    let _serial = serial();
    let built = at_once(|| CircuitBreaker::builder("names-shared").build_shared());
    let built: Vec<CircuitBreaker> = built.into_iter().map(Result::unwrap).collect();
    assert_eq!(listed("names-shared"), 1);
    built[0].force_open();
    assert!(built.iter().all(|b| b.state() == State::Open));
}

#[test]
fn get_prefers_the_shared_breaker_and_build_shared_ignores_independent_ones() {
    let _serial = serial();
    let own = CircuitBreaker::builder("names-mixed")
        .timeout(Duration::from_secs(9))
        .build()
        .unwrap();
    // The independent breaker's different settings do not stop sharing.
    let shared = CircuitBreaker::builder("names-mixed")
        .build_shared()
        .unwrap();
    assert_eq!(listed("names-mixed"), 2);
    shared.force_open();
    assert_eq!(own.state(), State::Closed);
    assert_eq!(registry::get("names-mixed").unwrap().state(), State::Open);
    drop(shared);
    assert_eq!(registry::get("names-mixed").unwrap().state(), State::Closed);
}

#[test]
fn sharing_a_name_with_different_settings_is_a_conflict_naming_the_setting() {
    let _serial = serial();
    let _first = CircuitBreaker::builder("names-settings")
        .max_requests(2)
        .build_shared()
        .unwrap();
    let err = CircuitBreaker::builder("names-settings")
        .max_requests(3)
        .build_shared()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::Conflict {
            name: "names-settings".into(),
            setting: "max_requests"
        }
    );
    assert!(err.to_string().contains("\"names-settings\""), "{err}");
}

fn log_transition(_: &str, _: State, _: State) {}
fn page_someone(_: &str, _: State, _: State) {}

#[test]
fn sharing_a_name_with_a_different_hook_is_a_conflict() {
    let _serial = serial();
    let _first = CircuitBreaker::builder("names-hook")
        .on_state_change(log_transition)
        .build_shared()
        .unwrap();
    let same = CircuitBreaker::builder("names-hook")
        .on_state_change(log_transition)
        .build_shared();
    assert!(same.is_ok(), "the same function is the same hook");
    for other in [
        CircuitBreaker::builder("names-hook").on_state_change(page_someone),
        CircuitBreaker::builder("names-hook").on_state_change(|_, _, _| {}),
        CircuitBreaker::builder("names-hook"),
    ] {
        assert!(matches!(
            other.build_shared(),
            Err(BuildError::Conflict {
                setting: "on_state_change hook",
                ..
            })
        ));
    }
}

fn after_two(c: &Counts) -> bool {
    c.total_failures >= 2
}
fn after_three(c: &Counts) -> bool {
    c.total_failures >= 3
}

#[test]
fn sharing_a_name_with_a_different_trip_function_is_a_conflict() {
    let _serial = serial();
    let custom = |trip: fn(&Counts) -> bool| {
        CircuitBreaker::builder("names-trip").trip_policy(TripPolicy::Custom(trip))
    };
    let _first = custom(after_two)
        .trip_identity(&after_two)
        .build_shared()
        .unwrap();
    assert!(
        custom(after_two)
            .trip_identity(&after_two)
            .build_shared()
            .is_ok()
    );
    assert!(matches!(
        custom(after_three)
            .trip_identity(&after_three)
            .build_shared(),
        Err(BuildError::Conflict {
            setting: "trip function",
            ..
        })
    ));
}

fn transient(r: &Result<u8, String>) -> Outcome {
    Outcome::of(r)
}
fn strict(r: &Result<u8, String>) -> Outcome {
    if r.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

#[test]
fn sharing_a_name_with_a_different_classifier_is_a_conflict() {
    let _serial = serial();
    let _first = CircuitBreaker::builder("names-classify")
        .classify_identity(&transient)
        .build_shared()
        .unwrap();
    assert!(
        CircuitBreaker::builder("names-classify")
            .classify_identity(&transient)
            .build_shared()
            .is_ok()
    );
    assert!(matches!(
        CircuitBreaker::builder("names-classify")
            .classify_identity(&strict)
            .build_shared(),
        Err(BuildError::Conflict {
            setting: "classify function",
            ..
        })
    ));
}
