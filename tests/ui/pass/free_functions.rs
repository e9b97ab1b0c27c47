//! Free functions: visibility, doc comments and attributes kept; references, `impl Trait`,
//! patterns, `mut` arguments and generics; `return` and `?` unchanged in the body.
#![deny(missing_docs)]

/// Documented items: `missing_docs` fails this case if the attribute drops a doc comment.
pub mod api {
    use std::fmt::Display;

    use async_breaker::{BreakerError, circuit_breaker};

    /// The errors of this API.
    #[derive(Debug, thiserror::Error)]
    pub enum ApiError {
        /// The breaker refused or timed out.
        #[error(transparent)]
        Breaker(#[from] BreakerError),
        /// A number did not parse.
        #[error(transparent)]
        Parse(#[from] std::num::ParseIntError),
    }

    /// Parses a price; `?` converts the parse error, `return` leaves early.
    #[circuit_breaker(timeout = "2s")]
    #[must_use = "a price that is not awaited is never fetched"]
    pub async fn price(text: &str) -> Result<u32, ApiError> {
        #![allow(clippy::needless_return)]
        if text.is_empty() {
            return Ok(0);
        }
        let value: u32 = text.trim().parse()?;
        Ok(value)
    }

    /// Visibility other than `pub`.
    #[circuit_breaker]
    pub(crate) async fn restricted(bytes: &[u8], label: impl Display) -> Result<String, ApiError> {
        Ok(format!("{label}: {}", bytes.len()))
    }

    /// Generic, with a where clause, a tuple pattern and a `mut` argument, and a fallback
    /// that receives them all.
    #[circuit_breaker(fallback = describe_cached)]
    pub async fn describe<T>((left, right): (T, T), mut count: usize) -> Result<String, ApiError>
    where
        T: Display + Send,
    {
        count += 1;
        Ok(format!("{left}-{right}-{count}"))
    }

    /// The fallback of [`describe`].
    pub async fn describe_cached<T>(_pair: (T, T), _count: usize) -> Result<String, ApiError>
    where
        T: Display + Send,
    {
        Ok(String::from("cached"))
    }

    /// A generic error type.
    #[circuit_breaker]
    pub async fn generic_error<E: From<BreakerError>>(ok: bool) -> Result<(), E> {
        if ok {
            Ok(())
        } else {
            Err(E::from(BreakerError::HalfOpenFull { name: "x".into() }))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(api::price(" 42 ").await.unwrap(), 42);
    assert_eq!(api::price("").await.unwrap(), 0);
    assert!(matches!(
        api::price("x").await,
        Err(api::ApiError::Parse(_))
    ));
    assert_eq!(api::restricted(b"abc", "len").await.unwrap(), "len: 3");
    assert_eq!(api::describe((1, 2), 0).await.unwrap(), "1-2-1");
    assert!(
        api::generic_error::<async_breaker::BreakerError>(true)
            .await
            .is_ok()
    );
}
