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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::Duration;

use crate::breaker::Core;
use crate::builder::Builder;
use crate::{BuildError, Settings};
use crate::{CircuitBreaker, Counts, Name, State, StateChange};

/// One listed breaker; a name's entries are in the order they were made.
struct Entry {
    core: Weak<Core>,
    /// Made by `build_shared`: the breaker that name lookups and sharing find.
    shared: bool,
}

type Map = HashMap<Name, Vec<Entry>>;

static REGISTRY: LazyLock<Mutex<Map>> = LazyLock::new(Mutex::default);

fn lock() -> MutexGuard<'static, Map> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One breaker as the registry lists it.
///
/// With the `serde` feature it serializes with durations as seconds (`f64`), e.g.
/// `{"name":"db","state":"open","forced":false,"counts":{..},"retry_after":4.2,"settings":{..}}`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// Whether an operator holds it in that state.
    pub forced: bool,
    /// The counts of its current generation.
    pub counts: Counts,
    /// How long until it admits a probe, when open (and not held open).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_impl::seconds")
    )]
    pub retry_after: Option<Duration>,
    /// Its settings.
    pub settings: Settings,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

static LISTENERS: RwLock<Vec<(u64, Listener)>> = RwLock::new(Vec::new());
static LISTENER_COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_LISTENER: AtomicU64 = AtomicU64::new(0);

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
    let mut all = LISTENERS.write().unwrap_or_else(PoisonError::into_inner);
    all.push((id, Arc::new(listener)));
    LISTENER_COUNT.store(all.len(), Ordering::Release);
    ListenerId(id)
}

/// Removes a listener; `false` if it was already removed.
pub fn remove_listener(id: ListenerId) -> bool {
    let mut all = LISTENERS.write().unwrap_or_else(PoisonError::into_inner);
    let before = all.len();
    all.retain(|(i, _)| *i != id.0);
    LISTENER_COUNT.store(all.len(), Ordering::Release);
    all.len() != before
}

pub(crate) fn notify_listeners(change: &StateChange) {
    if LISTENER_COUNT.load(Ordering::Acquire) == 0 {
        return;
    }
    // Copied out so that no lock is held while listeners run.
    let listeners: Vec<Listener> = LISTENERS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(_, l)| Arc::clone(l))
        .collect();
    for listener in listeners {
        crate::breaker::contained(&change.name, "state-change listener", || listener(change));
    }
}

/// The live breaker with this name, if any: the shared one (made by
/// [`Builder::build_shared`](crate::Builder::build_shared), as named `#[circuit_breaker]`
/// functions make theirs) when there is one, otherwise the oldest live breaker of that name.
#[must_use]
pub fn get(name: &str) -> Option<CircuitBreaker> {
    let map = lock();
    let entries = map.get(name)?;
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
    let breakers: Vec<CircuitBreaker> = lock()
        .values()
        .flatten()
        .filter_map(|e| e.core.upgrade())
        .map(|core| CircuitBreaker { core })
        .collect();
    // The lock is released before the breakers are looked at or dropped: dropping the
    // last clone of one takes the lock to remove it.
    let mut all: Vec<Snapshot> = breakers.iter().map(CircuitBreaker::snapshot).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Applies `settings` to every live breaker named `name` (see
/// [`CircuitBreaker::reconfigure`]), and returns how many there were: 0 when no live
/// breaker has the name.
///
/// # Errors
/// The [`BuildError`] of an invalid setting; no breaker changes then.
pub fn reconfigure(name: &str, settings: Settings) -> Result<usize, BuildError> {
    settings.validate()?;
    let breakers: Vec<CircuitBreaker> = lock()
        .get(name)
        .into_iter()
        .flatten()
        .filter_map(|e| e.core.upgrade())
        .map(|core| CircuitBreaker { core })
        .collect();
    for breaker in &breakers {
        breaker.reconfigure(settings)?;
    }
    Ok(breakers.len())
}

/// Every live breaker.
#[cfg_attr(not(feature = "config"), allow(dead_code))]
pub(crate) fn live() -> Vec<CircuitBreaker> {
    lock()
        .values()
        .flatten()
        .filter_map(|e| e.core.upgrade())
        .map(|core| CircuitBreaker { core })
        .collect()
}

/// How many breakers are registered (live ones; entries of dropped breakers are removed
/// as they drop).
#[must_use]
pub fn len() -> usize {
    lock().values().map(Vec::len).sum()
}

fn register(map: &mut Map, builder: Builder, shared: bool) -> CircuitBreaker {
    let core = Arc::new(Core::new(builder));
    map.entry(core.name.clone()).or_default().push(Entry {
        core: Arc::downgrade(&core),
        shared,
    });
    CircuitBreaker { core }
}

/// Lists a new, independent breaker.
pub(crate) fn insert(builder: Builder) -> CircuitBreaker {
    register(&mut lock(), builder, false)
}

/// The live shared breaker of the builder's name if it is configured the same, else a new
/// shared one. The lookup and the creation happen under one lock, so concurrent callers
/// get one breaker.
pub(crate) fn shared(builder: Builder) -> Result<CircuitBreaker, BuildError> {
    let mut map = lock();
    let existing = map.get(&builder.name).and_then(|entries| {
        entries
            .iter()
            .filter(|e| e.shared)
            .find_map(|e| e.core.upgrade())
    });
    let Some(core) = existing else {
        return Ok(register(&mut map, builder, true));
    };
    // Released before `core` may be dropped (its drop takes the lock).
    drop(map);
    match builder.difference(&core.built, &core.functions) {
        None => Ok(CircuitBreaker { core }),
        Some(setting) => Err(BuildError::Conflict {
            name: builder.name,
            setting,
        }),
    }
}

pub(crate) fn remove(core: &Core) {
    let mut map = lock();
    if let Some(entries) = map.get_mut(&core.name) {
        entries.retain(|e| !std::ptr::eq(e.core.as_ptr(), core));
        if entries.is_empty() {
            map.remove(&core.name);
        }
    }
}
