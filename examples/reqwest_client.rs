//! A reqwest client with a circuit breaker per host: two local HTTP services, one healthy
//! and one failing, called through the same client. The failing host's breaker opens and
//! its requests are refused without touching the network, while the healthy host keeps
//! answering. Retries sit outside the breaker, so a refusal ends them.
//!
//! ```sh
//! cargo run --example reqwest_client --features reqwest-middleware
//! ```

use std::time::Duration;

use async_breaker::reqwest::{CircuitBreakerMiddleware, rejection};
use async_breaker::{CircuitBreaker, State, TripPolicy};
use reqwest_middleware::ClientBuilder;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;

#[path = "../tests/support/http_server.rs"]
mod http_server;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let healthy = http_server::Server::start().await;
    let failing = http_server::Server::start().await;

    let per_host = CircuitBreakerMiddleware::new(
        CircuitBreaker::builder("catalog-client")
            .timeout(Duration::from_secs(2))
            .trip_policy(TripPolicy::ConsecutiveFailures(3))
            .reset_timeout(Duration::from_secs(30)),
    )?;
    let breakers = per_host.breakers().clone();
    let retries = RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_millis(5), Duration::from_millis(20))
            .build_with_max_retries(2),
    );
    // Attached first, the retry middleware is outside: each attempt goes through the
    // breaker, and a refusal (a middleware error) is not retried.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(retries)
        .with(per_host)
        .build();

    println!(
        "healthy host {}, failing host {}",
        healthy.addr, failing.addr
    );
    for round in 1..=4 {
        let good = client.get(healthy.url("/status/200")).send().await?;
        let bad = client.get(failing.url("/status/503")).send().await;
        let bad = match bad {
            Ok(response) => format!("answered {}", response.status()),
            Err(error) => match rejection(&error) {
                Some(refused) => format!("refused: {refused}"),
                None => format!("failed: {error}"),
            },
        };
        println!(
            "round {round}: healthy answered {}; failing {bad}",
            good.status()
        );
    }

    let healthy_state = breakers.get(healthy.addr.to_string().as_str()).state();
    let failing_state = breakers.get(failing.addr.to_string().as_str()).state();
    println!(
        "breakers: {} {healthy_state:?}, {} {failing_state:?}; the failing host saw {} requests",
        healthy.addr,
        failing.addr,
        failing.hits()
    );
    // The story, checked: the failing host's breaker opened after 3 failed attempts and
    // kept every later request off the network; the healthy host never tripped.
    let ok = healthy_state == State::Closed
        && failing_state == State::Open
        && failing.hits() == 3
        && healthy.hits() == 4;
    if !ok {
        return Err("the breaker per host did not behave as described".into());
    }
    println!("ok: one host failing did not stop the other");
    Ok(())
}
