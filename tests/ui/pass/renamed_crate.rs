//! `crate = "..."`: the runtime reached through another path (a re-export or a renamed
//! crate), as a crate that re-exports `async-breaker` would do.
extern crate async_breaker as renamed;

mod reexport {
    pub use ::async_breaker as inner;
}

use renamed::BreakerError;

#[renamed::circuit_breaker(crate = "renamed", timeout = "1s")]
async fn through_rename() -> Result<u8, BreakerError> {
    Ok(1)
}

#[reexport::inner::circuit_breaker(crate = "crate::reexport::inner", fallback = cached)]
async fn through_module(n: u8) -> Result<u8, BreakerError> {
    Ok(n)
}

async fn cached(_n: u8) -> Result<u8, BreakerError> {
    Ok(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(through_rename().await.unwrap(), 1);
    assert_eq!(through_module(2).await.unwrap(), 2);
}
