//! What a replica tells the conductor: one line per event on its stdout, `<µs since the
//! run's start>\t<kind>\t<fields…>`. Every process reads the same wall clock, so the
//! conductor can put the three replicas' events on one timeline.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use async_breaker::State;

/// Microseconds since the Unix epoch, on the wall clock every process shares.
pub(crate) fn unix_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// One thing that happened in a replica.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The replica's breaker synced with Redis for the first time: it is in the fleet.
    Joined,
    /// A call went through and the service answered 200; `probe`: admitted half-open.
    Ok { probe: bool },
    /// A call went through and failed.
    Failed { probe: bool, why: String },
    /// The breaker refused the call without running it.
    Rejected { half_open: bool, why: String },
    /// The breaker changed state (from a `registry::on_state_change` listener).
    Changed {
        from: State,
        to: State,
        /// The cause's name (`Tripped`, `Shared`, ...).
        cause: String,
        /// The cause's own description.
        about: String,
        /// The counts of the generation that ended: this replica's own.
        successes: u64,
        failures: u64,
        /// When the new state is open: for how long.
        open_for_ms: Option<u64>,
    },
    /// The replica stops: how its breaker's syncing went (`shared::status`).
    Done {
        syncs: u64,
        sync_errors: u64,
        attached: bool,
    },
    /// The replica could not run.
    Error(String),
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Open => "open",
        State::HalfOpen => "half-open",
        _ => "closed",
    }
}

fn parse_state(word: &str) -> Option<State> {
    match word {
        "closed" => Some(State::Closed),
        "open" => Some(State::Open),
        "half-open" => Some(State::HalfOpen),
        _ => None,
    }
}

/// Text without the separators of the protocol.
fn clean(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

impl Event {
    fn encode(&self) -> String {
        let flag = |b: bool| if b { "1" } else { "0" };
        match self {
            Event::Joined => "joined".into(),
            Event::Ok { probe } => format!("ok\t{}", flag(*probe)),
            Event::Failed { probe, why } => format!("failed\t{}\t{}", flag(*probe), clean(why)),
            Event::Rejected { half_open, why } => {
                format!("rejected\t{}\t{}", flag(*half_open), clean(why))
            }
            Event::Changed {
                from,
                to,
                cause,
                about,
                successes,
                failures,
                open_for_ms,
            } => format!(
                "changed\t{}\t{}\t{}\t{}\t{successes}\t{failures}\t{}",
                state_word(*from),
                state_word(*to),
                clean(cause),
                clean(about),
                open_for_ms.map_or_else(|| "-".to_owned(), |ms| ms.to_string())
            ),
            Event::Done {
                syncs,
                sync_errors,
                attached,
            } => format!("done\t{syncs}\t{sync_errors}\t{}", flag(*attached)),
            Event::Error(message) => format!("error\t{}", clean(message)),
        }
    }

    /// One line as a replica wrote it: its time and the event.
    pub(crate) fn decode(line: &str) -> Option<(u64, Event)> {
        let fields: Vec<&str> = line.split('\t').collect();
        let t = fields.first()?.parse().ok()?;
        let flag = |i: usize| fields.get(i).map(|f| *f == "1");
        let text = |i: usize| fields.get(i).map(|f| (*f).to_owned());
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let event = match *fields.get(1)? {
            "joined" => Event::Joined,
            "ok" => Event::Ok { probe: flag(2)? },
            "failed" => Event::Failed {
                probe: flag(2)?,
                why: text(3)?,
            },
            "rejected" => Event::Rejected {
                half_open: flag(2)?,
                why: text(3)?,
            },
            "changed" => Event::Changed {
                from: parse_state(fields.get(2)?)?,
                to: parse_state(fields.get(3)?)?,
                cause: text(4)?,
                about: text(5)?,
                successes: number(6)?,
                failures: number(7)?,
                open_for_ms: number(8),
            },
            "done" => Event::Done {
                syncs: number(2)?,
                sync_errors: number(3)?,
                attached: flag(4)?,
            },
            "error" => Event::Error(text(2)?),
            _ => return None,
        };
        Some((t, event))
    }
}

/// A replica's side: writes events to stdout, stamped with the time since `start_us`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emitter {
    pub(crate) start_us: u64,
}

impl Emitter {
    pub(crate) fn emit(self, event: &Event) {
        let t = unix_us().saturating_sub(self.start_us);
        let mut out = std::io::stdout().lock();
        // The conductor is gone: nobody is left to tell anything, so stop quietly.
        if writeln!(out, "{t}\t{}", event.encode())
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(0);
        }
    }
}
