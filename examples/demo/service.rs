//! The pricing service: a real HTTP/1 server on 127.0.0.1 (hyper), playing the phase the
//! demo sets. A request is answered according to the phase it arrived in.

#[path = "../support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use self::http::{Reply, Server};

/// The script the service plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Healthy,
    Slow,
    Down,
    Recovered,
}

impl Phase {
    pub(crate) const ALL: [Phase; 4] = [Phase::Healthy, Phase::Slow, Phase::Down, Phase::Recovered];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Healthy => "healthy",
            Phase::Slow => "slow",
            Phase::Down => "down",
            Phase::Recovered => "recovered",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn from_index(i: u8) -> Phase {
        Phase::ALL[usize::from(i).min(3)]
    }
}

/// What the handler reads: the current phase and how slow "slow" is.
#[derive(Debug)]
struct Script {
    phase: AtomicU8,
    slow_delay: Duration,
    price: AtomicU32,
}

/// A running service. [`Service::shutdown`] stops it and closes every connection.
#[derive(Debug)]
pub(crate) struct Service {
    script: Arc<Script>,
    server: Server,
}

impl Service {
    /// Binds an ephemeral port on 127.0.0.1 and starts serving `GET /price`.
    pub(crate) async fn start(slow_delay: Duration) -> std::io::Result<Service> {
        let script = Arc::new(Script {
            phase: AtomicU8::new(0),
            slow_delay,
            price: AtomicU32::new(1999),
        });
        let s = Arc::clone(&script);
        let server = Server::start(move |req| answer(Arc::clone(&s), req)).await?;
        Ok(Service { script, server })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        // A new price once recovered, so fresh answers and cached ones can be told apart.
        if phase == Phase::Recovered {
            self.script.price.store(2049, Ordering::SeqCst);
        }
        self.script.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Stops accepting, aborts every open connection, and waits until all are closed.
    pub(crate) async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn answer(script: Arc<Script>, req: Request<Incoming>) -> Reply {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if req.uri().path() != "/price" {
        return reply(StatusCode::NOT_FOUND, "try GET /price\n".into());
    }
    let price = script.price.load(Ordering::SeqCst);
    match Phase::from_index(script.phase.load(Ordering::SeqCst)) {
        Phase::Healthy | Phase::Recovered => reply(StatusCode::OK, price.to_string()),
        Phase::Slow => {
            tokio::time::sleep(script.slow_delay).await;
            reply(StatusCode::OK, price.to_string())
        }
        Phase::Down => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "pricing database unavailable\n".into(),
        ),
    }
}
