//! The pricing service the replicas call: a real HTTP/1 server on 127.0.0.1 (the
//! examples' shared server, `examples/support/http.rs`). `GET /price` answers 200 with a
//! price, or 503 to the requests of the one replica it is told to fail (each replica
//! names itself in an `x-replica` header).

#[path = "../support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use self::http::{Reply, Server};

/// The header in which a replica names itself.
pub(crate) const REPLICA_HEADER: &str = "x-replica";

#[derive(Debug, Default)]
struct Script {
    /// The replica whose requests fail (0: none).
    failing: AtomicUsize,
    /// Requests that reached the service, per replica (index 0: unnamed).
    hits: [AtomicU64; 4],
}

/// A running service; [`Service::shutdown`] stops it.
#[derive(Debug)]
pub(crate) struct Service {
    script: Arc<Script>,
    server: Server,
}

impl Service {
    pub(crate) async fn start() -> std::io::Result<Service> {
        let script = Arc::new(Script::default());
        let s = Arc::clone(&script);
        let server = Server::start(move |req| answer(Arc::clone(&s), req)).await?;
        Ok(Service { script, server })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/price", self.server.addr())
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Fails every request of replica `replica` from now on, or none (`None`).
    pub(crate) fn fail_for(&self, replica: Option<usize>) {
        self.script
            .failing
            .store(replica.unwrap_or(0), Ordering::SeqCst);
    }

    /// The requests of replica `replica` (1 to 3) that reached the service.
    pub(crate) fn hits(&self, replica: usize) -> u64 {
        self.script
            .hits
            .get(replica)
            .map_or(0, |h| h.load(Ordering::SeqCst))
    }

    pub(crate) async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn answer(script: Arc<Script>, req: Request<Incoming>) -> Reply {
    let reply = |status: StatusCode, body: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response
    };
    if req.uri().path() != "/price" {
        return reply(StatusCode::NOT_FOUND, "try GET /price\n");
    }
    let replica = req
        .headers()
        .get(REPLICA_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|r| (1..=3).contains(r))
        .unwrap_or(0);
    script.hits[replica].fetch_add(1, Ordering::SeqCst);
    if replica != 0 && script.failing.load(Ordering::SeqCst) == replica {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "pricing shard unavailable\n",
        )
    } else {
        reply(StatusCode::OK, "1999")
    }
}
