//! The two callers. They send the same HTTP request with the same kind of client; the
//! only difference is the attribute on [`fetch_price`].

use std::sync::Mutex;
use std::time::Duration;

use async_breaker::{BreakerError, circuit_breaker};

/// A price, and whether it came from the service just now or from the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    pub(crate) price_cents: u32,
    pub(crate) fresh: bool,
}

/// Everything a price lookup can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The breaker rejected the call, or its deadline passed.
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    /// The service answered with an error status.
    #[error("pricing service answered {0}")]
    Status(u16),
    /// The client's own timeout passed (the unprotected caller's only bound).
    #[error("no answer before the client timeout")]
    ClientTimeout,
    /// Connecting, sending or reading failed.
    #[error("request failed: {0}")]
    Transport(reqwest::Error),
    /// The service answered 200 with a body that is not a price.
    #[error("the service answered {0:?}, which is not a price")]
    BadBody(String),
    /// The breaker refused the call and the fallback had no good answer yet.
    #[error("pricing is unavailable and no earlier price is cached")]
    NothingCached,
}

/// A client for the pricing service: the same settings for both callers.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy() // loopback only: never route the demo through an HTTP_PROXY
        .build()
        .expect("a plain HTTP client builds")
}

/// One `GET /price` over HTTP.
async fn get_price(client: &reqwest::Client, url: &str) -> Result<Quote, FetchError> {
    let response = client.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    let body = response.bytes().await?;
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let price_cents = text.parse().map_err(|_| FetchError::BadBody(text))?;
    Ok(Quote {
        price_cents,
        fresh: true,
    })
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            FetchError::ClientTimeout
        } else {
            FetchError::Transport(e)
        }
    }
}

/// The unprotected caller: a plain HTTP call. When the service is slow, every call waits
/// for it (up to the client timeout), and new calls keep arriving behind it.
pub(crate) async fn fetch_price_unprotected(
    client: &reqwest::Client,
    url: &str,
) -> Result<Quote, FetchError> {
    get_price(client, url).await
}

/// The protected caller's deadline: the `timeout` in its attribute below. The demo checks
/// at start-up that the breaker really has it.
pub(crate) const DEADLINE: Duration = Duration::from_millis(250);

/// The protected caller: the same call under a circuit breaker.
///
/// - `timeout = "250ms"`: a call that takes longer is dropped and counts as a failure;
/// - five failures in a row (the default trip policy) open the breaker: calls are then
///   refused at once and `last_good_price` answers them instead;
/// - after `reset_timeout = "2s"` it lets `max_requests = 3` probe calls through; three
///   successes close it again, one failure re-opens it;
/// - `on_state_change` prints every transition on the demo's timeline.
#[circuit_breaker(
    name = "pricing",
    timeout = "250ms",
    max_requests = 3,
    reset_timeout = "2s",
    fallback = last_good_price,
    on_state_change = crate::timeline::breaker_changed
)]
pub(crate) async fn fetch_price(client: &reqwest::Client, url: &str) -> Result<Quote, FetchError> {
    let quote = get_price(client, url).await?;
    *LAST_GOOD.lock().unwrap_or_else(|p| p.into_inner()) = Some(quote.price_cents);
    Ok(quote)
}

/// The last price the service answered; what the fallback serves.
static LAST_GOOD: Mutex<Option<u32>> = Mutex::new(None);

/// The fallback: called with the same arguments when the breaker refuses the call. It
/// answers at once with the last good price, marked as not fresh.
async fn last_good_price(_client: &reqwest::Client, _url: &str) -> Result<Quote, FetchError> {
    match *LAST_GOOD.lock().unwrap_or_else(|p| p.into_inner()) {
        Some(price_cents) => Ok(Quote {
            price_cents,
            fresh: false,
        }),
        None => Err(FetchError::NothingCached),
    }
}
