//! A [`reqwest_middleware`] middleware that sends each request through the breaker of the
//! host it goes to.

use std::fmt;

use http::Extensions;
use reqwest_middleware::{Error, Middleware, Next, Result};

use crate::{BreakerError, BuildError, Builder, HttpClassifier, KeyedBreakers, Outcome};

/// Puts every request of a [`reqwest_middleware::ClientWithMiddleware`] through the circuit
/// breaker of its host and port (one [`KeyedBreakers`] entry per `host:port`, named
/// `name[host:port]`), so that a failing host is refused at once while healthy hosts
/// behind the same client keep working.
///
/// - Connect errors, timeouts, 5xx and 429 are failures; other 4xx are ignored (they
///   neither trip nor heal the breaker); everything else is a success. Another
///   [`HttpClassifier`] can be set with [`classifier`](Self::classifier).
/// - The template's `timeout`, if any, is the deadline of each request, inside the
///   breaker: a request past it is dropped and counts as a failure.
/// - A rejected request never reaches the network. Its error is a
///   [`reqwest_middleware::Error::Middleware`] whose message names the breaker and says
///   when to retry (`request not sent: circuit breaker "api[example.com:443]" is open;
///   next probe in 29.9s`); [`rejection`] finds the [`BreakerError`] in it.
///
/// **With retries**, put the retry middleware *outside* the breaker, that is, attach it
/// first: every attempt then goes through the breaker, and a rejection ends the retries,
/// since `reqwest-retry` treats a middleware error as fatal. (The other order would retry
/// behind the breaker's back and count a whole series of attempts as one outcome.)
///
/// ```
/// use breaker_runtime::{CircuitBreaker, TripPolicy};
/// use breaker_runtime::reqwest::CircuitBreakerMiddleware;
/// use reqwest_middleware::ClientBuilder;
///
/// let per_host = CircuitBreakerMiddleware::new(
///     CircuitBreaker::builder("http-client")
///         .timeout(std::time::Duration::from_secs(2))
///         .trip_policy(TripPolicy::ConsecutiveFailures(5)),
/// )?;
/// let client = ClientBuilder::new(reqwest::Client::new())
///     // .with(RetryTransientMiddleware::new_with_policy(..))  // retries first, outside
///     .with(per_host)
///     .build();
/// # drop(client);
/// # Ok::<(), breaker_runtime::BuildError>(())
/// ```
pub struct CircuitBreakerMiddleware {
    hosts: KeyedBreakers<String>,
    classify: HttpClassifier,
}

impl CircuitBreakerMiddleware {
    /// A breaker per `host:port`, made from `template` (its name is the set's name), at
    /// most [`DEFAULT_MAX_KEYS`](crate::DEFAULT_MAX_KEYS) hosts.
    ///
    /// # Errors
    /// The [`BuildError`] of an invalid template.
    pub fn new(template: Builder) -> std::result::Result<Self, BuildError> {
        Ok(Self::from_keyed(KeyedBreakers::new(template)?))
    }

    /// The middleware over an existing keyed set, e.g. one bounded by
    /// [`KeyedBreakers::with_max_keys`] or shared with other code.
    #[must_use]
    pub fn from_keyed(hosts: KeyedBreakers<String>) -> Self {
        CircuitBreakerMiddleware {
            hosts,
            classify: HttpClassifier::new().ignore_client_errors(),
        }
    }

    /// Classifies responses with `classify` instead of the default (4xx ignored).
    #[must_use]
    pub fn classifier(mut self, classify: HttpClassifier) -> Self {
        self.classify = classify;
        self
    }

    /// The breakers, one per host and port.
    #[must_use]
    pub fn breakers(&self) -> &KeyedBreakers<String> {
        &self.hosts
    }
}

impl fmt::Debug for CircuitBreakerMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerMiddleware")
            .field("hosts", &self.hosts)
            .field("classify", &self.classify)
            .finish()
    }
}

/// The breaker's error inside a middleware error: `Some` when the breaker refused the
/// request or its deadline passed. It is looked for along the error's whole chain of
/// sources, so it is found also when outer middleware wraps it (`reqwest-retry`'s
/// "request failed after N retries").
#[must_use]
pub fn rejection(error: &Error) -> Option<&BreakerError> {
    let error: &(dyn std::error::Error + 'static) = error;
    std::iter::successors(Some(error), |error| error.source())
        .find_map(|error| error.downcast_ref::<BreakerError>())
}

/// The middleware's own error: the request was refused or abandoned by its breaker. Its
/// source is the [`BreakerError`], so [`rejection`] finds it even through wrappers that
/// forward only sources.
#[derive(Debug)]
struct Refused(BreakerError);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            BreakerError::Timeout { .. } => write!(f, "request abandoned: {}", self.0),
            _ => write!(f, "request not sent: {}", self.0),
        }
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The key of a request: its host and port (`example.com:443`).
fn host_key(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The request's own error, or the breaker's timeout.
enum Failed {
    Request(Error),
    Breaker(BreakerError),
}

impl From<BreakerError> for Failed {
    fn from(error: BreakerError) -> Self {
        Failed::Breaker(error)
    }
}

#[async_trait::async_trait]
impl Middleware for CircuitBreakerMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        let breaker = self.hosts.get(host_key(req.url()).as_str());
        let permit = breaker
            .try_acquire()
            .map_err(|e| Error::middleware(Refused(e)))?;
        let classify = self.classify;
        let sent = async { next.run(req, extensions).await.map_err(Failed::Request) };
        let result = permit
            .run_with(sent, |result| match result {
                Ok(response) => classify.status(response.status()),
                Err(_) => Outcome::Failure,
            })
            .await;
        result.map_err(|failed| match failed {
            Failed::Request(error) => error,
            Failed::Breaker(error) => Error::middleware(Refused(error)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_host_and_port() {
        let key = |url: &str| host_key(&reqwest::Url::parse(url).unwrap());
        assert_eq!(key("http://127.0.0.1:8080/a?b"), "127.0.0.1:8080");
        assert_eq!(key("https://example.com/x"), "example.com:443");
        assert_eq!(key("http://example.com/x"), "example.com:80");
        assert_eq!(key("http://user:pw@[::1]:9000/"), "[::1]:9000");
    }
}
