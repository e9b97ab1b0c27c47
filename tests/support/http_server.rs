//! A real HTTP/1 server on 127.0.0.1 for the integration tests: `GET /status/{code}`
//! answers with that status, `GET /slow` answers 200 after 5 seconds, and every request is
//! counted. Included with `#[path]` by the tests that need it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running server; it stops when the test's runtime does.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    hits: Arc<AtomicU64>,
}

impl Server {
    /// Binds an ephemeral loopback port and serves on the current runtime.
    pub(crate) async fn start() -> Server {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let hits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        answer(req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { addr, hits }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests reached the server.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let status = if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
        StatusCode::OK
    } else {
        path.strip_prefix("/status/")
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::NOT_FOUND)
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"body")));
    *response.status_mut() = status;
    Ok(response)
}
