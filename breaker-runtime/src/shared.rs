//! One breaker for a whole fleet: state shared by a service's replicas through Redis.
//!
//! Without sharing, each replica's breaker learns alone: one replica trips while the
//! others keep sending a dying dependency their traffic. A breaker that joins a [`Fleet`]
//! keeps its local breaker, which still decides every call on its own words (the call
//! path never waits on Redis and costs what it costs without sharing), and a background
//! task per breaker syncs it with the fleet every `sync_interval` (100 ms by default) and
//! at once when the local breaker trips:
//!
//! - **What is shared.** Each replica sends its counts for the generation it knows (its
//!   window's counts, whatever the window) and any change of state it made on its own. The
//!   store keeps, per breaker, the fleet's generation, state, open-until and attempt, and
//!   each replica's latest counts; the fleet's counts are their sum (a replica's counts are
//!   dropped when its generation is over, or when it has not synced for a `lease`).
//!   Sending running counts rather than increments makes a retried sync harmless.
//! - **Trips.** After each sync a closed replica asks its own trip policy (the breaker's
//!   `TripPolicy` and slow-call ratio, your own function included) about the fleet's
//!   counts, as it does about its own after a failure. A trip anywhere is taken to the
//!   store at once, and every other replica opens at its next sync, with the fleet's
//!   `retry_after`. Consecutive counts are summed across replicas: five failures in a row
//!   on each of two replicas count as ten. A trip on the fleet's counts is reported like a
//!   trip on the replica's own ([`Cause::Tripped`](crate::Cause::Tripped) or
//!   [`Cause::SlowCallsTripped`](crate::Cause::SlowCallsTripped)), with the replica's own
//!   counts in the [`StateChange`](crate::StateChange); a replica that opens because
//!   another one tripped reports [`Cause::Shared`](crate::Cause::Shared).
//! - **Half-open.** The store moves the fleet to half-open when the open period has
//!   elapsed on the store's clock. Probes are tokens: `max_requests` for the whole fleet,
//!   granted to replicas that asked for one (a probe refused for want of a token asks at
//!   the next sync) and held on a lease, so a replica that crashes mid-probe frees its
//!   tokens after the lease. The fleet closes when `max_requests` probes have succeeded
//!   across it, and re-opens when one fails or is slow.
//! - **Time.** The store's script reads the server's clock (`TIME`); replicas' clocks do
//!   not matter.
//! - **No lock.** Every sync is one script run (`EVALSHA`, loaded once and reloaded if the
//!   server forgets it) on one hash per breaker, `{breaker:<name>}` (one Redis Cluster
//!   slot). Nothing is ever locked, least of all across a call.
//! - **When Redis fails.** A sync that fails or takes longer than the fleet's `timeout`
//!   detaches the replica: its breaker carries on alone, exactly as an unshared breaker
//!   would (half-open admits its own `max_requests`). It says so once (a `tracing` warning
//!   and the `breaker_shared_sync_errors_total` counter, with those features), retries with
//!   backoff, and rejoins, taking up the fleet's state, when the store answers again. No
//!   caller ever waits for Redis or gets an error because of it.
//! - **Expiry.** Each sync renews the hash's time to live (`ttl`, 10 minutes by default),
//!   so the keys of breakers that are no longer used go away.
//! - **What stays local.** Operator actions (`force_open`, `force_closed`, `reset`) and
//!   `reconfigure` act on one replica; a held breaker does not follow the fleet.
//!
//! Keyed breakers made from a shared template share too, each under its own name.
//!
//! ```no_run
//! use std::time::Duration;
//! use breaker_runtime::{shared, CircuitBreaker};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! // At start-up, inside the tokio runtime:
//! let store = shared::RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let fleet = shared::Fleet::builder(store)
//!     .sync_interval(Duration::from_millis(100))
//!     .build()?;
//! shared::install(fleet)?;
//!
//! // Any breaker built with `shared(true)` (or `#[circuit_breaker(shared = true)]`)
//! // joins the installed fleet, also one built before the install.
//! let prices = CircuitBreaker::builder("prices").shared(true).build()?;
//! # drop(prices);
//! # Ok(())
//! # }
//! ```
//!
//! Another engine can take Redis's place by implementing [`Store`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use crate::breaker::Core;
use crate::link::{Link, Move};
use crate::machine::Machine;
use crate::state::nanos;
use crate::{CircuitBreaker, Counts, Name, State};

/// A failure to reach or use the shared store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shared breaker store: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> StoreError {
        StoreError {
            message: message.to_string(),
        }
    }
}

/// A mistake in setting up sharing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SharedError {
    /// A [`Fleet`] is built inside a tokio runtime, which runs its sync tasks.
    #[error(
        "a fleet must be built inside a tokio runtime (it spawns its sync tasks there): build it from async code, e.g. in `#[tokio::main] async fn main`"
    )]
    NoRuntime,
    /// A duration that must be positive was zero.
    #[error("`{setting}` must be more than zero")]
    Zero {
        /// The setting.
        setting: &'static str,
    },
    /// The lease must outlast two sync intervals, or live replicas would lose their
    /// counts and tokens between syncs.
    #[error(
        "`lease` ({lease:?}) must be at least twice `sync_interval` ({sync_interval:?}), so that a live replica's counts and tokens outlast the time between its syncs"
    )]
    LeaseTooShort {
        /// The lease.
        lease: Duration,
        /// The sync interval.
        sync_interval: Duration,
    },
    /// The keys' time to live must outlast the lease.
    #[error("`ttl` ({ttl:?}) must be at least the `lease` ({lease:?})")]
    TtlTooShort {
        /// The time to live.
        ttl: Duration,
        /// The lease.
        lease: Duration,
    },
    /// [`install`] was called twice.
    #[error("a fleet is installed already; install one fleet per process, at start-up")]
    AlreadyInstalled,
    /// A breaker joins one fleet once.
    #[error("breaker `{name}` has joined a fleet already")]
    AlreadyJoined {
        /// The breaker.
        name: Name,
    },
}

/// What one replica tells the store at a sync, for a [`Store`] to apply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// This replica's id (unique in the fleet).
    pub replica: String,
    /// The fleet's epoch as this replica last saw it (`None` before its first sync): a
    /// store that lost its data starts a new epoch, and reports of an older one are news
    /// of moves only.
    pub epoch: Option<String>,
    /// The fleet's generation the counts belong to.
    pub generation: u64,
    /// A change of state this replica made on its own since its last sync.
    pub moved: Option<Moved>,
    /// This replica's counts in that generation (its window's, when closed).
    pub counts: Counts,
    /// Half-open: the probes this replica has admitted in the generation.
    pub probes_used: u64,
    /// Half-open: how many more probe tokens it asks for.
    pub probes_wanted: u64,
    /// The breaker's `max_requests`: the fleet's probe budget.
    pub max_requests: u64,
    /// How long this replica's counts and tokens live without a sync.
    pub lease: Duration,
    /// How long the breaker's keys live without a sync.
    pub ttl: Duration,
}

impl Report {
    /// A report from `replica` that knows no fleet yet and has nothing to tell (for
    /// [`Store`] implementations' tests): no epoch, generation 0, no move, zero counts,
    /// `max_requests` 1, a one-second lease and a ten-minute time to live.
    pub fn new(replica: impl Into<String>) -> Report {
        Report {
            replica: replica.into(),
            epoch: None,
            generation: 0,
            moved: None,
            counts: Counts::default(),
            probes_used: 0,
            probes_wanted: 0,
            max_requests: 1,
            lease: Duration::from_secs(1),
            ttl: Duration::from_secs(600),
        }
    }
}

/// A change of state a replica made on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Moved {
    /// [`State::Open`] (a trip, a failed or slow probe) or [`State::Closed`] (its probes
    /// succeeded).
    pub to: State,
    /// The open period it drew.
    pub period: Duration,
    /// Its open attempt.
    pub attempt: u32,
}

/// The fleet's state after a sync, as the store returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reply {
    /// The fleet's epoch.
    pub epoch: String,
    /// The fleet's generation.
    pub generation: u64,
    /// The fleet's state.
    pub state: State,
    /// How long the fleet stays open (zero unless open).
    pub retry_after: Duration,
    /// The fleet's open attempt.
    pub attempt: u32,
    /// The sum of the live replicas' counts in this generation.
    pub counts: Counts,
    /// Half-open: the probe tokens this replica holds in all, used ones included.
    pub probes: u64,
}

impl Reply {
    /// A reply with these fields (for [`Store`] implementations).
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn new(
        epoch: String,
        generation: u64,
        state: State,
        retry_after: Duration,
        attempt: u32,
        counts: Counts,
        probes: u64,
    ) -> Reply {
        Reply {
            epoch,
            generation,
            state,
            retry_after,
            attempt,
            counts,
            probes,
        }
    }
}

/// The future a [`Store`] returns.
pub type SyncFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, StoreError>> + Send + 'a>>;

/// Where a fleet's shared state lives. [`RedisStore`] is the one built in; another engine
/// implements this with the same rules (read the [module docs](self)): merge a report
/// atomically, on the store's own clock, with no lock held across calls.
pub trait Store: Send + Sync + 'static {
    /// Applies one replica's report to the shared state of breaker `key` and returns the
    /// fleet's state.
    fn sync<'a>(&'a self, key: &'a str, report: &'a Report) -> SyncFuture<'a>;
}

/// The script that applies a report: one atomic step on the breaker's hash.
const SCRIPT: &str = include_str!("shared.lua");

/// The shared state in Redis (or valkey): one hash per breaker, changed only by one Lua
/// script per sync.
#[derive(Clone)]
pub struct RedisStore {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://host:port/db`), which must answer now. The
    /// connection reconnects by itself later; breakers never wait for it.
    ///
    /// # Errors
    /// An invalid URL, or a server that cannot be reached.
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::new)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(StoreError::new)?;
        Ok(RedisStore {
            connection,
            script: redis::Script::new(SCRIPT),
        })
    }

    /// The hash that holds breaker `name`'s shared state.
    #[must_use]
    pub fn key(name: &str) -> String {
        format!("{{breaker:{name}}}")
    }
}

/// Milliseconds for the script, at most 2^40 (about 35 years), which Lua's numbers and
/// Redis's expiry times hold exactly.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).map_or(1 << 40, |ms| ms.min(1 << 40))
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half",
    }
}

impl Store for RedisStore {
    fn sync<'a>(&'a self, key: &'a str, report: &'a Report) -> SyncFuture<'a> {
        Box::pin(async move {
            let c = &report.counts;
            let counts = format!(
                "{}:{}:{}:{}:{}:{}:{}:{}",
                c.requests,
                c.total_successes,
                c.total_failures,
                c.total_ignored,
                c.slow_calls,
                c.consecutive_failures,
                c.consecutive_successes,
                c.consecutive_slow_calls
            );
            let (moved, period, attempt) = match report.moved {
                Some(m) => (state_word(m.to), millis(m.period).max(1), m.attempt),
                None => ("", 0, 0),
            };
            let mut invocation = self.script.key(RedisStore::key(key));
            invocation
                .arg(&report.replica)
                .arg(report.epoch.as_deref().unwrap_or(""))
                .arg(report.generation)
                .arg(moved)
                .arg(period)
                .arg(attempt)
                .arg(counts)
                .arg(report.probes_used)
                .arg(report.probes_wanted)
                .arg(report.max_requests)
                .arg(millis(report.lease).max(1))
                .arg(millis(report.ttl).max(1));
            let mut connection = self.connection.clone();
            let values: Vec<redis::Value> = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(StoreError::new)?;
            parse_reply(&values)
        })
    }
}

/// The script's answer: epoch, generation, state, milliseconds open, attempt, tokens, then
/// the eight counts.
fn parse_reply(values: &[redis::Value]) -> Result<Reply, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> {
        match values.get(i) {
            Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Ok(s.clone()),
            Some(redis::Value::Int(n)) => Ok(n.to_string()),
            other => Err(StoreError::new(format!(
                "unexpected script reply at {i}: {other:?}"
            ))),
        }
    };
    let number = |i: usize| -> Result<u64, StoreError> {
        let t = text(i)?;
        t.parse::<i64>()
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|_| StoreError::new(format!("unexpected number in script reply: {t}")))
    };
    let state = match text(2)?.as_str() {
        "closed" => State::Closed,
        "open" => State::Open,
        "half" => State::HalfOpen,
        other => return Err(StoreError::new(format!("unknown state {other:?}"))),
    };
    let counts = Counts {
        requests: number(6)?,
        total_successes: number(7)?,
        total_failures: number(8)?,
        total_ignored: number(9)?,
        slow_calls: number(10)?,
        consecutive_failures: number(11)?,
        consecutive_successes: number(12)?,
        consecutive_slow_calls: number(13)?,
    };
    Ok(Reply {
        epoch: text(0)?,
        generation: number(1)?,
        state,
        retry_after: Duration::from_millis(number(3)?),
        attempt: u32::try_from(number(4)?).unwrap_or(u32::MAX),
        counts,
        probes: number(5)?,
    })
}

/// How a fleet syncs.
struct Inner {
    store: Arc<dyn Store>,
    replica: String,
    sync_interval: Duration,
    lease: Duration,
    ttl: Duration,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
}

/// A process's membership in a fleet: the store, this replica's id, and how often and
/// how long its breakers sync. Cheap to clone. Breakers join it with [`Fleet::join`], or
/// with `shared(true)` once it is [`install`]ed.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("replica", &self.inner.replica)
            .field("sync_interval", &self.inner.sync_interval)
            .field("lease", &self.inner.lease)
            .field("ttl", &self.inner.ttl)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Fleet`]; see [`Fleet::builder`].
#[must_use = "a fleet builder does nothing until `build` is called"]
pub struct FleetBuilder {
    store: Arc<dyn Store>,
    replica: Option<String>,
    sync_interval: Duration,
    lease: Option<Duration>,
    ttl: Duration,
    timeout: Option<Duration>,
}

impl fmt::Debug for FleetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBuilder")
            .field("replica", &self.replica)
            .field("sync_interval", &self.sync_interval)
            .field("lease", &self.lease)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Starts building a fleet on `store`. Defaults: `sync_interval` 100 ms, `lease` ten
    /// sync intervals (at least one second), `ttl` 10 minutes, `timeout` five sync
    /// intervals (at least half a second), a random replica id.
    pub fn builder(store: impl Store) -> FleetBuilder {
        FleetBuilder {
            store: Arc::new(store),
            replica: None,
            sync_interval: Duration::from_millis(100),
            lease: None,
            ttl: Duration::from_secs(600),
            timeout: None,
        }
    }

    /// This replica's id.
    #[must_use]
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// How often each breaker syncs.
    #[must_use]
    pub fn sync_interval(&self) -> Duration {
        self.inner.sync_interval
    }

    /// How long a replica's counts and probe tokens count without a sync.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// How long a breaker's keys live after its last sync anywhere.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How long a sync may take before it counts as failed.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Makes `breaker` (and every clone of it) share its state with the fleet, syncing in
    /// a task on the runtime the fleet was built in, until the breaker is dropped.
    ///
    /// # Errors
    /// [`SharedError::AlreadyJoined`] if the breaker has joined a fleet already.
    pub fn join(&self, breaker: &CircuitBreaker) -> Result<(), SharedError> {
        let link = Arc::new(Link::new());
        if !breaker.core.machine.attach(Arc::clone(&link)) {
            return Err(SharedError::AlreadyJoined {
                name: breaker.name().clone(),
            });
        }
        let task = Syncer {
            inner: Arc::clone(&self.inner),
            core: Arc::downgrade(&breaker.core),
            link,
            key: breaker.name().to_string(),
            known: None,
            failures: 0,
            used: 0,
        };
        self.inner.runtime.spawn(task.run());
        Ok(())
    }
}

impl FleetBuilder {
    /// This replica's id, unique in the fleet (e.g. the host name and process id); random
    /// by default.
    pub fn replica(mut self, id: impl Into<String>) -> FleetBuilder {
        self.replica = Some(id.into());
        self
    }

    /// How often each breaker syncs (besides at once on a local trip). The time for a trip
    /// on one replica to open the others.
    pub fn sync_interval(mut self, every: Duration) -> FleetBuilder {
        self.sync_interval = every;
        self
    }

    /// How long a replica's counts and probe tokens count without a sync: a crashed
    /// replica's tokens are free again after it. At least twice the sync interval.
    pub fn lease(mut self, lease: Duration) -> FleetBuilder {
        self.lease = Some(lease);
        self
    }

    /// How long a breaker's keys live after its last sync anywhere.
    pub fn ttl(mut self, ttl: Duration) -> FleetBuilder {
        self.ttl = ttl;
        self
    }

    /// How long a sync may take before it counts as failed (the replica then carries on
    /// alone until the store answers again).
    pub fn timeout(mut self, timeout: Duration) -> FleetBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// The fleet, with its settings checked.
    ///
    /// # Errors
    /// [`SharedError::NoRuntime`] outside a tokio runtime, and a [`SharedError`] for a
    /// zero duration, a lease shorter than two sync intervals or a `ttl` shorter than the
    /// lease.
    pub fn build(self) -> Result<Fleet, SharedError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SharedError::NoRuntime)?;
        let every = self.sync_interval;
        let lease = self
            .lease
            .unwrap_or_else(|| every.saturating_mul(10).max(Duration::from_secs(1)));
        let timeout = self
            .timeout
            .unwrap_or_else(|| every.saturating_mul(5).max(Duration::from_millis(500)));
        for (setting, value) in [
            ("sync_interval", every),
            ("lease", lease),
            ("ttl", self.ttl),
            ("timeout", timeout),
        ] {
            if value.is_zero() {
                return Err(SharedError::Zero { setting });
            }
        }
        if lease < every.saturating_mul(2) {
            return Err(SharedError::LeaseTooShort {
                lease,
                sync_interval: every,
            });
        }
        if self.ttl < lease {
            return Err(SharedError::TtlTooShort {
                ttl: self.ttl,
                lease,
            });
        }
        let replica = self.replica.unwrap_or_else(random_id);
        Ok(Fleet {
            inner: Arc::new(Inner {
                store: self.store,
                replica,
                sync_interval: every,
                lease,
                ttl: self.ttl,
                timeout,
                runtime,
            }),
        })
    }
}

fn random_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::process::id());
    format!("{}-{a:016x}", std::process::id())
}

/// The installed fleet, and the breakers that asked to share before it was installed.
struct Installed {
    fleet: Option<Fleet>,
    waiting: Vec<Weak<Core>>,
}

fn installed_lock() -> std::sync::MutexGuard<'static, Installed> {
    static INSTALLED: OnceLock<Mutex<Installed>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            Mutex::new(Installed {
                fleet: None,
                waiting: Vec::new(),
            })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Makes `fleet` the process's fleet: breakers built with `shared(true)` join it, those
/// built before now included. Call it once, at start-up.
///
/// # Errors
/// [`SharedError::AlreadyInstalled`] if a fleet is installed already.
pub fn install(fleet: Fleet) -> Result<(), SharedError> {
    let waiting = {
        let mut installed = installed_lock();
        if installed.fleet.is_some() {
            return Err(SharedError::AlreadyInstalled);
        }
        installed.fleet = Some(fleet.clone());
        std::mem::take(&mut installed.waiting)
    };
    for core in waiting.iter().filter_map(Weak::upgrade) {
        // A breaker that joined a fleet by hand meanwhile stays there.
        let _ = fleet.join(&CircuitBreaker { core });
    }
    Ok(())
}

/// The installed fleet, if any.
#[must_use]
pub fn installed() -> Option<Fleet> {
    installed_lock().fleet.clone()
}

/// A breaker built with `shared(true)`: joins the installed fleet, or waits for one.
pub(crate) fn enlist(breaker: &CircuitBreaker) {
    let fleet = {
        let mut installed = installed_lock();
        match &installed.fleet {
            Some(fleet) => fleet.clone(),
            None => {
                installed.waiting.retain(|w| w.strong_count() > 0);
                installed.waiting.push(Arc::downgrade(&breaker.core));
                return;
            }
        }
    };
    // A breaker shared by name that joined already stays where it is.
    let _ = fleet.join(breaker);
}

/// How a breaker's sharing goes, from [`status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the last sync reached the store (`false` before the first one, and while
    /// the replica carries on alone).
    pub attached: bool,
    /// Syncs that reached the store.
    pub syncs: u64,
    /// Syncs that failed or timed out.
    pub sync_errors: u64,
}

/// How `breaker`'s sharing goes; `None` if it has not joined a fleet.
#[must_use]
pub fn status(breaker: &CircuitBreaker) -> Option<Status> {
    let link = breaker.core.machine.link()?;
    Some(Status {
        attached: link.attached.load(Ordering::Acquire),
        syncs: link.syncs.load(Ordering::Acquire),
        sync_errors: link.errors.load(Ordering::Acquire),
    })
}

/// What a replica knows of its fleet.
#[derive(Clone)]
struct Known {
    epoch: String,
    generation: u64,
}

/// One breaker's sync task.
struct Syncer {
    inner: Arc<Inner>,
    core: Weak<Core>,
    link: Arc<Link>,
    key: String,
    known: Option<Known>,
    failures: u32,
    /// The probes the last report said were used.
    used: u64,
}

/// A sync task that ends (its breaker is gone, or its runtime shut down) leaves a breaker
/// that lives on to decide alone: no probe waits for tokens that will never come.
impl Drop for Syncer {
    fn drop(&mut self) {
        self.link.detach();
    }
}

impl Syncer {
    async fn run(mut self) {
        loop {
            let wait = match self.failures {
                0 => self.inner.sync_interval,
                n => (self
                    .inner
                    .sync_interval
                    .saturating_mul(2u32.saturating_pow(n.min(16))))
                .min(Duration::from_secs(5)),
            };
            // A local move wakes the task at once.
            let _ = tokio::time::timeout(wait, self.link.wake.notified()).await;
            // The local move goes with this report; if the report does not reach the
            // store, it waits for the next.
            let moved = self.link.take_move();
            let report = {
                let Some(core) = self.core.upgrade() else {
                    return;
                };
                self.report(&core.machine, moved)
            };
            let store = Arc::clone(&self.inner.store);
            let result =
                tokio::time::timeout(self.inner.timeout, store.sync(&self.key, &report)).await;
            let Some(core) = self.core.upgrade() else {
                return;
            };
            match result {
                Ok(Ok(reply)) => {
                    self.used = report.probes_used;
                    self.synced(&core.machine, &reply);
                }
                Ok(Err(error)) => self.failed(moved, &error.to_string()),
                Err(_) => self.failed(moved, "the store did not answer in time"),
            }
        }
    }

    /// The report of the local breaker as it stands, with its move.
    fn report(&self, machine: &Machine, moved: Option<Move>) -> Report {
        let now = machine.now();
        let view = machine.settle(now);
        let counts = machine.counts(view, now);
        let half_open = view.word.state() == State::HalfOpen;
        let wanted = self.link.take_wanted();
        let max_requests = u64::from(machine.settings().max_requests);
        Report {
            replica: self.inner.replica.clone(),
            epoch: self.known.as_ref().map(|k| k.epoch.clone()),
            generation: self.known.as_ref().map_or(0, |k| k.generation),
            moved: moved.map(|m| Moved {
                to: m.to,
                period: Duration::from_nanos(m.period),
                attempt: u32::try_from(m.attempt).unwrap_or(u32::MAX),
            }),
            counts,
            probes_used: if half_open {
                counts.requests.saturating_sub(counts.total_ignored)
            } else {
                0
            },
            probes_wanted: if half_open {
                wanted.min(max_requests)
            } else {
                0
            },
            max_requests,
            lease: self.inner.lease,
            ttl: self.inner.ttl,
        }
    }

    fn failed(&mut self, moved: Option<Move>, error: &str) {
        if let Some(m) = moved {
            self.link.put_back(m);
        }
        self.failures = self.failures.saturating_add(1);
        self.link.errors.fetch_add(1, Ordering::AcqRel);
        #[cfg(feature = "metrics")]
        metrics::counter!("breaker_shared_sync_errors_total", "breaker" => self.key.clone())
            .increment(1);
        if self.failures == 1 {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "breaker",
                breaker = %self.key,
                error = %error,
                "shared state out of reach: this replica's breaker carries on alone until it is back"
            );
            #[cfg(not(feature = "tracing"))]
            let _ = error;
        }
        self.link.detach();
    }

    /// Takes up the fleet's state.
    fn synced(&mut self, machine: &Machine, reply: &Reply) {
        if self.failures > 0 {
            #[cfg(feature = "tracing")]
            tracing::info!(target: "breaker", breaker = %self.key, "shared state back: this replica follows its fleet again");
        }
        self.failures = 0;
        let moved_on = self
            .known
            .as_ref()
            .is_some_and(|k| k.epoch != reply.epoch || k.generation != reply.generation);
        self.known = Some(Known {
            epoch: reply.epoch.clone(),
            generation: reply.generation,
        });
        let grace = self.inner.sync_interval;
        follow(machine, &self.link, reply, moved_on, self.used, grace);
        self.link.attached.store(true, Ordering::Release);
        self.link.syncs.fetch_add(1, Ordering::AcqRel);
    }
}

/// Moves the local breaker to the fleet's state, grants it the fleet's probe tokens, and
/// asks its trip policy about the fleet's counts. `moved_on`: the fleet started a new
/// generation since the last sync; `used`: the probes the report counted, which a new
/// local generation has not used; `grace`: how early a local open period may end (a
/// half-open replica whose fleet opens again within it stays put: it has no tokens).
fn follow(
    machine: &Machine,
    link: &Link,
    reply: &Reply,
    moved_on: bool,
    used: u64,
    grace: Duration,
) {
    let now = machine.now();
    let view = machine.settle(now);
    let word = view.word;
    let local = word.state();
    let mut renewed = false;
    if !word.forced() {
        match reply.state {
            // Its own clock ran a little ahead of the store's: the gate holds its probes
            // back until the fleet is half-open too.
            State::Open if local == State::HalfOpen && !moved_on && reply.retry_after <= grace => {}
            State::Open => {
                let period = nanos(reply.retry_after).max(1);
                // Not open (no period of its own), or off by more than a few milliseconds
                // from the fleet's open period: take the fleet's.
                let off = machine
                    .retry_after(view, now)
                    .is_none_or(|mine| nanos(mine).abs_diff(period) > 5_000_000);
                if off {
                    machine.follow(State::Open, period, u64::from(reply.attempt));
                }
            }
            State::HalfOpen if local != State::HalfOpen || moved_on => {
                renewed = machine.follow(State::HalfOpen, 0, u64::from(reply.attempt));
            }
            State::Closed if local != State::Closed || moved_on => {
                machine.follow(State::Closed, 0, 0);
            }
            State::Closed => {
                let c = &reply.counts;
                if (c.total_failures > 0 || c.slow_calls > 0)
                    && let Some(cause) = machine.trips(c)
                {
                    machine.trip(cause);
                }
            }
            State::HalfOpen => {}
        }
    }
    // The tokens are the current generation's: they admit probes only if it is half-open,
    // and none is left for a later one.
    let probes = match reply.state {
        State::HalfOpen if renewed => reply.probes.saturating_sub(used),
        State::HalfOpen => reply.probes,
        _ => 0,
    };
    link.grant(machine.view().word.generation(), probes);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::observe::{Listeners, Observer};
    use crate::{Cause, CircuitBreaker};

    const GRACE: Duration = Duration::from_millis(100);

    fn machine() -> Machine {
        let builder = CircuitBreaker::builder("follow")
            .reset_timeout(Duration::from_secs(10))
            .max_requests(3);
        let name = builder.name().clone();
        let observer = Observer::new(&name, None, Listeners::new());
        Machine::new(name, builder.settings, observer)
    }

    fn reply(state: State, retry_after: Duration, probes: u64) -> Reply {
        Reply::new(
            "e".into(),
            1,
            state,
            retry_after,
            1,
            Counts::default(),
            probes,
        )
    }

    fn generation(m: &Machine) -> u64 {
        m.view().word.generation()
    }

    fn local(m: &Machine) -> State {
        m.settle(m.now()).word.state()
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_fleet_is_followed_unless_the_local_period_is_within_a_few_ms() {
        let (m, link) = (machine(), Link::new());
        follow(
            &m,
            &link,
            &reply(State::Open, Duration::from_secs(10), 0),
            false,
            0,
            GRACE,
        );
        assert_eq!(local(&m), State::Open, "a closed replica follows");
        let opened = generation(&m);
        tokio::time::advance(Duration::from_millis(1)).await;
        let near = reply(State::Open, Duration::from_millis(9_998), 0);
        follow(&m, &link, &near, false, 0, GRACE);
        assert_eq!(generation(&m), opened, "within a few ms: left as it is");
        let far = reply(State::Open, Duration::from_secs(4), 0);
        follow(&m, &link, &far, false, 0, GRACE);
        assert_ne!(generation(&m), opened, "off: the fleet's period");
        let left = m.retry_after(m.view(), m.now()).expect("open");
        assert_eq!(left, Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_open_replica_ahead_of_its_fleet_waits_within_the_grace() {
        let (m, link) = (machine(), Link::new());
        m.trip(Cause::Tripped);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(local(&m), State::HalfOpen, "its own period is over");
        let half = generation(&m);
        let soon = reply(State::Open, GRACE, 0);
        follow(&m, &link, &soon, false, 0, GRACE);
        assert_eq!(
            (local(&m), generation(&m)),
            (State::HalfOpen, half),
            "stays"
        );
        assert_eq!(link.tokens(half), 0, "and has no token");
        follow(&m, &link, &soon, true, 0, GRACE);
        assert_eq!(local(&m), State::Open, "the fleet opened again meanwhile");
        let m = machine();
        m.trip(Cause::Tripped);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(local(&m), State::HalfOpen);
        let later = reply(State::Open, GRACE * 2, 0);
        follow(&m, &link, &later, false, 0, GRACE);
        assert_eq!(local(&m), State::Open, "beyond the grace");
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_open_fleet_is_followed_and_its_tokens_granted() {
        let (m, link) = (machine(), Link::new());
        m.trip(Cause::Tripped);
        follow(
            &m,
            &link,
            &reply(State::HalfOpen, Duration::ZERO, 3),
            false,
            1,
            GRACE,
        );
        assert_eq!(local(&m), State::HalfOpen, "an open replica follows");
        let half = generation(&m);
        assert_eq!(
            link.tokens(half),
            2,
            "a new generation has used none of them"
        );
        follow(
            &m,
            &link,
            &reply(State::HalfOpen, Duration::ZERO, 3),
            false,
            1,
            GRACE,
        );
        assert_eq!(generation(&m), half, "the same half-open generation");
        assert_eq!(link.tokens(half), 3, "all it holds, used ones included");
        follow(
            &m,
            &link,
            &reply(State::HalfOpen, Duration::ZERO, 2),
            true,
            0,
            GRACE,
        );
        assert_ne!(
            generation(&m),
            half,
            "a new half-open generation of the fleet"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_fleet_in_a_new_generation_starts_the_counts_over() {
        let (m, link) = (machine(), Link::new());
        let first = generation(&m);
        follow(
            &m,
            &link,
            &reply(State::Closed, Duration::ZERO, 0),
            false,
            0,
            GRACE,
        );
        assert_eq!(generation(&m), first, "the same generation: nothing to do");
        follow(
            &m,
            &link,
            &reply(State::Closed, Duration::ZERO, 0),
            true,
            0,
            GRACE,
        );
        assert_ne!(generation(&m), first, "the fleet moved on");
        assert_eq!(local(&m), State::Closed);
    }
}
