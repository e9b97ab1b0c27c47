//! Answering with a fallback instead of an error: when the breaker refuses a call, and,
//! if asked, when an admitted call fails or times out.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::call::{Admitted, Call};
use crate::{BreakerError, CircuitBreaker, Outcome, Permit};

/// Why a fallback answers instead of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FallbackReason {
    /// The breaker is open (tripped, or held open by an operator): the call was not made.
    RejectedOpen,
    /// The breaker is half-open and its probe calls are all taken: the call was not made.
    HalfOpenFull,
    /// The call was made and failed; its failure was recorded first. Only with
    /// [`FallbackOn::Error`].
    Failed,
    /// The call was made and ran past its deadline; recorded as a failure first. Only with
    /// [`FallbackOn::Error`].
    TimedOut,
}

impl FallbackReason {
    /// The reason for a rejection: [`BreakerError::Open`] and
    /// [`BreakerError::ForcedOpen`] are [`RejectedOpen`](Self::RejectedOpen),
    /// [`BreakerError::HalfOpenFull`] is [`HalfOpenFull`](Self::HalfOpenFull); other
    /// errors are no reason for a fallback (`None`).
    #[must_use]
    pub fn of_rejection(error: &BreakerError) -> Option<FallbackReason> {
        match error {
            BreakerError::Open { .. } | BreakerError::ForcedOpen { .. } => {
                Some(FallbackReason::RejectedOpen)
            }
            BreakerError::HalfOpenFull { .. } => Some(FallbackReason::HalfOpenFull),
            _ => None,
        }
    }

    /// Whether the call was refused (not made at all).
    #[must_use]
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            FallbackReason::RejectedOpen | FallbackReason::HalfOpenFull
        )
    }

    fn code(self) -> u8 {
        match self {
            FallbackReason::RejectedOpen => 1,
            FallbackReason::HalfOpenFull => 2,
            FallbackReason::Failed => 3,
            FallbackReason::TimedOut => 4,
        }
    }

    fn from_code(code: u8) -> Option<FallbackReason> {
        match code {
            1 => Some(FallbackReason::RejectedOpen),
            2 => Some(FallbackReason::HalfOpenFull),
            3 => Some(FallbackReason::Failed),
            4 => Some(FallbackReason::TimedOut),
            _ => None,
        }
    }
}

/// When a fallback answers.
///
/// - [`Rejected`](Self::Rejected) (the default): only when the breaker refuses the call.
///   Right for a fallback that *defers* the work, such as a queue of writes to replay
///   later: a write that was attempted and failed may have happened, and queuing it again
///   could apply it twice.
/// - [`Error`](Self::Error): also when an admitted call fails or times out, after its
///   outcome was recorded (so the breaker still learns from it). Right for a fallback that
///   *serves* something instead, such as a cache or a default: the caller gets an answer
///   whether the breaker refused or the dependency failed. Outcomes classified
///   [`Outcome::Ignored`] (a 404, a validation error) are the caller's business and go to
///   the caller, not to the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FallbackOn {
    /// Only refused calls.
    #[default]
    Rejected,
    /// Refused calls, and admitted calls that fail or time out.
    Error,
}

impl CircuitBreaker {
    /// Like [`call`](Self::call), answering with `fallback` instead of an error: when the
    /// breaker refuses the call, and with [`FallbackOn::Error`] also when the call fails or
    /// times out (recorded first). The fallback receives the [`FallbackReason`].
    ///
    /// ```
    /// use breaker_runtime::{BreakerError, CircuitBreaker, FallbackOn, FallbackReason};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), breaker_runtime::BuildError> {
    /// let prices = CircuitBreaker::builder("call-or-else-example").build()?;
    /// let cached = |reason: FallbackReason| async move {
    ///     assert_eq!(reason, FallbackReason::Failed);
    ///     Ok::<u64, BreakerError>(1899)
    /// };
    /// let price = prices
    ///     .call_or_else(
    ///         async { Err(BreakerError::Misconfigured { name: "x".into(), reason: "down".into() }) },
    ///         FallbackOn::Error,
    ///         cached,
    ///     )
    ///     .await;
    /// assert_eq!(price.unwrap(), 1899);
    /// assert_eq!(prices.counts().total_failures, 1, "the failure was recorded");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The fallback's error; `fut`'s own error when no fallback applies (with
    /// [`FallbackOn::Rejected`], or an ignored outcome); a [`BreakerError`] converted into
    /// `E` that is no reason for a fallback
    /// ([`NoTimer`](BreakerError::NoTimer)).
    pub fn call_or_else<F, T, E, G, Fut>(
        &self,
        fut: F,
        on: FallbackOn,
        fallback: G,
    ) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        G: FnOnce(FallbackReason) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with_or_else(fut, Outcome::of, on, fallback)
    }

    /// [`call_or_else`](Self::call_or_else) with a custom classification of the result:
    /// with [`FallbackOn::Error`], the fallback answers the outcomes classified
    /// [`Outcome::Failure`] (and timeouts).
    ///
    /// # Errors
    /// As [`call_or_else`](Self::call_or_else).
    pub async fn call_with_or_else<F, T, E, C, G, Fut>(
        &self,
        fut: F,
        classify: C,
        on: FallbackOn,
        fallback: G,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
        G: FnOnce(FallbackReason) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = match self.try_acquire() {
            Ok(permit) => permit,
            Err(rejected) => {
                return match FallbackReason::of_rejection(&rejected) {
                    Some(reason) => fallback(reason).await,
                    None => Err(E::from(rejected)),
                };
            }
        };
        permit.run_or_else(fut, classify, on, fallback).await
    }
}

impl Permit<'_> {
    /// Runs `fut` under this permit as [`run_with`](Self::run_with) does; with
    /// [`FallbackOn::Error`], a call classified a failure, or past its deadline, is
    /// answered by `fallback` (after its outcome was recorded). The permit already admitted
    /// the call, so `fallback` never sees a rejection here.
    ///
    /// # Errors
    /// The fallback's error, `fut`'s own, or [`BreakerError::Timeout`] converted into `E`
    /// (with [`FallbackOn::Rejected`]).
    pub async fn run_or_else<F, T, E, C, G, Fut>(
        self,
        fut: F,
        classify: C,
        on: FallbackOn,
        fallback: G,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BreakerError>,
        C: FnOnce(&Result<T, E>) -> Outcome,
        G: FnOnce(FallbackReason) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // What became of the call, told by the classifier and the error converter.
        let seen = AtomicU8::new(0);
        let result = Call::<_, _, _, Admitted>::new(
            self,
            fut,
            |result: &Result<T, E>| {
                let outcome = classify(result);
                if outcome == Outcome::Failure {
                    seen.store(FallbackReason::Failed.code(), Ordering::Relaxed);
                }
                outcome
            },
            |error: BreakerError| {
                if matches!(error, BreakerError::Timeout { .. }) {
                    seen.store(FallbackReason::TimedOut.code(), Ordering::Relaxed);
                }
                Err(E::from(error))
            },
        )
        .await;
        match (on, FallbackReason::from_code(seen.load(Ordering::Relaxed))) {
            (FallbackOn::Error, Some(reason)) => fallback(reason).await,
            _ => result,
        }
    }
}
