//! A breaker's side of its fleet (see the `shared` module): the probe tokens the fleet
//! granted this replica, the local moves it has not told the fleet about yet, and how its
//! syncing goes. The machine reads the tokens on the half-open path only and records its
//! moves off the call path; nothing here is touched by a closed breaker's calls.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::counts::{pack, unpack};
use crate::{Cause, State};

/// The gate of a replica that is not in touch with its fleet: its half-open breaker admits
/// as many probes as its own `max_requests`.
const UNGATED: u64 = u64::MAX;

/// A change of state this replica made on its own (a trip, a failed or slow probe, probes
/// that succeeded), for the fleet to take up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Move {
    /// `Open` or `Closed`.
    pub(crate) to: State,
    /// The open period drawn, in nanoseconds (0 unless `to` is `Open`).
    pub(crate) period: u64,
    /// The open attempt.
    pub(crate) attempt: u64,
}

/// One breaker's link to its fleet.
#[derive(Debug)]
pub(crate) struct Link {
    /// The probe tokens granted for a half-open generation, packed with that generation
    /// (so a later generation has none until granted), or [`UNGATED`].
    gate: AtomicU64,
    /// Half-open admissions refused for want of a token since the last sync.
    wanted: AtomicU64,
    /// The latest local move not yet taken to the fleet.
    moved: Mutex<Option<Move>>,
    /// Wakes the sync task at once (a local move).
    pub(crate) wake: Notify,
    /// Whether the last sync reached the store.
    pub(crate) attached: AtomicBool,
    /// Syncs that reached the store, and syncs that failed.
    pub(crate) syncs: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Link {
    pub(crate) fn new() -> Link {
        Link {
            gate: AtomicU64::new(UNGATED),
            wanted: AtomicU64::new(0),
            moved: Mutex::new(None),
            wake: Notify::new(),
            attached: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// How many probes half-open generation `generation` may admit in all, as far as the
    /// fleet is concerned.
    #[inline]
    pub(crate) fn tokens(&self, generation: u64) -> u64 {
        match self.gate.load(Ordering::Acquire) {
            UNGATED => u64::MAX,
            gate => unpack(gate, generation).unwrap_or(0),
        }
    }

    /// A half-open admission was refused for want of a token.
    pub(crate) fn refused(&self) {
        self.wanted.fetch_add(1, Ordering::Relaxed);
    }

    /// The refusals since the last call.
    pub(crate) fn take_wanted(&self) -> u64 {
        self.wanted.swap(0, Ordering::Relaxed)
    }

    /// The fleet granted `tokens` probes in all to half-open generation `generation`; any
    /// other generation has none.
    pub(crate) fn grant(&self, generation: u64, tokens: u64) {
        self.gate.store(pack(generation, tokens), Ordering::Release);
    }

    /// The store is out of reach: this replica decides alone.
    pub(crate) fn detach(&self) {
        self.gate.store(UNGATED, Ordering::Release);
        self.attached.store(false, Ordering::Release);
    }

    /// The machine changed state: a change of its own (not one that follows the fleet, an
    /// operator's or a reconfiguration) is news for the fleet, taken at once.
    /// Its own changes all end in `Open` or `Closed`.
    pub(crate) fn moved(&self, to: State, cause: Cause, period: u64, attempt: u64) {
        let own = matches!(
            cause,
            Cause::Tripped
                | Cause::SlowCallsTripped
                | Cause::ProbeFailed
                | Cause::ProbeSlow
                | Cause::ProbesSucceeded
        );
        if !own {
            return;
        }
        *self.moved.lock().unwrap_or_else(PoisonError::into_inner) = Some(Move {
            to,
            period,
            attempt,
        });
        self.wake.notify_one();
    }

    /// The local move to report, if any.
    pub(crate) fn take_move(&self) -> Option<Move> {
        self.moved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// A move that could not be reported goes back, unless a newer one took its place.
    pub(crate) fn put_back(&self, undelivered: Move) {
        self.moved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(undelivered);
    }
}
