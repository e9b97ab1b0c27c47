//! How an HTTP exchange counts for the breaker of the service that answered it.

use crate::Outcome;

/// Classifies HTTP responses by status: server errors (5xx) and `429 Too Many Requests`
/// are failures (the service is failing or shedding load), every other status is a
/// success, and an error without a response (connect error, timeout, reset) is a failure.
///
/// A `4xx` other than 429 usually says the request was wrong, not that the service is
/// unwell. It counts as a success by default, as an answer the service gave; with
/// [`ignore_client_errors`](Self::ignore_client_errors) it counts as neither (an
/// [`Outcome::Ignored`], which neither trips nor heals the breaker).
///
/// ```
/// use breaker_runtime::{HttpClassifier, Outcome};
/// use http::StatusCode;
///
/// let classify = HttpClassifier::new();
/// assert_eq!(classify.status(StatusCode::OK), Outcome::Success);
/// assert_eq!(classify.status(StatusCode::SERVICE_UNAVAILABLE), Outcome::Failure);
/// assert_eq!(classify.status(StatusCode::TOO_MANY_REQUESTS), Outcome::Failure);
/// assert_eq!(classify.status(StatusCode::NOT_FOUND), Outcome::Success);
/// let lenient = classify.ignore_client_errors();
/// assert_eq!(lenient.status(StatusCode::NOT_FOUND), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpClassifier {
    ignore_client_errors: bool,
}

impl HttpClassifier {
    /// 5xx and 429 fail; every other status succeeds.
    #[must_use]
    pub const fn new() -> HttpClassifier {
        HttpClassifier {
            ignore_client_errors: false,
        }
    }

    /// The same, except that a 4xx other than 429 is ignored: it neither counts as a
    /// success nor as a failure.
    #[must_use]
    pub const fn ignore_client_errors(self) -> HttpClassifier {
        HttpClassifier {
            ignore_client_errors: true,
        }
    }

    /// How a response with this status counts.
    #[must_use]
    pub fn status(&self, status: http::StatusCode) -> Outcome {
        if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
            Outcome::Failure
        } else if status.is_client_error() && self.ignore_client_errors {
            Outcome::Ignored
        } else {
            Outcome::Success
        }
    }

    /// How a response counts; an error in place of a response is a failure.
    #[must_use]
    pub fn response<B, E>(&self, result: Result<&http::Response<B>, &E>) -> Outcome {
        match result {
            Ok(response) => self.status(response.status()),
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn statuses_at_the_boundaries() {
        let strict = HttpClassifier::new();
        let lenient = strict.ignore_client_errors();
        for (code, strict_outcome, lenient_outcome) in [
            (200, Outcome::Success, Outcome::Success),
            (302, Outcome::Success, Outcome::Success),
            (399, Outcome::Success, Outcome::Success),
            (400, Outcome::Success, Outcome::Ignored),
            (428, Outcome::Success, Outcome::Ignored),
            (429, Outcome::Failure, Outcome::Failure),
            (430, Outcome::Success, Outcome::Ignored),
            (499, Outcome::Success, Outcome::Ignored),
            (500, Outcome::Failure, Outcome::Failure),
            (503, Outcome::Failure, Outcome::Failure),
            (599, Outcome::Failure, Outcome::Failure),
        ] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(strict.status(status), strict_outcome, "{code}");
            assert_eq!(lenient.status(status), lenient_outcome, "{code}");
        }
        let err: Result<&http::Response<()>, &&str> = Err(&"connection refused");
        assert_eq!(strict.response(err), Outcome::Failure);
    }
}
