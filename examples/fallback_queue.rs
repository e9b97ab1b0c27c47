//! Fallback strategy: queue the requests the breaker refuses, and replay them once it
//! lets calls through again.
//!
//! ```text
//! cargo run --example fallback_queue
//! ```
//!
//! Good for writes that must happen but need not happen now: orders, notifications,
//! audit events. The fallback receives the refused call's own arguments (here the order,
//! by value, never sent), so it can keep them for later. The ledger service is
//! simulated in-process and counts how often it applied each order. The example checks
//! that every order was applied exactly once, none lost and none twice, and exits
//! non-zero otherwise.
//!
//! A queue of writes wants the default `fallback_on = "rejected"`: only a refused call is
//! certain not to have happened. A write the breaker let through and that then failed or
//! timed out may have been applied by the ledger; queueing it too could apply it twice, so
//! that error goes to the caller, who can check before trying again. (A cache, which only
//! serves, wants `"error"`: see `fallback_cached.rs`.)

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use async_breaker::{BreakerError, State, circuit_breaker, registry};

#[derive(Debug)]
struct Order {
    id: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Receipt {
    /// The ledger applied the order.
    Applied(u32),
    /// The breaker refused the call; the order waits in the queue.
    Queued(u32),
}

#[derive(Debug, thiserror::Error)]
enum LedgerError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    /// The ledger refused the order without applying it; it is safe to send again.
    #[error("ledger answered 503 for order {}; not applied", .0.id)]
    Unavailable(Order),
}

/// The simulated ledger: whether it is down, and how many times it applied each order.
static LEDGER_DOWN: AtomicBool = AtomicBool::new(false);
static APPLIED: LazyLock<Mutex<BTreeMap<u32, u32>>> = LazyLock::new(Mutex::default);

async fn ledger(order: Order) -> Result<u32, LedgerError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if LEDGER_DOWN.load(Ordering::SeqCst) {
        return Err(LedgerError::Unavailable(order));
    }
    *APPLIED
        .lock()
        .expect("ledger lock")
        .entry(order.id)
        .or_default() += 1;
    Ok(order.id)
}

/// Orders waiting for the breaker to let calls through again.
static QUEUE: Mutex<VecDeque<Order>> = Mutex::new(VecDeque::new());

#[circuit_breaker(
    name = "ledger",
    consecutive_failures = 3,
    reset_timeout = "200ms",
    max_requests = 2,
    fallback = enqueue
)]
async fn submit(order: Order) -> Result<Receipt, LedgerError> {
    ledger(order).await.map(Receipt::Applied)
}

/// The fallback: the refused order goes to the back of the queue.
async fn enqueue(order: Order) -> Result<Receipt, LedgerError> {
    let id = order.id;
    QUEUE.lock().expect("queue lock").push_back(order);
    Ok(Receipt::Queued(id))
}

/// Submits an order; one the ledger refused without applying is queued too.
async fn place(order: Order) -> Result<Receipt, BreakerError> {
    match submit(order).await {
        Ok(receipt) => Ok(receipt),
        Err(LedgerError::Unavailable(order)) => {
            let id = order.id;
            QUEUE.lock().expect("queue lock").push_back(order);
            Ok(Receipt::Queued(id))
        }
        // Only a misconfigured breaker gets here: there is no deadline, and a refused
        // call goes to the fallback.
        Err(LedgerError::Breaker(e)) => Err(e),
    }
}

/// Replays the queue, in order, until it is empty. While the breaker is open the
/// replayer sleeps until it will admit a probe; an order refused again goes back in the
/// queue (by the fallback or by `place`) and is retried.
async fn replay() -> Result<(), Box<dyn std::error::Error>> {
    let ledger = registry::get("ledger").ok_or("breaker \"ledger\" is not registered")?;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::time::Instant::now() > give_up {
            return Err("the queue did not drain within 5s".into());
        }
        if let Some(wait) = ledger.retry_after() {
            println!("  breaker open; first probe in {}ms", wait.as_millis());
            tokio::time::sleep(wait).await;
        }
        let next = QUEUE.lock().expect("queue lock").pop_front();
        let Some(order) = next else { return Ok(()) };
        let id = order.id;
        match place(order).await? {
            Receipt::Applied(_) => println!("  order {id}: applied ({})", ledger.state()),
            Receipt::Queued(_) => println!("  order {id}: refused again, queued"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let order = |id: u32| Order { id };

    // Healthy: orders are applied at once.
    for id in 1..=3 {
        let receipt = place(order(id)).await?;
        println!("order {id}: {receipt:?}");
        assert_eq!(receipt, Receipt::Applied(id));
    }

    // The ledger goes down: three refusals open the breaker, then the breaker refuses
    // the rest without calling the ledger. Every one of them ends up queued.
    LEDGER_DOWN.store(true, Ordering::SeqCst);
    let ledger = registry::get("ledger").ok_or("breaker \"ledger\" is not registered")?;
    for id in 4..=11 {
        let receipt = place(order(id)).await?;
        println!("order {id}: {receipt:?}  (breaker now {})", ledger.state());
        assert_eq!(receipt, Receipt::Queued(id));
    }
    assert_eq!(ledger.state(), State::Open);
    let queued = QUEUE.lock().expect("queue lock").len();
    println!("queued while the ledger was down: {queued}");
    assert_eq!(queued, 8);

    // The ledger recovers. The replayer waits out the open breaker; its first two
    // orders are the half-open probes, their success closes the breaker, and the rest
    // go through.
    LEDGER_DOWN.store(false, Ordering::SeqCst);
    println!("replaying:");
    replay().await?;
    assert_eq!(ledger.state(), State::Closed);

    // Every order, 1 to 11, applied exactly once: none lost, none twice.
    let applied = APPLIED.lock().expect("ledger lock").clone();
    let wrong: Vec<(u32, u32)> = (1..=11)
        .map(|id| (id, applied.get(&id).copied().unwrap_or(0)))
        .filter(|&(_, times)| times != 1)
        .collect();
    if !wrong.is_empty() || applied.len() != 11 {
        return Err(format!("orders not applied exactly once (id, times): {wrong:?}").into());
    }
    assert!(QUEUE.lock().expect("queue lock").is_empty());
    println!("fallback_queue: all 11 orders applied exactly once");
    Ok(())
}
