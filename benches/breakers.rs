//! The hot path of `async-breaker` next to its peers, measured in one process and one run.
//!
//! Every group runs the same trivial `async fn` (it returns `Ok(x)` at once) through each
//! subject, so the differences are the cost of the breaker itself:
//!
//! - `bare`: the function called directly (the baseline), or with
//!   `tokio::time::timeout` alone in the deadline group;
//! - `breaker_call`: this project's runtime API, `CircuitBreaker::call`;
//! - `failsafe`: failsafe 1.3, `futures::CircuitBreaker::call`, consecutive-failures policy;
//! - `recloser`: recloser 1.4, `AsyncRecloser::call`;
//! - `peer_breaker`: the crate published on crates.io as `breaker`, 2.0.2 (a `parking_lot`
//!   read-write lock, a sliding window and backoff), `CircuitBreaker::call`.
//!
//! The peers are configured as closely as their APIs allow: trip after 5 consecutive
//! failures (recloser has only a failure rate over a ring buffer: a 5-call ring and a rate
//! of 1.0, which is 5 failures in a row; breaker 2.0.2's window rule is switched off), stay
//! open for the same time, one half-open probe. failsafe and recloser have no deadline, so
//! in the deadline group they run the call wrapped in `tokio::time::timeout`, inside the
//! breaker as the deadline must be; breaker 2.0.2 uses its own `call_timeout`.
//!
//! Single-threaded groups run on tokio's current-thread runtime; the `threads_*` groups run
//! 1 or 2 tasks on a 2-worker multi-thread runtime, each making every call of the sample
//! against one shared breaker, and report wall time per call per task.
//!
//! Run with `cargo bench --bench breakers`; `scripts/bench-chart.py` turns the results into
//! the table and chart of BENCHMARKS.md.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_breaker::{
    BreakerError, CircuitBreaker, State, TripPolicy, Window, circuit_breaker, registry,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use peer_breaker::{CircuitBreakerConfig, CircuitBreakerError};
use tokio::runtime::Runtime;
use tokio::time::Instant;

/// How long the open breakers stay open: far longer than the whole run.
const OPEN_FOR: Duration = Duration::from_secs(3600);
/// How long the closed breakers would stay open (the default `reset_timeout`).
const RESET: Duration = Duration::from_secs(60);
/// The deadline of the deadline group; never reached.
const DEADLINE: Duration = Duration::from_secs(2);
/// The consecutive failures that trip every breaker here (ours by default).
const TRIP_AFTER: u32 = 5;

#[derive(Debug)]
enum BenchError {
    Breaker(BreakerError),
    Down,
    Timeout,
}

impl From<BreakerError> for BenchError {
    fn from(e: BreakerError) -> Self {
        BenchError::Breaker(e)
    }
}

/// The protected function: as cheap as an `async fn` can be.
async fn bare(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

/// A failing call, to trip breakers during setup.
async fn down() -> Result<u64, BenchError> {
    Err(BenchError::Down)
}

/// The two-step runtime API: `try_acquire`, run, record the outcome by hand.
async fn through_permit(breaker: &CircuitBreaker, x: u64) -> Result<u64, BenchError> {
    let permit = breaker.try_acquire()?;
    let result = bare(x).await;
    if result.is_ok() {
        permit.success();
    } else {
        permit.failure();
    }
    result
}

/// The deadline the peers get: `tokio::time::timeout` around the call, inside the breaker.
async fn with_deadline(x: u64) -> Result<u64, BenchError> {
    tokio::time::timeout(DEADLINE, bare(x))
        .await
        .unwrap_or(Err(BenchError::Timeout))
}

// The same function behind `#[circuit_breaker]`, one breaker per scenario. Explicit names
// let the setup find each breaker in the registry (to trip it, or to take its probe slot).

#[circuit_breaker(
    name = "bench.macro.closed",
    consecutive_failures = 5,
    reset_timeout = "60s"
)]
async fn macro_closed(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.deadline",
    timeout = "2s",
    consecutive_failures = 5,
    reset_timeout = "60s"
)]
async fn macro_deadline(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.open",
    consecutive_failures = 5,
    reset_timeout = "1h"
)]
async fn macro_open(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.open.fallback",
    consecutive_failures = 5,
    reset_timeout = "1h",
    fallback = bare
)]
async fn macro_open_fallback(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.half_open",
    consecutive_failures = 5,
    reset_timeout = "1ms"
)]
async fn macro_half_open(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.threads.closed",
    consecutive_failures = 5,
    reset_timeout = "60s"
)]
async fn macro_threads_closed(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

#[circuit_breaker(
    name = "bench.macro.threads.open",
    consecutive_failures = 5,
    reset_timeout = "1h"
)]
async fn macro_threads_open(x: u64) -> Result<u64, BenchError> {
    Ok(x)
}

/// The breaker behind an annotated function, created by a first call.
fn breaker_of<Fut: Future>(rt: &Runtime, name: &str, first_call: Fut) -> CircuitBreaker {
    rt.block_on(first_call);
    registry::get(name).expect("the attribute registers its breaker")
}

type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

fn failsafe_breaker(open_for: Duration) -> Failsafe {
    let policy = failsafe::failure_policy::consecutive_failures(
        TRIP_AFTER,
        failsafe::backoff::constant(open_for),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

fn recloser_breaker(open_for: Duration) -> recloser::AsyncRecloser {
    recloser::Recloser::custom()
        .error_rate(1.0)
        .closed_len(TRIP_AFTER as usize)
        .half_open_len(1)
        .open_wait(open_for)
        .build()
        .into()
}

/// breaker 2.0.2, tripping after 5 consecutive failures only, with an optional deadline.
fn peer_breaker(open_for: Duration, deadline: Option<Duration>) -> peer_breaker::CircuitBreaker {
    peer_breaker::CircuitBreaker::new(
        CircuitBreakerConfig::builder()
            .consecutive_failures(TRIP_AFTER)
            .failure_rate_threshold(0.0)
            .wait_duration(open_for)
            .half_open_max_calls(1)
            .success_threshold(1)
            .call_timeout(deadline)
            .build(),
    )
}

/// One call through breaker 2.0.2.
async fn peer_call(cb: &peer_breaker::CircuitBreaker, x: u64) -> Result<u64, BenchError> {
    match cb.call(|| bare(x)).await {
        Ok(v) => Ok(v),
        Err(CircuitBreakerError::Failure(e)) => Err(e),
        Err(_) => Err(BenchError::Timeout),
    }
}

fn our_breaker(name: &'static str, open_for: Duration) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .trip_policy(TripPolicy::ConsecutiveFailures(TRIP_AFTER))
        .reset_timeout(open_for)
        .max_requests(1)
        .build()
        .expect("valid settings")
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

/// Trips each breaker with failing calls, and checks that it now rejects.
fn trip_all(
    rt: &Runtime,
    ours: &[&CircuitBreaker],
    fs: &Failsafe,
    rc: &recloser::AsyncRecloser,
    pb: &peer_breaker::CircuitBreaker,
) {
    rt.block_on(async {
        for _ in 0..TRIP_AFTER {
            let _ = pb.call(down).await;
        }
        assert!(matches!(
            pb.call(|| bare(1)).await,
            Err(CircuitBreakerError::CircuitOpen)
        ));
        for breaker in ours {
            for _ in 0..TRIP_AFTER {
                let _ = breaker.call(down()).await;
            }
            assert_eq!(
                breaker.state(),
                State::Open,
                "{} did not trip",
                breaker.name()
            );
        }
        for _ in 0..TRIP_AFTER {
            let _ = fs.call(down()).await;
        }
        assert!(matches!(
            fs.call(bare(1)).await,
            Err(failsafe::Error::Rejected)
        ));
        // recloser fills its ring before it computes a rate: one call more.
        for _ in 0..=TRIP_AFTER {
            let _ = rc.call(down()).await;
        }
        assert!(matches!(
            rc.call(bare(1)).await,
            Err(recloser::Error::Rejected)
        ));
    });
}

fn closed_success(c: &mut Criterion) {
    let rt = current_thread();
    let ours = our_breaker("bench.closed", RESET);
    let fs = failsafe_breaker(RESET);
    let rc = recloser_breaker(RESET);
    let pb = peer_breaker(RESET, None);
    let by_macro = breaker_of(&rt, "bench.macro.closed", macro_closed(0));
    // The same breaker counting over a count window of 100 calls, and over a rolling window
    // of 60s in 10 buckets.
    let count_window = CircuitBreaker::builder("bench.closed.count")
        .trip_policy(TripPolicy::ConsecutiveFailures(TRIP_AFTER))
        .window(Window::Calls { calls: 100 })
        .build()
        .expect("valid settings");
    let rolling_window = CircuitBreaker::builder("bench.closed.rolling")
        .trip_policy(TripPolicy::ConsecutiveFailures(TRIP_AFTER))
        .window(Window::rolling(Duration::from_secs(60)))
        .build()
        .expect("valid settings");

    let mut g = c.benchmark_group("closed_success");
    g.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async { bare(black_box(1)).await });
    });
    g.bench_function("breaker_macro", |b| {
        b.to_async(&rt)
            .iter(|| async { macro_closed(black_box(1)).await });
    });
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.call(bare(black_box(1))).await });
    });
    g.bench_function("breaker_permit", |b| {
        b.to_async(&rt)
            .iter(|| async { through_permit(&ours, black_box(1)).await });
    });
    g.bench_function("breaker_call_count_window", |b| {
        b.to_async(&rt)
            .iter(|| async { count_window.call(bare(black_box(1))).await });
    });
    g.bench_function("breaker_call_rolling_window", |b| {
        b.to_async(&rt)
            .iter(|| async { rolling_window.call(bare(black_box(1))).await });
    });
    // Control: one read of tokio's clock, what a rolling window may add.
    g.bench_function("clock", |b| {
        b.to_async(&rt).iter(|| async { black_box(Instant::now()) });
    });
    g.bench_function("failsafe", |b| {
        b.to_async(&rt)
            .iter(|| async { fs.call(bare(black_box(1))).await });
    });
    g.bench_function("recloser", |b| {
        b.to_async(&rt)
            .iter(|| async { rc.call(bare(black_box(1))).await });
    });
    g.bench_function("peer_breaker", |b| {
        b.to_async(&rt)
            .iter(|| async { peer_call(&pb, black_box(1)).await });
    });
    g.finish();
    assert_eq!(ours.state(), State::Closed);
    assert_eq!(count_window.counts().total_successes, 100);
    assert_eq!(rolling_window.state(), State::Closed);
    assert_eq!(by_macro.state(), State::Closed);
}

fn closed_success_deadline(c: &mut Criterion) {
    let rt = current_thread();
    let ours = CircuitBreaker::builder("bench.deadline")
        .trip_policy(TripPolicy::ConsecutiveFailures(TRIP_AFTER))
        .reset_timeout(RESET)
        .timeout(DEADLINE)
        .build()
        .expect("valid settings");
    let fs = failsafe_breaker(RESET);
    let rc = recloser_breaker(RESET);
    let pb = peer_breaker(RESET, Some(DEADLINE));
    let by_macro = breaker_of(&rt, "bench.macro.deadline", macro_deadline(0));
    assert_eq!(by_macro.settings().timeout, Some(DEADLINE));

    let mut g = c.benchmark_group("closed_success_deadline");
    g.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { tokio::time::timeout(DEADLINE, bare(black_box(1))).await });
    });
    g.bench_function("breaker_macro", |b| {
        b.to_async(&rt)
            .iter(|| async { macro_deadline(black_box(1)).await });
    });
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.call(bare(black_box(1))).await });
    });
    g.bench_function("failsafe", |b| {
        b.to_async(&rt)
            .iter(|| async { fs.call(with_deadline(black_box(1))).await });
    });
    g.bench_function("recloser", |b| {
        b.to_async(&rt)
            .iter(|| async { rc.call(with_deadline(black_box(1))).await });
    });
    g.bench_function("peer_breaker", |b| {
        b.to_async(&rt)
            .iter(|| async { peer_call(&pb, black_box(1)).await });
    });
    g.finish();
}

fn open_rejected(c: &mut Criterion) {
    let rt = current_thread();
    let ours = our_breaker("bench.open", OPEN_FOR);
    let fs = failsafe_breaker(OPEN_FOR);
    let rc = recloser_breaker(OPEN_FOR);
    let pb = peer_breaker(OPEN_FOR, None);
    let by_macro = breaker_of(&rt, "bench.macro.open", macro_open(0));
    let by_macro_fallback = breaker_of(&rt, "bench.macro.open.fallback", macro_open_fallback(0));
    trip_all(&rt, &[&ours, &by_macro, &by_macro_fallback], &fs, &rc, &pb);

    let mut g = c.benchmark_group("open_rejected");
    g.bench_function("breaker_macro", |b| {
        b.to_async(&rt)
            .iter(|| async { macro_open(black_box(1)).await });
    });
    g.bench_function("breaker_macro_fallback", |b| {
        b.to_async(&rt)
            .iter(|| async { macro_open_fallback(black_box(1)).await });
    });
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.call(bare(black_box(1))).await });
    });
    g.bench_function("breaker_call_fallback", |b| {
        b.to_async(&rt).iter(|| async {
            let x = black_box(1);
            match ours.call(bare(x)).await {
                Err(BenchError::Breaker(e)) if e.is_rejection() => bare(x).await,
                other => other,
            }
        });
    });
    g.bench_function("breaker_permit", |b| {
        b.to_async(&rt)
            .iter(|| async { through_permit(&ours, black_box(1)).await });
    });
    g.bench_function("failsafe", |b| {
        b.to_async(&rt)
            .iter(|| async { fs.call(bare(black_box(1))).await });
    });
    g.bench_function("recloser", |b| {
        b.to_async(&rt)
            .iter(|| async { rc.call(bare(black_box(1))).await });
    });
    g.bench_function("peer_breaker", |b| {
        b.to_async(&rt)
            .iter(|| async { peer_call(&pb, black_box(1)).await });
    });
    g.finish();
    for breaker in [&ours, &by_macro, &by_macro_fallback] {
        assert_eq!(breaker.state(), State::Open);
    }
}

fn half_open_rejected(c: &mut Criterion) {
    let rt = current_thread();
    let ours = our_breaker("bench.half_open", Duration::from_millis(1));
    let by_macro = breaker_of(&rt, "bench.macro.half_open", macro_half_open(0));
    let pb = peer_breaker(Duration::from_millis(1), None);
    rt.block_on(async {
        for breaker in [&ours, &by_macro] {
            for _ in 0..TRIP_AFTER {
                let _ = breaker.call(down()).await;
            }
        }
        for _ in 0..TRIP_AFTER {
            let _ = pb.call(down).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    });
    // breaker 2.0.2's one probe permit is held by a call that never finishes, polled once.
    let mut peer_probe = Box::pin(pb.call(std::future::pending::<Result<u64, BenchError>>));
    let polled = rt.block_on(std::future::poll_fn(|cx| {
        std::task::Poll::Ready(peer_probe.as_mut().poll(cx).is_pending())
    }));
    assert!(polled, "the probe holds its permit");
    rt.block_on(async {
        assert!(matches!(
            pb.call(|| bare(1)).await,
            Err(CircuitBreakerError::Rejected)
        ));
    });
    // The one probe slot of each is taken for the whole measurement.
    let probes = [&ours, &by_macro].map(|breaker| {
        let probe = breaker.try_acquire().expect("a probe slot");
        assert_eq!(breaker.state(), State::HalfOpen);
        probe
    });

    let mut g = c.benchmark_group("half_open_rejected");
    g.bench_function("breaker_macro", |b| {
        b.to_async(&rt)
            .iter(|| async { macro_half_open(black_box(1)).await });
    });
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt)
            .iter(|| async { ours.call(bare(black_box(1))).await });
    });
    g.bench_function("breaker_permit", |b| {
        b.to_async(&rt)
            .iter(|| async { through_permit(&ours, black_box(1)).await });
    });
    g.bench_function("peer_breaker", |b| {
        b.to_async(&rt)
            .iter(|| async { peer_call(&pb, black_box(1)).await });
    });
    g.finish();
    assert_eq!(ours.state(), State::HalfOpen);
    assert_eq!(by_macro.state(), State::HalfOpen);
    drop(probes);
    drop(peer_probe);
}

/// Runs `call` `iters` times on each of `tasks` tasks of `rt`, all started together, and
/// returns the wall time from the first start to the last end.
///
/// The tasks meet at a spinning barrier, which holds each worker until all tasks run, so
/// they really run in parallel. Should the scheduler queue two tasks on one worker, the
/// first gives up after a while and the sample is run again.
fn on_tasks<F, Fut>(rt: &Runtime, tasks: usize, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future + Send,
{
    for _ in 0..100 {
        let arrived = Arc::new(AtomicUsize::new(0));
        let runs: Vec<Option<(Instant, Instant)>> = rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let call = call.clone();
                    let arrived = Arc::clone(&arrived);
                    tokio::spawn(async move {
                        arrived.fetch_add(1, Ordering::AcqRel);
                        let waiting = Instant::now();
                        while arrived.load(Ordering::Acquire) < tasks {
                            if waiting.elapsed() > Duration::from_millis(50) {
                                return None;
                            }
                            std::hint::spin_loop();
                        }
                        let start = Instant::now();
                        for _ in 0..iters {
                            black_box(call().await);
                        }
                        Some((start, Instant::now()))
                    })
                })
                .collect();
            let mut runs = Vec::with_capacity(tasks);
            for handle in handles {
                runs.push(handle.await.expect("bench task"));
            }
            runs
        });
        if let Some(runs) = runs.into_iter().collect::<Option<Vec<_>>>() {
            let start = runs.iter().map(|r| r.0).min().expect("a task");
            let end = runs.iter().map(|r| r.1).max().expect("a task");
            return end - start;
        }
    }
    panic!("the runtime never ran the {tasks} tasks on distinct workers");
}

/// The `threads_*` groups: each subject with 1 and with 2 tasks on one shared breaker.
fn threads(c: &mut Criterion, group: &str, open: bool) {
    let rt = two_workers();
    let open_for = if open { OPEN_FOR } else { RESET };
    let name = if open {
        "bench.threads.open"
    } else {
        "bench.threads.closed"
    };
    // Static, as the attribute's breakers are, so that no task clones an `Arc` per call
    // (the peers' `call` clones theirs: that cost is theirs).
    let ours: &'static CircuitBreaker = Box::leak(Box::new(our_breaker(name, open_for)));
    let fs: &'static Failsafe = Box::leak(Box::new(failsafe_breaker(open_for)));
    let rc: &'static recloser::AsyncRecloser = Box::leak(Box::new(recloser_breaker(open_for)));
    let pb: &'static peer_breaker::CircuitBreaker =
        Box::leak(Box::new(peer_breaker(open_for, None)));
    let by_macro = if open {
        breaker_of(&rt, "bench.macro.threads.open", macro_threads_open(0))
    } else {
        breaker_of(&rt, "bench.macro.threads.closed", macro_threads_closed(0))
    };
    if open {
        trip_all(&rt, &[ours, &by_macro], fs, rc, pb);
    }

    let mut g = c.benchmark_group(group);
    for tasks in [1, 2] {
        if open {
            // Control: every rejection reads the clock once; this is that read alone.
            g.bench_with_input(BenchmarkId::new("clock", tasks), &tasks, |b, &n| {
                b.iter_custom(|iters| on_tasks(&rt, n, iters, || async { Instant::now() }));
            });
        } else {
            g.bench_with_input(BenchmarkId::new("bare", tasks), &tasks, |b, &n| {
                b.iter_custom(|iters| on_tasks(&rt, n, iters, || bare(black_box(1))));
            });
        }
        g.bench_with_input(BenchmarkId::new("breaker_macro", tasks), &tasks, |b, &n| {
            if open {
                b.iter_custom(|iters| on_tasks(&rt, n, iters, || macro_threads_open(black_box(1))));
            } else {
                b.iter_custom(|iters| {
                    on_tasks(&rt, n, iters, || macro_threads_closed(black_box(1)))
                });
            }
        });
        g.bench_with_input(BenchmarkId::new("breaker_call", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| on_tasks(&rt, n, iters, || ours.call(bare(black_box(1)))));
        });
        g.bench_with_input(
            BenchmarkId::new("breaker_permit", tasks),
            &tasks,
            |b, &n| {
                b.iter_custom(|iters| {
                    on_tasks(&rt, n, iters, || through_permit(ours, black_box(1)))
                });
            },
        );
        g.bench_with_input(BenchmarkId::new("failsafe", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| on_tasks(&rt, n, iters, || fs.call(bare(black_box(1)))));
        });
        g.bench_with_input(BenchmarkId::new("recloser", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| on_tasks(&rt, n, iters, || rc.call(bare(black_box(1)))));
        });
        g.bench_with_input(BenchmarkId::new("peer_breaker", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| on_tasks(&rt, n, iters, || peer_call(pb, black_box(1))));
        });
    }
    g.finish();
    let want = if open { State::Open } else { State::Closed };
    assert_eq!(ours.state(), want);
    assert_eq!(by_macro.state(), want);
}

fn threads_success(c: &mut Criterion) {
    threads(c, "threads_success", false);
}

fn threads_rejected(c: &mut Criterion) {
    threads(c, "threads_rejected", true);
}

/// What tokio's `test-util` feature (on for this workspace's dev builds) costs: with it,
/// `tokio::time::Instant::now()` first checks whether any clock was ever paused; without
/// it, it is `std::time::Instant::now()`.
fn clock(c: &mut Criterion) {
    let rt = current_thread();
    let _inside = rt.enter();
    let mut g = c.benchmark_group("clock");
    g.bench_function("std_instant_now", |b| b.iter(std::time::Instant::now));
    g.bench_function("tokio_instant_now", |b| b.iter(Instant::now));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = closed_success, closed_success_deadline, open_rejected, half_open_rejected,
        threads_success, threads_rejected, clock
}
criterion_main!(benches);
