//! The `#[circuit_breaker]` attribute of the [`breaker`](https://docs.rs/breaker) crate.
//! Use it through `breaker`, which re-exports it; see [`circuit_breaker`].

#![deny(unsafe_code)]

mod attr;
mod errors;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Puts an `async fn` behind a circuit breaker.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::circuit_breaker(args.into(), item.into()).into()
}
