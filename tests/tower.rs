//! The tower layer over real HTTP on 127.0.0.1 (a hyper client as the inner service):
//! refusals come from `call`, never from `poll_ready`, so `Buffer` survives them; one
//! breaker per host; HTTP statuses classified; the deadline inside the breaker.

use std::io;
use std::time::Duration;

use async_breaker::tower::{BoxError, CircuitBreakerLayer};
use async_breaker::{
    BreakerError, CircuitBreaker, HttpClassifier, KeyedBreakers, Outcome, State, TripPolicy,
};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::buffer::Buffer;
use tower::{Layer, Service, ServiceExt};

#[path = "support/http_server.rs"]
mod http_server;

use http_server::Server;

type Request = http::Request<Empty<Bytes>>;

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(url: &str) -> Request {
    http::Request::get(url).body(Empty::new()).unwrap()
}

fn breaker(name: &str, failures: u32) -> CircuitBreaker {
    CircuitBreaker::builder(name.to_string())
        .timeout(Duration::from_secs(1))
        .trip_policy(TripPolicy::ConsecutiveFailures(failures))
        .build()
        .expect("valid")
}

fn breaker_error(error: &BoxError) -> &BreakerError {
    error
        .downcast_ref::<BreakerError>()
        .unwrap_or_else(|| panic!("expected a BreakerError, got {error:?}"))
}

#[tokio::test]
async fn an_open_breaker_refuses_in_call_while_poll_ready_stays_ready() {
    let server = Server::start().await;
    let breaker = breaker("tower-refuse", 2);
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .classify(HttpClassifier::new())
        .layer(client());

    for _ in 0..2 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(get(&server.url("/status/503")))
            .await;
        assert_eq!(response.unwrap().status(), 503);
    }
    assert_eq!(breaker.state(), State::Open);

    // Ready, then refused by `call` with the breaker's error, without touching the network.
    let ready = service.ready().await;
    assert!(
        ready.is_ok(),
        "poll_ready never reports the breaker's refusal"
    );
    let refused = ready
        .unwrap()
        .call(get(&server.url("/status/200")))
        .await
        .unwrap_err();
    assert!(matches!(breaker_error(&refused), BreakerError::Open { .. }));
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn buffer_survives_refusals() {
    let server = Server::start().await;
    let breaker = breaker("tower-buffer", 1);
    let layered = CircuitBreakerLayer::new(breaker.clone())
        .classify(HttpClassifier::new())
        .layer(client());
    let mut buffered = Buffer::new(layered, 16);

    let failed = buffered
        .ready()
        .await
        .unwrap()
        .call(get(&server.url("/status/500")))
        .await;
    assert_eq!(failed.unwrap().status(), 500);
    for _ in 0..5 {
        let refused = buffered
            .ready()
            .await
            .unwrap()
            .call(get(&server.url("/status/200")))
            .await;
        assert!(matches!(
            breaker_error(&refused.unwrap_err()),
            BreakerError::Open { .. }
        ));
    }
    // The operator closes the breaker: the same Buffer still carries requests.
    breaker.reset();
    let response = buffered
        .ready()
        .await
        .unwrap()
        .call(get(&server.url("/status/200")))
        .await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn one_breaker_per_host() {
    let healthy = Server::start().await;
    let failing = Server::start().await;
    let hosts = KeyedBreakers::new(
        CircuitBreaker::builder("tower-hosts").trip_policy(TripPolicy::ConsecutiveFailures(3)),
    )
    .expect("valid");
    let mut service = CircuitBreakerLayer::keyed(hosts.clone(), |req: &Request| {
        req.uri()
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default()
    })
    .classify(HttpClassifier::new())
    .layer(client());

    for _ in 0..5 {
        let _ = service
            .ready()
            .await
            .unwrap()
            .call(get(&failing.url("/status/502")))
            .await;
        let ok = service
            .ready()
            .await
            .unwrap()
            .call(get(&healthy.url("/status/200")))
            .await;
        assert_eq!(
            ok.unwrap().status(),
            200,
            "the healthy host is never refused"
        );
    }
    assert_eq!(failing.hits(), 3, "refused after three failures");
    assert_eq!(
        hosts.get(failing.addr.to_string().as_str()).state(),
        State::Open
    );
    let healthy_breaker = hosts.get(healthy.addr.to_string().as_str());
    assert_eq!(healthy_breaker.state(), State::Closed);
    assert_eq!(
        healthy_breaker.name(),
        format!("tower-hosts[{}]", healthy.addr).as_str()
    );
}

#[tokio::test]
async fn client_errors_are_successes_unless_ignored() {
    let server = Server::start().await;
    for (name, classify, ignored, successes) in [
        ("tower-4xx-strict", HttpClassifier::new(), 0, 2),
        (
            "tower-4xx-lenient",
            HttpClassifier::new().ignore_client_errors(),
            2,
            0,
        ),
    ] {
        let breaker = breaker(name, 100);
        let mut service = CircuitBreakerLayer::new(breaker.clone())
            .classify(classify)
            .layer(client());
        for path in ["/status/404", "/status/422", "/status/429", "/status/503"] {
            service
                .ready()
                .await
                .unwrap()
                .call(get(&server.url(path)))
                .await
                .unwrap();
        }
        let counts = breaker.counts();
        assert_eq!(counts.total_ignored, ignored, "{name}");
        assert_eq!(counts.total_successes, successes, "{name}");
        assert_eq!(counts.total_failures, 2, "{name}: 429 and 503");
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_inside_the_breaker() {
    let server = Server::start().await;
    let breaker = breaker("tower-deadline", 1);
    let mut service = CircuitBreakerLayer::new(breaker.clone()).layer(client());
    let error = service
        .ready()
        .await
        .unwrap()
        .call(get(&server.url("/slow")))
        .await
        .unwrap_err();
    assert!(
        matches!(breaker_error(&error), BreakerError::Timeout { after, .. } if *after == Duration::from_secs(1))
    );
    assert_eq!(
        breaker.state(),
        State::Open,
        "the timeout counted as a failure"
    );
}

#[tokio::test]
async fn any_service_with_a_classifier_function() {
    let breaker = breaker("tower-generic", 1);
    let inner = tower::service_fn(|n: u32| async move {
        match n {
            0 => Err(io::Error::from(io::ErrorKind::NotFound)),
            1 => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
            n => Ok(n),
        }
    });
    let classify = |result: Result<&u32, &io::Error>| match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Ignored,
        Err(_) => Outcome::Failure,
        Ok(_) => Outcome::Success,
    };
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .classify(classify)
        .layer(inner);
    assert_eq!(service.ready().await.unwrap().call(7).await.unwrap(), 7);
    // The inner error comes back boxed, as itself.
    let not_found = service.ready().await.unwrap().call(0).await.unwrap_err();
    assert_eq!(
        not_found.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(breaker.state(), State::Closed, "ignored");
    let _ = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    let counts = breaker.snapshot().counts;
    assert_eq!(counts.total_ignored, 0, "a new generation after the trip");
}
