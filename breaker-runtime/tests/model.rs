//! Model-based property test: the real breaker and a small sequential reference model of
//! the rules in docs/semantics.md ("States", "Counts and generations", "Windows", "Slow
//! calls", "Backoff and jitter"), driven by the same random operations on tokio's paused
//! clock, must agree after every step on state, counts, `retry_after`, the open attempt,
//! the errors of rejected calls and every state change reported to listeners.
//!
//! The breaker is built with a random window (fixed, with or without interval; rolling,
//! in a few buckets; or a count window), an optional slow-call threshold (with an
//! optional slow-call ratio), and an optional backoff with or without jitter. A jittered
//! open period is random: the model takes the period the breaker reports for each opening,
//! checks that it lies in the range the rules give for that attempt, and then holds the
//! breaker to it (it must half-open exactly when that period is up).

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{
    BreakerError, Cause, CircuitBreaker, Counts, Jitter, Outcome, Permit, State, StateChange,
    TripPolicy, Window, registry,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

// ---------------------------------------------------------------------------------------
// The reference model: plain fields, one step at a time, written from docs/semantics.md alone.

#[derive(Clone, Copy, Debug)]
enum Policy {
    Consecutive(u32),
    Ratio(f64, u64),
    /// `TripPolicy::Custom(two_slow_in_a_row)`.
    TwoSlowInARow,
}

/// A custom policy that looks at slow calls only: it can fire only if the policy is asked
/// after a slow call.
fn two_slow_in_a_row(c: &Counts) -> bool {
    c.consecutive_slow_calls >= 2
}

#[derive(Clone, Copy, Debug)]
enum WindowKind {
    Fixed(Option<Duration>),
    /// Buckets of `width` (whole milliseconds), `buckets` of them.
    Rolling {
        width: Duration,
        buckets: u32,
    },
    Calls(u32),
}

#[derive(Clone, Copy, Debug)]
struct ModelConfig {
    max_requests: u32,
    policy: Policy,
    reset: Duration,
    window: WindowKind,
    slow: Option<Duration>,
    slow_ratio: Option<(f64, u64)>,
    /// A whole factor (so that every period is a whole number of nanoseconds) and the cap.
    backoff: Option<(u32, Duration)>,
    jitter: Jitter,
}

/// What the model remembers of an admitted call.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    generation: u64,
    state: State,
    /// The rolling-window bucket (index within the generation) current at admission.
    bucket: u64,
    admitted: Duration,
}

/// The counts of one rolling-window bucket.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    requests: u64,
    successes: u64,
    failures: u64,
    ignored: u64,
    slow: u64,
}

/// A state change as listeners hear of it, without the name.
#[derive(Clone, Debug, PartialEq)]
struct Change {
    from: State,
    to: State,
    cause: Cause,
    counts: Counts,
    retry_after: Option<Duration>,
    attempt: u32,
}

impl From<&StateChange> for Change {
    fn from(c: &StateChange) -> Change {
        Change {
            from: c.from,
            to: c.to,
            cause: c.cause,
            counts: c.counts,
            retry_after: c.retry_after,
            attempt: c.attempt,
        }
    }
}

#[derive(Debug)]
struct Model {
    cfg: ModelConfig,
    state: State,
    generation: u64,
    started: Duration,
    now: Duration,
    /// The open period of the current open generation.
    period: Duration,
    attempt: u32,
    /// The generation's own counts; the consecutive counts are always these.
    counts: Counts,
    /// A closed breaker's rolling window: its buckets by index in the generation.
    buckets: BTreeMap<u64, Bucket>,
    /// A closed breaker's count window: (failed, slow) of the last calls, oldest first.
    ring: VecDeque<(bool, bool)>,
    /// State changes the model made and has not compared yet.
    changes: Vec<Change>,
    /// The jittered periods the breaker drew, in order, for the model to check and use.
    draws: VecDeque<Option<Duration>>,
    /// A rule the breaker broke that the model noticed on the way (a draw out of range).
    broken: Option<String>,
}

impl Model {
    fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            state: State::Closed,
            generation: 0,
            started: Duration::ZERO,
            now: Duration::ZERO,
            period: Duration::ZERO,
            attempt: 0,
            counts: Counts::default(),
            buckets: BTreeMap::new(),
            ring: VecDeque::new(),
            changes: Vec::new(),
            draws: VecDeque::new(),
            broken: None,
        }
    }

    /// The bucket width and count of a rolling window that applies now (closed only).
    fn rolling(&self) -> Option<(Duration, u32)> {
        match (self.state, self.cfg.window) {
            (State::Closed, WindowKind::Rolling { width, buckets }) => Some((width, buckets)),
            _ => None,
        }
    }

    /// The index of the bucket current now.
    fn current_bucket(&self, width: Duration) -> u64 {
        u64::try_from((self.now - self.started).as_nanos() / width.as_nanos()).unwrap()
    }

    /// Bucket `k` leaves the window when `now >= start + (k + B)·w`.
    fn in_window(&self, k: u64) -> bool {
        match self.rolling() {
            Some((width, buckets)) => self.current_bucket(width) < k + u64::from(buckets),
            None => true,
        }
    }

    /// The counts as the rules define them now: a closed breaker's over its window.
    fn view(&self) -> Counts {
        let mut c = self.counts;
        if self.state != State::Closed {
            return c;
        }
        match self.cfg.window {
            WindowKind::Fixed(_) => {}
            WindowKind::Rolling { .. } => {
                let mut sum = Bucket::default();
                for (_, b) in self.buckets.iter().filter(|(k, _)| self.in_window(**k)) {
                    sum.requests += b.requests;
                    sum.successes += b.successes;
                    sum.failures += b.failures;
                    sum.ignored += b.ignored;
                    sum.slow += b.slow;
                }
                c.requests = sum.requests;
                c.total_successes = sum.successes;
                c.total_failures = sum.failures;
                c.total_ignored = sum.ignored;
                c.slow_calls = sum.slow;
            }
            WindowKind::Calls(_) => {
                let finished = c.total_successes + c.total_failures + c.total_ignored;
                let in_flight = c.requests - finished;
                let failures = self.ring.iter().filter(|(f, _)| *f).count() as u64;
                c.requests = self.ring.len() as u64 + in_flight;
                c.total_failures = failures;
                c.total_successes = self.ring.len() as u64 - failures;
                c.total_ignored = 0;
                c.slow_calls = self.ring.iter().filter(|(_, s)| *s).count() as u64;
            }
        }
        c
    }

    /// The open period of attempt `k`: `min(reset · F^(k-1), max)`, drawn with the jitter.
    fn open_period(&mut self, k: u32) -> Duration {
        let d = match self.cfg.backoff {
            None => self.cfg.reset,
            Some((factor, max)) => factor
                .checked_pow(k - 1)
                .and_then(|m| self.cfg.reset.checked_mul(m))
                .map_or(max, |grown| grown.min(max)),
        };
        let low = match self.cfg.jitter {
            Jitter::None => return d,
            Jitter::Full => Duration::ZERO,
            _ => d / 2,
        };
        let drawn = match self.draws.pop_front() {
            Some(reported) => reported.unwrap_or(Duration::ZERO),
            None => {
                self.broken
                    .get_or_insert(format!("attempt {k}: the breaker reported no open period"));
                d
            }
        };
        if !(low..d).contains(&drawn) {
            self.broken.get_or_insert(format!(
                "attempt {k}: drew {drawn:?} with {:?} jitter, outside [{low:?}, {d:?})",
                self.cfg.jitter
            ));
        }
        drawn
    }

    /// A new generation in `to`; reported to listeners when `cause` is given.
    fn enter(&mut self, to: State, cause: Option<Cause>) {
        let from = self.state;
        let ended = self.view();
        self.attempt = match (from, to) {
            (_, State::Closed) => 0,
            (State::Closed, State::Open) => 1,
            (State::HalfOpen, State::Open) => self.attempt + 1,
            _ => self.attempt,
        };
        self.period = if to == State::Open {
            self.open_period(self.attempt)
        } else {
            Duration::ZERO
        };
        if let Some(cause) = cause {
            self.changes.push(Change {
                from,
                to,
                cause,
                counts: ended,
                retry_after: (to == State::Open && !self.period.is_zero()).then_some(self.period),
                attempt: self.attempt,
            });
        }
        self.state = to;
        self.generation += 1;
        self.started = self.now;
        self.counts = Counts::default();
        self.buckets.clear();
        self.ring.clear();
    }

    /// The transitions that time alone causes, applied at every look.
    fn look(&mut self) -> State {
        match self.state {
            State::Open if self.now >= self.started + self.period => {
                self.enter(State::HalfOpen, Some(Cause::ResetTimeoutElapsed));
            }
            State::Closed => {
                if let WindowKind::Fixed(Some(i)) = self.cfg.window
                    && self.now >= self.started + i
                {
                    self.enter(State::Closed, None);
                }
            }
            _ => {}
        }
        self.state
    }

    fn retry_after(&self) -> Option<Duration> {
        (self.state == State::Open).then(|| self.started + self.period - self.now)
    }

    fn acquire(&mut self, name: &str) -> Result<Ticket, BreakerError> {
        match self.look() {
            State::Closed => {}
            State::Open => {
                return Err(BreakerError::Open {
                    name: name.to_owned().into(),
                    retry_after: self.started + self.period - self.now,
                });
            }
            State::HalfOpen => {
                if self.counts.requests - self.counts.total_ignored
                    >= u64::from(self.cfg.max_requests)
                {
                    return Err(BreakerError::HalfOpenFull {
                        name: name.to_owned().into(),
                    });
                }
            }
        }
        self.counts.requests += 1;
        let mut bucket = 0;
        if let Some((width, _)) = self.rolling() {
            bucket = self.current_bucket(width);
            self.buckets.entry(bucket).or_default().requests += 1;
        }
        Ok(Ticket {
            generation: self.generation,
            state: self.state,
            bucket,
            admitted: self.now,
        })
    }

    /// Whether the failure policy trips on `c`.
    fn policy_trips(&self, c: &Counts) -> bool {
        match self.cfg.policy {
            Policy::Consecutive(n) => c.consecutive_failures >= u64::from(n),
            Policy::Ratio(r, min) => {
                let counted = c.requests - c.total_ignored;
                #[allow(clippy::cast_precision_loss)]
                let ratio = if counted == 0 {
                    0.0
                } else {
                    c.total_failures as f64 / counted as f64
                };
                c.requests >= min && ratio >= r
            }
            Policy::TwoSlowInARow => two_slow_in_a_row(c),
        }
    }

    /// Whether the slow-call ratio trips on `c`.
    fn slow_ratio_trips(&self, c: &Counts) -> bool {
        self.cfg.slow_ratio.is_some_and(|(r, min)| {
            let counted = c.requests - c.total_ignored;
            #[allow(clippy::cast_precision_loss)]
            let ratio = if counted == 0 {
                0.0
            } else {
                c.slow_calls as f64 / counted as f64
            };
            c.requests >= min && ratio >= r
        })
    }

    fn finish(&mut self, ticket: Ticket, outcome: Outcome) {
        if ticket.generation != self.generation {
            return;
        }
        assert_eq!(ticket.state, self.state, "a generation keeps its state");
        let rolling = self.rolling().is_some();
        // A call whose bucket has left the window is dropped entirely.
        if rolling && !self.in_window(ticket.bucket) {
            return;
        }
        let failed = match outcome {
            Outcome::Ignored => {
                self.counts.total_ignored += 1;
                if rolling {
                    self.buckets.entry(ticket.bucket).or_default().ignored += 1;
                }
                return;
            }
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = self
            .cfg
            .slow
            .is_some_and(|s| self.now - ticket.admitted >= s);
        let c = &mut self.counts;
        if failed {
            c.total_failures += 1;
            c.consecutive_failures += 1;
            c.consecutive_successes = 0;
        } else {
            c.total_successes += 1;
            c.consecutive_successes += 1;
            c.consecutive_failures = 0;
        }
        if slow {
            c.slow_calls += 1;
            c.consecutive_slow_calls += 1;
        } else {
            c.consecutive_slow_calls = 0;
        }
        if rolling {
            let b = self.buckets.entry(ticket.bucket).or_default();
            if failed {
                b.failures += 1;
            } else {
                b.successes += 1;
            }
            b.slow += u64::from(slow);
        }
        if let (WindowKind::Calls(n), State::Closed) = (self.cfg.window, self.state) {
            self.ring.push_back((failed, slow));
            if self.ring.len() > n as usize {
                self.ring.pop_front();
            }
        }
        match self.state {
            State::HalfOpen if failed => self.enter(State::Open, Some(Cause::ProbeFailed)),
            State::HalfOpen if slow => self.enter(State::Open, Some(Cause::ProbeSlow)),
            State::HalfOpen
                if self.counts.consecutive_successes >= u64::from(self.cfg.max_requests) =>
            {
                self.enter(State::Closed, Some(Cause::ProbesSucceeded));
            }
            // Consulted after each failure and each slow call, on the windowed counts.
            State::Closed if failed || slow => {
                let c = self.view();
                if self.policy_trips(&c) {
                    self.enter(State::Open, Some(Cause::Tripped));
                } else if self.slow_ratio_trips(&c) {
                    self.enter(State::Open, Some(Cause::SlowCallsTripped));
                }
            }
            _ => {}
        }
    }

    fn cancel(&mut self, ticket: Ticket) {
        if ticket.generation != self.generation {
            return;
        }
        self.counts.requests -= 1;
        if self.rolling().is_some() {
            self.buckets.entry(ticket.bucket).or_default().requests -= 1;
        }
    }

    /// The instants after now at which time alone changes something: the end of the open
    /// period, the interval, the next bucket boundary, a call in flight turning slow.
    fn deadlines<'t>(&self, in_flight: impl Iterator<Item = &'t Ticket>) -> Vec<Duration> {
        let mut at = Vec::new();
        match (self.state, self.cfg.window) {
            (State::Open, _) => at.push(self.started + self.period),
            (State::Closed, WindowKind::Fixed(Some(i))) => at.push(self.started + i),
            (State::Closed, WindowKind::Rolling { width, .. }) => {
                let next = u32::try_from(self.current_bucket(width) + 1).unwrap();
                at.push(self.started + width * next);
            }
            _ => {}
        }
        if let Some(slow) = self.cfg.slow {
            at.extend(
                in_flight
                    .filter(|t| t.generation == self.generation)
                    .map(|t| t.admitted + slow),
            );
        }
        at.retain(|d| *d > self.now);
        at.sort();
        at.dedup();
        at
    }
}

// ---------------------------------------------------------------------------------------
// Operations.

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Success(usize),
    Failure(usize),
    Ignore(usize),
    /// The call holding this permit panics.
    Panic(usize),
    /// The call holding this permit is dropped.
    Cancel(usize),
    Advance(u64),
    /// Move to one of the model's next deadlines (the nearest, mostly), plus -1, 0 or +1
    /// nanoseconds.
    ToDeadline(i8, usize),
    Look,
    /// A call through `CircuitBreaker::call` that finishes at its first poll: admitted and
    /// recorded within one poll, at one clock reading.
    Call(Outcome),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Success),
        3 => any::<usize>().prop_map(Op::Failure),
        1 => any::<usize>().prop_map(Op::Ignore),
        1 => any::<usize>().prop_map(Op::Panic),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (0u64..40_000_000).prop_map(Op::Advance),
        3 => (-1i8..=1, prop_oneof![3 => Just(0usize), 1 => any::<usize>()])
            .prop_map(|(delta, which)| Op::ToDeadline(delta, which)),
        1 => Just(Op::Look),
        2 => prop_oneof![
            Just(Outcome::Success),
            Just(Outcome::Failure),
            Just(Outcome::Ignored)
        ]
        .prop_map(Op::Call),
    ]
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> impl Strategy<Value = ModelConfig> {
    let policy = prop_oneof![
        3 => (1u32..5).prop_map(Policy::Consecutive),
        3 => (1u32..=10, 1u64..6).prop_map(|(r, m)| Policy::Ratio(f64::from(r) / 10.0, m)),
        1 => Just(Policy::TwoSlowInARow),
    ];
    let window = prop_oneof![
        1 => Just(WindowKind::Fixed(None)),
        1 => (1u64..30).prop_map(|i| WindowKind::Fixed(Some(ms(i)))),
        2 => (1u64..10, 1u32..5).prop_map(|(w, buckets)| WindowKind::Rolling { width: ms(w), buckets }),
        2 => (1u32..6).prop_map(WindowKind::Calls),
    ];
    let slow = proptest::option::weighted(
        0.6,
        (
            1u64..20,
            proptest::option::of((1u32..=10, 1u64..6).prop_map(|(r, m)| (f64::from(r) / 10.0, m))),
        ),
    );
    let backoff = proptest::option::of((1u32..4, 0u64..60));
    let jitter = prop_oneof![
        3 => Just(Jitter::None),
        1 => Just(Jitter::Full),
        1 => Just(Jitter::Equal),
    ];
    ((1u32..4, policy, 1u64..30), window, slow, backoff, jitter).prop_map(
        |((max_requests, policy, reset), window, slow, backoff, jitter)| ModelConfig {
            max_requests,
            policy,
            reset: ms(reset),
            window,
            slow: slow.map(|(s, _)| ms(s)),
            slow_ratio: slow.and_then(|(_, r)| r),
            backoff: backoff.map(|(factor, extra)| (factor, ms(reset + extra))),
            jitter,
        },
    )
}

static CASE: AtomicU64 = AtomicU64::new(0);

fn build(cfg: ModelConfig) -> CircuitBreaker {
    let name = format!("model-{}", CASE.fetch_add(1, Ordering::Relaxed));
    let policy = match cfg.policy {
        Policy::Consecutive(n) => TripPolicy::ConsecutiveFailures(n),
        Policy::Ratio(ratio, min_requests) => TripPolicy::FailureRatio {
            ratio,
            min_requests,
        },
        Policy::TwoSlowInARow => TripPolicy::Custom(two_slow_in_a_row),
    };
    let window = match cfg.window {
        WindowKind::Fixed(interval) => Window::Fixed { interval },
        WindowKind::Rolling { width, buckets } => Window::Rolling {
            length: width * buckets,
            buckets,
        },
        WindowKind::Calls(calls) => Window::Calls { calls },
    };
    let mut b = CircuitBreaker::builder(name)
        .max_requests(cfg.max_requests)
        .reset_timeout(cfg.reset)
        .trip_policy(policy)
        .window(window)
        .jitter(cfg.jitter);
    if let Some(s) = cfg.slow {
        b = b.slow_call(s);
    }
    if let Some((ratio, min_requests)) = cfg.slow_ratio {
        b = b.slow_call_ratio(ratio, min_requests);
    }
    if let Some((factor, max)) = cfg.backoff {
        b = b.backoff(f64::from(factor), max);
    }
    b.build().unwrap()
}

fn pick<T>(items: &mut Vec<T>, i: usize) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        let n = items.len();
        Some(items.remove(i % n))
    }
}

/// The state changes of one breaker, as its listener heard them; the listener is removed
/// when this is dropped.
struct Heard {
    id: registry::ListenerId,
    changes: Arc<Mutex<Vec<Change>>>,
}

impl Heard {
    fn listen(name: String) -> Heard {
        let changes: Arc<Mutex<Vec<Change>>> = Arc::default();
        let log = Arc::clone(&changes);
        let id = registry::on_state_change(move |change| {
            if *change.name == *name {
                log.lock().unwrap().push(Change::from(change));
            }
        });
        Heard { id, changes }
    }

    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap())
    }
}

impl Drop for Heard {
    fn drop(&mut self) {
        registry::remove_listener(self.id);
    }
}

async fn advance(model: &mut Model, d: Duration) {
    tokio::time::advance(d).await;
    model.now += d;
}

fn run(cfg: ModelConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let breaker = build(cfg);
        let name = breaker.name().to_string();
        let heard = Heard::listen(name.clone());
        let mut model = Model::new(cfg);
        let mut permits: Vec<(Permit<'_>, Ticket)> = Vec::new();
        let mut real_changes = Vec::new();
        // The breaker acts first; what it reported so far is taken before the model acts,
        // so that the model can use the open periods the breaker drew.
        let collect = |model: &mut Model, real_changes: &mut Vec<Change>| {
            for change in heard.take() {
                if change.to == State::Open && cfg.jitter != Jitter::None {
                    model.draws.push_back(change.retry_after);
                }
                real_changes.push(change);
            }
        };
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Acquire => {
                    let real = breaker.try_acquire();
                    collect(&mut model, &mut real_changes);
                    let expected = model.acquire(&name);
                    match (real, expected) {
                        (Ok(permit), Ok(ticket)) => {
                            prop_assert_eq!(permit.state(), ticket.state);
                            permits.push((permit, ticket));
                        }
                        (Err(real), Err(expected)) => prop_assert_eq!(real, expected),
                        (real, expected) => prop_assert!(
                            false,
                            "step {}: breaker {:?}, model {:?}",
                            step,
                            real.map(|p| p.state()),
                            expected
                        ),
                    }
                }
                Op::Success(i) | Op::Failure(i) | Op::Ignore(i) => {
                    if let Some((p, t)) = pick(&mut permits, *i) {
                        let outcome = match op {
                            Op::Success(_) => Outcome::Success,
                            Op::Failure(_) => Outcome::Failure,
                            _ => Outcome::Ignored,
                        };
                        p.record(outcome);
                        collect(&mut model, &mut real_changes);
                        model.finish(t, outcome);
                    }
                }
                Op::Panic(i) => {
                    if let Some((p, t)) = pick(&mut permits, *i) {
                        let unwound = catch_unwind(AssertUnwindSafe(move || {
                            let _in_flight = p;
                            std::panic::panic_any(InjectedPanic);
                        }));
                        prop_assert!(unwound.is_err());
                        collect(&mut model, &mut real_changes);
                        model.finish(t, Outcome::Failure);
                    }
                }
                Op::Call(outcome) => {
                    let outcome = *outcome;
                    let real = breaker
                        .call_with(async { Ok::<(), BreakerError>(()) }, move |_| outcome)
                        .await;
                    collect(&mut model, &mut real_changes);
                    match (real, model.acquire(&name)) {
                        (Ok(()), Ok(ticket)) => model.finish(ticket, outcome),
                        (Err(real), Err(expected)) => prop_assert_eq!(real, expected),
                        (real, expected) => prop_assert!(
                            false,
                            "step {}: call {:?}, model {:?}",
                            step,
                            real,
                            expected.map(|t| t.state)
                        ),
                    }
                }
                Op::Cancel(i) => {
                    if let Some((p, t)) = pick(&mut permits, *i) {
                        drop(p);
                        model.cancel(t);
                    }
                }
                Op::Advance(ns) => advance(&mut model, Duration::from_nanos(*ns)).await,
                Op::ToDeadline(delta, which) => {
                    let deadlines = model.deadlines(permits.iter().map(|(_, t)| t));
                    if !deadlines.is_empty() {
                        let deadline = deadlines[which % deadlines.len()];
                        let target = match delta {
                            -1 => deadline - Duration::from_nanos(1),
                            0 => deadline,
                            _ => deadline + Duration::from_nanos(1),
                        };
                        if target > model.now {
                            let d = target - model.now;
                            advance(&mut model, d).await;
                        }
                    }
                }
                Op::Look => {}
            }
            // Every step ends with a look at the breaker, as a caller would take.
            let seen = breaker.snapshot();
            collect(&mut model, &mut real_changes);
            prop_assert_eq!(
                seen.state,
                model.look(),
                "state after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                seen.counts,
                model.view(),
                "counts after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                seen.retry_after,
                model.retry_after(),
                "retry_after after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                seen.attempt,
                model.attempt,
                "attempt after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                std::mem::take(&mut real_changes),
                std::mem::take(&mut model.changes),
                "state changes in step {}: {:?}",
                step,
                op
            );
            if let Some(broken) = model.broken.take() {
                prop_assert!(false, "step {}: {:?}: {}", step, op, broken);
            }
        }
        Ok(())
    })
}

/// The payload of the panics this test injects, kept quiet by the panic hook.
struct InjectedPanic;

fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<InjectedPanic>() {
            default(info);
        }
    }));
}

/// 1024 cases, or `PROPTEST_CASES` when set.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel("proptest-regressions"))),
        ..Config::default()
    })]

    #[test]
    fn the_breaker_behaves_like_the_model(cfg in config(), ops in proptest::collection::vec(op(), 1..120)) {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(quiet_injected_panics);
        run(cfg, &ops)?;
    }
}
