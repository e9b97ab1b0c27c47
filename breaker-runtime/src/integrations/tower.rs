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
use std::time::Duration;

use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::call::timer_available;
use crate::observe::Finished;
use crate::permit::CoreRef;
use crate::{BreakerError, CircuitBreaker, HttpClassifier, KeyedBreakers, Outcome, Permit};

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
        let breaker = self.select.select(&req);
        let m = &breaker.core.machine;
        // One shape for an admitted and a refused request, so that the future is built
        // in place wherever the caller keeps it, not built aside and copied there.
        let (fut, permit, stage) = match m.acquire(|| m.now()) {
            Ok(admission) => {
                // As `CircuitBreaker::call`'s, the deadline is armed only if the request
                // has to wait: it counts from the end of the first poll that left it
                // pending.
                let stage = match m.timeout() {
                    None => Stage::Admitted,
                    Some(timeout) => Stage::Due { timeout },
                };
                // The permit takes over this request's reference count on the breaker.
                // It stays armed for panics until the inner service's `call` returns: a
                // panic there is a failure of this request.
                let mut permit = Permit::new(CoreRef::Shared(breaker.core), admission);
                let fut = self.inner.call(req);
                permit.set_fail_on_panic(false);
                (Some(fut), permit, stage)
            }
            Err(rejection) => {
                let error = Box::new(m.reject(rejection));
                let permit = Permit::waiting(CoreRef::Shared(breaker.core));
                (None, permit, Stage::Refused { error: Some(error) })
            }
        };
        ResponseFuture {
            fut,
            permit,
            classify: self.classify.clone(),
            stage,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CircuitBreakerService::call`]: the inner service's response under
    /// the breaker and its deadline, or the breaker's refusal, ready at once.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        // Fields drop in declaration order: the inner future first, then the permit, so a
        // cancelled probe gives its half-open slot back only once its body is gone.
        // `None` for a request the breaker refused.
        #[pin]
        fut: Option<F>,
        // Armed from admission until the outcome is recorded (or given back); armed for
        // panics only while this request's own future is polled or classified, so that
        // dropped while another future unwinds, it records nothing.
        permit: Permit<'static>,
        classify: C,
        #[pin]
        stage: Stage,
    }
}

pin_project_lite::pin_project! {
    /// Where a request stands beside its inner future.
    #[project = StageProj]
    enum Stage {
        /// Admitted; the breaker has no timeout, or the request needs no timer.
        Admitted,
        /// Admitted with a deadline, not pending yet: its timer is made (after checking
        /// that tokio's timer is available, as `CircuitBreaker::call` does) at the first
        /// poll that leaves the request pending.
        Due {
            timeout: Duration,
        },
        /// Admitted and pending after its first poll, under the deadline's timer.
        Timed {
            #[pin]
            sleep: Sleep,
        },
        /// Refused in `call`: the breaker's error, until it is polled.
        Refused {
            error: Option<Box<BreakerError>>,
        },
    }
}

/// What the deadline says of an admitted request whose inner future is pending.
enum Deadline {
    Running,
    Passed,
    /// The request has to wait, and no tokio timer is available here.
    NoTimer,
}

/// Makes the timer at the request's first pending poll, so that a request that finishes at
/// once never reads the clock or touches tokio's timer; then polls it.
#[inline(never)]
fn expired(mut stage: Pin<&mut Stage>, cx: &mut Context<'_>) -> Deadline {
    match stage.as_mut().project() {
        StageProj::Due { timeout } => {
            if !timer_available() {
                return Deadline::NoTimer;
            }
            let sleep = tokio::time::sleep(*timeout);
            stage.set(Stage::Timed { sleep });
        }
        StageProj::Timed { .. } => {}
        StageProj::Admitted | StageProj::Refused { .. } => return Deadline::Running,
    }
    if let StageProj::Timed { sleep } = stage.project()
        && sleep.poll(cx).is_ready()
    {
        return Deadline::Passed;
    }
    Deadline::Running
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
        let this = self.project();
        let (Some(fut), true) = (this.fut.as_pin_mut(), this.permit.is_armed()) else {
            return Poll::Ready(Err(refused(this.stage)));
        };
        let permit = this.permit;
        // Should the inner future (or its classification) panic, the permit is dropped
        // while this thread unwinds and records a failure.
        permit.set_fail_on_panic(true);
        match fut.poll(cx) {
            Poll::Ready(result) => {
                let outcome = this.classify.classify(result.as_ref());
                permit.finish(outcome, Finished::from(outcome));
                Poll::Ready(result.map_err(Into::into))
            }
            Poll::Pending => {
                if !matches!(*this.stage, Stage::Admitted) {
                    match expired(this.stage, cx) {
                        Deadline::Running => {}
                        Deadline::Passed => return Poll::Ready(Err(timed_out(permit))),
                        Deadline::NoTimer => return Poll::Ready(Err(no_timer(permit))),
                    }
                }
                permit.set_fail_on_panic(false);
                Poll::Pending
            }
        }
    }
}

/// The breaker's refusal, once; or a request polled after it finished.
#[cold]
#[inline(never)]
fn refused(stage: Pin<&mut Stage>) -> BoxError {
    match stage.project() {
        StageProj::Refused { error } => error
            .take()
            .expect("a rejected call polled after it finished"),
        _ => panic!("a breaker call polled after it finished"),
    }
}

/// The deadline passed: a failure, and the breaker's error.
#[cold]
#[inline(never)]
fn timed_out(permit: &mut Permit<'static>) -> BoxError {
    permit.finish(Outcome::Failure, Finished::Timeout);
    let m = &*permit.core;
    let after = m.timeout().unwrap_or_default();
    #[cfg(feature = "tracing")]
    crate::observe::Observer::timed_out(&m.name, after);
    Box::new(BreakerError::Timeout {
        name: m.name.clone(),
        after,
    })
}

/// The breaker has a timeout, the request has to wait, and tokio's timer is not available
/// here: the request is dropped, and its admission is given back.
#[cold]
#[inline(never)]
fn no_timer(permit: &mut Permit<'static>) -> BoxError {
    permit.give_back();
    let m = &*permit.core;
    Box::new(BreakerError::NoTimer {
        name: m.name.clone(),
        timeout: m.timeout().unwrap_or_default(),
    })
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::{Future, pending, poll_fn, ready};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::{Pin, pin};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use tower_layer::Layer;
    use tower_service::Service;

    use super::{BoxError, CircuitBreakerLayer, CircuitBreakerService};
    use crate::{BreakerError, CircuitBreaker, State, TripPolicy};

    type Answer = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

    /// A service whose answers come from a function of the request.
    #[derive(Clone)]
    struct Answers<F>(F);

    impl<F: FnMut(u32) -> Answer> Service<u32> for Answers<F> {
        type Response = u32;
        type Error = BoxError;
        type Future = Answer;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, n: u32) -> Answer {
            (self.0)(n)
        }
    }

    /// 0 fails, 1 never answers, 2 panics when polled, 3 answers at its second poll, 4
    /// panics in `call`; anything else succeeds at once.
    fn answer(n: u32) -> Answer {
        match n {
            0 => Box::pin(ready(Err("down".into()))),
            1 => Box::pin(pending()),
            2 => Box::pin(async { panic!("the inner future panics") }),
            3 => Box::pin(async {
                tokio::task::yield_now().await;
                Ok(3)
            }),
            4 => panic!("the inner service's call panics"),
            n => Box::pin(ready(Ok(n))),
        }
    }

    fn breaker(name: &'static str) -> CircuitBreaker {
        CircuitBreaker::builder(name)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(1))
            .build()
            .expect("valid")
    }

    type Layered = CircuitBreakerService<Answers<fn(u32) -> Answer>, CircuitBreaker>;

    fn service(b: &CircuitBreaker) -> Layered {
        CircuitBreakerLayer::new(b.clone()).layer(Answers(answer as fn(u32) -> Answer))
    }

    fn breaker_error(error: &BoxError) -> &BreakerError {
        error
            .downcast_ref::<BreakerError>()
            .unwrap_or_else(|| panic!("expected a BreakerError, got {error:?}"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_records_nothing_and_gives_its_probe_slot_back() {
        let b = breaker("tower-unit-dropped");
        let mut s = service(&b);
        let _ = s.call(0).await.unwrap_err();
        assert_eq!(b.state(), State::Open);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(b.state(), State::HalfOpen);

        let mut probe = Box::pin(s.call(1));
        assert!(poll_fn(|cx| Poll::Ready(probe.as_mut().poll(cx).is_pending())).await);
        let full = s.call(7).await.unwrap_err();
        assert!(matches!(
            breaker_error(&full),
            BreakerError::HalfOpenFull { .. }
        ));
        drop(probe);
        assert_eq!(b.counts().requests, 0, "the probe slot is back");
        assert_eq!(b.state(), State::HalfOpen, "nothing recorded");
        assert_eq!(s.call(7).await.unwrap(), 7);
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_in_the_inner_future_or_call_is_a_failure() {
        for (name, n) in [("tower-unit-panic-poll", 2), ("tower-unit-panic-call", 4)] {
            let b = breaker(name);
            let mut s = service(&b);
            let unwound = catch_unwind(AssertUnwindSafe(|| {
                let mut fut = pin!(s.call(n));
                let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }));
            assert!(unwound.is_err());
            assert_eq!(b.state(), State::Open, "{name}");
            assert_eq!(b.counts().total_failures, 0, "{name}: a new generation");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_while_a_sibling_panics_records_nothing() {
        let b = breaker("tower-unit-sibling");
        let mut s = service(&b);
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut request = pin!(s.call(1));
            let pending = request
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            assert!(pending.is_pending());
            panic!("a sibling future panics while the request waits");
        }));
        assert!(unwound.is_err());
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.counts().requests, 0, "its admission was given back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_answer_within_the_deadline_succeeds_and_one_past_it_fails() {
        let b = CircuitBreaker::builder("tower-unit-deadline")
            .timeout(Duration::from_secs(1))
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .build()
            .expect("valid");
        let mut s = service(&b);
        assert_eq!(s.call(3).await.unwrap(), 3);
        assert_eq!(s.call(5).await.unwrap(), 5);
        assert_eq!(b.counts().total_successes, 2);
        let late = s.call(1).await.unwrap_err();
        assert!(
            matches!(breaker_error(&late), BreakerError::Timeout { after, .. } if *after == Duration::from_secs(1))
        );
        assert_eq!(b.state(), State::Open);
        let refused = s.call(5).await.unwrap_err();
        assert!(matches!(breaker_error(&refused), BreakerError::Open { .. }));
    }

    #[test]
    fn a_deadline_without_tokio_s_timer_is_an_error_once_the_request_waits() {
        let b = CircuitBreaker::builder("tower-unit-no-timer")
            .timeout(Duration::from_secs(1))
            .build()
            .expect("valid");
        let mut s = service(&b);
        let mut cx = Context::from_waker(Waker::noop());
        // Answers at once: no timer needed.
        let mut fut = pin!(s.call(5));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(5))));
        // Has to wait: the deadline cannot be armed.
        let mut fut = pin!(s.call(3));
        let Poll::Ready(Err(error)) = fut.as_mut().poll(&mut cx) else {
            panic!("expected an error at the first poll");
        };
        assert!(matches!(
            breaker_error(&error),
            BreakerError::NoTimer { .. }
        ));
        let counts = b.counts();
        assert_eq!(
            (counts.requests, counts.total_successes),
            (1, 1),
            "the waiting request was given back"
        );
    }

    #[tokio::test]
    #[should_panic(expected = "polled after it finished")]
    async fn polling_a_finished_request_again_panics() {
        let b = breaker("tower-unit-twice");
        let mut s = service(&b);
        let mut fut = pin!(s.call(5));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let _ = fut.as_mut().poll(&mut cx);
    }
}
