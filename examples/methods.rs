//! The attribute on methods: a client struct whose methods carry `#[circuit_breaker]`,
//! with a fallback that is another method of the same client.
//!
//! ```text
//! cargo run --example methods
//! ```
//!
//! Two things to know about methods:
//! - `fallback = cached` calls `Self::cached(self, ...)`: the fallback runs on the same
//!   receiver, so it can use the client's own cache.
//! - The breaker belongs to the method, not to the instance: every `GeoClient` shares
//!   it, as they share the service it guards. For a breaker per instance (per host, per
//!   tenant), build one with the runtime API; see `manual.rs`.
//!
//! The geocoding service is simulated in-process; the example checks what it prints
//! and exits non-zero if a check fails.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_breaker::{BreakerError, State, circuit_breaker, registry};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Coords {
    lat: f64,
    lon: f64,
}

#[derive(Debug, thiserror::Error)]
enum GeoError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("geocoder answered {0}")]
    Status(u16),
    #[error("{0:?} is not cached and the geocoder is unavailable")]
    NotCached(String),
}

/// The simulated geocoding service, shared by every client.
static GEOCODER_DOWN: AtomicBool = AtomicBool::new(false);
static GEOCODER_CALLS: AtomicU32 = AtomicU32::new(0);

async fn geocoder(address: &str) -> Result<Coords, GeoError> {
    GEOCODER_CALLS.fetch_add(1, Ordering::SeqCst);
    if GEOCODER_DOWN.load(Ordering::SeqCst) {
        return Err(GeoError::Status(503));
    }
    let seed = address.bytes().map(f64::from).sum::<f64>();
    Ok(Coords {
        lat: seed % 90.0,
        lon: seed % 180.0,
    })
}

/// A client with its own cache of answers.
#[derive(Debug, Default)]
struct GeoClient {
    cache: Mutex<HashMap<String, Coords>>,
}

impl GeoClient {
    /// Looks an address up. The attribute goes on the method as on a free function;
    /// the signature, `&self` included, stays as written.
    #[circuit_breaker(consecutive_failures = 2, reset_timeout = "200ms", fallback = cached)]
    async fn locate(&self, address: &str) -> Result<Coords, GeoError> {
        let coords = geocoder(address).await?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(address.to_owned(), coords);
        Ok(coords)
    }

    /// The fallback, called on the same client with the same arguments while the
    /// breaker refuses calls.
    async fn cached(&self, address: &str) -> Result<Coords, GeoError> {
        self.cache
            .lock()
            .expect("cache lock")
            .get(address)
            .copied()
            .ok_or_else(|| GeoError::NotCached(address.to_owned()))
    }

    /// A `&mut self` method works the same way; this one has no fallback, so while the
    /// breaker is open it returns `GeoError::Breaker(BreakerError::Open { .. })`.
    #[circuit_breaker(name = "geocoder-refresh", consecutive_failures = 1)]
    async fn refresh(&mut self, address: &str) -> Result<Coords, GeoError> {
        let coords = geocoder(address).await?;
        self.cache
            .get_mut()
            .expect("cache lock")
            .insert(address.to_owned(), coords);
        Ok(coords)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let office = GeoClient::default();
    let mut warehouse = GeoClient::default();

    let here = office.locate("1 Main St").await?;
    println!("office: 1 Main St -> {here:?}");
    warehouse.refresh("9 Dock Rd").await?;

    // The geocoder fails; two failures through the office client open `locate`'s
    // breaker...
    GEOCODER_DOWN.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let err = office.locate("1 Main St").await.unwrap_err();
        println!("office: error: {err}");
    }

    // ...which every client shares. The office client answers from its own cache;
    // the warehouse client has nothing cached for that address.
    let calls = GEOCODER_CALLS.load(Ordering::SeqCst);
    let cached = office.locate("1 Main St").await?;
    println!("office: 1 Main St -> {cached:?} (cached)");
    assert_eq!(cached, here);
    let err = warehouse.locate("1 Main St").await.unwrap_err();
    println!("warehouse: error: {err}");
    assert!(matches!(err, GeoError::NotCached(_)));
    assert_eq!(
        GEOCODER_CALLS.load(Ordering::SeqCst),
        calls,
        "no call reached the geocoder"
    );

    // `refresh` has a breaker of its own, named explicitly; one failure opens it, and
    // then it returns the rejection as an error.
    let err = warehouse.refresh("9 Dock Rd").await.unwrap_err();
    println!("warehouse refresh: error: {err}");
    let err = warehouse.refresh("9 Dock Rd").await.unwrap_err();
    println!("warehouse refresh: error: {err}");
    assert!(matches!(err, GeoError::Breaker(BreakerError::Open { .. })));

    // The registry lists both: `locate` under its default name (module path, type and
    // method), `refresh` under the name it was given.
    println!("breakers:");
    for snap in registry::snapshot() {
        println!("  {:<40} {}", snap.name.as_str(), snap.state);
        assert_eq!(snap.state, State::Open);
    }
    assert_eq!(registry::snapshot().len(), 2);

    // The geocoder recovers; after reset_timeout a probe closes `locate`'s breaker.
    GEOCODER_DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let there = warehouse.locate("1 Main St").await?;
    println!("warehouse: 1 Main St -> {there:?} (fresh)");
    assert_eq!(there, here);
    println!("methods: every check passed");
    Ok(())
}
