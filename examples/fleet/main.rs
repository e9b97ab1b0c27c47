//! Three replicas, one breaker: a trip on one replica opens the others through Redis.
//!
//! ```text
//! cargo run --example fleet --features redis     # about 3 seconds
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example fleet --features redis
//! ```
//!
//! The example starts a `redis-server` of its own on a free loopback port (or uses
//! `REDIS_URL`), a real HTTP pricing service on 127.0.0.1, and three replica processes:
//! this same binary run with `--replica 1`, `2` and `3`. Each replica installs a
//! `shared::Fleet` on that Redis and builds its own breaker, under the same name, with
//! `.shared(true)` (see `replica.rs`), then calls the service every 20ms. The story:
//!
//! 1. All three replicas call the service, which answers 200 to everyone.
//! 2. The service starts failing replica 1's requests, and only those (so that replicas 2
//!    and 3 cannot open because of failures of their own). Replica 1 trips after five
//!    failures in a row; replicas 2 and 3 open at their next sync, within one sync interval
//!    (100ms), having seen only 200s.
//! 3. The service is healthy again. After the open period (2s) the fleet probes: three
//!    probe tokens for the whole fleet, not three per replica. The probes succeed and every
//!    replica closes.
//!
//! The replicas report every call and transition to this process (the conductor), which
//! prints them on one timeline, then checks the story and exits non-zero if any claim
//! did not hold.

#[path = "../support/redis_server.rs"]
mod redis_server;

mod event;
mod replica;
mod service;
mod story;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use async_breaker::shared::RedisStore;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use crate::event::{Event, unix_us};
use crate::redis_server::RedisServer;
use crate::service::Service;
use crate::story::{Story, Who, say};

/// How many replicas run.
pub(crate) const REPLICAS: usize = 3;
/// How often each replica's breaker syncs with Redis.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// How long the breaker stays open (`reset_timeout`).
pub(crate) const OPEN_FOR: Duration = Duration::from_secs(2);
/// Probe calls when half-open (`max_requests`): for the whole fleet.
pub(crate) const PROBES: u32 = 3;
/// The breaker trips after this many failures in a row.
pub(crate) const TRIP_AFTER: u32 = 5;
/// How often each replica calls the service.
pub(crate) const CALL_EVERY: Duration = Duration::from_millis(20);

const HELP: &str = "\
fleet example: three replicas of a service share one circuit breaker through Redis.

A trip on replica 1 (the only one whose requests fail) opens replicas 2 and 3 within one
sync interval; after the open period the fleet probes with three tokens for all replicas
and closes. The example checks its story and exits non-zero if it did not hold.

USAGE:
    cargo run --example fleet --features redis

It starts redis-server (from PATH) on a free loopback port, or uses REDIS_URL if set.
`--replica <1-3> --redis <url> --service <url> --breaker <name> --start-us <µs>` runs one
replica; the example starts its three replicas that way itself.
";

enum Mode {
    Conduct,
    Replica(replica::Args),
    Help,
}

fn parse(args: &[String]) -> Result<Mode, String> {
    if args.is_empty() {
        return Ok(Mode::Conduct);
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Mode::Help);
    }
    let value = |flag: &str| -> Result<String, String> {
        let at = args
            .iter()
            .position(|a| a == flag)
            .ok_or_else(|| format!("missing {flag}"))?;
        args.get(at + 1)
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    let id = value("--replica")?
        .parse()
        .ok()
        .filter(|id| (1..=REPLICAS).contains(id))
        .ok_or("--replica takes 1, 2 or 3")?;
    Ok(Mode::Replica(replica::Args {
        id,
        redis: value("--redis")?,
        service: value("--service")?,
        breaker: value("--breaker")?,
        start_us: value("--start-us")?
            .parse()
            .map_err(|_| "--start-us takes a number")?,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Mode::Conduct) => match conduct().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fleet: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Mode::Replica(args)) => replica::run(args).await,
        Ok(Mode::Help) => {
            say(HELP.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fleet: {e}\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

/// A line from a replica's stdout.
enum Message {
    Event(usize, u64, Event),
    Stray(usize, String),
    Ended(usize),
}

/// The three replica processes; killed if still running when dropped.
struct Replicas {
    children: Vec<Child>,
}

impl Replicas {
    /// Starts replicas 1 to 3 (this binary with `--replica n`); their stdout lines arrive
    /// on `lines`.
    fn spawn(
        args: &[(&str, String)],
        lines: &mpsc::UnboundedSender<Message>,
    ) -> std::io::Result<Replicas> {
        let exe = std::env::current_exe()?;
        let mut replicas = Replicas {
            children: Vec::new(),
        };
        for n in 1..=REPLICAS {
            let mut command = Command::new(&exe);
            command.args(["--replica", &n.to_string()]);
            for (flag, value) in args {
                command.args([flag, value.as_str()]);
            }
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdout = child.stdout.take().expect("stdout is piped");
            replicas.children.push(child);
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let message = match Event::decode(&line) {
                        Some((t, event)) => Message::Event(n, t, event),
                        None => Message::Stray(n, line),
                    };
                    if lines.send(message).is_err() {
                        return;
                    }
                }
                let _ = lines.send(Message::Ended(n));
            });
        }
        Ok(replicas)
    }

    /// Asks every replica to stop: closes its stdin.
    fn stop(&mut self) {
        for child in &mut self.children {
            drop(child.stdin.take());
        }
    }

    /// Each replica's exit code, waiting up to `limit` in all; `None` for one killed
    /// because it did not exit in time (or ended by a signal).
    async fn exits(&mut self, limit: Duration) -> Vec<Option<i32>> {
        let deadline = Instant::now() + limit;
        let mut codes = vec![None; self.children.len()];
        let mut waiting = true;
        while waiting && Instant::now() < deadline {
            waiting = false;
            for (child, code) in self.children.iter_mut().zip(&mut codes) {
                match child.try_wait() {
                    Ok(Some(status)) => *code = status.code(),
                    Ok(None) => waiting = true,
                    Err(_) => {}
                }
            }
            if waiting {
                sleep(Duration::from_millis(20)).await;
            }
        }
        codes
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Takes in replica lines, printing the timeline as it goes, until `done` holds (`true`),
/// or `limit` passes or a replica breaks down (`false`, and the timeline says so).
async fn wait(
    lines: &mut mpsc::UnboundedReceiver<Message>,
    story: &mut Story,
    limit: Duration,
    what: &str,
    done: impl Fn(&Story) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done(story) {
            return true;
        }
        if story.broken() || Instant::now() >= deadline {
            story.note(
                Who::Example,
                format!("GAVE UP waiting until {what} (after at most {limit:?})"),
            );
            return false;
        }
        take(lines, story, deadline).await;
    }
}

/// Takes in replica lines for `period`, printing the timeline as it goes.
async fn pause(lines: &mut mpsc::UnboundedReceiver<Message>, story: &mut Story, period: Duration) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        take(lines, story, deadline).await;
    }
}

/// Takes in the next replica line, or prints the timeline every 50ms while none comes,
/// until `deadline`.
async fn take(lines: &mut mpsc::UnboundedReceiver<Message>, story: &mut Story, deadline: Instant) {
    tokio::select! {
        message = lines.recv() => match message {
            Some(Message::Event(n, t, event)) => story.record(n, t, event),
            Some(Message::Stray(n, text)) => story.stray(n, text),
            Some(Message::Ended(n)) => story.replicas[n - 1].ended = true,
            // Every replica's stdout is closed: nothing more will come.
            None => sleep_until(deadline).await,
        },
        () = sleep(Duration::from_millis(50)) => story.flush(false),
        () = sleep_until(deadline) => {}
    }
}

async fn conduct() -> Result<(), Box<dyn std::error::Error>> {
    let start_us = unix_us();
    let (redis_url, _own_server, whose) = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => (url, None, "from REDIS_URL"),
        _ => {
            let server = RedisServer::start()?;
            (
                server.url(),
                Some(server),
                "a redis-server of the example's own",
            )
        }
    };
    // Each replica would say so too, but one clear error first is kinder.
    RedisStore::connect(&redis_url)
        .await
        .map_err(|e| format!("Redis at {redis_url}: {e}"))?;
    let service = Service::start().await?;
    // The same name in every replica; one of this run's own, so that an earlier run's
    // keys in a long-lived REDIS_URL (they live for the fleet's ttl) cannot meet it.
    let breaker = format!("pricing-{}", std::process::id());

    say("fleet example: three replicas of a service share one circuit breaker through Redis\n");
    say(format!("  redis      {redis_url}  ({whose})"));
    say(format!(
        "  service    {}  (real HTTP, in this process)",
        service.url()
    ));
    say(format!(
        "  replicas   {REPLICAS} processes (this binary with --replica 1..{REPLICAS}), each calling the service every {}ms",
        CALL_EVERY.as_millis()
    ));
    say(format!(
        "  breaker    {breaker:?} in each replica, built with .shared(true) after shared::install(fleet):"
    ));
    say(format!(
        "             trips after {TRIP_AFTER} failures in a row, open for {OPEN_FOR:?}, {PROBES} probes (max_requests) for the whole fleet"
    ));
    say(format!(
        "  fleet      every breaker syncs with Redis every {}ms, and at once when it trips",
        SYNC_INTERVAL.as_millis()
    ));

    let mut story = Story::new(start_us);
    let (tx, mut lines) = mpsc::unbounded_channel();
    let mut replicas = Replicas::spawn(
        &[
            ("--redis", redis_url.clone()),
            ("--service", service.url()),
            ("--breaker", breaker.clone()),
            ("--start-us", start_us.to_string()),
        ],
        &tx,
    )?;
    drop(tx);

    story.part("1. the replicas join the fleet and call the service; it answers 200 to everyone");
    let mut told = wait(
        &mut lines,
        &mut story,
        Duration::from_secs(20),
        "every replica joined the fleet and got 200s",
        Story::warmed_up,
    )
    .await;
    if told {
        // A little more healthy traffic, for the record.
        pause(&mut lines, &mut story, Duration::from_millis(500)).await;
        story.traffic();
        story.part(
            "2. the service fails replica 1's requests only (503); replicas 2 and 3 still get 200s",
        );
        service.fail_for(Some(1));
        story.failing_since =
            Some(story.note(Who::Service, "fails every request of replica 1 from now on"));
        told = wait(
            &mut lines,
            &mut story,
            Duration::from_secs(10),
            "every replica is open",
            Story::all_open,
        )
        .await;
    }
    if told {
        story.part(&format!(
            "3. the service is healthy again; the fleet waits out its open period ({OPEN_FOR:?}), probes and closes"
        ));
        service.fail_for(None);
        story.healed_at = Some(story.note(Who::Service, "answers 200 to everyone again"));
        wait(
            &mut lines,
            &mut story,
            OPEN_FOR + Duration::from_secs(10),
            "every replica closed again and its calls go through",
            Story::all_closed_again,
        )
        .await;
    }

    story.traffic();
    story.part("4. the replicas stop");
    replicas.stop();
    story.stopping = true;
    wait(
        &mut lines,
        &mut story,
        Duration::from_secs(10),
        "every replica stopped",
        |s| s.replicas.iter().all(|r| r.ended),
    )
    .await;
    let exits = replicas.exits(Duration::from_secs(5)).await;
    story.flush(true);

    let hits = [1, 2, 3].map(|n| service.hits(n));
    let addr = service.addr();
    service.shutdown().await;

    say("");
    story.table(hits);
    say("");
    let mut checks = story.checks(hits, &exits);
    checks.push((
        tokio::net::TcpStream::connect(addr).await.is_err(),
        format!("the service is shut down: nothing listens on {addr} any more"),
    ));
    let mut failed = 0;
    for (ok, claim) in &checks {
        if *ok {
            say(format!("✓ {claim}"));
        } else {
            failed += 1;
            say(format!("✗ NOT TRUE: {claim}"));
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of the example's claims did not hold; see above").into());
    }
    Ok(())
}
