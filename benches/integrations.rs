//! What the integrations add to a call: a keyed lookup of an existing key, and a request
//! through the tower layer next to the same service unwrapped, measured in one run.
//!
//! - `keyed`: `CircuitBreaker::call` on one breaker (the baseline), the same call through
//!   `KeyedBreakers::call` (lookup of an existing key, then the call), and the lookup alone.
//! - `tower`: a trivial `tower::Service` (a ready `Ok(x)`) called directly, the same
//!   service behind `CircuitBreakerLayer` with one breaker, and behind the keyed layer
//!   whose key function returns a constant; `CircuitBreaker::call` of the same trivial
//!   future is the cost the layer should not exceed (plus its key function).
//!
//! Run with `cargo bench --bench integrations --features tower`.

use std::convert::Infallible;
use std::future::{Ready, poll_fn, ready};
use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_breaker::tower::CircuitBreakerLayer;
use async_breaker::{BreakerError, CircuitBreaker, KeyedBreakers};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tower::{Layer, Service};

async fn bare(x: u64) -> Result<u64, BreakerError> {
    Ok(x)
}

/// The cheapest service there is: always ready, answers `Ok(x)` at once.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, x: u64) -> Self::Future {
        ready(Ok(x))
    }
}

/// One request as a tower client makes it: wait until ready, then call.
async fn request<S: Service<u64>>(service: &mut S, x: u64) -> Result<S::Response, S::Error> {
    poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(x).await
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn keyed(c: &mut Criterion) {
    let rt = runtime();
    let _inside = rt.enter();
    let one = CircuitBreaker::builder("bench.keyed.one")
        .build()
        .expect("valid");
    let hosts: KeyedBreakers<String> =
        KeyedBreakers::new(CircuitBreaker::builder("bench.keyed")).expect("valid");
    for host in ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"] {
        drop(hosts.get(host));
    }
    let mut g = c.benchmark_group("keyed");
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt)
            .iter(|| async { one.call(bare(black_box(1))).await });
    });
    g.bench_function("keyed_call", |b| {
        b.to_async(&rt).iter(|| async {
            hosts
                .call(black_box("10.0.0.2:80"), bare(black_box(1)))
                .await
        });
    });
    g.bench_function("keyed_lookup", |b| {
        b.iter(|| hosts.get(black_box("10.0.0.2:80")));
    });
    g.finish();
}

fn tower(c: &mut Criterion) {
    let rt = runtime();
    let _inside = rt.enter();
    let one = CircuitBreaker::builder("bench.tower.call")
        .build()
        .expect("valid");
    let layered = CircuitBreakerLayer::new(
        CircuitBreaker::builder("bench.tower.layer")
            .build()
            .expect("valid"),
    )
    .layer(Echo);
    let routes: KeyedBreakers<&'static str> =
        KeyedBreakers::new(CircuitBreaker::builder("bench.tower.keyed")).expect("valid");
    let keyed = CircuitBreakerLayer::keyed(routes, |_: &u64| "/price").layer(Echo);

    // Each sample runs its iterations in one loop over one service, as a client holding a
    // service does (a service is `&mut` while it is called).
    let mut g = c.benchmark_group("tower");
    g.bench_function("bare", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(bare(black_box(1)).await.ok());
            }
            start.elapsed()
        });
    });
    g.bench_function("breaker_call", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let one = one.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(one.call(bare(black_box(1))).await.ok());
                }
                start.elapsed()
            }
        });
    });
    for (name, service) in [
        ("unwrapped", Subject::Unwrapped(Echo)),
        ("layer", Subject::Layer(layered)),
        ("layer_keyed", Subject::Keyed(keyed)),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let service = service.clone();
                async move {
                    match service {
                        Subject::Unwrapped(s) => requests(s, iters).await,
                        Subject::Layer(s) => requests(s, iters).await,
                        Subject::Keyed(s) => requests(s, iters).await,
                    }
                }
            });
        });
    }
    g.finish();
}

/// The three services of the `tower` group.
#[derive(Clone)]
enum Subject<L, K> {
    Unwrapped(Echo),
    Layer(L),
    Keyed(K),
}

/// `iters` requests through `service`, timed.
async fn requests<S: Service<u64>>(mut service: S, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(request(&mut service, black_box(1)).await.ok());
    }
    start.elapsed()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = keyed, tower
}
criterion_main!(benches);
