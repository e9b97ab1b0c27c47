//! Support for the code `#[circuit_breaker]` generates, all of it in one place. Not a
//! stable API: anything here may change in any release.
//!
//! The expansion of an annotated function uses, in order: [`ReturnType::err`], which also
//! checks the return type, to turn a [`BreakerError`] into it; [`own`] or [`shared`] once,
//! to create the breaker into its [`Slot`] (one that refuses every call with the reason,
//! when it cannot be made). Then, in the common case, a plain `fn`
//! returning [`future!`](future) hands [`ReturnType::decide`] or [`ReturnType::decide_with`]
//! (the runtime's [`CircuitBreaker::call_deciding`]) a closure that makes, at the first
//! poll, the body when the call is admitted or, when the breaker rejects it, the fallback
//! through [`Fallback`] and [`Same`], inside [`nested_fallback`] (without a fallback,
//! [`ReturnType::call`] makes the body when admitted). With `key` or
//! `fallback_on = "error"` the function stays an `async fn`, which runs an admitted call
//! with [`ReturnType::run`], [`ReturnType::run_with`] or [`ReturnType::run_or_else`] (the
//! runtime's public [`Permit::run`], [`Permit::run_with`] and [`Permit::run_or_else`]).
//! With `shared = true`, the breaker's builder goes through [`join_fleet!`](join_fleet)
//! first.
//!
//! The traits carry `#[diagnostic::on_unimplemented]` messages written for the user of the
//! attribute, and are used through qualified paths (`<R as ReturnType>::err`) rather than
//! through bounds of helper functions, so that no "required by a bound" note points into
//! this file; their impls are `#[diagnostic::do_not_recommend]`, so that no "is implemented
//! for" help does either. (rustc still names the trait in one help line: it does so for
//! every custom message.)

use std::any::Any;
use std::future::Future;

pub use breaker_runtime::{
    BreakerError, BreakerKey, BuildError, Builder, CircuitBreaker, Decided, FallbackOn,
    FallbackReason, Jitter, KeyedBreakers, Name, Outcome, Permit, TripPolicy, Window,
};
pub use once_cell::sync::OnceCell;

/// `join_fleet!(builder, "message")`: `shared = true`. With the `redis` feature, the
/// builder with `.shared(true)`, joining the process-wide fleet of breakers that share
/// their state through Redis. Without it, the message (the attribute's, saying to enable
/// the feature) as a compile error where the attribute put this call, on its `shared` key;
/// it replaces the builder, so that no error about a missing `Builder::shared` follows.
///
/// The attribute cannot see the facade's features; this macro is defined by them.
#[cfg(feature = "redis")]
#[doc(hidden)]
#[macro_export]
macro_rules! __breaker_join_fleet {
    ($builder:expr, $needs_redis:literal $(,)?) => {
        $builder.shared(true)
    };
}

/// `join_fleet!(builder, "message")` without the `redis` feature: the message as a compile
/// error (see the definition with the feature).
#[cfg(not(feature = "redis"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __breaker_join_fleet {
    ($builder:expr, $needs_redis:literal $(,)?) => {
        ::core::compile_error!($needs_redis)
    };
}

pub use __breaker_join_fleet as join_fleet;

/// `future!(R)`: `impl Future<Output = R>`, the return type of an annotated function.
///
/// Written here, in an edition 2024 crate, so that the opaque type captures every lifetime
/// in scope, elided ones included, as an `async fn`'s future does, whatever the edition of
/// the crate the attribute is used in: which lifetimes an `impl Trait` return type captures
/// is decided by the edition of its `impl` token.
#[doc(hidden)]
#[macro_export]
macro_rules! __breaker_future {
    ($ret:ty) => {
        impl ::core::future::Future<Output = $ret>
    };
}

pub use __breaker_future as future;

/// The static that holds an annotated function's breaker: its own, or, when it could not
/// be made, one that refuses every call with the reason ([`CircuitBreaker::refusing`]).
pub type Slot = OnceCell<CircuitBreaker>;

/// Builds the breaker of a function with a default name. A default-named breaker belongs
/// to its function alone ([`Builder::build`]): it is never shared, even with a function that
/// takes its name explicitly, and two functions with one default name (two `impl` blocks of
/// one generic type, say) get a breaker each. When a setting given as an expression is
/// invalid, a breaker that refuses every call with [`BreakerError::Misconfigured`].
pub fn own(name: impl Into<Name>, make: impl Fn(Name) -> Builder) -> CircuitBreaker {
    let name: Name = name.into();
    make(name.clone())
        .build()
        .unwrap_or_else(|e| refusing(name, &e))
}

/// Gets or creates the breaker of a function with an explicit `name`
/// ([`Builder::build_shared`]): every function naming it shares one breaker, provided they
/// configure it the same (settings, hook, trip function and classifier). Otherwise, or for
/// an invalid setting, a breaker that refuses every call with
/// [`BreakerError::Misconfigured`].
pub fn shared(builder: Builder) -> CircuitBreaker {
    let name = builder.name().clone();
    builder
        .build_shared()
        .unwrap_or_else(|e| refusing(name, &e))
}

/// A breaker that refuses every call with [`BreakerError::Misconfigured`], saying why the
/// breaker of `name` could not be made.
fn refusing(name: Name, error: &BuildError) -> CircuitBreaker {
    CircuitBreaker::refusing(name, misconfiguration(error))
}

/// The static that holds a keyed function's set of breakers (its key type erased, since a
/// static cannot name it), with the set's name, or the reason it has none.
pub type KeyedSlot = OnceCell<Result<(Name, Box<dyn Any + Send + Sync>), BreakerError>>;

/// The breaker of `key` in a keyed function's set, the set made on first use by `make`
/// (the function's name and settings, `max_keys`). Keyed breakers belong to their function:
/// an explicit `name` names them but shares nothing.
///
/// # Errors
/// [`BreakerError::Misconfigured`] for an invalid setting, or for a generic function whose
/// key type differs between instantiations (they share one set, of one key type).
pub fn keyed<K: BreakerKey>(
    slot: &KeyedSlot,
    key: K,
    name: impl FnOnce() -> Name,
    make: impl FnOnce(Name) -> Builder,
    max_keys: usize,
) -> Result<CircuitBreaker, BreakerError> {
    let (name, set) = slot
        .get_or_init(|| {
            let name = name();
            match KeyedBreakers::<K::Owned>::with_max_keys(make(name.clone()), max_keys) {
                Ok(set) => Ok((name, Box::new(set) as Box<dyn Any + Send + Sync>)),
                Err(e) => Err(misconfigured(name, &e)),
            }
        })
        .as_ref()
        .map_err(Clone::clone)?;
    match set.downcast_ref::<KeyedBreakers<K::Owned>>() {
        Some(set) => Ok(key.breaker_in(set)),
        None => Err(BreakerError::Misconfigured {
            name: name.clone(),
            reason: format!(
                "this generic function's instantiations use keys of different types (now \
                 `{}`), but share one set of keyed breakers; give the key one type, such as \
                 `String`",
                std::any::type_name::<K::Owned>()
            ),
        }),
    }
}

fn misconfigured(name: Name, error: &BuildError) -> BreakerError {
    BreakerError::Misconfigured {
        name,
        reason: misconfiguration(error),
    }
}

/// Why a breaker could not be made, as [`BreakerError::Misconfigured`] says it.
fn misconfiguration(error: &BuildError) -> String {
    match error {
        BuildError::Conflict { setting, .. } => format!(
            "another function or breaker with this name sets {setting} differently; \
             give them the same settings, or different names"
        ),
        other => other.to_string(),
    }
}

/// The default name of a method's breaker: `Self`'s type path without generic arguments,
/// `::`, and the method's name.
#[must_use]
pub fn method_name(type_name: &str, method: &str) -> Name {
    let mut name = String::with_capacity(type_name.len() + method.len() + 2);
    let mut depth = 0_usize;
    for c in type_name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => name.push(c),
            _ => {}
        }
    }
    name.push_str("::");
    name.push_str(method);
    Name::from(name)
}

/// A return type an annotated function can have: `Result<T, E>`, written directly or through
/// an alias, with `E: From<BreakerError>`.
///
/// Its functions are called through qualified paths spanned on the return type, so that a
/// type that is not a `Result` is this trait's message there. `E: From<BreakerError>` is
/// checked by the generated code itself (`From::from`, spanned on the error type), so that
/// a missing conversion is rustc's own error about `From`, on `E`; the same bound on
/// [`run`](Self::run) and [`run_with`](Self::run_with) is then reported once, at the same
/// place, with nothing pointing into this file.
#[diagnostic::on_unimplemented(
    message = "a `#[circuit_breaker]` function must return `Result<T, E>`, not `{Self}`",
    label = "expected `Result<T, E>` with `E: From<async_breaker::BreakerError>`",
    note = "the breaker reports rejections and timeouts as `Err(E::from(async_breaker::BreakerError))`"
)]
pub trait ReturnType: Sized {
    /// `E`.
    type Error;

    /// `Err(error)`: what a rejected call returns.
    fn err(error: Self::Error) -> Self;

    /// Runs an admitted call with the runtime's [`Permit::run`]: under the breaker's
    /// deadline, `Ok` recorded as a success and `Err` as a failure.
    fn run<F>(permit: Permit<'_>, call: F) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        Self::Error: From<BreakerError>;

    /// Runs an admitted call with the runtime's [`Permit::run_with`] and a classifier.
    fn run_with<F>(
        permit: Permit<'_>,
        call: F,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        Self::Error: From<BreakerError>;

    /// The call of an annotated function through `breaker`, made at its first poll by
    /// `start` once the breaker decided on it ([`CircuitBreaker::call_deciding`]): `Ok`
    /// recorded as a success and `Err` as a failure, and a timeout turned into the return
    /// type by `reject`. No bound on `E` here: the expansion's `reject` checks it.
    fn decide<S, A, B, M>(
        breaker: &CircuitBreaker,
        start: S,
        reject: M,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future<Output = Self>,
        B: Future<Output = Self>,
        M: Fn(BreakerError) -> Self;

    /// [`decide`](Self::decide) with a classifier.
    fn decide_with<S, A, B, M>(
        breaker: &CircuitBreaker,
        start: S,
        reject: M,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future<Output = Self>,
        B: Future<Output = Self>,
        M: Fn(BreakerError) -> Self;

    /// The call of an annotated function without a fallback through `breaker`
    /// ([`CircuitBreaker::call_with`]): admitted at its first poll, its future made by
    /// `call` then, `Ok` recorded as a success and `Err` as a failure, and a rejection or a
    /// timeout turned into the return type by `reject`.
    fn call<S, F, M>(breaker: &CircuitBreaker, call: S, reject: M) -> impl Future<Output = Self>
    where
        S: FnOnce() -> F,
        F: Future<Output = Self>,
        M: Fn(BreakerError) -> Self;

    /// [`call`](Self::call) with a classifier.
    fn call_with<S, F, M>(
        breaker: &CircuitBreaker,
        call: S,
        reject: M,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce() -> F,
        F: Future<Output = Self>,
        M: Fn(BreakerError) -> Self;

    /// Runs an admitted call with the runtime's [`Permit::run_or_else`] and
    /// [`FallbackOn::Error`]: a failure or a timeout is answered by `fallback`, after it was
    /// recorded (`fallback_on = "error"`).
    fn run_or_else<F, G, Fut>(
        permit: Permit<'_>,
        call: F,
        classify: Option<fn(&Self) -> Outcome>,
        fallback: G,
    ) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        G: FnOnce(FallbackReason) -> Fut,
        Fut: Future<Output = Self>,
        Self::Error: From<BreakerError>;
}

#[diagnostic::do_not_recommend]
impl<T, E> ReturnType for Result<T, E> {
    type Error = E;

    #[inline]
    fn err(error: E) -> Self {
        Err(error)
    }

    #[inline]
    fn run<F>(permit: Permit<'_>, call: F) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        E: From<BreakerError>,
    {
        permit.run(call)
    }

    #[inline]
    fn run_with<F>(
        permit: Permit<'_>,
        call: F,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        E: From<BreakerError>,
    {
        permit.run_with(call, classify)
    }

    #[inline]
    fn decide<S, A, B, M>(
        breaker: &CircuitBreaker,
        start: S,
        reject: M,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future<Output = Self>,
        B: Future<Output = Self>,
        M: Fn(BreakerError) -> Self,
    {
        breaker.call_deciding_converting(start, Outcome::of, reject)
    }

    #[inline]
    fn decide_with<S, A, B, M>(
        breaker: &CircuitBreaker,
        start: S,
        reject: M,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce(Result<(), BreakerError>) -> Decided<A, B>,
        A: Future<Output = Self>,
        B: Future<Output = Self>,
        M: Fn(BreakerError) -> Self,
    {
        breaker.call_deciding_converting(start, classify, reject)
    }

    #[inline]
    fn call<S, F, M>(breaker: &CircuitBreaker, call: S, reject: M) -> impl Future<Output = Self>
    where
        S: FnOnce() -> F,
        F: Future<Output = Self>,
        M: Fn(BreakerError) -> Self,
    {
        breaker.call_made_converting(call, Outcome::of, reject)
    }

    #[inline]
    fn call_with<S, F, M>(
        breaker: &CircuitBreaker,
        call: S,
        reject: M,
        classify: fn(&Self) -> Outcome,
    ) -> impl Future<Output = Self>
    where
        S: FnOnce() -> F,
        F: Future<Output = Self>,
        M: Fn(BreakerError) -> Self,
    {
        breaker.call_made_converting(call, classify, reject)
    }

    #[inline]
    fn run_or_else<F, G, Fut>(
        permit: Permit<'_>,
        call: F,
        classify: Option<fn(&Self) -> Outcome>,
        fallback: G,
    ) -> impl Future<Output = Self>
    where
        F: Future<Output = Self>,
        G: FnOnce(FallbackReason) -> Fut,
        Fut: Future<Output = Self>,
        E: From<BreakerError>,
    {
        let classify = classify.unwrap_or(Outcome::of::<T, E>);
        permit.run_or_else(call, classify, FallbackOn::Error, fallback)
    }
}

/// The reason a rejected call's fallback is given (`fallback_reason = true`).
#[must_use]
pub fn rejection_reason(rejected: &BreakerError) -> FallbackReason {
    FallbackReason::of_rejection(rejected).unwrap_or(FallbackReason::RejectedOpen)
}

/// What a fallback returns: a future (an `async fn` returns one).
#[diagnostic::on_unimplemented(
    message = "a fallback must be an `async fn` (or return a future), but this one returns `{Self}`",
    label = "make this fallback an `async fn`",
    note = "a fallback is an `async fn` taking the same arguments as the annotated function and returning the same type"
)]
pub trait Fallback: Sized {
    /// The future.
    type Future: Future;
    /// The future, to be awaited.
    fn future(self) -> Self::Future;
}

#[diagnostic::do_not_recommend]
impl<F: Future> Fallback for F {
    type Future = F;
    #[inline]
    fn future(self) -> F {
        self
    }
}

/// How deeply fallbacks may nest within one poll on one thread before
/// [`nested_fallback`] stops running them.
pub const FALLBACK_DEPTH: u32 = 16;

thread_local! {
    static FALLBACKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs a rejected call's fallback, unless it would be nested [`FALLBACK_DEPTH`] fallbacks
/// deep within one poll (a fallback that calls its own protected function again while the
/// breaker is open recurses so): then the rejection is returned as the function's error
/// instead, and the recursion ends rather than overflowing the stack.
pub async fn nested_fallback<R, F>(
    rejected: BreakerError,
    reject: impl FnOnce(BreakerError) -> R,
    fallback: F,
) -> R
where
    F: Future<Output = R>,
{
    /// Restores the depth when the poll ends, even by a panic.
    struct Depth(u32);
    impl Drop for Depth {
        fn drop(&mut self) {
            FALLBACKS.set(self.0);
        }
    }
    let mut fallback = std::pin::pin!(fallback);
    let mut rejected = Some((rejected, reject));
    std::future::poll_fn(|cx| {
        let depth = FALLBACKS.get();
        if depth >= FALLBACK_DEPTH
            && let Some((rejected, reject)) = rejected.take()
        {
            return std::task::Poll::Ready(reject(rejected));
        }
        FALLBACKS.set(depth + 1);
        let _restore = Depth(depth);
        fallback.as_mut().poll(cx)
    })
    .await
}

/// `Self` and `R` are one type: the fallback's output is the annotated function's return
/// type.
#[diagnostic::on_unimplemented(
    message = "the fallback returns `{Self}`, but the annotated function returns `{R}`",
    label = "this fallback must return `{R}`",
    note = "a fallback is an `async fn` taking the same arguments as the annotated function and returning the same type"
)]
pub trait Same<R> {
    /// The value, as an `R`.
    fn same(self) -> R;
}

#[diagnostic::do_not_recommend]
impl<R> Same<R> for R {
    #[inline]
    fn same(self) -> R {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_drop_generic_arguments() {
        assert_eq!(method_name("app::Client", "get"), "app::Client::get");
        assert_eq!(
            method_name("app::Pool<alloc::vec::Vec<u8>, app::X<u8>>", "get"),
            "app::Pool::get"
        );
    }
}
