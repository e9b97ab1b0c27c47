//! The breaker by hand, without the attribute: for breakers made at run time (one per
//! host, per tenant, ...) and for integrations.
//!
//! Shows the builder, `call` (the same error contract as the attribute), the two-step
//! `try_acquire` / `Permit`, the state-change hook and the process-wide registry. The
//! "dependency" is simulated in-process; the example checks every state it claims and
//! exits non-zero if one is wrong.
//!
//! ```text
//! cargo run --example manual
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_breaker::{BreakerError, CircuitBreaker, State, TripPolicy, registry};

/// The error type of the protected calls. Like a function under the attribute, `call`
/// needs `From<BreakerError>` so rejections and timeouts fit in it.
#[derive(Debug, thiserror::Error)]
enum InventoryError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("inventory service answered {0}")]
    Status(u16),
}

/// A stand-in for the inventory service: answers 503 while `FAILING` is non-zero.
static FAILING: AtomicU32 = AtomicU32::new(0);

async fn stock_level(sku: &str) -> Result<u32, InventoryError> {
    if FAILING.load(Ordering::SeqCst) > 0 {
        return Err(InventoryError::Status(503));
    }
    Ok(u32::try_from(sku.len()).unwrap_or(0) * 10)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Build a breaker. Every setting has a default; `build` validates them and
    //    registers the breaker under its name.
    let inventory = CircuitBreaker::builder("inventory")
        .timeout(Duration::from_millis(200)) // deadline per call, inside the breaker
        .trip_policy(TripPolicy::ConsecutiveFailures(3)) // trip after 3 failures in a row
        .reset_timeout(Duration::from_millis(300)) // stay open this long, then probe
        .max_requests(2) // probes admitted when half-open, successes needed to close
        .on_state_change(|name, from, to| println!("  [hook] {name}: {from} -> {to}"))
        .build()?;

    // 2. `call` runs a future through the breaker: Ok is a success, Err a failure.
    let level = inventory.call(stock_level("sku-42")).await?;
    println!("stock of sku-42: {level}");
    assert_eq!(inventory.state(), State::Closed);

    // 3. The dependency starts failing; three failures in a row trip the breaker.
    FAILING.store(1, Ordering::SeqCst);
    for _ in 0..3 {
        let err = inventory.call(stock_level("sku-42")).await.unwrap_err();
        println!("call failed: {err}");
        assert!(matches!(err, InventoryError::Status(503)));
    }
    assert_eq!(inventory.state(), State::Open);

    // 4. While open, calls are rejected at once: the future is never polled.
    match inventory.call(stock_level("sku-42")).await {
        Err(InventoryError::Breaker(e @ BreakerError::Open { .. })) => {
            println!("rejected: {e}");
            assert!(
                e.retry_after()
                    .is_some_and(|d| d <= Duration::from_millis(300))
            );
        }
        other => return Err(format!("expected an open-breaker rejection, got {other:?}").into()),
    }

    // 5. A call past the deadline is dropped, counts as a failure and returns Timeout.
    let slow = CircuitBreaker::builder("slow-report")
        .timeout(Duration::from_millis(50))
        .build()?;
    let result: Result<(), InventoryError> = slow
        .call(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
    println!("slow call: {}", result.as_ref().unwrap_err());
    assert!(matches!(
        result,
        Err(InventoryError::Breaker(BreakerError::Timeout { .. }))
    ));
    assert_eq!(slow.counts().total_failures, 1);

    // 6. The registry finds any breaker by name and lists them all with a snapshot.
    println!("registry:");
    for snap in registry::snapshot() {
        println!(
            "  {:<12} {:<9} requests={} failures={} retry_after={:?}",
            snap.name.as_str(),
            snap.state.as_str(),
            snap.counts.requests,
            snap.counts.total_failures,
            snap.retry_after,
        );
    }
    let found = registry::get("inventory").ok_or("inventory is not in the registry")?;
    assert_eq!(found.state(), State::Open);

    // 7. The dependency heals. After reset_timeout the breaker lets probes through;
    //    `try_acquire` is the two-step form: ask for a permit, do the work any way you
    //    like (here synchronously), then record the outcome on the permit.
    FAILING.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inventory.state(), State::HalfOpen);
    for probe in 1..=2 {
        let permit = inventory.try_acquire()?;
        let healthy = FAILING.load(Ordering::SeqCst) == 0; // "call" the dependency
        if healthy {
            permit.success();
        } else {
            permit.failure();
        }
        println!("probe {probe} succeeded");
    }
    assert_eq!(inventory.state(), State::Closed);

    // 8. A permit dropped without an outcome records nothing, so a cancelled call can
    //    never wedge a half-open breaker.
    let before = inventory.counts();
    drop(inventory.try_acquire()?);
    assert_eq!(inventory.counts(), before);

    // 9. Breakers made at run time, one per host. The registry holds them weakly: once
    //    the last handle is dropped, the breaker leaves the registry, so a program that
    //    makes breakers per host or per tenant does not grow without bound.
    let mut per_host = HashMap::new();
    for host in ["eu-1.example", "us-1.example", "ap-1.example"] {
        per_host.insert(
            host,
            CircuitBreaker::builder(format!("host:{host}")).build()?,
        );
    }
    assert!(registry::get("host:us-1.example").is_some());
    println!(
        "breakers while per-host ones live: {}",
        registry::snapshot().len()
    );
    drop(per_host);
    assert!(registry::get("host:us-1.example").is_none());
    println!(
        "breakers after dropping them:      {}",
        registry::snapshot().len()
    );

    println!("manual: every check passed");
    Ok(())
}
