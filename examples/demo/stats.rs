//! What each caller experienced: outcomes, latencies and requests in flight, per phase.
//!
//! A call belongs to the phase in which it started, even if it finishes later; the peak
//! in flight of a phase is the most calls the caller had open at once during that phase,
//! whenever they started.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_breaker::BreakerError;
use tokio::time::Instant;

use crate::callers::{DEADLINE, FetchError, Quote};

/// How one call ended, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A fresh price from the service.
    Ok,
    /// An error status or a transport error.
    Failed,
    /// A deadline passed: the breaker's, or the unprotected client's own timeout.
    TimedOut,
    /// The breaker refused the call and the fallback answered with the last good price.
    Fallback,
    /// The breaker refused the call and there was nothing to fall back on.
    Rejected,
}

impl Outcome {
    pub(crate) fn of(result: &Result<Quote, FetchError>) -> Outcome {
        match result {
            Ok(quote) if quote.fresh => Outcome::Ok,
            Ok(_) => Outcome::Fallback,
            Err(FetchError::Breaker(BreakerError::Timeout { .. }) | FetchError::ClientTimeout) => {
                Outcome::TimedOut
            }
            Err(FetchError::Breaker(e)) if e.is_rejection() => Outcome::Rejected,
            Err(FetchError::NothingCached) => Outcome::Rejected,
            Err(_) => Outcome::Failed,
        }
    }
}

/// The calls a caller started in one phase, and its peak in flight during it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PhaseStats {
    pub(crate) calls: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) timed_out: u64,
    /// Calls the breaker refused, whether or not the fallback then answered.
    pub(crate) rejected: u64,
    /// Refused calls the fallback answered.
    pub(crate) fallback: u64,
    /// Calls answered with a price (fresh or fallback) within the protected caller's
    /// deadline.
    pub(crate) answered_in_time: u64,
    pub(crate) peak_in_flight: usize,
    latencies: Vec<Duration>,
}

impl PhaseStats {
    /// Calls started in this phase that have not finished yet.
    pub(crate) fn pending(&self) -> u64 {
        self.calls - (self.ok + self.failed + self.timed_out + self.rejected)
    }

    /// The `p`-th percentile (nearest rank) of the finished calls' latencies.
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        // Nearest rank: the smallest value with at least p% of the values at or below it.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, n) - 1])
    }

    pub(crate) fn slowest(&self) -> Option<Duration> {
        self.latencies.iter().max().copied()
    }

    fn add(&mut self, other: &PhaseStats) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.failed += other.failed;
        self.timed_out += other.timed_out;
        self.rejected += other.rejected;
        self.fallback += other.fallback;
        self.answered_in_time += other.answered_in_time;
        self.peak_in_flight = self.peak_in_flight.max(other.peak_in_flight);
        self.latencies.extend_from_slice(&other.latencies);
    }
}

/// A call in progress: which phase it belongs to and when it started.
#[derive(Debug)]
pub(crate) struct Started {
    phase: usize,
    at: Instant,
}

/// The record of one caller.
#[derive(Debug)]
pub(crate) struct Caller {
    in_flight: AtomicUsize,
    phases: Mutex<[PhaseStats; 4]>,
}

impl Caller {
    pub(crate) fn new() -> Caller {
        Caller {
            in_flight: AtomicUsize::new(0),
            phases: Mutex::default(),
        }
    }

    fn phases(&self) -> MutexGuard<'_, [PhaseStats; 4]> {
        self.phases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new phase begins: the calls still open count toward its peak.
    pub(crate) fn enter(&self, phase: usize) {
        let open = self.in_flight();
        let mut phases = self.phases();
        phases[phase].peak_in_flight = phases[phase].peak_in_flight.max(open);
    }

    /// A call starts in `phase`.
    pub(crate) fn start(&self, phase: usize) -> Started {
        let open = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut phases = self.phases();
        phases[phase].calls += 1;
        phases[phase].peak_in_flight = phases[phase].peak_in_flight.max(open);
        Started {
            phase,
            at: Instant::now(),
        }
    }

    /// A call finished.
    pub(crate) fn finish(&self, started: Started, outcome: Outcome) {
        let latency = started.at.elapsed();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut phases = self.phases();
        let stats = &mut phases[started.phase];
        stats.latencies.push(latency);
        if matches!(outcome, Outcome::Ok | Outcome::Fallback) && latency <= DEADLINE {
            stats.answered_in_time += 1;
        }
        match outcome {
            Outcome::Ok => stats.ok += 1,
            Outcome::Failed => stats.failed += 1,
            Outcome::TimedOut => stats.timed_out += 1,
            Outcome::Fallback => {
                stats.rejected += 1;
                stats.fallback += 1;
            }
            Outcome::Rejected => stats.rejected += 1,
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn phase(&self, phase: usize) -> PhaseStats {
        self.phases()[phase].clone()
    }

    /// All phases together; the peak is the highest of any phase.
    pub(crate) fn total(&self) -> PhaseStats {
        let mut total = PhaseStats::default();
        for stats in self.phases().iter() {
            total.add(stats);
        }
        total
    }
}
