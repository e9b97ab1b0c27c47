//! A circuit breaker as a [`tower`](https://docs.rs/tower) layer: around any
//! [`Service`], with one breaker or one per key (per host, per route).
//!
//! ```
//! use std::time::Duration;
//! use breaker_runtime::tower::CircuitBreakerLayer;
//! use breaker_runtime::{CircuitBreaker, HttpClassifier, KeyedBreakers, TripPolicy};
//! use tower_layer::Layer;
//!
//! # fn main() -> Result<(), breaker_runtime::BuildError> {
//! # let http_client = tower_service_fn();
//! // One breaker per host, HTTP statuses classified (5xx and 429 fail).
//! let hosts: KeyedBreakers<String> = KeyedBreakers::new(
//!     CircuitBreaker::builder("upstream")
//!         .timeout(Duration::from_secs(2))
//!         .trip_policy(TripPolicy::ConsecutiveFailures(5)),
//! )?;
//! let layer = CircuitBreakerLayer::keyed(hosts, |req: &http::Request<String>| {
//!     req.uri().authority().map(|a| a.to_string()).unwrap_or_default()
//! })
//! .classify(HttpClassifier::new());
//! let service = layer.layer(http_client);
//! # drop(service);
//! # Ok(())
//! # }
//! # fn tower_service_fn() -> impl tower_service::Service<
//! #     http::Request<String>, Response = http::Response<String>, Error = std::io::Error> + Clone {
//! #     #[derive(Clone)] struct S;
//! #     impl tower_service::Service<http::Request<String>> for S {
//! #         type Response = http::Response<String>;
//! #         type Error = std::io::Error;
//! #         type Future = std::future::Ready<Result<http::Response<String>, std::io::Error>>;
//! #         fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), std::io::Error>> {
//! #             std::task::Poll::Ready(Ok(()))
//! #         }
//! #         fn call(&mut self, _: http::Request<String>) -> Self::Future {
//! #             std::future::ready(Ok(http::Response::new(String::new())))
//! #         }
//! #     }
//! #     S
//! # }
//! ```
//!
//! **Rejected in `call`, never in `poll_ready`.** An open breaker answers the request at
//! once with a ready future holding the breaker's error; `poll_ready` only asks the inner
//! service. An error from `poll_ready` means "this service is broken for good" in tower:
//! `tower::buffer::Buffer` shuts down its worker on one, and balancers drop the endpoint,
//! so a breaker that refused there would turn a temporary refusal into a dead client.
//!
//! **Errors** are [`BoxError`]s, as tower middleware expects: the inner service's error,
//! or a [`BreakerError`] (open, half-open full, deadline passed), found with
//! `error.downcast_ref::<BreakerError>()`. With axum, a `HandleErrorLayer` can map the
//! latter to `503 Service Unavailable`; with tonic, to `Status::unavailable`.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::call::{Call, Convert, Judge};
use crate::{BreakerError, CircuitBreaker, HttpClassifier, KeyedBreakers, Outcome};

/// The error type of [`CircuitBreakerService`]: the inner service's error or a
/// [`BreakerError`], boxed, as tower middleware conventionally returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How an inner service's result counts for the breaker.
///
/// Implemented by [`ByResult`] (the default: `Ok` succeeds, `Err` fails), by
/// [`HttpClassifier`] for `http::Response`s, and by any
/// `Fn(Result<&Response, &Error>) -> Outcome`.
pub trait Classify<Res, Err> {
    /// The outcome of one result.
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome;
}

/// `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByResult;

impl<Res, Err> Classify<Res, Err> for ByResult {
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl<B, Err> Classify<http::Response<B>, Err> for HttpClassifier {
    fn classify(&self, result: Result<&http::Response<B>, &Err>) -> Outcome {
        self.response(result)
    }
}

impl<F, Res, Err> Classify<Res, Err> for F
where
    F: Fn(Result<&Res, &Err>) -> Outcome,
{
    fn classify(&self, result: Result<&Res, &Err>) -> Outcome {
        self(result)
    }
}

/// Which breaker a request goes through: one for every request ([`CircuitBreaker`]), or
/// one per key ([`PerKey`]).
pub trait Select<Req> {
    /// The breaker of `req`.
    fn select(&self, req: &Req) -> CircuitBreaker;
}

impl<Req> Select<Req> for CircuitBreaker {
    #[inline]
    fn select(&self, _req: &Req) -> CircuitBreaker {
        self.clone()
    }
}

/// One breaker per key of the request, from a [`KeyedBreakers`] set and a key function.
#[derive(Clone)]
pub struct PerKey<K, F> {
    breakers: KeyedBreakers<K>,
    key: F,
}

impl<Req, K, F> Select<Req> for PerKey<K, F>
where
    F: Fn(&Req) -> K,
    K: Hash + Eq + fmt::Display + Send + Sync + 'static,
{
    #[inline]
    fn select(&self, req: &Req) -> CircuitBreaker {
        self.breakers.lookup((self.key)(req))
    }
}

impl<K: Hash + Eq, F> fmt::Debug for PerKey<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerKey")
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

/// Wraps services in a [`CircuitBreakerService`]. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<P, C = ByResult> {
    select: P,
    classify: C,
}

impl CircuitBreakerLayer<CircuitBreaker> {
    /// Every request through `breaker`; `Ok` succeeds and `Err` fails until
    /// [`classify`](Self::classify) says otherwise.
    #[must_use]
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            select: breaker,
            classify: ByResult,
        }
    }
}

impl<K, F> CircuitBreakerLayer<PerKey<K, F>> {
    /// Each request through the breaker of its key, `key(&request)` (a host, a route, a
    /// tenant), made on first use from the set's template.
    #[must_use]
    pub fn keyed(breakers: KeyedBreakers<K>, key: F) -> Self {
        CircuitBreakerLayer {
            select: PerKey { breakers, key },
            classify: ByResult,
        }
    }
}

impl<P, C> CircuitBreakerLayer<P, C> {
    /// Classifies the inner service's results with `classify` (an [`HttpClassifier`], or a
    /// function of `Result<&Response, &Error>`).
    #[must_use]
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<P, C2> {
        CircuitBreakerLayer {
            select: self.select,
            classify,
        }
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for CircuitBreakerLayer<P, C> {
    type Service = CircuitBreakerService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            select: self.select.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A [`Service`] whose calls go through a circuit breaker and its deadline. Made by
/// [`CircuitBreakerLayer`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct CircuitBreakerService<S, P, C = ByResult> {
    inner: S,
    select: P,
    classify: C,
}

impl<S, P, C> CircuitBreakerService<S, P, C> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, P, C> Service<Req> for CircuitBreakerService<S, P, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: Select<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Never refuses here: see the module docs.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // Admitted in place: the permit is not moved through a `Result` on its way into
        // the future.
        let mut permit = self.select.select(&req).waiting_permit();
        if let Err(rejected) = permit.admit() {
            return ResponseFuture {
                kind: Kind::Rejected {
                    error: Some(rejected),
                },
            };
        }
        ResponseFuture {
            kind: Kind::Admitted {
                call: Call::new(
                    permit,
                    Inner {
                        fut: self.inner.call(req),
                    },
                    ClassifyInner(self.classify.clone()),
                    TimedOut,
                ),
            },
        }
    }
}

/// The inner service's error, or the breaker's deadline.
enum Failed<E> {
    Inner(E),
    Breaker(BreakerError),
}

/// The user's classifier, seeing the inner service's own result.
struct ClassifyInner<C>(C);

impl<C, Res, E> Judge<Result<Res, Failed<E>>> for ClassifyInner<C>
where
    C: Classify<Res, E>,
{
    #[inline]
    fn judge(self, result: &Result<Res, Failed<E>>) -> Outcome {
        match result {
            Ok(response) => self.0.classify(Ok(response)),
            Err(Failed::Inner(error)) => self.0.classify(Err(error)),
            Err(Failed::Breaker(_)) => Outcome::Failure,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its error kept apart from the breaker's.
    struct Inner<F> {
        #[pin]
        fut: F,
    }
}

impl<F, Res, E> Future for Inner<F>
where
    F: Future<Output = Result<Res, E>>,
{
    type Output = Result<Res, Failed<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map_err(Failed::Inner)
    }
}

/// Turns the deadline's error into the inner future's output.
struct TimedOut;

impl<Res, E> Convert<Result<Res, Failed<E>>> for TimedOut {
    #[inline]
    fn convert(&self, error: BreakerError) -> Result<Res, Failed<E>> {
        Err(Failed::Breaker(error))
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CircuitBreakerService::call`]: the inner service's response under
    /// the breaker and its deadline, or the breaker's refusal, ready at once.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Admitted {
            #[pin]
            call: Call<'static, Inner<F>, ClassifyInner<C>, TimedOut>,
        },
        Rejected {
            error: Option<BreakerError>,
        },
    }
}

impl<F, C, Res, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    C: Classify<Res, E>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Admitted { call } => call.poll(cx).map_err(|failed| match failed {
                Failed::Inner(error) => error.into(),
                Failed::Breaker(error) => Box::new(error) as BoxError,
            }),
            KindProj::Rejected { error } => {
                let error = error
                    .take()
                    .expect("a rejected call polled after it finished");
                Poll::Ready(Err(Box::new(error)))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
