//! A `redis-server` of the caller's own, on a free port of 127.0.0.1, for the fleet
//! example (`examples/fleet/`) and the shared-state benchmark (`benches/shared.rs`). It
//! keeps nothing on disk and is killed when dropped.
//!
//! Included by path (`#[path = "../support/redis_server.rs"] mod redis_server;`); it is
//! not an example of its own.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub(crate) struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts `redis-server` (found on `PATH`) on a free loopback port and waits until it
    /// listens, or says why it could not.
    pub(crate) fn start() -> Result<RedisServer, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free loopback port: {e}"))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "redis-server could not be started ({e}); install it (e.g. apt-get install redis-server) or set REDIS_URL"
                )
            })?;
        let mut server = RedisServer { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited at start-up ({status})"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.kill();
        Err(format!(
            "redis-server did not listen on port {port} within 10s"
        ))
    }

    /// Its URL, `redis://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
