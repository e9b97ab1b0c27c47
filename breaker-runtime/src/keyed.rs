//! A breaker per key (per host, per tenant, per route), made lazily from one template.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::{BreakerError, BuildError, Builder, CircuitBreaker, Name, State};

/// A value that picks a breaker in a [`KeyedBreakers`] set: what the attribute's
/// `key = ...` takes, for one breaker per host, tenant or route.
///
/// Implemented for strings (`&str` and `&String` are looked up without allocating; the
/// set stores a `String` the first time), integers, `char`, `bool`, IP and socket
/// addresses, and references to those. For a type of your own that is `Hash + Eq +
/// Display + Send + Sync + 'static`, implement it with `Owned = Self` and
/// `set.lookup(self)`:
///
/// ```
/// use std::fmt;
/// use breaker_runtime::{BreakerKey, CircuitBreaker, KeyedBreakers};
///
/// #[derive(Hash, PartialEq, Eq)]
/// struct Tenant(u32);
/// impl fmt::Display for Tenant {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         write!(f, "tenant-{}", self.0)
///     }
/// }
/// impl BreakerKey for Tenant {
///     type Owned = Tenant;
///     fn breaker_in(self, set: &KeyedBreakers<Tenant>) -> CircuitBreaker {
///         set.lookup(self)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot pick a keyed breaker",
    label = "a `key` must be a string, an integer, a `char`, an IP or socket address, or a type that implements `BreakerKey`",
    note = "`&str` and `&String` keys are looked up without allocating; for another type, implement `BreakerKey` or pass `.to_string()`"
)]
pub trait BreakerKey: Sized {
    /// The key as the set stores it (and prints it in the breaker's name).
    type Owned: Hash + Eq + fmt::Display + Send + Sync + 'static;

    /// The breaker of this key in `set`, made now if the key has none.
    fn breaker_in(self, set: &KeyedBreakers<Self::Owned>) -> CircuitBreaker;

    /// The key itself; lets generated code check a key's type where it is written.
    #[doc(hidden)]
    #[inline]
    fn key(self) -> Self {
        self
    }
}

impl BreakerKey for &str {
    type Owned = String;
    #[inline]
    fn breaker_in(self, set: &KeyedBreakers<String>) -> CircuitBreaker {
        set.get(self)
    }
}

impl BreakerKey for &String {
    type Owned = String;
    #[inline]
    fn breaker_in(self, set: &KeyedBreakers<String>) -> CircuitBreaker {
        set.get(self.as_str())
    }
}

impl BreakerKey for String {
    type Owned = String;
    #[inline]
    fn breaker_in(self, set: &KeyedBreakers<String>) -> CircuitBreaker {
        set.lookup(self)
    }
}

macro_rules! copy_keys {
    ($($t:ty),* $(,)?) => {$(
        impl BreakerKey for $t {
            type Owned = $t;
            #[inline]
            fn breaker_in(self, set: &KeyedBreakers<$t>) -> CircuitBreaker {
                set.lookup(self)
            }
        }
        impl BreakerKey for &$t {
            type Owned = $t;
            #[inline]
            fn breaker_in(self, set: &KeyedBreakers<$t>) -> CircuitBreaker {
                set.lookup(*self)
            }
        }
    )*};
}

copy_keys!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    char,
    bool,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr,
);

/// How many keyed breakers a set holds unless told otherwise.
pub const DEFAULT_MAX_KEYS: usize = 1024;

/// One circuit breaker per distinct key, made on first use from a template [`Builder`].
///
/// A service that calls many hosts or tenants through the same code wants one breaker per
/// host: a dying host must not open the breaker of a healthy one. `KeyedBreakers` makes
/// the breaker of a key the first time the key is looked up, named `name[key]` (so
/// `"inventory[10.0.0.7:8080]"`) with the template's settings and hook. Every keyed breaker
/// is an ordinary [`CircuitBreaker`]: the [`registry`](crate::registry), listeners, tracing
/// and metrics see each one by its name.
///
/// Looking up a key that already has its breaker takes no lock and does not allocate (a
/// lock-free map, [`papaya`], hashed with `foldhash`, seeded per set). Making a new one
/// takes a short lock.
///
/// **Bounded.** The set holds at most `max_keys` breakers ([`DEFAULT_MAX_KEYS`] unless
/// [`with_max_keys`](Self::with_max_keys) says otherwise). When a new key arrives at a full
/// set, the least recently looked-up breaker that is closed and idle (no one holds it, so
/// no call is in flight) is evicted to make room. If none can be evicted, because every
/// breaker is open, half-open or busy, the new key shares one overflow breaker named
/// `name[*]`, which does not count against `max_keys`; this is said once per set (a
/// `tracing` warning, and the `breaker_keyed_overflow_total{breaker}` counter with the
/// `metrics` feature). A key that overflowed tries again for a breaker of its own at its
/// next lookup.
///
/// With the `config` feature, the set takes the loaded settings of its own name (not of
/// `name[key]`) when it is made, and makes every key's breaker from them.
///
/// Cloning a `KeyedBreakers` is cheap and shares the set.
///
/// ```
/// use breaker_runtime::{BreakerError, CircuitBreaker, KeyedBreakers, State, TripPolicy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hosts = KeyedBreakers::new(
///     CircuitBreaker::builder("inventory").trip_policy(TripPolicy::ConsecutiveFailures(1)),
/// )?;
/// let down: Result<(), BreakerError> = hosts.get("10.0.0.7:8080").call(async {
///     Err(BreakerError::Misconfigured { name: "demo".into(), reason: "down".into() })
/// }).await;
/// assert!(down.is_err());
/// assert_eq!(hosts.get("10.0.0.7:8080").state(), State::Open);
/// assert_eq!(hosts.get("10.0.0.8:8080").state(), State::Closed);
/// assert_eq!(hosts.get("10.0.0.8:8080").name(), "inventory[10.0.0.8:8080]");
/// # Ok(())
/// # }
/// ```
pub struct KeyedBreakers<K> {
    inner: Arc<Inner<K>>,
}

struct Inner<K> {
    template: Builder,
    max_keys: usize,
    map: papaya::HashMap<K, Entry, foldhash::fast::RandomState>,
    /// Ticks once per lookup: the order in which keys were last used. Read and written
    /// without a read-modify-write, so two lookups at the same instant on two threads may
    /// share a tick: recency is approximate at that scale, which eviction does not need.
    clock: AtomicU64,
    /// Serializes making and evicting breakers; lookups of existing keys never take it.
    grow: Mutex<()>,
    overflow: OnceLock<CircuitBreaker>,
    overflow_said: AtomicBool,
    #[cfg(feature = "metrics")]
    overflowed: metrics::Counter,
}

struct Entry {
    breaker: CircuitBreaker,
    last_used: AtomicU64,
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> KeyedBreakers<K>
where
    K: Hash + Eq + fmt::Display + Send + Sync + 'static,
{
    /// A set whose breakers are made from `template`, bounded by [`DEFAULT_MAX_KEYS`].
    /// The template's name is the set's name; each key's breaker is named `name[key]`.
    ///
    /// # Errors
    /// The [`BuildError`] of an invalid template, checked here once.
    pub fn new(template: Builder) -> Result<Self, BuildError> {
        Self::with_max_keys(template, DEFAULT_MAX_KEYS)
    }

    /// A set whose breakers are made from `template`, holding at most `max_keys` of them.
    ///
    /// # Errors
    /// [`BuildError::ZeroMaxKeys`] when `max_keys` is 0, or the [`BuildError`] of an
    /// invalid template.
    pub fn with_max_keys(template: Builder, max_keys: usize) -> Result<Self, BuildError> {
        // The set's name's configured settings, once, for every breaker it makes.
        let template = template.configured();
        template.check()?;
        if max_keys == 0 {
            return Err(BuildError::ZeroMaxKeys);
        }
        #[cfg(feature = "metrics")]
        let overflowed = metrics::counter!(
            "breaker_keyed_overflow_total",
            "breaker" => template.name.to_string()
        );
        Ok(KeyedBreakers {
            inner: Arc::new(Inner {
                template,
                max_keys,
                // Reclaim a removed entry as soon as no thread reads it, so an evicted
                // breaker is dropped (and leaves the registry) at once, not after a batch
                // of 32 removals.
                map: papaya::HashMap::builder()
                    .hasher(foldhash::fast::RandomState::default())
                    .collector(seize::Collector::new().batch_size(1))
                    .build(),
                clock: AtomicU64::new(0),
                grow: Mutex::new(()),
                overflow: OnceLock::new(),
                overflow_said: AtomicBool::new(false),
                #[cfg(feature = "metrics")]
                overflowed,
            }),
        })
    }

    /// The set's name: the template's.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.inner.template.name
    }

    /// The most breakers the set holds (the overflow breaker aside).
    #[must_use]
    pub fn max_keys(&self) -> usize {
        self.inner.max_keys
    }

    /// How many keys have a breaker of their own now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no key has a breaker yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The breaker of `key`, made now if the key has none. When the set is full and no
    /// breaker can be evicted, the overflow breaker `name[*]`.
    ///
    /// `key` may be a borrowed form of `K` (`&str` for `KeyedBreakers<String>`); it is
    /// turned into a `K` only when its breaker is made.
    pub fn get<Q>(&self, key: &Q) -> CircuitBreaker
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let tick = inner.tick();
        if let Some(entry) = inner.map.pin().get(key) {
            entry.last_used.store(tick, Ordering::Relaxed);
            return entry.breaker.clone();
        }
        self.make(key.to_owned(), tick)
    }

    /// The breaker of `key`, like [`get`](Self::get), taking the key by value: a key made
    /// per request (a key function's result, say) moves into the set when its breaker is
    /// made, and needs no `Clone`.
    pub fn lookup(&self, key: K) -> CircuitBreaker {
        let inner = &*self.inner;
        let tick = inner.tick();
        if let Some(entry) = inner.map.pin().get(&key) {
            entry.last_used.store(tick, Ordering::Relaxed);
            return entry.breaker.clone();
        }
        self.make(key, tick)
    }

    /// Runs `fut` through the breaker of `key`, as [`CircuitBreaker::call`] does.
    ///
    /// # Errors
    /// `fut`'s own error, or a [`BreakerError`] converted into `E`.
    pub async fn call<Q, F, T, E>(&self, key: &Q, fut: F) -> Result<T, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
    {
        let breaker = self.get(key);
        breaker.call(fut).await
    }

    #[cold]
    fn make(&self, key: K, tick: u64) -> CircuitBreaker {
        let inner = &*self.inner;
        let _grow = inner.grow.lock().unwrap_or_else(PoisonError::into_inner);
        let map = inner.map.pin();
        // Another caller may have made it while this one waited for the lock.
        if let Some(entry) = map.get(&key) {
            entry.last_used.store(tick, Ordering::Relaxed);
            return entry.breaker.clone();
        }
        if map.len() >= inner.max_keys {
            // The least recently used breaker that is closed and idle makes room.
            let victim = map
                .iter()
                .filter(|(_, entry)| entry.is_evictable())
                .min_by_key(|(_, entry)| entry.last_used.load(Ordering::Relaxed))
                .map(|(key, _)| key);
            match victim {
                Some(victim) => {
                    map.remove(victim);
                }
                None => return self.overflow(),
            }
        }
        let name = Name::from(format!("{}[{key}]", inner.template.name));
        let Ok(breaker) = inner.template.clone().named(name).build() else {
            // The template was checked when the set was made; a name cannot be refused.
            return self.overflow();
        };
        map.insert(
            key,
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(tick),
            },
        );
        breaker
    }

    fn overflow(&self) -> CircuitBreaker {
        let inner = &*self.inner;
        #[cfg(feature = "metrics")]
        inner.overflowed.increment(1);
        if !inner.overflow_said.swap(true, Ordering::Relaxed) {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "breaker",
                breaker = %inner.template.name,
                max_keys = inner.max_keys,
                "keyed breakers full and none idle to evict: new keys share the overflow breaker \"{}[*]\"",
                inner.template.name
            );
        }
        inner
            .overflow
            .get_or_init(|| {
                let name = Name::from(format!("{}[*]", inner.template.name));
                inner
                    .template
                    .clone()
                    .named(name)
                    .build()
                    .expect("the template was checked when the set was made")
            })
            .clone()
    }
}

impl<K> Inner<K> {
    #[inline]
    fn tick(&self) -> u64 {
        let tick = self.clock.load(Ordering::Relaxed).wrapping_add(1);
        self.clock.store(tick, Ordering::Relaxed);
        tick
    }
}

impl Entry {
    /// Closed, and held by no one but the set: no call can be in flight through it.
    fn is_evictable(&self) -> bool {
        Arc::strong_count(&self.breaker.core) == 1 && self.breaker.state() == State::Closed
    }
}

impl<K: Hash + Eq> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("name", &self.inner.template.name)
            .field("keys", &self.inner.map.len())
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}
