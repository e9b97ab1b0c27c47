//! A tower stack with a circuit breaker: a hyper client behind `Buffer` and
//! `CircuitBreakerLayer`, calling a local HTTP service that fails for a while and then
//! recovers. The breaker opens after three 503s, refuses calls at once (from `call`, so
//! `Buffer` keeps working), probes after its reset timeout and closes again.
//!
//! ```sh
//! cargo run --example tower_client --features tower
//! ```

use std::time::Duration;

use async_breaker::tower::CircuitBreakerLayer;
use async_breaker::{BreakerError, CircuitBreaker, HttpClassifier, State, TripPolicy};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::buffer::Buffer;
use tower::{Layer, Service, ServiceExt};

#[path = "../tests/support/http_server.rs"]
mod http_server;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service = http_server::Server::start().await;
    let breaker = CircuitBreaker::builder("inventory")
        .timeout(Duration::from_secs(2))
        .trip_policy(TripPolicy::ConsecutiveFailures(3))
        .reset_timeout(Duration::from_millis(300))
        .on_state_change(|name, from, to| println!("  breaker {name}: {from:?} -> {to:?}"))
        .build()?;

    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let layered = CircuitBreakerLayer::new(breaker.clone())
        .classify(HttpClassifier::new())
        .layer(http);
    // `Buffer` is where a breaker that refused in `poll_ready` would do harm: one error
    // there shuts its worker down for good. This layer refuses in `call`.
    let mut client = Buffer::new(layered, 32);

    let mut refused = 0;
    let mut answered = Vec::new();
    for (step, path) in ["/status/503"; 6]
        .into_iter()
        .chain(["/status/200"; 4])
        .enumerate()
    {
        if step == 6 {
            println!("the service recovers; waiting out the reset timeout");
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
        let request = http::Request::get(service.url(path)).body(Empty::new())?;
        match client.ready().await?.call(request).await {
            Ok(response) => {
                println!("request {step}: {path} answered {}", response.status());
                answered.push(response.status().as_u16());
            }
            Err(error) => match error.downcast_ref::<BreakerError>() {
                Some(rejection) => {
                    println!("request {step}: refused at once: {rejection}");
                    refused += 1;
                }
                None => return Err(error),
            },
        }
    }

    println!(
        "{} requests reached the service, {refused} were refused; the breaker is {:?}",
        service.hits(),
        breaker.state()
    );
    // The story, checked: three failures opened the breaker, the next three were refused
    // without reaching the service, and after the reset timeout a probe closed it.
    let ok = refused == 3
        && service.hits() == 7
        && answered == [503, 503, 503, 200, 200, 200, 200]
        && breaker.state() == State::Closed;
    if !ok {
        return Err("the breaker did not behave as described".into());
    }
    println!("ok: the breaker opened, refused from call, and closed after recovery");
    Ok(())
}
