//! What sharing a breaker through Redis adds to a call: nothing, if the call path is
//! unchanged. One group, `shared_closed_success`, runs the same trivial `async fn` as
//! `benches/breakers.rs` (it returns `Ok(x)` at once) through `CircuitBreaker::call` on
//! tokio's current-thread runtime:
//!
//! - `not_shared`: a breaker that has joined no fleet;
//! - `joined_fleet`: an identical breaker that joined a fleet on a real `redis-server`
//!   (started here on a free loopback port), syncing every 100 ms. The fleet's sync task
//!   runs on a runtime of its own (one worker thread), as it would on another worker of a
//!   service's runtime, and keeps syncing during the measurement: the bench checks that
//!   it did.
//!
//! Run with `cargo bench --features redis --bench shared` (needs `redis-server` on `PATH`).

#[path = "../examples/support/redis_server.rs"]
mod redis_server;

use std::hint::black_box;
use std::time::{Duration, Instant};

use async_breaker::shared::{self, Fleet, RedisStore};
use async_breaker::{BreakerError, CircuitBreaker, State};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use crate::redis_server::RedisServer;

/// The protected function: as cheap as an `async fn` can be (as in `benches/breakers.rs`).
async fn bare(x: u64) -> Result<u64, BreakerError> {
    Ok(x)
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The runtime the fleet's sync task runs on.
fn one_worker() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn syncs(breaker: &CircuitBreaker) -> u64 {
    shared::status(breaker).expect("joined").syncs
}

fn closed_success(c: &mut Criterion) {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = current_thread();
    let sync_rt = one_worker();

    let not_shared = CircuitBreaker::builder("bench.shared.not_shared")
        .build()
        .expect("valid settings");
    let joined = CircuitBreaker::builder("bench.shared.joined")
        .build()
        .expect("valid settings");
    sync_rt.block_on(async {
        let store = RedisStore::connect(&server.url())
            .await
            .expect("connects to the bench's redis-server");
        let fleet = Fleet::builder(store)
            .replica("bench")
            .sync_interval(Duration::from_millis(100))
            .build()
            .expect("valid fleet");
        fleet.join(&joined).expect("joins");
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared::status(&joined).is_none_or(|s| !s.attached) {
        assert!(Instant::now() < deadline, "the breaker never synced");
        std::thread::sleep(Duration::from_millis(10));
    }
    let syncs_before = syncs(&joined);
    let started = Instant::now();

    let mut g = c.benchmark_group("shared_closed_success");
    g.bench_function("not_shared", |b| {
        b.to_async(&rt)
            .iter(|| async { not_shared.call(bare(black_box(1))).await });
    });
    g.bench_function("joined_fleet", |b| {
        b.to_async(&rt)
            .iter(|| async { joined.call(bare(black_box(1))).await });
    });
    g.finish();
    let took = started.elapsed();

    assert_eq!(not_shared.state(), State::Closed);
    assert_eq!(joined.state(), State::Closed);
    assert!(shared::status(&not_shared).is_none(), "never joined");
    let status = shared::status(&joined).expect("joined");
    assert!(
        status.attached && status.sync_errors == 0,
        "the joined breaker stayed attached: {status:?}"
    );
    // Every 100 ms while the group ran (half of that, for a busy machine); in criterion's
    // `--test` mode the group takes a moment only, and no sync need be due.
    let synced = status.syncs - syncs_before;
    let due = u64::try_from(took.as_millis() / 200).unwrap_or(u64::MAX);
    eprintln!(
        "joined_fleet: {synced} syncs with Redis while the group ran ({:.1}s)",
        took.as_secs_f64()
    );
    assert!(
        synced >= due,
        "the joined breaker kept syncing during the measurement: {synced} syncs in {took:?}"
    );
    drop(sync_rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = closed_success
}
criterion_main!(benches);
