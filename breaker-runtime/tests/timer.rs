//! A breaker with a `timeout` where no tokio timer is available: a call that finishes at
//! its first poll never needs the timer and succeeds; one that has to wait gets a clear
//! error instead of a panic, and records nothing.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker_runtime::{BreakerError, CircuitBreaker};

/// Finishes at its second poll, so the call would need its timer.
async fn slow() -> Result<u32, BreakerError> {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    Ok(2)
}

async fn fast() -> Result<u32, BreakerError> {
    Ok(1)
}

fn breaker(name: &'static str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap()
}

fn assert_no_timer(result: Result<u32, BreakerError>, name: &str) {
    match result {
        Err(e @ BreakerError::NoTimer { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&format!("\"{name}\"")), "{message}");
            assert!(message.contains("1.5s"), "{message}");
            assert!(message.contains("enable_time"), "{message}");
            assert!(!e.is_rejection());
        }
        other => panic!("expected NoTimer, got {other:?}"),
    }
}

/// Polls `fut` on this thread, outside any runtime, until it finishes.
fn poll_here<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[test]
fn a_timeout_outside_any_runtime_is_an_error_once_the_call_waits() {
    let b = breaker("timer-no-runtime");
    assert_eq!(
        poll_here(b.call(fast())).unwrap(),
        1,
        "no wait, no timer needed"
    );
    assert_eq!(b.counts().total_successes, 1);
    assert_no_timer(poll_here(b.call(slow())), "timer-no-runtime");
    let permit = b.try_acquire().unwrap();
    assert_no_timer(poll_here(permit.run(slow())), "timer-no-runtime");
    let counts = b.counts();
    assert_eq!(
        (counts.requests, counts.total_failures),
        (1, 0),
        "the waiting calls were handed back, not counted"
    );
    // Without a timeout there is nothing to arm.
    let untimed = CircuitBreaker::builder("timer-no-runtime-untimed")
        .build()
        .unwrap();
    assert_eq!(poll_here(untimed.call(slow())).unwrap(), 2);
}

#[test]
fn a_timeout_in_a_runtime_without_time_is_an_error_once_the_call_waits() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let b = breaker("timer-no-time-driver");
    rt.block_on(async {
        assert_eq!(b.call(fast()).await.unwrap(), 1);
        assert_no_timer(b.call(slow()).await, "timer-no-time-driver");
    });
    assert_eq!(
        b.counts().requests,
        1,
        "only the call that finished at once"
    );
    // The same breaker works in a runtime with time.
    let timed = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    timed.block_on(async {
        assert_eq!(b.call(fast()).await.unwrap(), 1);
        assert_eq!(b.call(slow()).await.unwrap(), 2);
    });
}
