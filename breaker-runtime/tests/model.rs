//! Model-based property test: the real breaker and a small sequential reference model of
//! the rules in docs/semantics.md ("States", "Counts and generations"), driven by the
//! same random operations on tokio's paused clock, must agree on state, counts and errors
//! after every step.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use breaker_runtime::{BreakerError, CircuitBreaker, Counts, Permit, State, TripPolicy};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

// ---------------------------------------------------------------------------------------
// The reference model: plain fields, one step at a time, written from docs/semantics.md alone.

#[derive(Clone, Copy, Debug)]
enum Policy {
    Consecutive(u32),
    Ratio(f64, u64),
}

#[derive(Clone, Copy, Debug)]
struct ModelConfig {
    max_requests: u32,
    policy: Policy,
    reset: Duration,
    interval: Option<Duration>,
}

#[derive(Debug)]
struct Model {
    cfg: ModelConfig,
    state: State,
    generation: u64,
    started: Duration,
    now: Duration,
    counts: Counts,
}

impl Model {
    fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            state: State::Closed,
            generation: 0,
            started: Duration::ZERO,
            now: Duration::ZERO,
            counts: Counts::default(),
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
        self.started = self.now;
        self.counts = Counts::default();
    }

    /// The transitions that time alone causes, applied at every look.
    fn look(&mut self) -> State {
        match self.state {
            State::Open if self.now >= self.started + self.cfg.reset => {
                self.enter(State::HalfOpen);
            }
            State::Closed
                if self
                    .cfg
                    .interval
                    .is_some_and(|i| self.now >= self.started + i) =>
            {
                self.enter(State::Closed);
            }
            _ => {}
        }
        self.state
    }

    fn acquire(&mut self, name: &str) -> Result<u64, BreakerError> {
        match self.look() {
            State::Closed => {}
            State::Open => {
                return Err(BreakerError::Open {
                    name: name.to_owned().into(),
                    retry_after: self.started + self.cfg.reset - self.now,
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
        Ok(self.generation)
    }

    fn trips(&self) -> bool {
        let c = &self.counts;
        match self.cfg.policy {
            Policy::Consecutive(n) => c.consecutive_failures >= u64::from(n),
            Policy::Ratio(r, min) => {
                #[allow(clippy::cast_precision_loss)]
                let ratio = c.total_failures as f64 / (c.requests - c.total_ignored) as f64;
                c.requests >= min && ratio >= r
            }
        }
    }

    fn success(&mut self, generation: u64) {
        if generation != self.generation {
            return;
        }
        self.counts.total_successes += 1;
        self.counts.consecutive_successes += 1;
        self.counts.consecutive_failures = 0;
        if self.state == State::HalfOpen
            && self.counts.consecutive_successes >= u64::from(self.cfg.max_requests)
        {
            self.enter(State::Closed);
        }
    }

    fn failure(&mut self, generation: u64) {
        if generation != self.generation {
            return;
        }
        self.counts.total_failures += 1;
        self.counts.consecutive_failures += 1;
        self.counts.consecutive_successes = 0;
        if self.state == State::HalfOpen || (self.state == State::Closed && self.trips()) {
            self.enter(State::Open);
        }
    }

    fn ignore(&mut self, generation: u64) {
        if generation == self.generation {
            self.counts.total_ignored += 1;
        }
    }

    fn cancel(&mut self, generation: u64) {
        if generation == self.generation {
            self.counts.requests -= 1;
        }
    }

    /// The next instant at which time alone changes something, if any.
    fn deadline(&self) -> Option<Duration> {
        match self.state {
            State::Open => Some(self.started + self.cfg.reset),
            State::Closed => self.cfg.interval.map(|i| self.started + i),
            State::HalfOpen => None,
        }
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
    /// Move to the model's next deadline, plus -1, 0 or +1 nanoseconds.
    ToDeadline(i8),
    Look,
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
        2 => (-1i8..=1).prop_map(Op::ToDeadline),
        1 => Just(Op::Look),
    ]
}

fn config() -> impl Strategy<Value = ModelConfig> {
    let policy = prop_oneof![
        (1u32..5).prop_map(Policy::Consecutive),
        (1u32..=10, 1u64..6).prop_map(|(r, m)| Policy::Ratio(f64::from(r) / 10.0, m)),
    ];
    (1u32..4, policy, 1u64..30, proptest::option::of(1u64..30)).prop_map(
        |(max_requests, policy, reset, interval)| ModelConfig {
            max_requests,
            policy,
            reset: Duration::from_millis(reset),
            interval: interval.map(Duration::from_millis),
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
    };
    let mut b = CircuitBreaker::builder(name)
        .max_requests(cfg.max_requests)
        .reset_timeout(cfg.reset)
        .trip_policy(policy);
    if let Some(i) = cfg.interval {
        b = b.interval(i);
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

fn run(cfg: ModelConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let breaker = build(cfg);
        let name = breaker.name().to_string();
        let mut model = Model::new(cfg);
        let mut permits: Vec<(Permit<'_>, u64)> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Acquire => {
                    let real = breaker.try_acquire();
                    let expected = model.acquire(&name);
                    match (real, expected) {
                        (Ok(permit), Ok(generation)) => permits.push((permit, generation)),
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
                Op::Success(i) => {
                    if let Some((p, g)) = pick(&mut permits, *i) {
                        p.success();
                        model.success(g);
                    }
                }
                Op::Failure(i) => {
                    if let Some((p, g)) = pick(&mut permits, *i) {
                        p.failure();
                        model.failure(g);
                    }
                }
                Op::Ignore(i) => {
                    if let Some((p, g)) = pick(&mut permits, *i) {
                        p.ignore();
                        model.ignore(g);
                    }
                }
                Op::Panic(i) => {
                    if let Some((p, g)) = pick(&mut permits, *i) {
                        let unwound = catch_unwind(AssertUnwindSafe(move || {
                            let _in_flight = p;
                            std::panic::panic_any(InjectedPanic);
                        }));
                        prop_assert!(unwound.is_err());
                        model.failure(g);
                    }
                }
                Op::Cancel(i) => {
                    if let Some((p, g)) = pick(&mut permits, *i) {
                        drop(p);
                        model.cancel(g);
                    }
                }
                Op::Advance(ns) => {
                    let d = Duration::from_nanos(*ns);
                    tokio::time::advance(d).await;
                    model.now += d;
                }
                Op::ToDeadline(delta) => {
                    if let Some(deadline) = model.deadline() {
                        let target = match delta {
                            -1 => deadline.saturating_sub(Duration::from_nanos(1)),
                            0 => deadline,
                            _ => deadline + Duration::from_nanos(1),
                        };
                        if target > model.now {
                            let d = target - model.now;
                            tokio::time::advance(d).await;
                            model.now += d;
                        }
                    }
                }
                Op::Look => {}
            }
            // Every step ends with a look at state and counts, as a caller would take.
            prop_assert_eq!(
                breaker.state(),
                model.look(),
                "state after step {}: {:?}",
                step,
                op
            );
            prop_assert_eq!(
                breaker.counts(),
                model.counts,
                "counts after step {}: {:?}",
                step,
                op
            );
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

proptest! {
    #![proptest_config(Config {
        cases: 512,
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
