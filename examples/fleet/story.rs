//! The conductor's record of the run: every replica's events as they arrive, printed as one
//! timeline in time order, and the checks of the story at the end.

use std::time::Duration;

use async_breaker::State;

use crate::event::{Event, unix_us};
use crate::{OPEN_FOR, PROBES, REPLICAS, SYNC_INTERVAL, TRIP_AFTER};

/// Scheduling slack allowed on top of one sync interval for the other replicas to open
/// (three processes, Redis and the service share a machine that may be busy).
pub(crate) const SLACK: Duration = Duration::from_millis(150);

/// How long a line waits before it is printed, so that lines from the three replicas
/// (which arrive through three pipes) come out in time order.
const SETTLE_US: u64 = 150_000;

/// Prints one line; when stdout is gone (`fleet | head`) the run ends quietly.
pub(crate) fn say(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Who a timeline line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Replica(usize),
    Service,
    Example,
}

/// A state change a replica reported.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) t: u64,
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) cause: String,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
}

/// Everything one replica reported.
#[derive(Debug, Default)]
pub(crate) struct Replica {
    pub(crate) joined: Option<u64>,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) rejected: u64,
    /// Probe calls: when, and whether they succeeded.
    pub(crate) probes: Vec<(u64, bool)>,
    pub(crate) changes: Vec<Change>,
    /// Successful calls (not probes) made closed after the service was healed.
    pub(crate) ok_after_close: u64,
    /// `(syncs, sync errors, attached)` from its last words.
    pub(crate) done: Option<(u64, u64, bool)>,
    pub(crate) errors: Vec<String>,
    /// Its stdout closed: the process is gone or going.
    pub(crate) ended: bool,
    state: Option<State>,
    rejection_told: bool,
}

impl Replica {
    /// Its state as its last reported change left it (closed before any).
    pub(crate) fn state(&self) -> State {
        self.state.unwrap_or(State::Closed)
    }

    /// Its first change to `to` at or after `since`.
    pub(crate) fn first_change(&self, to: State, since: u64) -> Option<&Change> {
        self.changes.iter().find(|c| c.to == to && c.t >= since)
    }
}

/// The run as the conductor saw it.
#[derive(Debug)]
pub(crate) struct Story {
    start_us: u64,
    pub(crate) replicas: [Replica; REPLICAS],
    /// When the service started failing replica 1's requests, and when it was healed.
    pub(crate) failing_since: Option<u64>,
    pub(crate) healed_at: Option<u64>,
    /// The replicas were asked to stop: their ending is no breakdown.
    pub(crate) stopping: bool,
    pending: Vec<(u64, Who, String)>,
}

fn ms(us: u64) -> String {
    format!("{}ms", us / 1000)
}

impl Story {
    pub(crate) fn new(start_us: u64) -> Story {
        Story {
            start_us,
            replicas: Default::default(),
            failing_since: None,
            healed_at: None,
            stopping: false,
            pending: Vec::new(),
        }
    }

    /// Microseconds since the start of the run.
    pub(crate) fn now(&self) -> u64 {
        unix_us().saturating_sub(self.start_us)
    }

    /// A line of the conductor's own, stamped now.
    pub(crate) fn note(&mut self, who: Who, text: impl Into<String>) -> u64 {
        let t = self.now();
        self.pending.push((t, who, text.into()));
        t
    }

    /// A banner for a new part of the story, after every line before it.
    pub(crate) fn part(&mut self, text: &str) {
        self.flush(true);
        say("");
        say(format!("── {text}"));
    }

    /// Prints the lines old enough that no earlier one can still be on its way; all of
    /// them with `all`.
    pub(crate) fn flush(&mut self, all: bool) {
        let horizon = self.now().saturating_sub(SETTLE_US);
        self.pending.sort_by_key(|(t, _, _)| *t);
        let ready = if all {
            self.pending.len()
        } else {
            self.pending.partition_point(|(t, _, _)| *t <= horizon)
        };
        for (t, who, text) in self.pending.drain(..ready) {
            #[allow(clippy::cast_precision_loss)]
            let secs = t as f64 / 1e6;
            let who = match who {
                Who::Replica(n) => format!("replica {n}"),
                Who::Service => "service".to_owned(),
                Who::Example => "example".to_owned(),
            };
            say(format!("{secs:>7.3}s  {who:<9}  {text}"));
        }
    }

    /// The trip of replica 1 after the failure began, if it has happened.
    pub(crate) fn trip(&self) -> Option<&Change> {
        let since = self.failing_since?;
        self.replicas[0].first_change(State::Open, since)
    }

    /// Takes in one event of replica `n` (1-based), with the timeline line it makes, if any.
    pub(crate) fn record(&mut self, n: usize, t: u64, event: Event) {
        let healed = self.healed_at.is_some();
        let trip_t = self.trip().map(|c| c.t);
        let r = &mut self.replicas[n - 1];
        let line = match event {
            Event::Joined => {
                r.joined = Some(t);
                Some("joined the fleet: its breaker's first sync with Redis is done".to_owned())
            }
            Event::Ok { probe } => {
                r.ok += 1;
                if probe {
                    r.probes.push((t, true));
                    Some(format!(
                        "probe call answered 200 (on one of the fleet's {PROBES} probe tokens)"
                    ))
                } else if healed && r.state() == State::Closed {
                    r.ok_after_close += 1;
                    (r.ok_after_close == 1).then(|| "calls go through again".to_owned())
                } else {
                    None
                }
            }
            Event::Failed { probe, why } => {
                r.failed += 1;
                if probe {
                    r.probes.push((t, false));
                }
                Some(format!(
                    "{} failed: {why} (failure {} of its own)",
                    if probe { "probe call" } else { "call" },
                    r.failed
                ))
            }
            Event::Rejected { half_open, why } => {
                r.rejected += 1;
                if r.rejection_told {
                    None
                } else {
                    r.rejection_told = true;
                    Some(if half_open {
                        format!(
                            "half-open, but no probe token for it at the moment: the fleet has {PROBES} for all replicas; calls refused at once"
                        )
                    } else {
                        format!("refuses calls at once, the service never sees them ({why})")
                    })
                }
            }
            Event::Changed {
                from,
                to,
                cause,
                about,
                successes,
                failures,
                open_for_ms,
            } => {
                r.state = Some(to);
                r.rejection_told = false;
                let mut text = format!("{from} -> {to}  [{cause}: {about}]");
                if to == State::Open {
                    text.push_str(&format!(
                        "; its own counts: {successes} ok, {failures} failed"
                    ));
                    if let Some(ms) = open_for_ms {
                        text.push_str(&format!("; open for {:.1}s", ms as f64 / 1000.0));
                    }
                    if n != 1
                        && let Some(trip) = trip_t
                    {
                        text.push_str(&format!(
                            "; {} after replica 1 tripped",
                            ms(t.saturating_sub(trip))
                        ));
                    }
                }
                r.changes.push(Change {
                    t,
                    from,
                    to,
                    cause,
                    successes,
                    failures,
                });
                Some(text)
            }
            Event::Done {
                syncs,
                sync_errors,
                attached,
            } => {
                r.done = Some((syncs, sync_errors, attached));
                Some(format!(
                    "stops: {syncs} syncs with Redis, {sync_errors} failed, {}",
                    if attached { "attached" } else { "detached" }
                ))
            }
            Event::Error(message) => {
                r.errors.push(message.clone());
                Some(format!("ERROR: {message}"))
            }
        };
        if let Some(text) = line {
            self.pending.push((t, Who::Replica(n), text));
        }
    }

    /// Something a replica printed that is not an event.
    pub(crate) fn stray(&mut self, n: usize, text: String) {
        let t = self.now();
        self.pending.push((t, Who::Replica(n), text));
    }

    /// Every replica has joined the fleet and called the service successfully a few times.
    pub(crate) fn warmed_up(&self) -> bool {
        self.replicas
            .iter()
            .all(|r| r.joined.is_some() && r.ok >= 5)
    }

    /// Every replica is open.
    pub(crate) fn all_open(&self) -> bool {
        self.replicas.iter().all(|r| r.state() == State::Open)
    }

    /// Every replica closed after being open, and has made calls since.
    pub(crate) fn all_closed_again(&self) -> bool {
        self.replicas
            .iter()
            .all(|r| r.state() == State::Closed && r.ok_after_close >= 5)
    }

    /// A replica is gone before it was asked to stop, or could not run.
    pub(crate) fn broken(&self) -> bool {
        !self.stopping
            && self
                .replicas
                .iter()
                .any(|r| r.ended || !r.errors.is_empty())
    }

    /// A line with each replica's calls so far.
    pub(crate) fn traffic(&mut self) {
        let tally: Vec<String> = self
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "replica {}: {} ok, {} failed, {} refused",
                    i + 1,
                    r.ok,
                    r.failed,
                    r.rejected
                )
            })
            .collect();
        self.note(Who::Example, format!("calls so far: {}", tally.join("; ")));
    }

    /// The replicas' totals, one row each.
    pub(crate) fn table(&self, hits: [u64; REPLICAS]) {
        say(format!(
            "{:<9}  {:>6}  {:>6}  {:>8}  {:>6}  {:>13}  {:>5}  {:>11}",
            "", "200s", "failed", "refused", "probes", "service saw", "syncs", "sync errors"
        ));
        for (i, r) in self.replicas.iter().enumerate() {
            let (syncs, errors) = r.done.map_or(("-".into(), "-".into()), |(s, e, _)| {
                (s.to_string(), e.to_string())
            });
            say(format!(
                "{:<9}  {:>6}  {:>6}  {:>8}  {:>6}  {:>13}  {:>5}  {:>11}",
                format!("replica {}", i + 1),
                r.ok,
                r.failed,
                r.rejected,
                r.probes.len(),
                hits[i],
                syncs,
                errors
            ));
        }
    }

    /// The story's claims, each with whether it held.
    pub(crate) fn checks(
        &self,
        hits: [u64; REPLICAS],
        exits: &[Option<i32>],
    ) -> Vec<(bool, String)> {
        let mut checks = Vec::new();
        let r = &self.replicas;
        let failing_since = self.failing_since.unwrap_or(u64::MAX);
        checks.push((
            r.iter()
                .all(|r| r.joined.is_some_and(|j| j < failing_since) && r.ok >= 5),
            "every replica joined the fleet and got 200s from the service before the failure"
                .to_owned(),
        ));

        let trip = self.trip();
        checks.push((
            trip.is_some_and(|c| {
                c.from == State::Closed
                    && c.cause == "Tripped"
                    && c.failures >= u64::from(TRIP_AFTER)
            }),
            match trip {
                Some(c) => format!(
                    "replica 1 tripped on its own failures: closed -> open, cause {}, {} failures counted (the policy: {TRIP_AFTER} in a row)",
                    c.cause, c.failures
                ),
                None => "replica 1 tripped on its own failures".to_owned(),
            },
        ));

        let limit = SYNC_INTERVAL + SLACK;
        for (i, replica) in r.iter().enumerate().skip(1) {
            let n = i + 1;
            let opened = replica.first_change(State::Open, failing_since);
            let claim = match (trip, opened) {
                (Some(t), Some(o)) => {
                    let after = Duration::from_micros(o.t.saturating_sub(t.t));
                    (
                        o.cause == "Shared"
                            && o.failures == 0
                            && o.successes > 0
                            && replica.failed == 0
                            && after <= limit,
                        format!(
                            "replica {n} opened without a failure of its own: cause {}, its counts {} ok / {} failed, {}ms after replica 1 tripped (limit: one sync interval, {}ms, + {}ms slack)",
                            o.cause,
                            o.successes,
                            o.failures,
                            after.as_millis(),
                            SYNC_INTERVAL.as_millis(),
                            SLACK.as_millis()
                        ),
                    )
                }
                _ => (
                    false,
                    format!("replica {n} opened by following the fleet after replica 1 tripped"),
                ),
            };
            checks.push(claim);
        }
        checks.push((
            r[1].failed == 0 && r[2].failed == 0,
            format!(
                "replicas 2 and 3 never saw a failed call in the whole run ({} and {} failures)",
                r[1].failed, r[2].failed
            ),
        ));

        let first_half_open = r
            .iter()
            .filter_map(|r| trip.and_then(|t| r.first_change(State::HalfOpen, t.t)))
            .map(|c| c.t)
            .min();
        let healed_first = match (self.healed_at, first_half_open) {
            (Some(h), Some(f)) => h < f,
            _ => false,
        };
        checks.push((
            healed_first
                && trip.zip(first_half_open).is_some_and(|(t, f)| {
                    Duration::from_micros(f - t.t) + Duration::from_millis(100) >= OPEN_FOR
                }),
            match trip.zip(first_half_open) {
                Some((t, f)) => format!(
                    "the fleet stayed open for its open period ({:?}) and probed only then: first half-open {:.2}s after the trip, after the service was healed",
                    OPEN_FOR,
                    (f - t.t) as f64 / 1e6
                ),
                None => "the fleet went half-open after its open period".to_owned(),
            },
        ));

        let probes: Vec<(u64, bool)> = r.iter().flat_map(|r| r.probes.iter().copied()).collect();
        let per_replica: Vec<String> = r.iter().map(|r| r.probes.len().to_string()).collect();
        checks.push((
            !probes.is_empty()
                && probes.len() <= PROBES as usize
                && probes.iter().all(|(_, ok)| *ok),
            format!(
                "the whole fleet sent {} probe calls ({} per replica), at most max_requests = {PROBES} for all replicas together, not {PROBES} each; all answered 200",
                probes.len(),
                per_replica.join(" / ")
            ),
        ));
        checks.push((
            self.all_closed_again()
                && r.iter().all(|r| {
                    r.changes
                        .last()
                        .is_some_and(|c| c.from == State::HalfOpen && c.to == State::Closed)
                }),
            format!(
                "every replica closed (half-open -> closed: {}) and its calls went through again",
                r.iter()
                    .map(|r| r.changes.last().map_or("-".to_owned(), |c| c.cause.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        checks.push((
            r.iter().zip(hits).all(|(r, h)| r.ok + r.failed == h),
            format!(
                "refused calls never reached the service: it saw exactly the calls each breaker admitted ({})",
                r.iter()
                    .zip(hits)
                    .map(|(r, h)| format!("{h} = {}", r.ok + r.failed))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        checks.push((
            r.iter().all(|r| r.done.is_some_and(|(_, _, attached)| attached))
                && exits.iter().all(|e| *e == Some(0)),
            format!(
                "every replica was still attached to Redis at the end and exited cleanly (exit codes {:?})",
                exits
            ),
        ));
        checks
    }
}
