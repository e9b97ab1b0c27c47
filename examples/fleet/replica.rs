//! One replica of the service: a process of its own (this binary with `--replica <id>`),
//! as a real deployment would have. It joins the fleet on Redis, builds its breaker with
//! `shared(true)`, and calls the pricing service every [`CALL_EVERY`] until its stdin
//! closes, reporting every call and every transition to the conductor (see `event.rs`).

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use async_breaker::shared::{self, Fleet, RedisStore};
use async_breaker::{BreakerError, CircuitBreaker, State, TripPolicy, registry};
use tokio::sync::oneshot;
use tokio::time::{MissedTickBehavior, interval};

use crate::event::{Emitter, Event};
use crate::service::REPLICA_HEADER;
use crate::{CALL_EVERY, OPEN_FOR, PROBES, SYNC_INTERVAL, TRIP_AFTER};

/// What the conductor tells a replica on its command line.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) id: usize,
    pub(crate) redis: String,
    pub(crate) service: String,
    pub(crate) breaker: String,
    pub(crate) start_us: u64,
}

pub(crate) async fn run(args: Args) -> ExitCode {
    let out = Emitter {
        start_us: args.start_us,
    };
    match serve(&args, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.emit(&Event::Error(e.to_string()));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args, out: Emitter) -> Result<(), Box<dyn std::error::Error>> {
    // At start-up: the fleet, on the store every replica uses, under an id of its own.
    let store = RedisStore::connect(&args.redis).await?;
    let fleet = Fleet::builder(store)
        .replica(format!("replica-{}", args.id))
        .sync_interval(SYNC_INTERVAL)
        .build()?;
    shared::install(fleet)?;

    // Every transition of this replica's breaker goes to the conductor, with its cause
    // and the counts of the generation it ended (this replica's own calls).
    let name = args.breaker.clone();
    registry::on_state_change(move |change| {
        if change.name.as_str() != name {
            return;
        }
        out.emit(&Event::Changed {
            from: change.from,
            to: change.to,
            cause: format!("{:?}", change.cause),
            about: change.cause.describe().to_owned(),
            successes: change.counts.total_successes,
            failures: change.counts.total_failures,
            open_for_ms: change
                .retry_after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        });
    });

    // The breaker: the same settings in every replica, and `shared(true)`.
    let breaker = CircuitBreaker::builder(args.breaker.clone())
        .trip_policy(TripPolicy::ConsecutiveFailures(TRIP_AFTER))
        .reset_timeout(OPEN_FOR)
        .max_requests(PROBES)
        .shared(true)
        .build()?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy() // loopback only: never through an HTTP_PROXY
        .build()?;

    // The conductor closes our stdin to stop us.
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = stop_tx.send(());
    });

    let mut tick = interval(CALL_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut joined = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if !joined && shared::status(&breaker).is_some_and(|s| s.attached) {
            joined = true;
            out.emit(&Event::Joined);
        }
        call(&breaker, &client, &args.service, args.id, out).await;
    }

    let status = shared::status(&breaker).ok_or("the breaker never joined the fleet")?;
    out.emit(&Event::Done {
        syncs: status.syncs,
        sync_errors: status.sync_errors,
        attached: status.attached,
    });
    Ok(())
}

/// One call of the service through the breaker, reported to the conductor. It takes a
/// permit and records the outcome by hand (what `CircuitBreaker::call` does for you) so
/// that it can tell which calls were half-open probes, and report a call before the
/// transition its outcome causes.
async fn call(
    breaker: &CircuitBreaker,
    client: &reqwest::Client,
    url: &str,
    id: usize,
    out: Emitter,
) {
    let permit = match breaker.try_acquire() {
        Ok(permit) => permit,
        Err(e) => {
            return out.emit(&Event::Rejected {
                half_open: matches!(e, BreakerError::HalfOpenFull { .. }),
                why: e.to_string(),
            });
        }
    };
    let probe = permit.state() == State::HalfOpen;
    let answer = client
        .get(url)
        .header(REPLICA_HEADER, id.to_string())
        .send()
        .await;
    let why = match answer {
        Ok(response) if response.status().is_success() => {
            out.emit(&Event::Ok { probe });
            return permit.success();
        }
        Ok(response) => format!("the service answered {}", response.status()),
        Err(e) => format!("request failed: {e}"),
    };
    out.emit(&Event::Failed { probe, why });
    permit.failure();
}
