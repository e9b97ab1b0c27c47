//! Every key at once, durations as strings and as `Duration` expressions, each trip
//! policy and each window; the built breakers carry every setting.
use std::time::Duration;

use async_breaker::{
    Backoff, BreakerError, Counts, Jitter, Outcome, SlowCallRatio, State, TripPolicy, Window,
    circuit_breaker, registry,
};

const PATIENCE: Duration = Duration::from_secs(30);
const MINUTE: Duration = Duration::from_secs(60);

fn classify(result: &Result<u32, BreakerError>) -> Outcome {
    if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Ignored
    }
}

fn log(name: &str, from: State, to: State) {
    println!("{name}: {from} -> {to}");
}

fn trip(counts: &Counts) -> bool {
    counts.total_failures > 10
}

#[circuit_breaker(
    name = "pass::every_key",
    timeout = "1m 30s",
    max_requests = 3,
    interval = Duration::from_millis(250),
    reset_timeout = PATIENCE,
    failure_ratio = 0.5,
    min_requests = 10,
    slow_call = "1s",
    slow_call_ratio = 0.75,
    backoff = 2,
    max_reset_timeout = "10m",
    jitter = "equal",
    classify = classify,
    on_state_change = log,
    fallback = cached,
    shared = false,
    crate = "::async_breaker",
)]
async fn everything(id: u32) -> Result<u32, BreakerError> {
    Ok(id)
}

async fn cached(_id: u32) -> Result<u32, BreakerError> {
    Ok(0)
}

#[circuit_breaker(consecutive_failures = 3, reset_timeout = "2s")]
async fn consecutive() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(trip = trip, interval = "1h")]
async fn custom() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(
    name = "pass::rolling",
    window = "1m",
    buckets = 12,
    slow_call = Duration::from_millis(750),
    backoff = 1.5,
    max_reset_timeout = MINUTE,
    jitter = "full"
)]
async fn rolling() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(name = "pass::rolling_default_buckets", window = MINUTE)]
async fn rolling_default_buckets() -> Result<(), BreakerError> {
    Ok(())
}

// The largest window of each kind the runtime takes.
#[circuit_breaker(name = "pass::finest_rolling", window = "1024ms", buckets = 1024)]
async fn finest_rolling() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(
    name = "pass::counted",
    window_calls = 65536,
    slow_call = "2s",
    slow_call_ratio = 1,
    jitter = "none"
)]
async fn counted() -> Result<(), BreakerError> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(everything(7).await.unwrap(), 7);
    consecutive().await.unwrap();
    custom().await.unwrap();
    let settings = registry::get("pass::every_key")
        .unwrap()
        .settings();
    assert_eq!(settings.timeout, Some(Duration::from_secs(90)));
    assert_eq!(settings.interval(), Some(Duration::from_millis(250)));
    assert_eq!(settings.reset_timeout, PATIENCE);
    assert_eq!(settings.max_requests, 3);
    assert!(matches!(
        settings.trip_policy,
        TripPolicy::FailureRatio { ratio, min_requests: 10 } if ratio == 0.5
    ));
    assert_eq!(settings.slow_call, Some(Duration::from_secs(1)));
    assert_eq!(
        settings.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.75,
            min_requests: 10
        })
    );
    assert_eq!(
        settings.backoff,
        Some(Backoff {
            factor: 2.0,
            max_reset_timeout: Duration::from_secs(600)
        })
    );
    assert_eq!(settings.jitter, Jitter::Equal);

    rolling().await.unwrap();
    let settings = registry::get("pass::rolling").unwrap().settings();
    assert_eq!(
        settings.window,
        Window::Rolling {
            length: MINUTE,
            buckets: 12
        }
    );
    assert_eq!(settings.interval(), None);
    assert_eq!(settings.slow_call, Some(Duration::from_millis(750)));
    assert_eq!(settings.slow_call_ratio, None);
    assert_eq!(
        settings.backoff,
        Some(Backoff {
            factor: 1.5,
            max_reset_timeout: MINUTE
        })
    );
    assert_eq!(settings.jitter, Jitter::Full);

    rolling_default_buckets().await.unwrap();
    let settings = registry::get("pass::rolling_default_buckets")
        .unwrap()
        .settings();
    assert_eq!(settings.window, Window::rolling(MINUTE));
    assert_eq!(settings.backoff, None);
    assert_eq!(settings.jitter, Jitter::None);

    finest_rolling().await.unwrap();
    let settings = registry::get("pass::finest_rolling").unwrap().settings();
    assert_eq!(
        settings.window,
        Window::Rolling {
            length: Duration::from_millis(1024),
            buckets: async_breaker::MAX_BUCKETS
        }
    );

    counted().await.unwrap();
    let settings = registry::get("pass::counted").unwrap().settings();
    assert_eq!(
        settings.window,
        Window::Calls {
            calls: async_breaker::MAX_WINDOW_CALLS
        }
    );
    assert_eq!(
        settings.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 1.0,
            min_requests: 1
        })
    );
    assert_eq!(settings.jitter, Jitter::None);
}
