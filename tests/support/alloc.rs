//! What the allocation tests share: a counted batch of calls on a current-thread runtime,
//! after a warm-up, and the assertion that it allocated nothing. Included by
//! `tests/alloc.rs` and `tests/alloc_metrics.rs` with `#[path]`.

use std::future::Future;
use std::hint::black_box;

use allocation_counter::{AllocationInfo, measure};
use breaker::BreakerError;
use tokio::runtime::Runtime;

/// Calls per measured batch.
pub(crate) const CALLS: u64 = 10_000;

#[derive(Debug)]
pub(crate) enum AppError {
    Breaker(BreakerError),
    Down,
}

impl From<BreakerError> for AppError {
    fn from(e: BreakerError) -> Self {
        AppError::Breaker(e)
    }
}

pub(crate) async fn works(x: u64) -> Result<u64, AppError> {
    Ok(x)
}

pub(crate) async fn fails(_x: u64) -> Result<u64, AppError> {
    Err(AppError::Down)
}

pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

pub(crate) fn paused_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// What `CALLS` calls of `call` allocate, counted after a warm-up of 16 of the same calls.
pub(crate) fn allocations_of<F, Fut>(rt: &Runtime, mut call: F) -> AllocationInfo
where
    F: FnMut(u64) -> Fut,
    Fut: Future,
{
    rt.block_on(async {
        for i in 0..16 {
            black_box(call(i).await);
        }
    });
    measure(|| {
        rt.block_on(async {
            for i in 0..CALLS {
                black_box(call(i).await);
            }
        });
    })
}

#[track_caller]
pub(crate) fn assert_no_allocation(what: &str, info: AllocationInfo) {
    assert_eq!(
        info.count_total, 0,
        "{what}: {} heap allocations ({} bytes) in {CALLS} calls",
        info.count_total, info.bytes_total
    );
    assert_eq!(info.bytes_current, 0, "{what}: net live bytes changed");
}
