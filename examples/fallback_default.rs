//! Fallback strategy: a friendly default ("temporarily unavailable") while the breaker
//! is open.
//!
//! ```text
//! cargo run --example fallback_default
//! ```
//!
//! Good for optional parts of a page or a response: recommendations, reviews, a
//! "customers also bought" box. The page renders without them instead of waiting on a
//! dependency that hangs. Here the recommendations service hangs rather than failing,
//! so it is the deadline (`timeout`) that turns its slowness into failures that trip
//! the breaker. The service is simulated in-process; the example checks what it prints
//! and exits non-zero if a check fails.
//!
//! The default fallback here answers refusals only (`fallback_on = "rejected"`), so the
//! calls that hang show the deadline at work. A page that must never show an error would
//! add `fallback_on = "error"`: the default would then also answer a call that timed out,
//! once its timeout was recorded.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_breaker::{BreakerError, circuit_breaker};

#[derive(Debug, thiserror::Error)]
enum RecommendError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
}

/// What the page shows in its recommendations box.
#[derive(Debug, PartialEq)]
enum Recommendations {
    Items(Vec<&'static str>),
    /// The friendly default.
    Unavailable(&'static str),
}

/// The simulated recommendations service: whether it hangs, and how often it was called.
static HANGING: AtomicBool = AtomicBool::new(false);
static SERVICE_CALLS: AtomicU32 = AtomicU32::new(0);

// A 50ms deadline: a hanging call is dropped at 50ms and counts as a failure. Two in a
// row open the breaker; from then on the default answers at once.
#[circuit_breaker(
    timeout = "50ms",
    consecutive_failures = 2,
    reset_timeout = "10s",
    fallback = unavailable
)]
async fn recommendations(user_id: u64) -> Result<Recommendations, RecommendError> {
    SERVICE_CALLS.fetch_add(1, Ordering::SeqCst);
    if HANGING.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let items = if user_id.is_multiple_of(2) {
        vec!["tea kettle", "mugs"]
    } else {
        vec!["hiking boots"]
    };
    Ok(Recommendations::Items(items))
}

/// The fallback: same arguments, same return type, answers at once.
async fn unavailable(_user_id: u64) -> Result<Recommendations, RecommendError> {
    Ok(Recommendations::Unavailable(
        "Recommendations are temporarily unavailable.",
    ))
}

/// Renders the page; a timeout of an admitted call still reaches here as an error, and
/// the page shows the same default for it.
async fn render_page(user_id: u64) -> String {
    let started = Instant::now();
    let box_text = match recommendations(user_id).await {
        Ok(Recommendations::Items(items)) => format!("You may like: {}", items.join(", ")),
        Ok(Recommendations::Unavailable(text)) => text.to_owned(),
        Err(e) => format!("Recommendations are temporarily unavailable. ({e})"),
    };
    format!(
        "user {user_id}: {box_text}  [{} ms]",
        started.elapsed().as_millis()
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", render_page(2).await);

    // The service starts hanging. The first two calls wait out the 50ms deadline...
    HANGING.store(true, Ordering::SeqCst);
    for user in [3, 4] {
        println!("{}", render_page(user).await);
    }
    assert_eq!(SERVICE_CALLS.load(Ordering::SeqCst), 3);

    // ...and now the breaker is open: pages render at once with the default, and the
    // hanging service is not called any more.
    for user in 5..10 {
        let started = Instant::now();
        let recs = recommendations(user).await?;
        assert!(matches!(recs, Recommendations::Unavailable(_)));
        assert!(started.elapsed() < Duration::from_millis(50));
        println!("{}", render_page(user).await);
    }
    assert_eq!(SERVICE_CALLS.load(Ordering::SeqCst), 3);
    println!("fallback_default: every check passed");
    Ok(())
}
