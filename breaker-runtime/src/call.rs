//! One call through the breaker as a single hand-written future: admission on first poll,
//! the call polled with its permit armed for panics (so a panic inside this call records a
//! failure), the deadline armed only if the call does not finish at its first poll, and the
//! outcome recorded when it finishes. One state machine instead of nested `async fn`s keeps
//! the hot path free of copies between layers.
//!
//! A call that finishes at its first poll never reads the clock or touches the timer for
//! its deadline: the deadline counts from the end of the first poll that left the call
//! waiting, which is where waiting starts. Nor does it read the clock twice: when its
//! admission read the clock (a rolling window), that reading is the time of its outcome
//! too, unless calls are timed for slowness (which needs the time the poll took).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use crate::observe::Finished;
use crate::permit::CoreRef;
use crate::{BreakerError, CircuitBreaker, Name, Outcome, Permit};

pin_project_lite::pin_project! {
    /// A call through a breaker; see [`CircuitBreaker::call`](crate::CircuitBreaker::call).
    #[must_use = "futures do nothing unless polled"]
    pub(crate) struct Call<'a, F, C, M, A> {
        // Fields drop in declaration order: the user's future first, then the permit, so
        // a cancelled probe gives its half-open slot back only once its body is gone.
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
        // Admitted at the first poll (or given admitted), and it stays in place. Armed for
        // panics only while this call's own future is polled: dropped while another future
        // unwinds, it records nothing.
        permit: Permit<'a>,
        // Turns a rejection or a timeout into the call's output.
        error: M,
        // `None` once the call has its output.
        classify: Option<C>,
        // How the call is admitted.
        admit: PhantomData<A>,
    }
}

/// How a [`Call`] is admitted: at its first poll, or before it was made, and what a
/// rejection at the first poll becomes. Known from the type, so that the future of an
/// admitted permit carries no admission code.
pub(crate) trait Admit<F: Future, M> {
    /// Whether the first poll admits the call.
    const AT_FIRST_POLL: bool;

    /// The call was admitted at its first poll, before its future is polled.
    #[inline(always)]
    fn admitted(_fut: Pin<&mut F>) {}

    /// The call was refused at its first poll: what it answers, now or later.
    fn refused(
        fut: Pin<&mut F>,
        error: &M,
        rejected: BreakerError,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output>;

    /// A later poll of a call whose output is not the breaker's to give: a refused call
    /// whose answer waited. `None` for a call that finished (polled again, it panics).
    #[inline(always)]
    fn poll_refused(_fut: Pin<&mut F>, _cx: &mut Context<'_>) -> Option<Poll<F::Output>> {
        None
    }
}

/// The call is admitted at its first poll ([`CircuitBreaker::call`]).
#[derive(Debug)]
pub(crate) enum AtFirstPoll {}

impl<F: Future, M: Convert<F::Output>> Admit<F, M> for AtFirstPoll {
    const AT_FIRST_POLL: bool = true;

    #[inline(always)]
    fn refused(
        _fut: Pin<&mut F>,
        error: &M,
        rejected: BreakerError,
        _cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        Poll::Ready(error.convert(rejected))
    }
}

/// The call's permit was admitted before the call was made ([`Permit::run`]: every
/// [`Permit`] a user holds is admitted).
#[derive(Debug)]
pub(crate) enum Admitted {}

impl<F: Future, M> Admit<F, M> for Admitted {
    const AT_FIRST_POLL: bool = false;

    fn refused(
        _fut: Pin<&mut F>,
        _error: &M,
        _rejected: BreakerError,
        _cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        unreachable!("an admitted call is never refused")
    }
}

/// The call is admitted at its first poll, and its future is made then, knowing the
/// decision ([`CircuitBreaker::call_deciding`]): the call itself when admitted, what
/// answers instead when refused.
#[derive(Debug)]
pub(crate) enum Deciding {}

impl<S, A, B, M> Admit<Decide<S, A, B>, M> for Deciding
where
    S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
    A: Future,
    B: Future<Output = A::Output>,
{
    const AT_FIRST_POLL: bool = true;

    #[inline(always)]
    fn admitted(fut: Pin<&mut Decide<S, A, B>>) {
        fut.decide(Ok(()));
    }

    #[inline(never)]
    fn refused(
        mut fut: Pin<&mut Decide<S, A, B>>,
        _error: &M,
        rejected: BreakerError,
        cx: &mut Context<'_>,
    ) -> Poll<A::Output> {
        fut.as_mut().decide(Err(rejected));
        fut.poll(cx)
    }

    #[inline(always)]
    fn poll_refused(
        fut: Pin<&mut Decide<S, A, B>>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<A::Output>> {
        match fut.project() {
            DecideProj::Refused { refused } => Some(refused.poll(cx)),
            _ => None,
        }
    }
}

/// The call is admitted at its first poll, and its future is made then, only when admitted
/// ([`CircuitBreaker::call_made_converting`]); a rejection is the call's output at once, as
/// for [`AtFirstPoll`].
#[derive(Debug)]
pub(crate) enum MadeAtAdmission {}

impl<S, F, M> Admit<Made<S, F>, M> for MadeAtAdmission
where
    S: FnOnce() -> F,
    F: Future,
    M: Convert<F::Output>,
{
    const AT_FIRST_POLL: bool = true;

    #[inline(always)]
    fn admitted(fut: Pin<&mut Made<S, F>>) {
        fut.make();
    }

    #[inline(always)]
    fn refused(
        _fut: Pin<&mut Made<S, F>>,
        error: &M,
        rejected: BreakerError,
        _cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        Poll::Ready(error.convert(rejected))
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`MadeAtAdmission`] call: made when the call is admitted.
    #[project = MadeProj]
    #[project_replace = MadeOwn]
    pub(crate) enum Made<S, F> {
        Waiting { make: S },
        Running { #[pin] fut: F },
        Making,
    }
}

impl<S: FnOnce() -> F, F> Made<S, F> {
    /// Makes the call's future, once.
    #[inline(always)]
    fn make(mut self: Pin<&mut Self>) {
        let MadeOwn::Waiting { make } = self.as_mut().project_replace(Made::Making) else {
            unreachable!("a call is admitted once, at its first poll")
        };
        self.set(Made::Running { fut: make() });
    }
}

impl<S, F: Future> Future for Made<S, F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            MadeProj::Running { fut } => fut.poll(cx),
            MadeProj::Waiting { .. } | MadeProj::Making => {
                unreachable!("a call's future is made before it is polled")
            }
        }
    }
}

/// What the future of a call through [`CircuitBreaker::call_deciding`] becomes once the
/// breaker decided on it.
#[derive(Debug)]
pub enum Decided<A, B> {
    /// The call was admitted: its future, run under the breaker and recorded.
    Admitted(A),
    /// The call was refused: what answers instead (a fallback, or the rejection as an
    /// error), run as it is and recorded nowhere.
    Refused(B),
}

pin_project_lite::pin_project! {
    /// The future of a [`Deciding`] call: made at its first poll, from the decision.
    #[project = DecideProj]
    #[project_replace = DecideOwn]
    pub(crate) enum Decide<S, A, B> {
        Waiting { start: S },
        Admitted { #[pin] call: A },
        Refused { #[pin] refused: B },
        Deciding,
    }
}

impl<S, A, B> Decide<S, A, B>
where
    S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
{
    /// Makes the future the decision calls for, once.
    #[inline(always)]
    fn decide(mut self: Pin<&mut Self>, admission: Result<(), BreakerError>) {
        let DecideOwn::Waiting { start } = self.as_mut().project_replace(Decide::Deciding) else {
            unreachable!("a call is decided once, at its first poll")
        };
        self.set(match start(admission) {
            Decided::Admitted(call) => Decide::Admitted { call },
            Decided::Refused(refused) => Decide::Refused { refused },
        });
    }
}

impl<S, A, B> Future for Decide<S, A, B>
where
    A: Future,
    B: Future<Output = A::Output>,
{
    type Output = A::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        match self.project() {
            DecideProj::Admitted { call } => call.poll(cx),
            DecideProj::Refused { refused } => refused.poll(cx),
            DecideProj::Waiting { .. } | DecideProj::Deciding => {
                unreachable!("a call's future is made before it is polled")
            }
        }
    }
}

/// Whether a call on this thread can arm tokio's timer: inside a tokio runtime whose time
/// driver is enabled. Checked when a call with a `timeout` first waits.
///
/// The answer is cached per thread and runtime; the first look in a runtime arms a timer to
/// find out (tokio has no other way to tell), which in a runtime without time panics and is
/// caught here (the process's panic hook still prints tokio's own explanation once).
pub(crate) fn timer_available() -> bool {
    use std::cell::Cell;
    use tokio::runtime::{Handle, Id};
    thread_local! {
        static CHECKED: Cell<Option<(Id, bool)>> = const { Cell::new(None) };
    }
    let Ok(handle) = Handle::try_current() else {
        return false;
    };
    let id = handle.id();
    CHECKED.with(|checked| match checked.get() {
        Some((seen, available)) if seen == id => available,
        _ => {
            let probe = || drop(tokio::time::sleep(std::time::Duration::ZERO));
            let available = std::panic::catch_unwind(probe).is_ok();
            checked.set(Some((id, available)));
            available
        }
    })
}

impl<'a, F: Future, C, M, A: Admit<F, M>> Call<'a, F, C, M, A> {
    #[inline]
    pub(crate) fn new(mut permit: Permit<'a>, fut: F, classify: C, error: M) -> Self {
        debug_assert!(
            A::AT_FIRST_POLL || permit.is_armed(),
            "an admitted call needs an admitted permit"
        );
        permit.set_fail_on_panic(false);
        Call {
            fut,
            sleep: None,
            permit,
            error,
            classify: Some(classify),
            admit: PhantomData,
        }
    }
}

pub(crate) trait Judge<T> {
    /// The outcome of `output`.
    fn judge(self, output: &T) -> Outcome;
}

impl<T, C: FnOnce(&T) -> Outcome> Judge<T> for C {
    #[inline]
    fn judge(self, output: &T) -> Outcome {
        self(output)
    }
}

/// How a rejection or a timeout becomes a call's output: any `Fn(BreakerError) -> Output`,
/// or an integration's own converter type.
pub(crate) trait Convert<T> {
    /// `error` as the call's output.
    fn convert(&self, error: BreakerError) -> T;
}

impl<T, M: Fn(BreakerError) -> T> Convert<T> for M {
    #[inline]
    fn convert(&self, error: BreakerError) -> T {
        self(error)
    }
}

impl<F, C, M, A> Future for Call<'_, F, C, M, A>
where
    F: Future,
    C: Judge<F::Output>,
    M: Convert<F::Output>,
    A: Admit<F, M>,
{
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let permit: &mut Permit<'_> = this.permit;
        // The first poll admits the call, unless its permit came admitted. A call that
        // finishes within that poll is recorded at the clock reading its admission took
        // (if it took one): one reading times both.
        let mut reading = 0;
        let mut fut = this.fut;
        if A::AT_FIRST_POLL && !permit.start() && !permit.is_armed() {
            match permit.admit() {
                Ok(at) => {
                    reading = at;
                    A::admitted(fut.as_mut());
                }
                Err(rejected) => {
                    this.classify.take();
                    return A::refused(fut, this.error, rejected, cx);
                }
            }
        } else if this.classify.is_none()
            && let Some(answer) = A::poll_refused(fut.as_mut(), cx)
        {
            return answer;
        }
        assert!(
            this.classify.is_some(),
            "a breaker call polled after it finished"
        );
        // Should the call (or its classification) panic, the permit is dropped while this
        // thread unwinds and records a failure.
        permit.set_fail_on_panic(true);
        match fut.poll(cx) {
            Poll::Ready(result) => {
                let classify = this.classify.take().expect("classified once");
                let outcome = classify.judge(&result);
                permit.finish_at(outcome, Finished::from(outcome), reading);
                Poll::Ready(result)
            }
            Poll::Pending => wait(this.sleep, permit, this.error, this.classify, cx),
        }
    }
}

/// The rest of a poll that left the call waiting: arms the deadline (at the first such
/// poll) and checks it. Apart from [`Call::poll`], whose common case, a call that finishes
/// at once, stays small enough to inline into the caller.
#[inline(never)]
fn wait<T, C, M: Convert<T>>(
    mut sleep: Pin<&mut Option<Sleep>>,
    permit: &mut Permit<'_>,
    error: &mut M,
    classify: &mut Option<C>,
    cx: &mut Context<'_>,
) -> Poll<T> {
    if sleep.is_none()
        && let Some(timeout) = permit.core.timeout()
    {
        if !timer_available() {
            permit.give_back();
            classify.take();
            let name = permit.core.name.clone();
            let no_timer = BreakerError::NoTimer { name, timeout };
            return Poll::Ready(error.convert(no_timer));
        }
        sleep.set(Some(tokio::time::sleep(timeout)));
    }
    if let Some(sleep) = sleep.as_pin_mut()
        && sleep.poll(cx).is_ready()
    {
        permit.finish(Outcome::Failure, Finished::Timeout);
        classify.take();
        let core = &*permit.core;
        let after = core.timeout().unwrap_or_default();
        #[cfg(feature = "tracing")]
        crate::observe::Observer::timed_out(&core.name, after);
        return Poll::Ready(error.convert(BreakerError::Timeout {
            name: core.name.clone(),
            after,
        }));
    }
    permit.set_fail_on_panic(false);
    Poll::Pending
}

impl<'a> Permit<'a> {
    /// Runs `fut` under this permit, with the breaker's deadline, and records `Ok` as a
    /// success and `Err` as a failure. See [`CircuitBreaker::call`](crate::CircuitBreaker::call).
    ///
    /// # Errors
    /// `fut`'s own error, or [`BreakerError::Timeout`] converted into `E`.
    pub fn run<F, T, E>(self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
    {
        self.run_with(fut, Outcome::of)
    }

    /// Like [`run`](Self::run), with a custom classification of the result.
    ///
    /// # Errors
    /// `fut`'s own error, or [`BreakerError::Timeout`] converted into `E`.
    pub fn run_with<F, T, E, C>(self, fut: F, classify: C) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        Call::<_, _, _, Admitted>::new(self, fut, classify, |e| Err(E::from(e)))
    }
}

impl CircuitBreaker {
    /// Runs `fut` through the breaker: rejected at once when open, raced against the
    /// deadline when a `timeout` is set, and its outcome recorded (`Ok` is a success,
    /// `Err` a failure).
    ///
    /// Admission happens when the returned future is first polled. Dropping the future
    /// records nothing (also when it is dropped because another future panicked, as in a
    /// `join!`), and gives a half-open probe slot back only after `fut` is dropped; a panic
    /// inside `fut` counts as a failure and keeps unwinding.
    ///
    /// # Errors
    /// `fut`'s own error, or a [`BreakerError`] converted into `E`: a rejection, a
    /// [`Timeout`](BreakerError::Timeout), or [`NoTimer`](BreakerError::NoTimer) when the
    /// breaker has a `timeout` and the call runs where tokio's timer is not available.
    pub fn call<F, T, E>(&self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
    {
        Call::<_, _, _, AtFirstPoll>::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            fut,
            Outcome::of,
            |e| Err(E::from(e)),
        )
    }

    /// Like [`call`](Self::call), with a custom classification of the result.
    ///
    /// # Errors
    /// `fut`'s own error, or a [`BreakerError`] converted into `E`.
    pub fn call_with<F, T, E, C>(&self, fut: F, classify: C) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        Call::<_, _, _, AtFirstPoll>::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            fut,
            classify,
            |e| Err(E::from(e)),
        )
    }

    /// A call whose future is made only once the breaker has decided on it, at the first
    /// poll: `start` receives `Ok(())` when the call is admitted and returns the call's
    /// future ([`Decided::Admitted`]), run as [`call_with`](Self::call_with) runs it, or
    /// receives the rejection and returns what answers instead ([`Decided::Refused`]), run
    /// as it is and recorded nowhere. One future either way, so that what `start` captures
    /// can go to whichever of the two is made.
    ///
    /// This is how `#[circuit_breaker]` runs a call: the function's arguments go to its
    /// body when admitted, or to its fallback when refused.
    ///
    /// ```
    /// use breaker_runtime::{BreakerError, CircuitBreaker, Decided, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), breaker_runtime::BuildError> {
    /// let prices = CircuitBreaker::builder("call-deciding-example").build()?;
    /// let sku = String::from("tea");
    /// let price = prices
    ///     .call_deciding(
    ///         move |admission| match admission {
    ///             Ok(()) => Decided::Admitted(async move { Ok::<_, BreakerError>(sku.len() as u64) }),
    ///             Err(_rejected) => Decided::Refused(async move { Ok(0) }),
    ///         },
    ///         Outcome::of,
    ///     )
    ///     .await;
    /// assert_eq!(price.unwrap(), 3);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The admitted call's error, [`BreakerError::Timeout`] (or
    /// [`NoTimer`](BreakerError::NoTimer)) converted into `E`, or what the refused call's
    /// future answers.
    pub fn call_deciding<S, A, B, T, E, C>(
        &self,
        start: S,
        classify: C,
    ) -> impl Future<Output = Result<T, E>>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future<Output = Result<T, E>>,
        B: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        self.call_deciding_converting(start, classify, |e| Err(E::from(e)))
    }

    /// [`call_deciding`](Self::call_deciding) with `convert` turning a timeout (or a missing
    /// timer) into the call's output in place of `From`: no bound on the output type, so
    /// that `#[circuit_breaker]` checks its return type in one place. Not a stable API.
    #[doc(hidden)]
    pub fn call_deciding_converting<S, A, B, C, M>(
        &self,
        start: S,
        classify: C,
        convert: M,
    ) -> impl Future<Output = A::Output>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future,
        B: Future<Output = A::Output>,
        C: FnOnce(&A::Output) -> Outcome,
        M: Fn(BreakerError) -> A::Output,
    {
        Call::<_, _, _, Deciding>::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            Decide::Waiting { start },
            classify,
            convert,
        )
    }

    /// A call whose future `make` makes when the call is admitted, at its first poll: a
    /// refused call never makes it, and its rejection goes through `convert` at once (as
    /// does a timeout or a missing timer), in place of `From`. Not a stable API.
    #[doc(hidden)]
    pub fn call_made_converting<S, F, C, M>(
        &self,
        make: S,
        classify: C,
        convert: M,
    ) -> impl Future<Output = F::Output>
    where
        S: FnOnce() -> F,
        F: Future,
        C: FnOnce(&F::Output) -> Outcome,
        M: Fn(BreakerError) -> F::Output,
    {
        Call::<_, _, _, MadeAtAdmission>::new(
            Permit::waiting(CoreRef::Borrowed(&self.core)),
            Made::Waiting { make },
            classify,
            convert,
        )
    }

    /// A breaker that refuses every call with [`BreakerError::Misconfigured`] named `name`
    /// and saying `reason`: what an annotated function whose breaker could not be made
    /// calls through. It is held open, listed nowhere, and reports to no one (no listener,
    /// hook, metric series or tracing event). Not a stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn refusing(name: Name, reason: String) -> CircuitBreaker {
        let core = CircuitBreaker::builder(name).into_silent_core();
        core.machine.refuse_with(reason);
        let breaker = CircuitBreaker {
            core: std::sync::Arc::new(core),
        };
        breaker.force_open();
        breaker
    }

    /// Why a [refusing](Self::refusing) breaker refuses every call; `None` for every other
    /// breaker. Not a stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn refusal(&self) -> Option<&str> {
        self.core.machine.refusal()
    }
}
