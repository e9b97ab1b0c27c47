//! Inherent methods: `&self`, `&mut self`, `self`, `self: Box<Self>`, a generic impl and an
//! associated function without a receiver; fallbacks called on the same receiver.
use async_breaker::{BreakerError, circuit_breaker};

struct Client {
    calls: u32,
}

impl Client {
    #[circuit_breaker(fallback = cached)]
    async fn get(&self, id: u32) -> Result<u32, BreakerError> {
        Ok(id + self.calls)
    }

    async fn cached(&self, id: u32) -> Result<u32, BreakerError> {
        Ok(id)
    }

    #[circuit_breaker(fallback = count_cached)]
    async fn count(&mut self) -> Result<u32, BreakerError> {
        self.calls += 1;
        Ok(self.calls)
    }

    async fn count_cached(&mut self) -> Result<u32, BreakerError> {
        Ok(self.calls)
    }

    #[circuit_breaker(fallback = into_cached)]
    async fn into_calls(self) -> Result<u32, BreakerError> {
        Ok(self.calls)
    }

    async fn into_cached(self) -> Result<u32, BreakerError> {
        Ok(self.calls)
    }

    #[circuit_breaker]
    async fn boxed(self: Box<Self>) -> Result<u32, BreakerError> {
        Ok(self.calls)
    }

    #[circuit_breaker(fallback = Self::new_cached)]
    async fn new(calls: u32) -> Result<Self, BreakerError> {
        Ok(Client { calls })
    }

    async fn new_cached(calls: u32) -> Result<Self, BreakerError> {
        Ok(Client { calls })
    }
}

struct Pool<T> {
    items: Vec<T>,
}

impl<T: Clone + Send + Sync> Pool<T> {
    #[circuit_breaker(fallback = first_cached)]
    async fn first(&self) -> Result<Option<T>, BreakerError> {
        Ok(self.items.first().cloned())
    }

    async fn first_cached(&self) -> Result<Option<T>, BreakerError> {
        Ok(None)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut client = Client::new(1).await.unwrap();
    assert_eq!(client.get(1).await.unwrap(), 2);
    assert_eq!(client.count().await.unwrap(), 2);
    assert_eq!(Box::new(Client { calls: 7 }).boxed().await.unwrap(), 7);
    assert_eq!(client.into_calls().await.unwrap(), 2);
    let pool = Pool { items: vec!["a"] };
    assert_eq!(pool.first().await.unwrap(), Some("a"));
}
