//! The shop of the observability example, shared with `tests/observability.rs`.
//!
//! - [`Dependency`]: a flaky upstream service, a real HTTP/1 server on 127.0.0.1 that
//!   answers 503 while it is told to fail and counts the requests that reach it.
//! - [`App`]: the shop, also on 127.0.0.1, guarding each dependency with its own breaker:
//!   - `GET /price/{sku}` and `GET /stock/{sku}` call the pricing and the inventory
//!     dependency through the breakers `{prefix}pricing` and `{prefix}inventory`; a
//!     rejection is a 503 with `Retry-After`, a failed call a 502, a timeout a 504;
//!   - `GET /metrics` renders the Prometheus recorder (no listener of the exporter's own);
//!   - `GET /breakers` lists the registry as JSON;
//!   - `POST /breakers/{name}/force-open`, `.../force-closed` and `.../reset`: operator
//!     control, answered with the breaker's snapshot;
//!   - `PUT /breakers/{name}/settings` with a JSON body of the settings to change (for
//!     example `{"timeout": "500ms", "consecutive_failures": 10}`): live reconfiguration,
//!     answered with the snapshot, or a 400 that says what is wrong.
//! - [`get`], [`post`], [`put`] and [`Scrape`]: the client side, to drive the shop and read its
//!   `/metrics`.

#[path = "../support/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_breaker::config::PartialSettings;
use async_breaker::{BreakerError, CircuitBreaker, TripPolicy, registry};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

use self::http::{Reply, Server};

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    reply(status, "application/json", body)
}

/// Installs the process-wide Prometheus recorder, with buckets for the call durations
/// (so they render as a Prometheus histogram rather than a summary). Call it before the
/// first breaker is built: a breaker registers its metrics when it is built, with the
/// recorder installed at that moment.
pub(crate) fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("breaker_call_duration_seconds".into()),
            &[0.001, 0.005, 0.025, 0.1, 0.5, 2.5],
        )?
        .install_recorder()
}

/// A flaky upstream service: `GET /{anything}` answers 200 with a small body, or 503
/// while [`Dependency::set_failing`] says so.
#[derive(Debug)]
pub(crate) struct Dependency {
    failing: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
    server: Server,
}

impl Dependency {
    /// Starts serving on an ephemeral port of 127.0.0.1; `answer` is the body of a 200.
    pub(crate) async fn start(answer: &'static str) -> std::io::Result<Dependency> {
        let failing = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let (f, h) = (Arc::clone(&failing), Arc::clone(&hits));
        let server = Server::start(move |_req: Request<Incoming>| {
            h.fetch_add(1, Ordering::SeqCst);
            let failing = f.load(Ordering::SeqCst);
            async move {
                if failing {
                    text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
                } else {
                    text(StatusCode::OK, answer)
                }
            }
        })
        .await?;
        Ok(Dependency {
            failing,
            hits,
            server,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Fails every request from now on (`true`), or answers again (`false`).
    pub(crate) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many requests have reached this service.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    pub(crate) async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// How the shop's breakers are set up.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Put before `pricing` and `inventory` to name the two breakers.
    pub(crate) prefix: &'static str,
    /// Consecutive failures that trip a breaker.
    pub(crate) trip_after: u32,
    /// How long a tripped breaker stays open before it lets a probe through.
    pub(crate) reset_timeout: Duration,
    /// The deadline of each call to a dependency, inside the breaker.
    pub(crate) timeout: Duration,
}

/// What a protected call to a dependency can end with.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("the dependency answered {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
}

/// One `GET` to a dependency, unprotected: the breaker wraps it.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    let response = client.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    Ok(response.text().await?)
}

/// The shop's state, shared by its connections.
#[derive(Debug)]
struct Shop {
    client: reqwest::Client,
    pricing: (CircuitBreaker, String),
    inventory: (CircuitBreaker, String),
    metrics: PrometheusHandle,
}

/// The shop: a running HTTP service with two breakers. [`App::shutdown`] stops it and
/// drops its breakers, which leave the registry.
#[derive(Debug)]
pub(crate) struct App {
    shop: Arc<Shop>,
    server: Server,
    upkeep: JoinHandle<()>,
}

impl App {
    /// Builds the two breakers (after the recorder is installed: each breaker makes its
    /// metric handles when it is built) and starts serving on 127.0.0.1.
    pub(crate) async fn start(
        options: &Options,
        pricing: &Dependency,
        inventory: &Dependency,
        metrics: PrometheusHandle,
    ) -> Result<App, Box<dyn std::error::Error>> {
        let breaker = |what: &str| {
            CircuitBreaker::builder(format!("{}{what}", options.prefix))
                .trip_policy(TripPolicy::ConsecutiveFailures(options.trip_after))
                .reset_timeout(options.reset_timeout)
                .timeout(options.timeout)
                .build()
        };
        let client = reqwest::Client::builder()
            .no_proxy() // loopback only: never route through an HTTP_PROXY
            .build()?;
        let shop = Arc::new(Shop {
            client,
            pricing: (breaker("pricing")?, pricing.url()),
            inventory: (breaker("inventory")?, inventory.url()),
            metrics,
        });

        // Without the exporter's own listener, upkeep is ours: it folds histogram samples
        // into their buckets so that memory stays flat between scrapes.
        let handle = shop.metrics.clone();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });

        let s = Arc::clone(&shop);
        let server = Server::start(move |req| answer(Arc::clone(&s), req)).await?;
        Ok(App {
            shop,
            server,
            upkeep,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40124`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The breaker in front of the pricing dependency.
    pub(crate) fn pricing(&self) -> &CircuitBreaker {
        &self.shop.pricing.0
    }

    /// Stops serving, closes every connection and drops the breakers.
    pub(crate) async fn shutdown(self) {
        self.upkeep.abort();
        let _ = self.upkeep.await;
        self.server.shutdown().await;
    }
}

async fn answer(shop: Arc<Shop>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["price", sku]) => guarded(&shop, &shop.pricing, sku).await,
        (&Method::GET, ["stock", sku]) => guarded(&shop, &shop.inventory, sku).await,
        (&Method::GET, ["metrics"]) => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            shop.metrics.render(),
        ),
        (&Method::GET, ["breakers"]) => match serde_json::to_vec_pretty(&registry::snapshot()) {
            Ok(body) => json(StatusCode::OK, body),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::POST, ["breakers", name, action]) => control(name, action),
        (&Method::PUT, ["breakers", name, "settings"]) => {
            let name = (*name).to_owned();
            match req.into_body().collect().await {
                Ok(body) => reconfigure(&name, &body.to_bytes()),
                Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "try GET /price/{sku}, /stock/{sku}, /metrics, /breakers, \
             POST /breakers/{name}/{force-open|force-closed|reset}, \
             or PUT /breakers/{name}/settings\n",
        ),
    }
}

/// One call to a dependency through its breaker.
async fn guarded(shop: &Shop, (breaker, base): &(CircuitBreaker, String), sku: &str) -> Reply {
    let url = format!("{base}/{sku}");
    match breaker.call(fetch(&shop.client, &url)).await {
        Ok(body) => text(StatusCode::OK, body),
        Err(FetchError::Breaker(e)) if e.is_rejection() => {
            let mut response = text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"));
            if let Some(after) = e.retry_after() {
                // Whole seconds, rounded up, as the header wants.
                let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                response.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            response
        }
        Err(e @ FetchError::Breaker(BreakerError::Timeout { .. })) => {
            text(StatusCode::GATEWAY_TIMEOUT, format!("{e}\n"))
        }
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
    }
}

/// Operator control of any breaker in the registry.
fn control(name: &str, action: &str) -> Reply {
    let Some(breaker) = registry::get(name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no breaker named {name:?}\n"),
        );
    };
    match action {
        "force-open" => breaker.force_open(),
        "force-closed" => breaker.force_closed(),
        "reset" => breaker.reset(),
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "the actions are force-open, force-closed and reset\n",
            );
        }
    }
    match serde_json::to_vec_pretty(&breaker.snapshot()) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Live reconfiguration: the body's settings over the breaker's current ones. A body that
/// is not a settings object, an unknown key or a bad value is a 400 naming it, and
/// changes nothing.
fn reconfigure(name: &str, body: &[u8]) -> Reply {
    let Some(breaker) = registry::get(name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no breaker named {name:?}\n"),
        );
    };
    let changes: PartialSettings = match serde_json::from_slice(body) {
        Ok(changes) => changes,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    if let Err(e) = breaker.reconfigure(changes.apply(breaker.settings())) {
        return text(StatusCode::BAD_REQUEST, format!("{e}\n"));
    }
    match serde_json::to_vec_pretty(&breaker.snapshot()) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

// --- the client side ----------------------------------------------------------------------

/// What the shop answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The `Retry-After` header, in seconds, if any.
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: String,
}

impl Answer {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.text().await?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// `GET url`. The future borrows neither argument.
pub(crate) fn get(
    client: &reqwest::Client,
    url: &str,
) -> impl Future<Output = Result<Answer, reqwest::Error>> + use<> {
    send(client.get(url))
}

/// `POST url`, with an empty body. The future borrows neither argument.
pub(crate) fn post(
    client: &reqwest::Client,
    url: &str,
) -> impl Future<Output = Result<Answer, reqwest::Error>> + use<> {
    send(client.post(url))
}

/// `PUT url` with a JSON body. The future borrows no argument.
pub(crate) fn put(
    client: &reqwest::Client,
    url: &str,
    json: &str,
) -> impl Future<Output = Result<Answer, reqwest::Error>> + use<> {
    send(
        client
            .put(url)
            .header(CONTENT_TYPE, "application/json")
            .body(json.to_owned()),
    )
}

/// The samples of a Prometheus text exposition, by metric name and label set.
#[derive(Debug)]
pub(crate) struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses the text format's sample lines (`name{label="value",...} number`); comment
    /// lines and lines it cannot read are skipped.
    pub(crate) fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(parse_sample)
            .collect();
        Scrape { samples }
    }

    /// The value of the one sample of `name` whose labels include `labels`, if exactly
    /// one matches.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self.samples.iter().filter(|(n, set, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| set.get(*k).is_some_and(|x| x == v))
        });
        let (_, _, value) = matching.next()?;
        matching.next().is_none().then_some(*value)
    }

    /// The non-zero samples of the metrics whose names start with `prefix`, as sorted
    /// text lines (histogram buckets left out, for brevity).
    pub(crate) fn lines(&self, prefix: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .samples
            .iter()
            .filter(|(n, _, v)| n.starts_with(prefix) && !n.ends_with("_bucket") && *v != 0.0)
            .map(|(n, set, v)| {
                let labels: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                format!("{n}{{{}}} {v}", labels.join(","))
            })
            .collect();
        lines.sort();
        lines
    }
}

fn parse_sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_owned(), BTreeMap::new(), value));
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => val.push('\n'),
                    other => val.push(other),
                },
                c => val.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_owned(), val);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((name.to_owned(), labels, value))
}
