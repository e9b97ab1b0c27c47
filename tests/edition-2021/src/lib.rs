//! `#[circuit_breaker]` in an edition 2021 crate. An annotated function returns its future
//! as `impl Future`, which in this edition captures no elided lifetime unless told to: these
//! functions borrow through elided lifetimes of every kind, and must compile and run as the
//! `async fn`s they were written as.

use async_breaker::{circuit_breaker, BreakerError};

/// The error of the functions below.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The breaker refused the call or its deadline passed.
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    /// The call itself failed.
    #[error("the dependency failed")]
    Failed,
}

/// A value that borrows, named without its lifetime in some signatures below.
#[derive(Debug, Clone, Copy)]
pub struct View<'a>(pub &'a str);

/// Elided lifetimes in references, one of them mutable, with a fallback that gets them.
#[circuit_breaker(timeout = "1s", consecutive_failures = 1, fallback = cached)]
pub async fn fetch(sku: &str, log: &mut Vec<String>, fail: bool) -> Result<usize, AppError> {
    log.push(format!("fetch {sku}"));
    if fail {
        Err(AppError::Failed)
    } else {
        Ok(sku.len())
    }
}

async fn cached(sku: &str, log: &mut Vec<String>, _fail: bool) -> Result<usize, AppError> {
    log.push(format!("cached {sku}"));
    Ok(0)
}

/// A lifetime hidden in a path (`View` for `View<'_>`) and one written `'_`.
#[allow(elided_lifetimes_in_paths)]
#[circuit_breaker]
pub async fn first(view: View, other: View<'_>) -> Result<String, AppError> {
    Ok(if view.0.is_empty() { other.0 } else { view.0 }.to_owned())
}

/// A client whose methods borrow it.
#[derive(Debug, Default)]
pub struct Client {
    prefix: String,
}

impl Client {
    /// `&self` and an elided lifetime in the return type.
    #[circuit_breaker(max_requests = 2)]
    pub async fn label(&self, sku: &str) -> Result<String, AppError> {
        Ok(format!("{}{sku}", self.prefix))
    }

    /// `&mut self`.
    #[circuit_breaker]
    pub async fn rename(&mut self, prefix: &str) -> Result<(), AppError> {
        self.prefix = prefix.to_owned();
        Ok(())
    }
}

/// A trait with an `async fn`, implemented by an annotated one.
pub trait Source {
    /// The value of `sku`.
    fn value(&self, sku: &str) -> impl std::future::Future<Output = Result<usize, AppError>>;
}

impl Source for Client {
    #[circuit_breaker]
    async fn value(&self, sku: &str) -> Result<usize, AppError> {
        Ok(self.prefix.len() + sku.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(t: T) -> T {
        t
    }

    #[tokio::test]
    async fn annotated_functions_borrow_through_elided_lifetimes() {
        let mut log = Vec::new();
        let sku = String::from("tea");
        assert_eq!(fetch(&sku, &mut log, false).await.unwrap(), 3);
        assert!(matches!(
            fetch(&sku, &mut log, true).await,
            Err(AppError::Failed)
        ));
        // One failure opened the breaker: the fallback gets the borrowed arguments.
        assert_eq!(fetch(&sku, &mut log, false).await.unwrap(), 0);
        assert_eq!(log, ["fetch tea", "fetch tea", "cached tea"]);

        let (a, b) = (String::new(), String::from("b"));
        assert_eq!(first(View(&a), View(&b)).await.unwrap(), "b");

        let mut client = Client::default();
        client.rename("x-").await.unwrap();
        let label = assert_send(client.label(&sku));
        assert_eq!(label.await.unwrap(), "x-tea");
        assert_eq!(client.value(&sku).await.unwrap(), 5);
    }
}
