//! Breakers shared across replicas through a real `redis-server`, started by the tests on
//! a free loopback port. Each replica is a breaker with its own local state and its own
//! [`Fleet`] (its own replica id and connection), as separate processes would have.
//!
//! Without a `redis-server` the tests say so loudly and skip, unless
//! `ASYNC_BREAKER_REQUIRE_REDIS=1` (as in CI), which makes them fail instead.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use breaker_runtime::shared::{self, Fleet, RedisStore, Report, SharedError, Store};
use breaker_runtime::{BreakerError, CircuitBreaker, Counts, State, TripPolicy};

/// A `redis-server` of the test's own.
struct Server {
    port: u16,
    child: Option<Child>,
}

impl Server {
    /// Starts one on a free port, or says why not.
    fn start() -> Option<Server> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = Server { port, child: None };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(why) => {
                let message = format!("redis-server could not be started: {why}");
                assert!(
                    std::env::var_os("ASYNC_BREAKER_REQUIRE_REDIS").is_none(),
                    "{message}"
                );
                eprintln!(
                    "\n!!!!!!!!\n!!! SKIPPED: {message}; install it (apt-get install redis-server) to run the shared-state tests\n!!!!!!!!\n"
                );
                None
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "it did not listen on port {} within 10s",
            self.port
        ))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn().expect("redis-server restarts");
    }

    /// A plain connection for the test's own commands.
    async fn client(&self) -> redis::aio::MultiplexedConnection {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A store that is never reached.
struct Nowhere;

impl Store for Nowhere {
    fn sync<'a>(&'a self, _: &'a str, _: &'a Report) -> shared::SyncFuture<'a> {
        Box::pin(async { Err(shared::StoreError::new("unreachable")) })
    }
}

/// A breaker name no other test uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn fleet(server: &Server, replica: &str, every: Duration) -> Fleet {
    let store = RedisStore::connect(&server.url()).await.expect("connects");
    Fleet::builder(store)
        .replica(replica)
        .sync_interval(every)
        .build()
        .expect("valid fleet")
}

fn status(b: &CircuitBreaker) -> shared::Status {
    shared::status(b).expect("joined")
}

/// Waits (up to 20 s, a generous cap for a loaded machine) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `b` has completed one more sync than it had now: a sync that started
/// after this moment.
async fn next_sync(b: &CircuitBreaker) {
    let seen = status(b).syncs;
    until("a replica syncs twice more", || status(b).syncs >= seen + 2).await;
}

/// Three replicas of breaker `name`, each in its own fleet, all synced once.
async fn replicas(
    server: &Server,
    name: &str,
    every: Duration,
    make: impl Fn(breaker_runtime::Builder) -> breaker_runtime::Builder,
) -> Vec<CircuitBreaker> {
    let mut out = Vec::new();
    for id in ["a", "b", "c"] {
        let fleet = fleet(server, id, every).await;
        let breaker = make(CircuitBreaker::builder(name.to_owned()))
            .build()
            .unwrap();
        fleet.join(&breaker).unwrap();
        out.push(breaker);
    }
    for b in &out {
        until("every replica synced", || status(b).syncs >= 1).await;
    }
    out
}

fn fail(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").failure();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_on_one_replica_opens_all_at_their_next_sync() {
    let Some(server) = Server::start() else {
        return;
    };
    let every = Duration::from_millis(50);
    let name = unique("trip");
    let r = replicas(&server, &name, every, |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(3))
            .reset_timeout(Duration::from_secs(30))
    })
    .await;
    fail(&r[0], 3);
    assert_eq!(r[0].state(), State::Open, "the replica that failed tripped");
    // Its trip reached the store at once (a sync of its own, woken by the trip).
    next_sync(&r[0]).await;
    for other in &r[1..] {
        next_sync(other).await;
        assert_eq!(other.state(), State::Open, "{} follows", other.name());
        let theirs = other.retry_after().expect("open");
        let mine = r[0].retry_after().expect("open");
        assert!(
            theirs.abs_diff(mine) < Duration::from_secs(2),
            "the fleet's retry_after: {theirs:?} vs {mine:?}"
        );
        assert!(matches!(
            other.try_acquire().unwrap_err(),
            BreakerError::Open { .. }
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_counts_trip_replicas_that_each_saw_too_few_failures() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("sum");
    let r = replicas(&server, &name, Duration::from_millis(50), |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(4))
    })
    .await;
    fail(&r[0], 2);
    fail(&r[1], 2);
    assert_eq!(
        r[0].state(),
        State::Closed,
        "two failures do not trip alone"
    );
    assert_eq!(r[1].state(), State::Closed);
    until("the fleet's four failures trip it", || {
        r.iter().all(|b| b.state() == State::Open)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_slow_calls_trip_replicas_that_each_saw_too_few() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("slow");
    let r = replicas(&server, &name, Duration::from_millis(50), |b| {
        b.slow_call(Duration::from_millis(5))
            .slow_call_ratio(0.5, 4)
    })
    .await;
    for b in &r[..2] {
        for _ in 0..2 {
            let permit = b.try_acquire().expect("admitted");
            tokio::time::sleep(Duration::from_millis(10)).await;
            permit.success();
        }
    }
    assert_eq!(r[0].state(), State::Closed, "two slow calls of four needed");
    until("the fleet's four slow calls trip it", || {
        r.iter().all(|b| b.state() == State::Open)
    })
    .await;
}

/// The fleet's counts are put to the trip policy after a failure or a slow call, as a
/// replica's own are: successes alone never trip it, whatever the policy says of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_successes_alone_are_not_put_to_the_policy() {
    fn on_successes(c: &Counts) -> bool {
        c.total_successes >= 4
    }
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("quiet");
    let r = replicas(&server, &name, Duration::from_millis(20), |b| {
        b.trip_policy(TripPolicy::Custom(on_successes))
    })
    .await;
    for b in &r {
        for _ in 0..3 {
            b.try_acquire().unwrap().success();
        }
    }
    for b in &r {
        next_sync(b).await;
        next_sync(b).await;
    }
    assert!(r.iter().all(|b| b.state() == State::Closed));
    // A failure puts the same counts to the policy: now it trips.
    fail(&r[0], 1);
    until("the failure trips the fleet", || {
        r.iter().all(|b| b.state() == State::Open)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_half_open_budget_holds_across_the_fleet_and_probes_close_it() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("half");
    let r = replicas(&server, &name, Duration::from_millis(50), |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_millis(300))
            .max_requests(2)
    })
    .await;
    fail(&r[0], 1);
    until("all open", || r.iter().all(|b| b.state() == State::Open)).await;
    // Every replica asks for probes for a while; the admitted ones are held, unfinished.
    let mut held = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        for b in &r {
            if let Ok(p) = b.try_acquire_owned() {
                assert_eq!(p.state(), State::HalfOpen);
                held.push(p);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        held.len(),
        2,
        "max_requests probes for the whole fleet, not per replica"
    );
    for p in held {
        p.success();
    }
    until("the fleet closes after its probes succeed", || {
        r.iter().all(|b| b.state() == State::Closed)
    })
    .await;
}

/// A replica asks for probe tokens only when a probe was refused for want of one: an idle
/// replica, however often it syncs, leaves the fleet's one token to the replica with calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_replica_holds_no_probe_token() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("idle");
    let make = |b: breaker_runtime::Builder| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_millis(200))
            .max_requests(1)
    };
    let busy = make(CircuitBreaker::builder(name.clone())).build().unwrap();
    fleet(&server, "busy", Duration::from_millis(50))
        .await
        .join(&busy)
        .unwrap();
    let idle = make(CircuitBreaker::builder(name.clone())).build().unwrap();
    fleet(&server, "idle", Duration::from_millis(5))
        .await
        .join(&idle)
        .unwrap();
    until("both synced", || {
        status(&busy).syncs >= 1 && status(&idle).syncs >= 1
    })
    .await;
    fail(&busy, 1);
    let mut probe = None;
    until("the busy replica gets the fleet's probe token", || {
        probe = busy.try_acquire_owned().ok();
        probe.is_some()
    })
    .await;
    probe.expect("a probe").success();
    until("its probe closes the fleet", || {
        busy.state() == State::Closed && idle.state() == State::Closed
    })
    .await;
}

#[test]
fn a_replica_killed_mid_probe_frees_its_token_after_the_lease() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("lease");
    let every = Duration::from_millis(50);
    let lease = Duration::from_millis(500);
    let make = |b: breaker_runtime::Builder| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_millis(200))
            .max_requests(1)
    };
    // Replica a lives in a runtime of its own, which the test shuts down: a crash.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    let a = doomed.block_on(async {
        let store = RedisStore::connect(&url).await.unwrap();
        let fleet = Fleet::builder(store)
            .replica("a")
            .sync_interval(every)
            .lease(lease)
            .build()
            .unwrap();
        let a = make(CircuitBreaker::builder(name.clone())).build().unwrap();
        fleet.join(&a).unwrap();
        a
    });
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    main.block_on(async move {
        let store = RedisStore::connect(&server.url()).await.unwrap();
        let fleet_b = Fleet::builder(store)
            .replica("b")
            .sync_interval(every)
            .lease(lease)
            .build()
            .unwrap();
        let b = make(CircuitBreaker::builder(name.clone())).build().unwrap();
        fleet_b.join(&b).unwrap();
        until("both synced", || {
            status(&a).syncs >= 1 && status(&b).syncs >= 1
        })
        .await;

        fail(&a, 1);
        until("both open", || {
            a.state() == State::Open && b.state() == State::Open
        })
        .await;
        // Replica a takes the fleet's only probe token...
        let mut probe = None;
        until("a is granted the fleet's probe token", || {
            probe = a.try_acquire_owned().ok();
            probe.is_some()
        })
        .await;
        let probe = probe.expect("a probe");
        next_sync(&b).await;
        assert!(b.try_acquire().is_err(), "the fleet's one token is a's");
        // ...and dies with it.
        doomed.shutdown_background();
        std::mem::forget(probe);
        let died = Instant::now();
        // (Its breaker outlives its runtime here: with no sync task left, it decides alone.)
        until("a's sync task is gone", || !status(&a).attached).await;
        let p = loop {
            if let Ok(p) = b.try_acquire_owned() {
                break p;
            }
            assert!(
                died.elapsed() < Duration::from_secs(20),
                "the token never came free"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(
            died.elapsed() >= lease / 2,
            "the token came free only once the lease ran out, not at once ({:?})",
            died.elapsed()
        );
        p.success();
        until("b's probe closes the fleet", || b.state() == State::Closed).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_leaves_every_replica_answering_and_restarted_they_rejoin() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let name = unique("down");
    let r = replicas(&server, &name, Duration::from_millis(50), |b| {
        b.trip_policy(TripPolicy::ConsecutiveFailures(3))
    })
    .await;
    server.kill();
    let calls = || {
        for b in &r {
            for _ in 0..100 {
                b.try_acquire()
                    .expect("no call fails because of Redis")
                    .success();
            }
        }
    };
    until("every replica notices", || {
        calls();
        r.iter()
            .all(|b| !status(b).attached && status(b).sync_errors > 0)
    })
    .await;
    // Alone, each still trips on its own failures; the sync that would take the trip to
    // the fleet fails, and the trip waits for the store.
    let errors = status(&r[2]).sync_errors;
    fail(&r[2], 3);
    assert_eq!(r[2].state(), State::Open);
    assert_eq!(r[0].state(), State::Closed);
    until("the trip's own sync fails", || {
        status(&r[2]).sync_errors > errors
    })
    .await;

    server.restart();
    until("every replica rejoins", || {
        r.iter().all(|b| status(b).attached)
    })
    .await;
    // Its trip while apart, taken to the new (empty) store, opens the others.
    until("the others follow the trip made while apart", || {
        r.iter().all(|b| b.state() == State::Open)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_never_delays_a_call() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("pause");
    let r = replicas(&server, &name, Duration::from_millis(20), |b| b).await;
    let mut admin = server.client().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    // A command sent now waits out the pause.
    let mut probe = server.client().await;
    let paused = tokio::spawn(async move {
        let _: String = redis::cmd("PING").query_async(&mut probe).await.unwrap();
    });
    let mut calls = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        for b in &r {
            b.try_acquire().expect("admitted").success();
            calls += 1;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        !paused.is_finished(),
        "the pause was still on while {calls} calls went through"
    );
    assert!(calls > 0);
    paused.await.unwrap();
    until("they sync again after the pause", || {
        r.iter().all(|b| status(b).attached)
    })
    .await;
}

/// Outcomes recorded on three replicas, end to end: once each has synced after its last
/// outcome, the fleet's counts are the sum of all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_counts_are_the_sum_of_every_replicas_outcomes() {
    fn never(_: &Counts) -> bool {
        false
    }
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("outcomes");
    let r = replicas(&server, &name, Duration::from_millis(20), |b| {
        b.trip_policy(TripPolicy::Custom(never))
    })
    .await;
    let plan = [(7, 2, 1), (3, 5, 0), (11, 0, 4)];
    for (b, (ok, failed, ignored)) in r.iter().zip(plan) {
        for _ in 0..ok {
            b.try_acquire().unwrap().success();
        }
        fail(b, failed);
        for _ in 0..ignored {
            b.try_acquire().unwrap().ignore();
        }
    }
    for b in &r {
        next_sync(b).await;
    }
    // A fourth replica that reports nothing reads the fleet's counts.
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let first = store.sync(&name, &Report::new("reader")).await.unwrap();
    let reply = store
        .sync(
            &name,
            &report(
                "reader",
                Some(&first.epoch),
                first.generation,
                Counts::default(),
            ),
        )
        .await
        .unwrap();
    let c = reply.counts;
    assert_eq!(reply.state, State::Closed);
    assert_eq!(c.total_successes, 7 + 3 + 11);
    assert_eq!(c.total_failures, 2 + 5);
    assert_eq!(c.total_ignored, 1 + 4);
    assert_eq!(c.requests, 10 + 8 + 15);
}

/// An operator's action stays on its replica: the fleet does not follow a held breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_hold_stays_on_its_replica() {
    let Some(server) = Server::start() else {
        return;
    };
    let r = replicas(&server, &unique("held"), Duration::from_millis(20), |b| b).await;
    r[0].force_open();
    for b in &r {
        next_sync(b).await;
    }
    assert_eq!(r[0].state(), State::Open, "held open");
    assert_eq!(r[1].state(), State::Closed, "not the fleet's move");
    assert_eq!(r[2].state(), State::Closed);
    r[0].reset();
    for b in &r {
        next_sync(b).await;
        assert_eq!(b.state(), State::Closed);
    }
}

/// The script is run by its hash; a server that forgot it (`SCRIPT FLUSH`, a restart of
/// a server that keeps its data) gets it again, and no sync fails for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_forgot_the_script_gets_it_again() {
    let Some(server) = Server::start() else {
        return;
    };
    let r = replicas(&server, &unique("flush"), Duration::from_millis(20), |b| b).await;
    let mut admin = server.client().await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut admin)
        .await
        .unwrap();
    for b in &r {
        next_sync(b).await;
        assert_eq!(status(b).sync_errors, 0, "no sync failed");
    }
    let loaded: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(redis::Script::new(include_str!("../src/shared.lua")).get_hash())
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(loaded, [1], "loaded again");
}

fn counts(values: [u64; 8]) -> Counts {
    let mut c = Counts::default();
    c.requests = values[0];
    c.total_successes = values[1];
    c.total_failures = values[2];
    c.total_ignored = values[3];
    c.slow_calls = values[4];
    c.consecutive_failures = values[5];
    c.consecutive_successes = values[6];
    c.consecutive_slow_calls = values[7];
    c
}

fn report(replica: &str, epoch: Option<&str>, generation: u64, c: Counts) -> Report {
    let mut r = Report::new(replica);
    r.epoch = epoch.map(str::to_owned);
    r.generation = generation;
    r.counts = c;
    r
}

/// The fleet's counts are the sum of each replica's latest counts of the current
/// generation; reports of another generation or epoch count nothing. Random sequences of
/// reports, straight to the store's script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_counts_are_the_sum_of_the_replicas_current_counts() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let Some(server) = Server::start() else {
        return;
    };
    let store = RedisStore::connect(&server.url()).await.unwrap();
    // Each step: a replica (0..3), whether its report is stale, and its counts.
    let step = (0..3usize, any::<bool>(), prop::array::uniform8(0..1000u64));
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    runner
        .run(&prop::collection::vec(step, 1..20), |steps| {
            let store = store.clone();
            tokio::task::block_in_place(|| {
                handle.block_on(async move {
                    let key = unique("merge");
                    let first = store
                        .sync(&key, &report("x", None, 0, Counts::default()))
                        .await
                        .unwrap();
                    let (epoch, generation) = (first.epoch.clone(), first.generation);
                    let mut latest: [Option<[u64; 8]>; 3] = [None; 3];
                    for (replica, stale, values) in steps {
                        let id = ["a", "b", "c"][replica];
                        let reply = if stale {
                            store
                                .sync(
                                    &key,
                                    &report(id, Some(&epoch), generation + 7, counts(values)),
                                )
                                .await
                                .unwrap()
                        } else {
                            latest[replica] = Some(values);
                            store
                                .sync(&key, &report(id, Some(&epoch), generation, counts(values)))
                                .await
                                .unwrap()
                        };
                        let mut sum = [0u64; 8];
                        for v in latest.iter().flatten() {
                            for (s, x) in sum.iter_mut().zip(v) {
                                *s += x;
                            }
                        }
                        assert_eq!(reply.generation, generation);
                        assert_eq!(reply.state, State::Closed);
                        assert_eq!(reply.counts, counts(sum));
                    }
                });
            });
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_once_no_replica_syncs() {
    let Some(server) = Server::start() else {
        return;
    };
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let fleet = Fleet::builder(store)
        .sync_interval(Duration::from_millis(20))
        .lease(Duration::from_millis(100))
        .ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    let name = unique("ttl");
    let b = CircuitBreaker::builder(name.clone()).build().unwrap();
    fleet.join(&b).unwrap();
    until("synced", || status(&b).syncs >= 1).await;
    let mut admin = server.client().await;
    let key = RedisStore::key(&name);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 300, "the key has its time to live: {ttl}");
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut admin)
            .await
            .unwrap();
        if exists == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_true_joins_the_installed_fleet_even_when_built_before_it() {
    let Some(server) = Server::start() else {
        return;
    };
    let name = unique("installed");
    let early = CircuitBreaker::builder(name.clone())
        .shared(true)
        .build()
        .unwrap();
    let also_early = CircuitBreaker::builder(unique("installed"))
        .shared(true)
        .build()
        .unwrap();
    assert!(shared::status(&early).is_none(), "no fleet yet");
    assert!(shared::installed().is_none());
    let fleet = fleet(&server, "only", Duration::from_millis(20)).await;
    shared::install(fleet.clone()).unwrap();
    assert_eq!(
        shared::installed()
            .map(|f| f.replica().to_owned())
            .as_deref(),
        Some("only")
    );
    assert_eq!(
        shared::install(fleet.clone()),
        Err(SharedError::AlreadyInstalled)
    );
    let late = CircuitBreaker::builder(name.clone())
        .shared(true)
        .build()
        .unwrap();
    let local = CircuitBreaker::builder(name.clone()).build().unwrap();
    until("the shared breakers sync", || {
        shared::status(&early).is_some_and(|s| s.syncs >= 1)
            && shared::status(&also_early).is_some_and(|s| s.syncs >= 1)
            && shared::status(&late).is_some_and(|s| s.syncs >= 1)
    })
    .await;
    assert!(shared::status(&local).is_none(), "not asked to share");
    // A keyed set made from a shared template shares each key's breaker.
    let hosts: breaker_runtime::KeyedBreakers<String> =
        breaker_runtime::KeyedBreakers::new(CircuitBreaker::builder(unique("hosts")).shared(true))
            .unwrap();
    let host = hosts.get("10.0.0.7:8080");
    until("the key's breaker syncs", || {
        shared::status(&host).is_some_and(|s| s.syncs >= 1)
    })
    .await;
    assert_eq!(
        fleet.join(&early),
        Err(SharedError::AlreadyJoined {
            name: early.name().clone()
        })
    );
}

#[tokio::test]
async fn fleet_settings_are_checked() {
    let every = Duration::from_millis(100);
    let err = Fleet::builder(Nowhere)
        .sync_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        SharedError::Zero {
            setting: "sync_interval"
        }
    );
    let err = Fleet::builder(Nowhere)
        .sync_interval(every)
        .lease(every)
        .build()
        .unwrap_err();
    assert!(matches!(err, SharedError::LeaseTooShort { .. }));
    assert!(err.to_string().contains("twice `sync_interval`"), "{err}");
    let err = Fleet::builder(Nowhere)
        .lease(Duration::from_secs(5))
        .ttl(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(matches!(err, SharedError::TtlTooShort { .. }));
    // The bounds themselves are allowed.
    let edge = Fleet::builder(Nowhere)
        .sync_interval(every)
        .lease(every * 2)
        .ttl(every * 2)
        .timeout(every)
        .replica("edge")
        .build()
        .unwrap();
    assert_eq!(
        (
            edge.sync_interval(),
            edge.lease(),
            edge.ttl(),
            edge.timeout()
        ),
        (every, every * 2, every * 2, every)
    );
    assert_eq!(edge.replica(), "edge");
    // The defaults follow the sync interval.
    let slow = Fleet::builder(Nowhere)
        .sync_interval(Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(slow.lease(), Duration::from_secs(5), "ten sync intervals");
    assert_eq!(
        slow.timeout(),
        Duration::from_millis(2500),
        "five sync intervals"
    );
    assert_eq!(slow.ttl(), Duration::from_secs(600));
    let fast = Fleet::builder(Nowhere).build().unwrap();
    assert_eq!(fast.sync_interval(), Duration::from_millis(100));
    assert_eq!(fast.lease(), Duration::from_secs(1), "at least a second");
    assert_eq!(
        fast.timeout(),
        Duration::from_millis(500),
        "at least half a second"
    );
    // Absurd durations are taken as they are, never overflowed.
    let huge = Fleet::builder(Nowhere)
        .sync_interval(Duration::MAX)
        .lease(Duration::MAX)
        .ttl(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(huge.timeout(), Duration::MAX);
    // Replicas without an id get distinct ones.
    let other = Fleet::builder(Nowhere).build().unwrap();
    assert!(!fast.replica().is_empty());
    assert_ne!(fast.replica(), other.replica());
    // A store that never answers leaves the breaker alone: calls go on, errors are counted.
    let fleet = Fleet::builder(Nowhere)
        .sync_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("nowhere").build().unwrap();
    fleet.join(&b).unwrap();
    until("a failed sync", || status(&b).sync_errors >= 1).await;
    assert!(!status(&b).attached);
    b.try_acquire().unwrap().success();
}

/// A store that never answers is retried with backoff (doubling from the sync interval up
/// to 5 s), not at every interval. On tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn an_unreachable_store_is_retried_with_backoff() {
    let fleet = Fleet::builder(Nowhere)
        .sync_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder(unique("backoff")).build().unwrap();
    fleet.join(&b).unwrap();
    // Attempts at 10 ms, then after 20, 40, ... 2560 ms and 5 s: the tenth comes at about
    // 15 s. Every 10 ms it would be about 1,500.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let errors = status(&b).sync_errors;
    assert!((8..=11).contains(&errors), "{errors} attempts in 15 s");
}

#[test]
fn a_fleet_needs_a_runtime() {
    let err = Fleet::builder(Nowhere).build().unwrap_err();
    assert_eq!(err, SharedError::NoRuntime);
    assert!(err.to_string().contains("tokio runtime"));
}

/// A store that fails its first `fail` syncs, then answers as an empty closed fleet.
#[cfg(feature = "tracing")]
struct Flaky {
    calls: std::sync::Arc<AtomicU64>,
    fail: u64,
}

#[cfg(feature = "tracing")]
impl Store for Flaky {
    fn sync<'a>(&'a self, _: &'a str, _: &'a Report) -> shared::SyncFuture<'a> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fail = n < self.fail;
        Box::pin(async move {
            if fail {
                Err(shared::StoreError::new("connection refused"))
            } else {
                Ok(shared::Reply::new(
                    "e".into(),
                    1,
                    State::Closed,
                    Duration::ZERO,
                    0,
                    Counts::default(),
                    0,
                ))
            }
        })
    }
}

/// Counts `tracing` events of target `breaker` at WARN and INFO.
#[cfg(feature = "tracing")]
#[derive(Default)]
struct Events {
    warn: AtomicU64,
    info: AtomicU64,
}

#[cfg(feature = "tracing")]
impl tracing::Subscriber for &'static Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        if m.target() == "breaker" && *m.level() == tracing::Level::WARN {
            self.warn.fetch_add(1, Ordering::SeqCst);
        }
        if m.target() == "breaker" && *m.level() == tracing::Level::INFO {
            self.info.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// An outage is reported once, however many syncs fail, and the return once.
#[cfg(feature = "tracing")]
#[tokio::test]
async fn an_outage_is_reported_once_and_so_is_the_return() {
    let events: &'static Events = Box::leak(Box::default());
    let _guard = tracing::subscriber::set_default(events);
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let store = Flaky {
        calls: calls.clone(),
        fail: 4,
    };
    let fleet = Fleet::builder(store)
        .sync_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder(unique("outage")).build().unwrap();
    fleet.join(&b).unwrap();
    until("the store answers again, and again", || {
        status(&b).syncs >= 3
    })
    .await;
    assert_eq!(status(&b).sync_errors, 4);
    assert_eq!(
        events.warn.load(Ordering::SeqCst),
        1,
        "one warning for four failures"
    );
    assert_eq!(
        events.info.load(Ordering::SeqCst),
        1,
        "one note of the return"
    );
}
