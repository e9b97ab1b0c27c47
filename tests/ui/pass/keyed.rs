//! `key = ...` over arguments of every kind the runtime knows, on free functions, methods
//! and with a fallback.
use std::net::SocketAddr;

use async_breaker::{BreakerError, circuit_breaker};

#[circuit_breaker(key = host, max_keys = 64, timeout = "1s")]
async fn by_str(host: &str) -> Result<usize, BreakerError> {
    Ok(host.len())
}

#[circuit_breaker(key = owner.clone(), fallback = by_string_cached)]
async fn by_string(owner: String) -> Result<usize, BreakerError> {
    Ok(owner.len())
}

async fn by_string_cached(_owner: String) -> Result<usize, BreakerError> {
    Ok(0)
}

#[circuit_breaker(key = addr)]
async fn by_addr(addr: SocketAddr) -> Result<u16, BreakerError> {
    Ok(addr.port())
}

#[circuit_breaker(key = url.split('/').next().unwrap_or_default())]
async fn by_expression(url: &str) -> Result<usize, BreakerError> {
    Ok(url.len())
}

struct Client {
    tenant: u32,
}

impl Client {
    #[circuit_breaker(key = self.tenant)]
    async fn get(&self) -> Result<u32, BreakerError> {
        Ok(self.tenant)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(by_str("a").await.unwrap(), 1);
    assert_eq!(by_string("ab".into()).await.unwrap(), 2);
    assert_eq!(by_addr("127.0.0.1:80".parse().unwrap()).await.unwrap(), 80);
    assert_eq!(by_expression("host/path").await.unwrap(), 9);
    assert_eq!(Client { tenant: 3 }.get().await.unwrap(), 3);
}
