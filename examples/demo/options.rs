//! Command-line options, parsed by hand from `std::env::args` (no argument-parser crate
//! for one small example).

use std::time::Duration;

pub(crate) const HELP: &str = "\
breaker demo: a dependency slows down and then fails; one caller without a circuit
breaker piles up requests, the same caller under #[circuit_breaker] keeps answering.

A real HTTP service runs on 127.0.0.1 (an ephemeral port) and plays four phases:
healthy (200 at once), slow (200 after --slow-delay), down (500 at once), recovered.
Two callers send it the same load: the same number of requests per second, arriving
on schedule whether or not earlier ones have finished, as users' requests do.

USAGE:
    cargo run --example demo [-- OPTIONS]

OPTIONS (durations in seconds, decimals allowed):
    --healthy SECS          length of the healthy phase              [default: 4]
    --slow SECS             length of the slow phase                 [default: 8]
    --down SECS             length of the down phase                 [default: 5]
    --recovered SECS        length of the recovered phase            [default: 5]
    --rate N                requests per second from EACH caller     [default: 40]
                            (the concurrent load; 1 to 200, and at most
                            500 requests piled up: rate x slow delay)
    --slow-delay SECS       how long a slow answer takes             [default: 5]
    --client-timeout SECS   the unprotected caller's own client timeout, there only so
                            that the demo ends                       [default: 10]
    --quick                 a short run: phases 1/3/2/3 s, slow delay 2s, 20 req/s,
                            client timeout 5s (scripts/examples.sh runs this in
                            CI); options after it still apply
    -h, --help              print this help

The protected caller's settings are in its attribute in examples/demo/callers.rs:
timeout 250ms, max_requests 3, reset_timeout 2s, trip after 5 consecutive failures.
Colour is used when stdout is a terminal and NO_COLOR is unset.
";

/// What the demo runs: phase lengths, load and the service's slowness.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Length of each phase, in the order of [`crate::service::Phase::ALL`].
    pub(crate) phases: [Duration; 4],
    /// Requests per second from each caller.
    pub(crate) rate: u32,
    /// How long the slow service takes to answer.
    pub(crate) slow_delay: Duration,
    /// The unprotected caller's client timeout.
    pub(crate) client_timeout: Duration,
    /// How often the in-flight ticker prints.
    pub(crate) tick: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            phases: [secs(4.0), secs(8.0), secs(5.0), secs(5.0)],
            rate: 40,
            slow_delay: secs(5.0),
            client_timeout: secs(10.0),
            tick: secs(1.0),
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// What the command line asked for.
#[derive(Debug)]
pub(crate) enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name. Accepts `--key value` and `--key=value`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut opts = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        match key.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--quick" => {
                opts.phases = [secs(1.0), secs(3.0), secs(2.0), secs(3.0)];
                opts.rate = 20;
                opts.slow_delay = secs(2.0);
                opts.client_timeout = secs(5.0);
                opts.tick = secs(0.5);
                continue;
            }
            _ => {}
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{key} needs a value; see --help"))
        };
        match key.as_str() {
            "--healthy" => opts.phases[0] = seconds(&key, &value()?)?,
            "--slow" => opts.phases[1] = seconds(&key, &value()?)?,
            "--down" => opts.phases[2] = seconds(&key, &value()?)?,
            "--recovered" => opts.phases[3] = seconds(&key, &value()?)?,
            "--slow-delay" => opts.slow_delay = seconds(&key, &value()?)?,
            "--client-timeout" => opts.client_timeout = seconds(&key, &value()?)?,
            "--rate" => {
                let v = value()?;
                opts.rate = v
                    .parse()
                    .ok()
                    .filter(|r| (1..=200).contains(r))
                    .ok_or_else(|| {
                        format!("--rate takes a whole number from 1 to 200, not {v:?}")
                    })?;
            }
            _ => return Err(format!("unknown option {arg:?}; see --help")),
        }
    }
    validate(&opts)?;
    Ok(Command::Run(opts))
}

fn seconds(key: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{key} takes seconds, a number above 0 and up to 600, not {v:?}"))
}

/// Rejects settings under which the demo could not show what it claims.
fn validate(opts: &Options) -> Result<(), String> {
    if opts.slow_delay < secs(0.5) {
        return Err(
            "--slow-delay must be at least 0.5s: the breaker's deadline is 250ms, \
                    and a service faster than that never trips it"
                .into(),
        );
    }
    let pile_up = f64::from(opts.rate) * opts.slow_delay.min(opts.client_timeout).as_secs_f64();
    if pile_up > 500.0 {
        return Err(format!(
            "--rate times --slow-delay would pile up {pile_up:.0} requests in flight, two sockets \
             each; keep it at 500 or below, which fits the usual limit of 1024 open files"
        ));
    }
    // The breaker needs five failures in a row to trip (the fifth call starts 4 arrivals
    // after the first and fails 250ms later), and once the service recovers it stays open
    // for up to 2s before three probe calls can close it.
    let arrival = 1.0 / f64::from(opts.rate);
    let trip = 4.0 * arrival + 0.25 + 0.5;
    if opts.phases[1].as_secs_f64() < trip {
        return Err(format!(
            "--slow must be at least {trip:.1}s at this rate, long enough for the breaker to trip"
        ));
    }
    let close = 2.0 + 3.0 * arrival + 0.5;
    if opts.phases[3].as_secs_f64() < close {
        return Err(format!(
            "--recovered must be at least {close:.1}s at this rate: the breaker stays open for 2s \
             (reset_timeout), then needs 3 probe calls to close"
        ));
    }
    Ok(())
}
