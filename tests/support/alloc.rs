//! What the allocation tests share: a counted batch of calls on a current-thread runtime,
//! after a warm-up, and the assertion that it allocated nothing. Included by
//! `tests/alloc.rs` and `tests/alloc_metrics.rs` with `#[path]`.

use std::future::Future;
use std::hint::black_box;

use allocation_counter::{AllocationInfo, measure};
use async_breaker::BreakerError;
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

/// `few` and `many` measured the same work done a thousand and a million times: the live
/// heap is back where it started after each, and the number of allocations is bounded and
/// no larger for a million than for a thousand (the runtime's own buffers, if any; none
/// per repetition).
#[track_caller]
pub(crate) fn assert_no_growth(what: &str, few: &AllocationInfo, many: &AllocationInfo) {
    for (n, info) in [("1,000", few), ("1,000,000", many)] {
        assert_eq!(
            info.bytes_current, 0,
            "{n} {what}: net live bytes changed: {info:?}"
        );
        assert_eq!(
            info.count_current, 0,
            "{n} {what}: live allocations changed: {info:?}"
        );
    }
    assert!(many.count_total <= 16, "{many:?}");
    assert!(many.count_total <= few.count_total, "{few:?} then {many:?}");
}
