//! Loom models of the state machine: every interleaving of two or three threads on the
//! breaker's atomics. Run with `scripts/loom.sh`.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::breaker::{Core, EPOCH, Rejection};
use crate::{Builder, Outcome, State, TripPolicy};

/// Time stands still in the models; transitions that need time are driven explicitly.
const NOW: u64 = EPOCH + 1_000;
/// Far enough that any reset_timeout of the models has elapsed.
const LATER: u64 = EPOCH + 1_000_000_000_000;

fn core(max_requests: u32, failures: u32, hook: Option<Arc<AtomicUsize>>) -> Arc<Core> {
    let mut b = Builder::new("loom")
        .max_requests(max_requests)
        .trip_policy(TripPolicy::ConsecutiveFailures(failures));
    if let Some(calls) = hook {
        b = b.on_state_change(move |_, _, _| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
    }
    Arc::new(Core::new(b))
}

fn state(core: &Core) -> State {
    core.view().word.state()
}

/// Trips a fresh breaker (opened at `NOW`).
fn trip(core: &Core) {
    let (g, _) = core.acquire(|| NOW).unwrap();
    core.record(g, Outcome::Failure, || NOW);
    assert_eq!(state(core), State::Open);
}

/// Races a probe (the move to half-open at `LATER`) against `read`, each on its own
/// thread: loom interleaves only spawned threads' operations with each other.
fn race_probe_with(core: &Arc<Core>, read: impl FnOnce(&Core) + Send + 'static) {
    let c1 = Arc::clone(core);
    let prober = thread::spawn(move || {
        let _ = c1.acquire(|| LATER);
    });
    let c2 = Arc::clone(core);
    let reader = thread::spawn(move || read(&c2));
    prober.join().unwrap();
    reader.join().unwrap();
}

/// Trips a fresh breaker and moves it to half-open.
fn half_open(core: &Core) {
    trip(core);
    let (_, s) = core.acquire(|| LATER).unwrap();
    assert_eq!(s, State::HalfOpen);
    // That admission took a slot; give it back so the threads start from zero.
    core.cancel(core.view().word.generation());
}

#[test]
fn half_open_admission_never_exceeds_max_requests() {
    loom::model(|| {
        let core = core(2, 1, None);
        half_open(&core);
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let core = Arc::clone(&core);
                let admitted = Arc::clone(&admitted);
                thread::spawn(move || {
                    if core.acquire(|| LATER).is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 2);
        assert_eq!(core.counts_of(core.view().word.generation()).requests, 2);
    });
}

#[test]
fn concurrent_failures_trip_once_with_one_hook_call() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let core = core(1, 1, Some(Arc::clone(&calls)));
        let permits: Vec<u64> = (0..2).map(|_| core.acquire(|| NOW).unwrap().0).collect();
        let threads: Vec<_> = permits
            .into_iter()
            .map(|g| {
                let core = Arc::clone(&core);
                thread::spawn(move || core.record(g, Outcome::Failure, || NOW))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(state(&core), State::Open);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(core.view().word.generation(), 1);
    });
}

#[test]
fn a_stale_outcome_racing_a_transition_changes_nothing() {
    loom::model(|| {
        let core = core(1, 1, None);
        let (slow, _) = core.acquire(|| NOW).unwrap();
        let (tripping, _) = core.acquire(|| NOW).unwrap();
        let c1 = Arc::clone(&core);
        let t1 = thread::spawn(move || c1.record(tripping, Outcome::Failure, || NOW));
        let c2 = Arc::clone(&core);
        let t2 = thread::spawn(move || c2.record(slow, Outcome::Success, || NOW));
        t1.join().unwrap();
        t2.join().unwrap();
        // The failure always trips (the success cannot break a streak it raced).
        assert_eq!(state(&core), State::Open);
        let open = core.view().word.generation();
        assert_eq!(core.counts_of(open), crate::Counts::default());
    });
}

#[test]
fn a_dropped_permit_racing_an_admission_gives_its_slot_back_once() {
    loom::model(|| {
        let core = core(1, 1, None);
        half_open(&core);
        let (held, _) = core.acquire(|| LATER).unwrap();
        let c1 = Arc::clone(&core);
        let dropper = thread::spawn(move || c1.cancel(held));
        let c2 = Arc::clone(&core);
        let admitter = thread::spawn(move || c2.acquire(|| LATER).is_ok());
        dropper.join().unwrap();
        let admitted = admitter.join().unwrap();
        let generation = core.view().word.generation();
        let requests = core.counts_of(generation).requests;
        if admitted {
            assert_eq!(requests, 1);
            assert!(core.acquire(|| LATER).is_err(), "only one slot");
        } else {
            assert_eq!(requests, 0);
            assert!(core.acquire(|| LATER).is_ok(), "the slot came back");
        }
    });
}

#[test]
fn the_closing_success_racing_an_admission_makes_one_transition() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let core = core(2, 1, Some(Arc::clone(&calls)));
        half_open(&core);
        let before = calls.load(Ordering::SeqCst);
        let (a, _) = core.acquire(|| LATER).unwrap();
        let (b, _) = core.acquire(|| LATER).unwrap();
        core.record(a, Outcome::Success, || LATER);
        let c1 = Arc::clone(&core);
        let t1 = thread::spawn(move || c1.record(b, Outcome::Success, || LATER));
        let c2 = Arc::clone(&core);
        let t2 = thread::spawn(move || c2.acquire(|| LATER).map(|(g, _)| g));
        t1.join().unwrap();
        let third = t2.join().unwrap();
        assert_eq!(state(&core), State::Closed);
        assert_eq!(calls.load(Ordering::SeqCst), before + 1);
        if let Ok(g) = third {
            // Admitted only after the close, into the closed generation.
            assert_eq!(g, core.view().word.generation());
        }
    });
}

#[test]
fn a_stale_outcome_cannot_overwrite_a_newer_generations_count() {
    loom::model(|| {
        let core = core(1, 5, None);
        let (stale, _) = core.acquire(|| NOW).unwrap();
        let c1 = Arc::clone(&core);
        let late = thread::spawn(move || c1.record(stale, Outcome::Success, || NOW));
        let c2 = Arc::clone(&core);
        let resetter = thread::spawn(move || {
            // An interval reset, then a call of the new generation.
            c2.transition(c2.view().word, State::Closed, NOW, None);
            let (g, _) = c2.acquire(|| NOW).unwrap();
            c2.record(g, Outcome::Success, || NOW);
            g
        });
        late.join().unwrap();
        let fresh = resetter.join().unwrap();
        assert_eq!(core.view().word.generation(), fresh);
        let counts = core.counts_of(fresh);
        assert_eq!(counts.requests, 1);
        assert_eq!(counts.total_successes, 1);
        assert_eq!(counts.consecutive_successes, 1);
    });
}

#[test]
fn a_reader_during_a_publish_sees_a_probe_due_now() {
    loom::model(|| {
        let core = core(1, 1, None);
        trip(&core);
        race_probe_with(&core, |core| {
            let view = core.view();
            let retry = core.retry_after(view, LATER);
            match view.word.state() {
                // Open (possibly mid-publish): a probe is due at LATER, so zero.
                State::Open => assert_eq!(retry, Some(std::time::Duration::ZERO)),
                _ => assert_eq!(retry, None),
            }
        });
    });
}

#[test]
fn readers_never_pair_a_generation_with_another_generations_start() {
    loom::model(|| {
        let core = core(1, 1, None);
        trip(&core);
        assert_eq!(core.view().since, Some(NOW));
        race_probe_with(&core, |core| {
            let view = core.view();
            match (view.word.state(), view.since) {
                (State::Open, since) if view.word.busy() => assert_eq!(since, None),
                (State::Open, since) => assert_eq!(since, Some(NOW)),
                (State::HalfOpen, since) => assert_eq!(since, Some(LATER)),
                (State::Closed, _) => panic!("never closed"),
            }
        });
    });
}

#[test]
fn a_clock_behind_rebases_the_open_period_but_never_a_newer_generation() {
    /// A reading on a clock behind the one that tripped the breaker.
    const EARLIER: u64 = NOW - 500;
    loom::model(|| {
        let core = core(1, 1, None);
        trip(&core);
        race_probe_with(&core, |core| {
            match core.acquire(|| EARLIER) {
                // Still open: the period restarted at the earlier reading (or a probe is
                // being published right now).
                Err(Rejection::Open(retry)) => {
                    assert!(retry == core.settings().reset_timeout || retry.is_zero());
                }
                // Half-open already: a probe slot, or none left after the prober's.
                Ok((_, state)) => assert_eq!(state, State::HalfOpen),
                Err(Rejection::HalfOpenFull) => {}
                Err(Rejection::ForcedOpen) => panic!("never held open"),
            }
        });
        assert_eq!(state(&core), State::HalfOpen);
        assert_eq!(core.view().since, Some(LATER), "the probe's start stands");
    });
}

#[test]
fn a_reconfiguration_racing_a_probe_admission_keeps_the_new_budget() {
    loom::model(|| {
        let core = core(1, 1, None);
        half_open(&core);
        let c1 = Arc::clone(&core);
        let reconfigurer = thread::spawn(move || {
            let mut settings = c1.settings();
            settings.max_requests = 2;
            c1.reconfigure(settings);
        });
        let c2 = Arc::clone(&core);
        let prober = thread::spawn(move || c2.acquire(|| LATER).map(|(g, _)| g));
        reconfigurer.join().unwrap();
        let admitted = prober.join().unwrap();
        assert_eq!(
            state(&core),
            State::HalfOpen,
            "a reconfiguration keeps the state"
        );
        let generation = core.view().word.generation();
        let requests = core.counts_of(generation).requests;
        match admitted {
            // Admitted in the new generation: it counts there, within the new budget.
            Ok(g) if g == generation => assert_eq!(requests, 1),
            // Admitted before: its generation is over and the new one starts empty.
            Ok(_) => assert_eq!(requests, 0),
            Err(rejection) => panic!("a probe slot was free in both generations: {rejection:?}"),
        }
        // The new budget holds in the new generation.
        let more = (0..3).filter(|_| core.acquire(|| LATER).is_ok()).count();
        assert_eq!(more as u64 + requests, 2);
    });
}
