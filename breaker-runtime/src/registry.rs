//! The process-wide registry of breakers, by name.
//!
//! Every breaker, made by the attribute or by hand, is listed here while it is alive. The
//! registry holds only weak references: dropping the last clone of a hand-made breaker
//! removes it, so programs that make a breaker per host or per tenant do not grow.
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
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use crate::breaker::Core;
use crate::builder::{BuildError, Builder, Settings};
use crate::{BreakerError, CircuitBreaker, Counts, Name, State};

type Map = HashMap<Name, Weak<Core>>;

static REGISTRY: LazyLock<Mutex<Map>> = LazyLock::new(Mutex::default);

fn lock() -> MutexGuard<'static, Map> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One breaker as the registry lists it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// The counts of its current generation.
    pub counts: Counts,
    /// How long until it admits a probe, when open.
    pub retry_after: Option<Duration>,
    /// Its settings.
    pub settings: Settings,
}

/// The live breaker with this name, if any.
#[must_use]
pub fn get(name: &str) -> Option<CircuitBreaker> {
    let core = lock().get(name).and_then(Weak::upgrade);
    core.map(|core| CircuitBreaker { core })
}

/// A snapshot of every live breaker, sorted by name.
#[must_use]
pub fn snapshot() -> Vec<Snapshot> {
    let breakers: Vec<CircuitBreaker> = lock()
        .values()
        .filter_map(Weak::upgrade)
        .map(|core| CircuitBreaker { core })
        .collect();
    // The lock is released before the breakers are looked at or dropped: dropping the
    // last clone of one takes the lock to remove it.
    let mut all: Vec<Snapshot> = breakers.iter().map(CircuitBreaker::snapshot).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// How many breakers are registered (live ones; entries of dropped breakers are removed
/// as they drop).
#[must_use]
pub fn len() -> usize {
    lock().len()
}

fn register(map: &mut Map, builder: Builder) -> CircuitBreaker {
    let core = Arc::new(Core::new(builder));
    map.insert(core.name.clone(), Arc::downgrade(&core));
    CircuitBreaker { core }
}

pub(crate) fn insert(builder: Builder) -> Result<CircuitBreaker, BuildError> {
    let mut map = lock();
    if map.get(&builder.name).is_some_and(|w| w.strong_count() > 0) {
        return Err(BuildError::NameTaken { name: builder.name });
    }
    Ok(register(&mut map, builder))
}

pub(crate) fn remove(core: &Core) {
    let mut map = lock();
    if map
        .get(&core.name)
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), core))
    {
        map.remove(&core.name);
    }
}

/// The breaker of an annotated function: the live breaker with the builder's name if its
/// settings match, else a new one. Not a stable API; used by `#[circuit_breaker]`.
///
/// # Errors
/// [`BreakerError::Misconfigured`] for invalid settings or a conflicting breaker of the
/// same name.
#[doc(hidden)]
pub fn shared(builder: Builder) -> Result<CircuitBreaker, BreakerError> {
    let misconfigured = |name: &Name, reason: String| BreakerError::Misconfigured {
        name: name.clone(),
        reason,
    };
    if let Err(e) = builder.check() {
        return Err(misconfigured(&builder.name, e.to_string()));
    }
    let mut map = lock();
    let existing = map.get(&builder.name).and_then(Weak::upgrade);
    let Some(core) = existing else {
        return Ok(register(&mut map, builder));
    };
    drop(map);
    let existing = CircuitBreaker { core };
    match existing.core.settings.difference(&builder.settings) {
        None => Ok(existing),
        Some(setting) => Err(misconfigured(
            &builder.name,
            format!(
                "another function or breaker with this name sets {setting} differently; \
                 give them the same settings, or different names"
            ),
        )),
    }
}
