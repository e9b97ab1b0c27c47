//! Loom models of the state machine: every interleaving of two or three threads on the
//! breaker's atomics. Run with `scripts/loom.sh`.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::machine::{Ending, Machine, Rejection};
use crate::observe::{Listeners, Observer};
use crate::state::EPOCH;
use crate::{Builder, Counts, Outcome, State, TripPolicy, Window};

/// Time stands still in the models; transitions that need time are driven explicitly.
const NOW: u64 = EPOCH + 1_000;
/// Far enough that any reset_timeout of the models has elapsed.
const LATER: u64 = EPOCH + 1_000_000_000_000;

/// A state machine on its own, with no registry: its hook counts into `hook`.
fn machine(builder: Builder, hook: Option<Arc<AtomicUsize>>) -> Arc<Machine> {
    let mut b = builder;
    if let Some(calls) = hook {
        b = b.on_state_change(move |_, _, _| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
    }
    let observer = Observer::new(b.name(), b.hook.clone(), Listeners::new());
    Arc::new(Machine::new(b.name().clone(), b.settings, observer))
}

fn core(max_requests: u32, failures: u32, hook: Option<Arc<AtomicUsize>>) -> Arc<Machine> {
    let b = Builder::new("loom")
        .max_requests(max_requests)
        .trip_policy(TripPolicy::ConsecutiveFailures(failures));
    machine(b, hook)
}

fn state(core: &Machine) -> State {
    core.view().word.state()
}

fn counts(core: &Machine) -> Counts {
    core.counts(core.view(), NOW)
}

fn start(core: &Machine) -> Option<u64> {
    core.view().stamp.map(|s| s.start)
}

/// Trips a fresh breaker (opened at `NOW`).
fn trip(core: &Machine) {
    let a = core.acquire(|| NOW).unwrap();
    core.record(a, Outcome::Failure, false, || NOW);
    assert_eq!(state(core), State::Open);
}

/// Races a probe (the move to half-open at `LATER`) against `read`, each on its own
/// thread: loom interleaves only spawned threads' operations with each other.
fn race_probe_with(core: &Arc<Machine>, read: impl FnOnce(&Machine) + Send + 'static) {
    let c1 = Arc::clone(core);
    let prober = thread::spawn(move || {
        let _ = c1.acquire(|| LATER);
    });
    let c2 = Arc::clone(core);
    let reader = thread::spawn(move || read(&c2));
    prober.join().unwrap();
    reader.join().unwrap();
}

/// Admits one call per outcome at `NOW`, then records the outcomes on threads of their own,
/// all at once.
fn record_concurrently(core: &Arc<Machine>, outcomes: &[Outcome]) {
    let threads: Vec<_> = outcomes
        .iter()
        .map(|&outcome| (core.acquire(|| NOW).unwrap(), outcome))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(a, outcome)| {
            let core = Arc::clone(core);
            thread::spawn(move || core.record(a, outcome, false, || NOW))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Trips a fresh breaker and moves it to half-open.
fn half_open(core: &Machine) {
    trip(core);
    let a = core.acquire(|| LATER).unwrap();
    assert_eq!(a.state(), State::HalfOpen);
    // That admission took a slot; give it back so the threads start from zero.
    core.cancel(a);
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
        assert_eq!(counts(&core).requests, 2);
    });
}

#[test]
fn concurrent_failures_trip_once_with_one_hook_call() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let core = core(1, 1, Some(Arc::clone(&calls)));
        record_concurrently(&core, &[Outcome::Failure, Outcome::Failure]);
        assert_eq!(state(&core), State::Open);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(core.view().word.generation(), 1);
    });
}

#[test]
fn a_stale_outcome_racing_a_transition_changes_nothing() {
    loom::model(|| {
        let core = core(1, 1, None);
        let slow = core.acquire(|| NOW).unwrap();
        let tripping = core.acquire(|| NOW).unwrap();
        let c1 = Arc::clone(&core);
        let t1 = thread::spawn(move || c1.record(tripping, Outcome::Failure, false, || NOW));
        let c2 = Arc::clone(&core);
        let t2 = thread::spawn(move || c2.record(slow, Outcome::Success, false, || NOW));
        t1.join().unwrap();
        t2.join().unwrap();
        // The failure always trips (the success cannot break a streak it raced).
        assert_eq!(state(&core), State::Open);
        assert_eq!(counts(&core), Counts::default());
    });
}

#[test]
fn a_dropped_permit_racing_an_admission_gives_its_slot_back_once() {
    loom::model(|| {
        let core = core(1, 1, None);
        half_open(&core);
        let held = core.acquire(|| LATER).unwrap();
        let c1 = Arc::clone(&core);
        let dropper = thread::spawn(move || c1.cancel(held));
        let c2 = Arc::clone(&core);
        let admitter = thread::spawn(move || c2.acquire(|| LATER).is_ok());
        dropper.join().unwrap();
        let admitted = admitter.join().unwrap();
        let requests = counts(&core).requests;
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
        let a = core.acquire(|| LATER).unwrap();
        let b = core.acquire(|| LATER).unwrap();
        core.record(a, Outcome::Success, false, || LATER);
        let c1 = Arc::clone(&core);
        let t1 = thread::spawn(move || c1.record(b, Outcome::Success, false, || LATER));
        let c2 = Arc::clone(&core);
        let t2 = thread::spawn(move || c2.acquire(|| LATER).map(|a| a.generation()));
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
        let stale = core.acquire(|| NOW).unwrap();
        let c1 = Arc::clone(&core);
        let late = thread::spawn(move || c1.record(stale, Outcome::Success, false, || NOW));
        let c2 = Arc::clone(&core);
        let resetter = thread::spawn(move || {
            // An interval reset, then a call of the new generation.
            c2.transition(c2.view().word, State::Closed, NOW, Ending::IntervalElapsed);
            let a = c2.acquire(|| NOW).unwrap();
            c2.record(a, Outcome::Success, false, || NOW);
            a.generation()
        });
        late.join().unwrap();
        let fresh = resetter.join().unwrap();
        assert_eq!(core.view().word.generation(), fresh);
        let counts = counts(&core);
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
        assert_eq!(start(&core), Some(NOW));
        race_probe_with(&core, |core| {
            let view = core.view();
            match (view.word.state(), view.stamp.map(|s| s.start)) {
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
                Ok(a) => assert_eq!(a.state(), State::HalfOpen),
                Err(Rejection::HalfOpenFull) => {}
                Err(Rejection::ForcedOpen) => panic!("never held open"),
            }
        });
        assert_eq!(state(&core), State::HalfOpen);
        assert_eq!(start(&core), Some(LATER), "the probe's start stands");
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
            c1.reconfigure(settings).unwrap();
        });
        let c2 = Arc::clone(&core);
        let prober = thread::spawn(move || c2.acquire(|| LATER).map(|a| a.generation()));
        reconfigurer.join().unwrap();
        let admitted = prober.join().unwrap();
        assert_eq!(
            state(&core),
            State::HalfOpen,
            "a reconfiguration keeps the state"
        );
        let generation = core.view().word.generation();
        let requests = counts(&core).requests;
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

/// A rolling window of 2 buckets of 1 000 ns.
fn rolling(failures: u32) -> Arc<Machine> {
    let b = Builder::new("loom-rolling")
        .window(Window::Rolling {
            length: std::time::Duration::from_micros(2),
            buckets: 2,
        })
        .trip_policy(TripPolicy::FailureRatio {
            ratio: 1.0,
            min_requests: u64::from(failures),
        });
    machine(b, None)
}

#[test]
fn a_rolling_window_drops_an_outcome_whose_bucket_a_newer_call_took_over() {
    /// Two buckets after the generation began: bucket 0's slot belongs to bucket 2.
    const TWO_BUCKETS_ON: u64 = EPOCH + 2_000;
    /// Within bucket 1, when bucket 0 is still in the window by the clock.
    const ONE_AND_A_HALF: u64 = EPOCH + 1_500;
    loom::model(|| {
        let core = rolling(2);
        // Admitted in bucket 0; it finishes while a call of bucket 2 takes the slot over.
        let old = core.acquire(|| EPOCH).unwrap();
        let c1 = Arc::clone(&core);
        let late = thread::spawn(move || {
            c1.record(old, Outcome::Failure, false, || ONE_AND_A_HALF);
        });
        let c2 = Arc::clone(&core);
        let fresh = thread::spawn(move || {
            let a = c2.acquire(|| TWO_BUCKETS_ON).unwrap();
            c2.record(a, Outcome::Failure, false, || TWO_BUCKETS_ON);
        });
        late.join().unwrap();
        fresh.join().unwrap();
        // The window at bucket 2 holds only the fresh call, whichever wrote first: the late
        // outcome either landed in bucket 0 before the slot was taken over (and left the
        // window with it) or found the slot taken and was dropped whole.
        let view = core.view();
        assert_eq!(view.word.state(), State::Closed);
        let sums = core.counts(view, TWO_BUCKETS_ON);
        assert_eq!((sums.requests, sums.total_failures), (1, 1));
        assert!((1..=2).contains(&sums.consecutive_failures));
    });
}

#[test]
fn a_success_timed_at_its_admission_never_counts_in_the_next_generation() {
    loom::model(|| {
        let core = rolling(2);
        // Admitted in bucket 0 of generation 0; it finishes within the poll that admitted
        // it, so its outcome is recorded at the admission's reading, without a look at the
        // stamp, while the counts start over in a new generation.
        let a = core.acquire(|| EPOCH).unwrap();
        let c1 = Arc::clone(&core);
        let success = thread::spawn(move || {
            c1.record_at(a, Outcome::Success, false, true, || EPOCH);
        });
        let word = core.view().word;
        assert!(core.transition(word, State::Closed, EPOCH, Ending::IntervalElapsed));
        success.join().unwrap();
        let view = core.view();
        assert_eq!(view.word.generation(), 1);
        let sums = core.counts(view, EPOCH);
        assert_eq!(
            (
                sums.requests,
                sums.total_successes,
                sums.consecutive_successes
            ),
            (0, 0, 0),
            "the new generation starts empty, whenever the success landed"
        );
    });
}

#[test]
fn an_admission_of_an_ended_generation_never_counts_in_the_next_ones_bucket() {
    loom::model(|| {
        // Never trips: only the counting is watched.
        let core = rolling(10);
        let c1 = Arc::clone(&core);
        // Admitted at the generation's start: bucket 0, in the slot that the next
        // generation's first bucket takes too.
        let late = thread::spawn(move || c1.acquire(|| EPOCH).map(|a| a.generation()));
        let word = core.view().word;
        assert!(core.transition(word, State::Closed, EPOCH, Ending::IntervalElapsed));
        let fresh = core.acquire(|| EPOCH).unwrap();
        assert_eq!(fresh.generation(), 1);
        let late = late.join().unwrap().unwrap();
        let view = core.view();
        let sums = core.counts(view, EPOCH);
        assert_eq!(
            sums.requests,
            1 + u64::from(late == 1),
            "the new generation counts its own admissions only (the late one was admitted \
             into generation {late})"
        );
    });
}

#[test]
fn an_admission_whose_clock_ran_ahead_never_counts_in_the_next_generation() {
    /// Six bucket widths after the generation began, by the late admission's clock.
    const AHEAD: u64 = EPOCH + 6_000;
    /// Four widths on, when the next generation admits its first call.
    const FRESH: u64 = EPOCH + 4_000;
    loom::model(|| {
        let core = rolling(10);
        let c1 = Arc::clone(&core);
        let late = thread::spawn(move || c1.acquire(|| AHEAD).map(|a| a.generation()));
        let word = core.view().word;
        assert!(core.transition(word, State::Closed, EPOCH, Ending::IntervalElapsed));
        let fresh = core.acquire(|| FRESH).unwrap();
        assert_eq!(fresh.generation(), 1);
        let late = late.join().unwrap().unwrap();
        // Were the new generation's buckets numbered right after the old window, the late
        // admission's bucket (the sixth of generation 0) would be the new generation's
        // fourth, the fresh call's.
        if late == 0 {
            let sums = core.counts(core.view(), FRESH);
            assert_eq!(sums.requests, 1, "only the fresh call counts in its bucket");
        }
    });
}

#[test]
fn admissions_racing_into_one_bucket_and_the_next_all_count() {
    /// Within bucket 1, when bucket 0 is still in the window.
    const NEXT: u64 = EPOCH + 1_500;
    loom::model(|| {
        // Never trips: only the counting is watched.
        let core = rolling(10);
        // Two admissions into bucket 0: each reads the bucket's count before its clock,
        // and the one whose compare-and-swap fails counts again from the cell as it is.
        // A third moves the bucket last found on to bucket 1 meanwhile.
        let c1 = Arc::clone(&core);
        let first = thread::spawn(move || c1.acquire(|| EPOCH).unwrap());
        let c2 = Arc::clone(&core);
        let second = thread::spawn(move || c2.acquire(|| EPOCH).unwrap());
        let next = core.acquire(|| NEXT).unwrap();
        let admitted = [first.join().unwrap(), second.join().unwrap(), next];
        assert!(admitted.iter().all(|a| a.generation() == 0));
        let sums = core.counts(core.view(), NEXT);
        assert_eq!(sums.requests, 3, "every admission counts once");
    });
}

#[test]
fn concurrent_failures_in_a_rolling_window_trip_once() {
    loom::model(|| {
        let core = rolling(2);
        record_concurrently(&core, &[Outcome::Failure, Outcome::Failure]);
        assert_eq!(state(&core), State::Open, "the second failure sees both");
        assert_eq!(core.view().word.generation(), 1);
    });
}

/// A count window of `calls` calls, whose trip policy (every call failed, over more calls
/// than the window holds) the models below never meet.
fn ring(calls: u32) -> Arc<Machine> {
    let b = Builder::new("loom-ring")
        .window(Window::Calls { calls })
        .trip_policy(TripPolicy::FailureRatio {
            ratio: 1.0,
            min_requests: u64::from(calls) + 1,
        });
    machine(b, None)
}

#[test]
fn a_count_window_counts_concurrent_outcomes_once_each() {
    loom::model(|| {
        let core = ring(2);
        let first = core.acquire(|| NOW).unwrap();
        core.record(first, Outcome::Success, false, || NOW);
        record_concurrently(&core, &[Outcome::Failure, Outcome::Success]);
        // Three outcomes through a window of two: the first one left, whichever order the
        // other two finished in.
        let sums = counts(&core);
        assert_eq!(sums.requests, 2);
        assert_eq!(sums.total_failures, 1);
        assert_eq!(sums.total_successes, 1);
    });
}

#[test]
fn a_failure_leaves_a_count_window_when_later_successes_skip_their_slots() {
    loom::model(|| {
        let core = ring(1);
        // A failure racing a success through a window of one: the window holds whichever
        // finished last, never both and never neither. Then two racing successes: one of
        // them writes over a failed entry, the other may leave its slot alone.
        record_concurrently(&core, &[Outcome::Failure, Outcome::Success]);
        let sums = counts(&core);
        assert_eq!(
            (sums.requests, sums.total_failures + sums.total_successes),
            (1, 1)
        );
        record_concurrently(&core, &[Outcome::Success, Outcome::Success]);
        let sums = counts(&core);
        assert_eq!(
            (sums.requests, sums.total_failures, sums.total_successes),
            (1, 0, 1)
        );
    });
}
