//! The process-wide registry of breakers, by name.
//!
//! Every breaker, made by the attribute or by hand, is listed here while it is alive. The
//! registry holds only weak references: dropping the last clone of a hand-made breaker
//! removes it, so programs that make a breaker per host or per tenant keep the registry
//! small. (With the `metrics` feature the recorder keeps each breaker's series after it is
//! dropped; see the crate's documentation.)
//!
//! Names need not be unique. [`Builder::build`](crate::Builder::build) always makes a new,
//! independent breaker, so two tests that each build a breaker called "payments" never
//! collide; [`Builder::build_shared`](crate::Builder::build_shared) gets or creates the one
//! *shared* breaker of a name (as a named `#[circuit_breaker]` function does). [`get`]
//! returns the shared breaker of a name when there is one, and otherwise the oldest live
//! breaker of that name; [`snapshot`] lists them all.
//!
//! ```
//! use breaker_runtime::{registry, CircuitBreaker, State};
//!
//! let breaker = CircuitBreaker::builder("registry-example").build()?;
//! let found = registry::get("registry-example").expect("registered");
//! assert_eq!(found.state(), State::Closed);
//! assert!(registry::snapshot().iter().any(|s| s.name == "registry-example"));
//! drop((breaker, found));
//! assert!(registry::get("registry-example").is_none());
//! # Ok::<(), breaker_runtime::BuildError>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::breaker::Core;
pub use crate::breaker::Snapshot;
use crate::observe::Listeners;
use crate::{BuildError, CircuitBreaker, Name, Settings, StateChange};

/// One listed breaker; a name's entries are in the order they were made.
struct Entry {
    core: Weak<Core>,
    /// Made by `build_shared`: the breaker that name lookups and sharing find.
    shared: bool,
}

/// The listed breakers by name. Entries of dropped breakers are pruned as breakers are
/// added, whenever the entries have doubled since the last pruning, so the map stays
/// within twice the live breakers (and the registry never reaches into a breaker's drop).
#[derive(Default)]
struct Map {
    names: HashMap<Name, Vec<Entry>>,
    entries: usize,
    prune_at: usize,
}

impl Map {
    fn live(&self) -> impl Iterator<Item = (&Entry, Arc<Core>)> {
        self.names
            .values()
            .flatten()
            .filter_map(|e| e.core.upgrade().map(|core| (e, core)))
    }

    fn add(&mut self, name: Name, entry: Entry) {
        if self.entries >= self.prune_at {
            self.names.retain(|_, entries| {
                entries.retain(|e| e.core.strong_count() > 0);
                !entries.is_empty()
            });
            self.entries = self.names.values().map(Vec::len).sum();
            self.prune_at = (2 * self.entries).max(64);
        }
        self.names.entry(name).or_default().push(entry);
        self.entries += 1;
    }
}

static REGISTRY: LazyLock<Mutex<Map>> = LazyLock::new(Mutex::default);

fn lock() -> MutexGuard<'static, Map> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The listeners every breaker reports to.
static LISTENERS: LazyLock<Arc<Listeners>> = LazyLock::new(Listeners::new);
static NEXT_LISTENER: AtomicU64 = AtomicU64::new(0);

/// The listeners a new breaker reports to.
pub(crate) fn listeners() -> Arc<Listeners> {
    Arc::clone(&LISTENERS)
}

/// Identifies a listener registered with [`on_state_change`], to remove it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// Calls `listener` after every state change of every breaker, made by the attribute or
/// by hand, including operator actions ([`CircuitBreaker::force_open`] and the like).
/// For paging, logging, or replaying a queue once a breaker closes.
///
/// Listeners run on the thread of the call that caused the change, after the change, with
/// no lock of the breaker or the registry held: they may read breakers and the registry,
/// and may add or remove listeners (which takes effect from the next change).
///
/// Only real changes of state are reported: holding an open breaker open, or resetting a
/// closed one, is not a transition. A listener may itself act on breakers (holding an
/// opened breaker open, say) without recursing.
///
/// Every listener, and the breaker's own hook, gets every change whatever another one did:
/// a panic in one is caught. The process's panic hook reports it as any panic (to stderr
/// by default), the `tracing` feature adds an error event naming the breaker, and the
/// call or getter that caused the change carries on as if nothing happened.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use breaker_runtime::{registry, CircuitBreaker, Cause, State};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let id = registry::on_state_change(move |change| {
///     if change.name == "listener-example" {
///         log.lock().unwrap().push((change.to, change.cause));
///     }
/// });
/// let b = CircuitBreaker::builder("listener-example").build()?;
/// b.force_open();
/// b.reset();
/// assert!(registry::remove_listener(id));
/// assert_eq!(
///     *seen.lock().unwrap(),
///     [(State::Open, Cause::ForcedOpen), (State::Closed, Cause::Reset)]
/// );
/// # Ok::<(), breaker_runtime::BuildError>(())
/// ```
pub fn on_state_change<F>(listener: F) -> ListenerId
where
    F: Fn(&StateChange) + Send + Sync + 'static,
{
    let id = NEXT_LISTENER.fetch_add(1, Ordering::Relaxed);
    LISTENERS.add(id, Arc::new(listener));
    ListenerId(id)
}

/// Removes a listener; `false` if it was already removed.
pub fn remove_listener(id: ListenerId) -> bool {
    LISTENERS.remove(id.0)
}

/// The live breaker with this name, if any: the shared one (made by
/// [`Builder::build_shared`](crate::Builder::build_shared), as named `#[circuit_breaker]`
/// functions make theirs) when there is one, otherwise the oldest live breaker of that name.
#[must_use]
pub fn get(name: &str) -> Option<CircuitBreaker> {
    let map = lock();
    let entries = map.names.get(name)?;
    let core = entries
        .iter()
        .filter(|e| e.shared)
        .chain(entries.iter().filter(|e| !e.shared))
        .find_map(|e| e.core.upgrade());
    drop(map);
    core.map(|core| CircuitBreaker { core })
}

/// A snapshot of every live breaker, sorted by name (breakers of one name in the order they
/// were made).
#[must_use]
pub fn snapshot() -> Vec<Snapshot> {
    // The lock is released before the breakers are looked at (looking may run listeners,
    // which may use the registry).
    let breakers = live();
    let mut all: Vec<Snapshot> = breakers.iter().map(CircuitBreaker::snapshot).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Applies `settings` to every live breaker named `name` (see
/// [`CircuitBreaker::reconfigure`]), and returns how many there were: 0 when no live
/// breaker has the name.
///
/// # Errors
/// The [`BuildError`] of an invalid setting, or of a window the breakers cannot change
/// to; no breaker changes then.
pub fn reconfigure(name: &str, settings: Settings) -> Result<usize, BuildError> {
    settings.validate()?;
    let breakers: Vec<CircuitBreaker> = lock()
        .names
        .get(name)
        .into_iter()
        .flatten()
        .filter_map(|e| e.core.upgrade())
        .map(|core| CircuitBreaker { core })
        .collect();
    for breaker in &breakers {
        breaker.core.machine.accepts(&settings)?;
    }
    for breaker in &breakers {
        breaker.reconfigure(settings)?;
    }
    Ok(breakers.len())
}

/// Every live breaker.
pub(crate) fn live() -> Vec<CircuitBreaker> {
    lock()
        .live()
        .map(|(_, core)| CircuitBreaker { core })
        .collect()
}

/// How many live breakers are registered.
#[must_use]
pub fn len() -> usize {
    lock().live().count()
}

/// Lists a new, independent breaker.
pub(crate) fn insert(core: Core) -> CircuitBreaker {
    let core = Arc::new(core);
    lock().add(
        core.name().clone(),
        Entry {
            core: Arc::downgrade(&core),
            shared: false,
        },
    );
    CircuitBreaker { core }
}

/// The live shared breaker of `name`, or a new shared one made by `make`. The lookup and
/// the creation happen under one lock, so concurrent callers get one breaker. `Ok` when the
/// breaker was made now, `Err` with the existing one otherwise (for the caller to compare).
pub(crate) fn shared(
    name: &Name,
    make: impl FnOnce() -> Core,
) -> Result<CircuitBreaker, CircuitBreaker> {
    let mut map = lock();
    let existing = map.names.get(name).and_then(|entries| {
        entries
            .iter()
            .filter(|e| e.shared)
            .find_map(|e| e.core.upgrade())
    });
    if let Some(core) = existing {
        // Released before `core` may be dropped.
        drop(map);
        return Err(CircuitBreaker { core });
    }
    let core = Arc::new(make());
    map.add(
        name.clone(),
        Entry {
            core: Arc::downgrade(&core),
            shared: true,
        },
    );
    Ok(CircuitBreaker { core })
}
