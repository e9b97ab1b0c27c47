//! Many tasks on a multi-threaded runtime hammering one breaker, with the invariants
//! checked throughout and the final counts reconciled. No timing is asserted: real time
//! only decides how often the breaker cycles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, Permit, State, TripPolicy};

const TASKS: u64 = 8;
const CALLS: u64 = 3_000;
const MAX_REQUESTS: u32 = 2;

/// A small deterministic generator per task (xorshift), so runs differ only by scheduling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Probes {
    /// Per half-open generation: in flight now, most in flight ever, and
    /// admitted − ignored − cancelled.
    by_generation: HashMap<u64, (i64, i64, i64)>,
}

#[derive(Default)]
struct Transitions {
    // closed→open, open→half-open, half-open→open, half-open→closed
    counts: [AtomicU64; 4],
}

fn index(from: State, to: State) -> usize {
    match (from, to) {
        (State::Closed, State::Open) => 0,
        (State::Open, State::HalfOpen) => 1,
        (State::HalfOpen, State::Open) => 2,
        (State::HalfOpen, State::Closed) => 3,
        other => panic!("impossible transition {other:?}"),
    }
}

fn probe_delta(probes: &Mutex<Probes>, permit: &Permit<'_>, in_flight: i64, budget: i64) {
    if permit.state() != State::HalfOpen {
        return;
    }
    let mut p = probes.lock().unwrap();
    let entry = p
        .by_generation
        .entry(permit.generation())
        .or_insert((0, 0, 0));
    entry.0 += in_flight;
    entry.1 = entry.1.max(entry.0);
    entry.2 += budget;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariants_hold_under_contention() {
    let transitions = Arc::new(Transitions::default());
    let t = Arc::clone(&transitions);
    let breaker = CircuitBreaker::builder("stress-cycling")
        .max_requests(MAX_REQUESTS)
        .trip_policy(TripPolicy::ConsecutiveFailures(3))
        .reset_timeout(Duration::from_micros(200))
        .on_state_change(move |_, from, to| {
            t.counts[index(from, to)].fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let probes = Arc::new(Mutex::new(Probes::default()));

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let breaker = breaker.clone();
        let probes = Arc::clone(&probes);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1));
            for _ in 0..CALLS {
                let Ok(permit) = breaker.try_acquire() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                probe_delta(&probes, &permit, 1, 1);
                if rng.next().is_multiple_of(4) {
                    tokio::task::yield_now().await;
                }
                probe_delta(&probes, &permit, -1, 0);
                match rng.next() % 10 {
                    0..=3 => permit.success(),
                    4..=7 => permit.failure(),
                    8 => {
                        probe_delta(&probes, &permit, 0, -1);
                        permit.ignore();
                    }
                    _ => {
                        probe_delta(&probes, &permit, 0, -1);
                        drop(permit);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let probes = probes.lock().unwrap();
    assert!(
        !probes.by_generation.is_empty(),
        "the run never reached half-open; the test proves nothing"
    );
    for (generation, (in_flight, most, budget)) in &probes.by_generation {
        assert_eq!(*in_flight, 0);
        assert!(
            *most <= i64::from(MAX_REQUESTS),
            "generation {generation}: {most} probes in flight"
        );
        assert!(
            *budget <= i64::from(MAX_REQUESTS),
            "generation {generation}: {budget} probe slots taken"
        );
    }

    // Every transition happened once: entries and exits of each state reconcile.
    let final_state = breaker.state();
    let [c2o, o2h, h2o, h2c] =
        std::array::from_fn(|i| transitions.counts[i].load(Ordering::SeqCst));
    assert!(c2o > 0 && o2h > 0, "the run never cycled");
    let is = |s| u64::from(final_state == s);
    assert_eq!(c2o + h2o, o2h + is(State::Open), "into and out of open");
    assert_eq!(
        o2h,
        h2o + h2c + is(State::HalfOpen),
        "into and out of half-open"
    );
    assert_eq!(1 + h2c, c2o + is(State::Closed), "into and out of closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_reconcile_exactly_when_nothing_trips() {
    let breaker = CircuitBreaker::builder("stress-counting")
        .trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX))
        .build()
        .unwrap();
    let tally: Arc<[AtomicU64; 4]> = Arc::default();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let breaker = breaker.clone();
        let tally = Arc::clone(&tally);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (task + 1));
            for _ in 0..CALLS {
                let permit = breaker.try_acquire().expect("closed admits every call");
                if rng.next().is_multiple_of(8) {
                    tokio::task::yield_now().await;
                }
                let kind = rng.next() % 4;
                tally[usize::try_from(kind).unwrap()].fetch_add(1, Ordering::Relaxed);
                match kind {
                    0 => permit.success(),
                    1 => permit.failure(),
                    2 => permit.ignore(),
                    _ => drop(permit),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let [s, f, i, cancelled] = std::array::from_fn(|k| tally[k].load(Ordering::Relaxed));
    assert_eq!(s + f + i + cancelled, TASKS * CALLS);
    let c = breaker.counts();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(c.requests, s + f + i, "cancelled calls are taken out again");
    assert_eq!(c.total_successes, s);
    assert_eq!(c.total_failures, f);
    assert_eq!(c.total_ignored, i);
    assert!(c.consecutive_successes + c.consecutive_failures >= 1);
    assert_eq!(c.consecutive_successes.min(c.consecutive_failures), 0);
}
