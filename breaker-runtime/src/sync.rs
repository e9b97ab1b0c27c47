//! The atomics the state machine uses, swapped for loom's under `cfg(loom)` so that the
//! model checker can explore every interleaving of them.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering, fence};
