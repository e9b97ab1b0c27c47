//! The demo: a cascading failure, and the same caller kept alive by `#[circuit_breaker]`.
//!
//! ```text
//! cargo run --example demo            # about 25 seconds
//! cargo run --example demo -- --help  # phase lengths, load, slowness
//! ```
//!
//! A real HTTP service on 127.0.0.1 plays four phases: healthy, slow, down, recovered.
//! Two callers send it the same load over real HTTP (reqwest):
//!
//! - `unprotected` calls it directly. When the service turns slow, each call waits for it
//!   while new ones keep arriving, so requests pile up in flight: the sockets, tasks and
//!   memory that run out first in a cascading failure.
//! - `protected` is the same call under `#[circuit_breaker(timeout = "250ms",
//!   max_requests = 3, reset_timeout = "2s", fallback = last_good_price, ...)]` (see
//!   `callers.rs`). Slow calls are cut at 250ms, five failures in a row open the breaker,
//!   and while it is open the fallback answers at once with the last good price.
//!
//! The timeline shows both callers' requests in flight, every breaker transition with
//! its reason (from the `on_state_change` hook), a table per phase, and a final summary.
//! The demo then checks what it claims and exits non-zero if any claim failed.

mod callers;
mod options;
mod service;
mod stats;
mod timeline;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, sleep};

use crate::callers::DEADLINE;
use crate::options::{Command, Options};
use crate::service::{Phase, Service};
use crate::stats::{Caller, Outcome};
use crate::timeline::{Style, paint, say};

/// How long before a phase change new calls pause (see the phase loop).
const QUIET: Duration = Duration::from_millis(50);
/// Scheduling slack allowed on top of the deadline when checking it was kept.
const SLACK: Duration = Duration::from_millis(150);

#[tokio::main]
async fn main() -> ExitCode {
    match options::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            say!("{}", options::HELP.trim_end());
            ExitCode::SUCCESS
        }
        Ok(Command::Run(opts)) => match run(&opts).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(2)
        }
    }
}

/// What the service does in each phase, for the timeline.
fn describe(phase: Phase, opts: &Options) -> String {
    match phase {
        Phase::Healthy => "answers 200 at once".into(),
        Phase::Slow => format!("answers only after {:?}", opts.slow_delay),
        Phase::Down => "answers 500 at once".into(),
        Phase::Recovered => "answers 200 at once again, with a new price".into(),
    }
}

async fn run(opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let service = Service::start(opts.slow_delay).await?;
    let url: Arc<str> = format!("http://{}/price", service.addr()).into();
    // Both callers get the same kind of client. The unprotected one has nothing else to
    // bound a call, so its client timeout is what lets the demo end.
    let plain_client = callers::client(opts.client_timeout);
    let protected_client = callers::client(opts.client_timeout);

    // One call each before the clock starts: checks the service answers, and creates the
    // protected caller's breaker (lazily, on its first call) so its settings can be shown.
    callers::fetch_price_unprotected(&plain_client, &url).await?;
    callers::fetch_price(&protected_client, &url).await?;
    let breaker =
        async_breaker::registry::get("pricing").ok_or("breaker \"pricing\" not registered")?;
    let settings = breaker.settings();
    if settings.timeout != Some(DEADLINE) {
        return Err(format!(
            "the demo expects a 250ms deadline, the breaker has {:?}",
            settings.timeout
        )
        .into());
    }

    timeline::init();
    banner(opts, &url, &settings);

    let unprotected = Arc::new(Caller::new());
    let protected = Arc::new(Caller::new());
    let mut calls = JoinSet::new();
    let mut load = interval(Duration::from_secs_f64(1.0 / f64::from(opts.rate)));
    let mut tick = interval(opts.tick);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    // Each bar cell is worth enough requests that the expected pile-up fits in 30 cells.
    let expected = f64::from(opts.rate) * opts.slow_delay.as_secs_f64();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_cell = ((expected / 30.0).ceil() as usize).max(1);

    let mut reported = [false; 4];
    for (number, phase) in Phase::ALL.into_iter().enumerate() {
        service.set_phase(phase);
        unprotected.enter(phase.index());
        protected.enter(phase.index());
        timeline::phase(number + 1, phase.name(), &describe(phase, opts));
        report_settled(number, &mut reported, &unprotected, &protected, true);
        // New calls pause for the last moment of each phase, so that every call started in
        // a phase reaches the service before the service changes its behaviour. The load
        // interval makes up the paused ticks at the start of the next phase.
        let quiet = sleep(opts.phases[number].saturating_sub(QUIET));
        let end = sleep(opts.phases[number]);
        tokio::pin!(quiet, end);
        let mut quiet_now = false;
        loop {
            tokio::select! {
                () = &mut end => break,
                () = &mut quiet, if !quiet_now => quiet_now = true,
                _ = load.tick(), if !quiet_now => {
                    // The same arrival for both callers: one request each.
                    launch(&mut calls, &unprotected, phase, {
                        let (client, url) = (plain_client.clone(), Arc::clone(&url));
                        async move { callers::fetch_price_unprotected(&client, &url).await }
                    });
                    launch(&mut calls, &protected, phase, {
                        let (client, url) = (protected_client.clone(), Arc::clone(&url));
                        async move { callers::fetch_price(&client, &url).await }
                    });
                }
                _ = tick.tick() => {
                    timeline::ticker(unprotected.in_flight(), protected.in_flight(), per_cell);
                    report_settled(number, &mut reported, &unprotected, &protected, false);
                }
            }
            while calls.try_join_next().is_some() {}
        }
    }

    let open = unprotected.in_flight() + protected.in_flight();
    timeline::line(&format!(
        "{} the load stops; waiting for the {open} calls still in flight",
        paint(Style::Cyan, "■")
    ));
    loop {
        tokio::select! {
            joined = calls.join_next() => if joined.is_none() { break },
            _ = tick.tick() => {
                timeline::ticker(unprotected.in_flight(), protected.in_flight(), per_cell);
                report_settled(4, &mut reported, &unprotected, &protected, false);
            }
        }
    }
    report_settled(4, &mut reported, &unprotected, &protected, false);

    let (u, p) = (unprotected.total(), protected.total());
    timeline::summary(&u, &p);

    // Hang up every client connection, stop the service, and make sure the port is free.
    drop((plain_client, protected_client, breaker));
    let addr = service.addr();
    service.shutdown().await;
    let port_closed = tokio::net::TcpStream::connect(addr).await.is_err();

    let slow = Phase::Slow.index();
    let (u_slow, p_slow) = (unprotected.phase(slow), protected.phase(slow));
    let transitions = timeline::transitions();
    let saw = |from, to| transitions.contains(&(from, to));
    use async_breaker::State::{Closed, HalfOpen, Open};
    let checks = [
        (
            u_slow.peak_in_flight >= 2 * p_slow.peak_in_flight.max(1),
            format!(
                "in the slow phase the unprotected caller piled up {} requests in flight, the protected one at most {}",
                u_slow.peak_in_flight, p_slow.peak_in_flight
            ),
        ),
        (
            p.slowest().is_some_and(|d| d <= DEADLINE + SLACK),
            format!(
                "every protected call returned by its 250ms deadline, give or take scheduling (slowest {}, limit {})",
                timeline::ms(p.slowest()),
                timeline::ms(Some(DEADLINE + SLACK))
            ),
        ),
        (
            p_slow.fallback > 0,
            format!(
                "while the service was slow, the fallback served the last good price {} times",
                p_slow.fallback
            ),
        ),
        (
            saw(Closed, Open) && saw(Open, HalfOpen) && saw(HalfOpen, Closed),
            format!(
                "the breaker went closed -> open -> half-open -> closed ({} transitions)",
                transitions.len()
            ),
        ),
        (
            timeline::breaker_state() == Closed,
            "the breaker ended closed once the service recovered".to_owned(),
        ),
        (
            u.pending() + p.pending() == 0,
            "every call finished; none was left in flight".to_owned(),
        ),
        (
            port_closed,
            format!("the service is shut down: nothing listens on {addr} any more"),
        ),
    ];
    say!("");
    let mut failed = 0;
    for (ok, claim) in &checks {
        if *ok {
            say!("{} {claim}", paint(Style::Green, "✓"));
        } else {
            failed += 1;
            say!("{} {claim}", paint(Style::Red, "✗ NOT TRUE:"));
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of the demo's claims did not hold; see above").into());
    }
    Ok(())
}

/// Starts one call for `caller` in `phase`, recording its outcome and latency.
fn launch<F>(calls: &mut JoinSet<()>, caller: &Arc<Caller>, phase: Phase, call: F)
where
    F: Future<Output = Result<callers::Quote, callers::FetchError>> + Send + 'static,
{
    let caller = Arc::clone(caller);
    calls.spawn(async move {
        let started = caller.start(phase.index());
        let result = call.await;
        caller.finish(started, Outcome::of(&result));
    });
}

/// Prints the table of every phase before `current` whose calls have all finished. At a
/// phase change (`announce`), says which phases are still waiting for calls.
fn report_settled(
    current: usize,
    reported: &mut [bool; 4],
    unprotected: &Caller,
    protected: &Caller,
    announce: bool,
) {
    for (i, phase) in Phase::ALL.into_iter().enumerate().take(current) {
        if reported[i] {
            continue;
        }
        let (u, p) = (unprotected.phase(i), protected.phase(i));
        if u.pending() + p.pending() == 0 {
            timeline::phase_table(phase.name(), &u, &p);
            reported[i] = true;
        } else if announce && i + 1 == current {
            timeline::line(&paint(
                Style::Dim,
                format!(
                    "  (results of phase {} follow once the calls it started finish; still in flight: {} unprotected, {} protected)",
                    phase.name(),
                    u.pending(),
                    p.pending()
                ),
            ));
        }
    }
}

fn banner(opts: &Options, url: &str, settings: &async_breaker::Settings) {
    let policy = match settings.trip_policy {
        async_breaker::TripPolicy::ConsecutiveFailures(n) => {
            format!("trips after {n} failures in a row")
        }
        _ => "custom trip policy".into(),
    };
    let total: Duration = opts.phases.iter().sum();
    say!(
        "{}\n",
        paint(
            Style::Bold,
            "breaker demo: a dependency turns slow, then fails; one caller piles up, the other keeps answering"
        )
    );
    say!("  service      {url}  (real HTTP, in this process)");
    say!(
        "  load         {} requests/s from each caller, arriving on schedule even while earlier ones wait",
        opts.rate
    );
    say!(
        "  unprotected  plain reqwest call; client timeout {:?}, there only so the demo ends",
        opts.client_timeout
    );
    say!(
        "  protected    the same call under #[circuit_breaker]: timeout {}, max_requests {}, reset_timeout {:?},",
        timeline::ms(settings.timeout),
        settings.max_requests,
        settings.reset_timeout
    );
    say!("               {policy}; fallback: the last good price");
    say!(
        "  phases       healthy {:?}, slow {:?}, down {:?}, recovered {:?} ({:?} in all)\n",
        opts.phases[0],
        opts.phases[1],
        opts.phases[2],
        opts.phases[3],
        total
    );
}
