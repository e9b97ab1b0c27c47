//! The reqwest middleware over real HTTP on 127.0.0.1: a breaker per host and port, a
//! failing host refused without touching the network while a healthy one keeps working,
//! 4xx ignored, connect errors and deadlines counted as failures, and retries outside the
//! breaker stopped by a rejection.

use std::time::Duration;

use async_breaker::reqwest::{CircuitBreakerMiddleware, rejection};
use async_breaker::{BreakerError, CircuitBreaker, KeyedBreakers, State, TripPolicy};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;

#[path = "support/http_server.rs"]
mod http_server;

use http_server::Server;

fn client(name: &str, failures: u32) -> (ClientWithMiddleware, KeyedBreakers<String>) {
    let middleware = CircuitBreakerMiddleware::new(
        CircuitBreaker::builder(name.to_string())
            .timeout(Duration::from_secs(1))
            .trip_policy(TripPolicy::ConsecutiveFailures(failures)),
    )
    .expect("valid");
    let breakers = middleware.breakers().clone();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();
    (client, breakers)
}

#[tokio::test]
async fn a_failing_host_is_refused_while_a_healthy_one_keeps_working() {
    let healthy = Server::start().await;
    let failing = Server::start().await;
    let (client, breakers) = client("reqwest-hosts", 3);

    for _ in 0..3 {
        let response = client.get(failing.url("/status/503")).send().await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let failing_breaker = breakers.get(failing.addr.to_string().as_str());
    assert_eq!(failing_breaker.state(), State::Open);
    assert_eq!(failing.hits(), 3);

    // Refused at once, without a request on the wire, with an error that says which
    // breaker and when to retry.
    let refused = client
        .get(failing.url("/status/200"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failing.hits(),
        3,
        "a rejected request never reaches the network"
    );
    let Some(BreakerError::Open { name, retry_after }) = rejection(&refused) else {
        panic!("expected the breaker's rejection, got {refused:?}");
    };
    assert_eq!(name.as_str(), format!("reqwest-hosts[{}]", failing.addr));
    assert!(*retry_after > Duration::ZERO);
    let message = refused.to_string();
    assert!(message.starts_with("request not sent: "), "{message}");
    assert!(
        message.contains(&format!("\"reqwest-hosts[{}]\" is open", failing.addr)),
        "{message}"
    );
    assert!(message.contains("next probe in"), "{message}");

    // The healthy host, behind the same client, never trips.
    for _ in 0..10 {
        let response = client.get(healthy.url("/status/200")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let healthy_breaker = breakers.get(healthy.addr.to_string().as_str());
    assert_eq!(healthy_breaker.state(), State::Closed);
    assert_eq!(healthy_breaker.counts().total_successes, 10);
    assert_eq!(healthy.hits(), 10);
}

#[tokio::test]
async fn client_errors_are_ignored_and_429_fails() {
    let server = Server::start().await;
    let (client, breakers) = client("reqwest-statuses", 100);
    for path in [
        "/status/404",
        "/status/400",
        "/status/429",
        "/status/500",
        "/status/204",
    ] {
        client.get(server.url(path)).send().await.unwrap();
    }
    let counts = breakers.get(server.addr.to_string().as_str()).counts();
    assert_eq!(counts.total_ignored, 2, "404 and 400");
    assert_eq!(counts.total_failures, 2, "429 and 500");
    assert_eq!(counts.total_successes, 1, "204");
}

#[tokio::test]
async fn connect_errors_count_as_failures() {
    // A port that was bound and released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (client, breakers) = client("reqwest-refused", 2);
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..2 {
        let error = client.get(&url).send().await.unwrap_err();
        assert!(
            rejection(&error).is_none(),
            "the connection error itself: {error}"
        );
    }
    let breaker = breakers.get(format!("127.0.0.1:{port}").as_str());
    assert_eq!(breaker.state(), State::Open);
    let refused = client.get(&url).send().await.unwrap_err();
    assert!(matches!(
        rejection(&refused),
        Some(BreakerError::Open { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_inside_the_breaker() {
    let server = Server::start().await;
    let (client, breakers) = client("reqwest-deadline", 1);
    let error = client.get(server.url("/slow")).send().await.unwrap_err();
    assert!(
        matches!(rejection(&error), Some(BreakerError::Timeout { after, .. }) if *after == Duration::from_secs(1)),
        "{error:?}"
    );
    let breaker = breakers.get(server.addr.to_string().as_str());
    assert_eq!(
        breaker.counts().total_failures,
        0,
        "a new generation after the trip"
    );
    assert_eq!(
        breaker.state(),
        State::Open,
        "the timeout counted as a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_outside_the_breaker_stop_at_a_rejection() {
    let failing = Server::start().await;
    let middleware = CircuitBreakerMiddleware::new(
        CircuitBreaker::builder("reqwest-retry").trip_policy(TripPolicy::ConsecutiveFailures(2)),
    )
    .expect("valid");
    let breakers = middleware.breakers().clone();
    let retry = RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_millis(10), Duration::from_millis(100))
            .build_with_max_retries(10),
    );
    // Retries first (outside), the breaker second (inside): every attempt goes through
    // the breaker.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(retry)
        .with(middleware)
        .build();
    let error = client
        .get(failing.url("/status/503"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(rejection(&error), Some(BreakerError::Open { .. })),
        "{error:?}"
    );
    assert_eq!(
        failing.hits(),
        2,
        "two attempts tripped the breaker; the third was refused"
    );
    assert_eq!(
        breakers.get(failing.addr.to_string().as_str()).state(),
        State::Open
    );
}
