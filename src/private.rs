//! Support for the code `#[circuit_breaker]` generates. Not a stable API: anything here
//! may change in any release.
//!
//! The expansion of an annotated function calls, in order:
//! [`Probe::__breaker_select`] (which also checks the return type), [`own`] or
//! [`shared`] once to create the breaker, then [`run`] / [`run_with`] for an admitted
//! call, or [`fallback`] (inside [`nested_fallback`]) when the breaker rejects it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;

pub use breaker_runtime::{
    BreakerError, BuildError, Builder, CircuitBreaker, Name, Outcome, Permit, TripPolicy,
};
pub use once_cell::sync::OnceCell;

/// The static that holds an annotated function's breaker, or the reason it has none.
pub type Slot = OnceCell<Result<CircuitBreaker, BreakerError>>;

/// Builds the breaker of a function with a default name. A default-named breaker belongs
/// to its function alone ([`Builder::build`]): it is never shared, even with a function that
/// takes its name explicitly, and two functions with one default name (two `impl` blocks of
/// one generic type, say) get a breaker each.
///
/// # Errors
/// [`BreakerError::Misconfigured`] when a setting given as an expression is invalid.
pub fn own(
    name: impl Into<Name>,
    make: impl Fn(Name) -> Builder,
) -> Result<CircuitBreaker, BreakerError> {
    let name: Name = name.into();
    make(name.clone())
        .build()
        .map_err(|e| misconfigured(name, &e))
}

/// Gets or creates the breaker of a function with an explicit `name`
/// ([`Builder::build_shared`]): every function naming it shares one breaker, provided they
/// configure it the same (settings, hook, trip function and classifier).
///
/// # Errors
/// [`BreakerError::Misconfigured`] for an invalid setting, or a breaker of that name
/// configured differently.
pub fn shared(builder: Builder) -> Result<CircuitBreaker, BreakerError> {
    let name = builder.name().clone();
    builder.build_shared().map_err(|e| misconfigured(name, &e))
}

fn misconfigured(name: Name, error: &BuildError) -> BreakerError {
    let reason = match error {
        BuildError::Conflict { setting, .. } => format!(
            "another function or breaker with this name sets {setting} differently; \
             give them the same settings, or different names"
        ),
        other => other.to_string(),
    };
    BreakerError::Misconfigured { name, reason }
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

/// What the expansion needs to know about a return type `R`: how a [`BreakerError`]
/// becomes an `R`, and how an `R` is classified by default.
pub struct Kind<R> {
    error: fn(BreakerError) -> R,
    classify: fn(&R) -> Outcome,
}

impl<R> Kind<R> {
    /// `Err(E::from(error))`, as an `R`.
    pub fn error(self, error: BreakerError) -> R {
        (self.error)(error)
    }
}

impl<R> Clone for Kind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Kind<R> {}

impl<R> fmt::Debug for Kind<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kind")
    }
}

/// A return type an annotated function can have.
#[diagnostic::on_unimplemented(
    message = "a `#[circuit_breaker]` function must return `Result<T, E>`, not `{Self}`",
    label = "expected `Result<T, E>` with `E: From<async_breaker::BreakerError>`",
    note = "the breaker reports rejections and timeouts as `Err(E::from(async_breaker::BreakerError))`"
)]
pub trait Protected: Sized {
    /// The conversions for this type.
    fn kind() -> Kind<Self>;
}

impl<T, E: From<BreakerError>> Protected for Result<T, E> {
    fn kind() -> Kind<Self> {
        Kind {
            error: |e| Err(E::from(e)),
            classify: Outcome::of,
        }
    }
}

/// Picks the [`Kind`] of a return type `R` at the expansion site:
/// `Select::<R>::new().__breaker_select()` derefs to [`Probe::__breaker_select`], which
/// requires `R:` [`Protected`], so a wrong return type is one error, spanned on it. (The
/// unusual name keeps users' traits from taking the call over.) `std::io::Result` needs no
/// special case: the runtime implements `From<BreakerError> for io::Error`.
pub struct Select<R>(Probe<R>);

/// See [`Select`].
pub struct Probe<R>(PhantomData<fn() -> R>);

impl<R> Select<R> {
    /// The selector for `R`.
    #[must_use]
    pub fn new() -> Self {
        Select(Probe(PhantomData))
    }
}

impl<R> Default for Select<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Deref for Select<R> {
    type Target = Probe<R>;
    fn deref(&self) -> &Probe<R> {
        &self.0
    }
}

impl<R> fmt::Debug for Select<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Select")
    }
}

impl<R> fmt::Debug for Probe<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Probe")
    }
}

impl<R> Probe<R> {
    /// The conversions for any [`Protected`] return type.
    #[must_use]
    pub fn __breaker_select(&self) -> Kind<R>
    where
        R: Protected,
    {
        R::kind()
    }
}

/// Runs an admitted call, classified the default way (`Ok` succeeds, `Err` fails).
#[inline]
pub fn run<R, F>(permit: Permit<'_>, call: F, kind: Kind<R>) -> impl Future<Output = R>
where
    F: Future<Output = R>,
{
    permit.run_mapped(call, kind.classify, kind.error)
}

/// Runs an admitted call under its permit and the breaker's deadline, classified by
/// `classify`. A timeout becomes `kind.error(BreakerError::Timeout { .. })`.
///
/// One future does it all ([`Permit::run_mapped`]): a panic in the call or in `classify`
/// counts as a failure, and dropping this future records nothing.
#[inline]
pub fn run_with<R, F, C>(
    permit: Permit<'_>,
    call: F,
    classify: C,
    kind: Kind<R>,
) -> impl Future<Output = R>
where
    F: Future<Output = R>,
    C: FnOnce(&R) -> Outcome,
{
    permit.run_mapped(call, classify, kind.error)
}

/// The fallback's future, checked to produce the annotated function's return type `R`.
pub async fn fallback<R, F>(call: F) -> R
where
    F: Future,
    F::Output: Same<R>,
{
    call.await.same()
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
pub async fn nested_fallback<R, F>(kind: Kind<R>, rejected: BreakerError, fallback: F) -> R
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
    let mut rejected = Some(rejected);
    std::future::poll_fn(|cx| {
        let depth = FALLBACKS.get();
        if let Some(rejected) = rejected.take()
            && depth >= FALLBACK_DEPTH
        {
            return std::task::Poll::Ready(kind.error(rejected));
        }
        FALLBACKS.set(depth + 1);
        let _restore = Depth(depth);
        fallback.as_mut().poll(cx)
    })
    .await
}

/// `Self` and `R` are one type.
#[diagnostic::on_unimplemented(
    message = "the fallback returns `{Self}`, but the annotated function returns `{R}`",
    label = "this fallback must return `{R}`",
    note = "a fallback is an `async fn` taking the same arguments and returning the same type"
)]
pub trait Same<R> {
    /// The value, as an `R`.
    fn same(self) -> R;
}

impl<R> Same<R> for R {
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
