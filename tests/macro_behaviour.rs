//! Behaviour of `#[circuit_breaker]` functions, on tokio's paused clock.
//!
//! Every test has its own functions and breaker names: the breakers are process-wide
//! statics and the registry is global, so tests must not share them.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_breaker::{BreakerError, Counts, Outcome, State, circuit_breaker, registry};
use tokio::time::{Instant, advance};

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("the dependency is down")]
    Down,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Parse(#[from] std::num::ParseIntError),
}

fn state(name: &str) -> State {
    registry::get(name)
        .expect("the breaker is registered")
        .state()
}

fn counts(name: &str) -> Counts {
    registry::get(name)
        .expect("the breaker is registered")
        .counts()
}

// --- trip, rejection, `?` ---------------------------------------------------------------

static TRIP_RUNS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "behaviour::trip", consecutive_failures = 3)]
async fn parse_quantity(text: &str) -> Result<u32, TestError> {
    TRIP_RUNS.fetch_add(1, Ordering::SeqCst);
    let n: u32 = text.parse()?;
    if n == 0 {
        return Err(TestError::Down);
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_trip_and_rejections_skip_the_body() {
    assert_eq!(parse_quantity("7").await.unwrap(), 7);
    // `?` and `return` keep their meaning, and both errors count as failures.
    assert!(matches!(
        parse_quantity("x").await,
        Err(TestError::Parse(_))
    ));
    assert!(matches!(parse_quantity("0").await, Err(TestError::Down)));
    assert_eq!(state("behaviour::trip"), State::Closed);
    assert!(matches!(
        parse_quantity("y").await,
        Err(TestError::Parse(_))
    ));
    assert_eq!(state("behaviour::trip"), State::Open);

    let runs = TRIP_RUNS.load(Ordering::SeqCst);
    match parse_quantity("5").await {
        Err(TestError::Breaker(BreakerError::Open { name, retry_after })) => {
            assert_eq!(name, "behaviour::trip");
            assert_eq!(retry_after, Duration::from_secs(60));
        }
        other => panic!("expected an open-breaker rejection, got {other:?}"),
    }
    assert_eq!(
        TRIP_RUNS.load(Ordering::SeqCst),
        runs,
        "a rejected call must not run the body"
    );
}

// --- fallback ---------------------------------------------------------------------------

static FALLBACK_CALLS: Mutex<Vec<(String, u8)>> = Mutex::new(Vec::new());

#[circuit_breaker(name = "behaviour::fallback", consecutive_failures = 2, fallback = price_cached)]
async fn price_live(sku: &str, quantity: u8) -> Result<String, TestError> {
    if quantity == 0 {
        Err(TestError::Down)
    } else {
        Ok(format!("live {sku} x{quantity}"))
    }
}

async fn price_cached(sku: &str, quantity: u8) -> Result<String, TestError> {
    FALLBACK_CALLS
        .lock()
        .unwrap()
        .push((sku.to_owned(), quantity));
    Ok(format!("cached {sku} x{quantity}"))
}

#[tokio::test(start_paused = true)]
async fn fallback_is_served_with_the_same_arguments_only_when_rejected() {
    assert_eq!(price_live("a", 1).await.unwrap(), "live a x1");
    // Errors of admitted calls go to the caller, not to the fallback.
    for _ in 0..2 {
        assert!(matches!(price_live("a", 0).await, Err(TestError::Down)));
    }
    assert!(FALLBACK_CALLS.lock().unwrap().is_empty());
    assert_eq!(state("behaviour::fallback"), State::Open);

    assert_eq!(price_live("b", 3).await.unwrap(), "cached b x3");
    assert_eq!(
        *FALLBACK_CALLS.lock().unwrap(),
        [(String::from("b"), 3)],
        "the fallback gets the very arguments of the rejected call"
    );
}

// --- fallback on error ------------------------------------------------------------------

static ON_ERROR_REASONS: Mutex<Vec<(String, async_breaker::FallbackReason)>> =
    Mutex::new(Vec::new());

fn ignore_not_found(r: &Result<String, TestError>) -> Outcome {
    match r {
        Err(TestError::NotFound) => Outcome::Ignored,
        other => Outcome::of(other),
    }
}

#[circuit_breaker(
    name = "behaviour::fallback_on_error",
    timeout = "2s",
    consecutive_failures = 3,
    classify = ignore_not_found,
    fallback = stock_cached,
    fallback_on = "error",
    fallback_reason = true
)]
async fn stock_live(sku: String, delay: Duration, found: bool) -> Result<String, TestError> {
    tokio::time::sleep(delay).await;
    match (sku.as_str(), found) {
        (_, false) => Err(TestError::NotFound),
        ("down", true) => Err(TestError::Down),
        (sku, true) => Ok(format!("live {sku}")),
    }
}

async fn stock_cached(
    sku: String,
    _delay: Duration,
    _found: bool,
    reason: async_breaker::FallbackReason,
) -> Result<String, TestError> {
    ON_ERROR_REASONS.lock().unwrap().push((sku.clone(), reason));
    Ok(format!("cached {sku}"))
}

#[tokio::test(start_paused = true)]
async fn fallback_on_error_answers_failures_and_timeouts_after_recording_them() {
    use async_breaker::FallbackReason::{Failed, RejectedOpen, TimedOut};
    let quick = Duration::ZERO;
    assert_eq!(stock_live("a".into(), quick, true).await.unwrap(), "live a");
    assert!(
        matches!(
            stock_live("a".into(), quick, false).await,
            Err(TestError::NotFound)
        ),
        "an ignored outcome goes to the caller"
    );
    assert_eq!(
        stock_live("down".into(), quick, true).await.unwrap(),
        "cached down"
    );
    let slow = stock_live("slow".into(), Duration::from_secs(5), true);
    assert_eq!(slow.await.unwrap(), "cached slow");
    let counts = registry::get("behaviour::fallback_on_error")
        .unwrap()
        .counts();
    assert_eq!(counts.total_failures, 2, "both were recorded: {counts:?}");
    assert_eq!(counts.total_ignored, 1);
    assert_eq!(
        stock_live("down".into(), quick, true).await.unwrap(),
        "cached down"
    );
    assert_eq!(state("behaviour::fallback_on_error"), State::Open);
    assert_eq!(
        stock_live("b".into(), quick, true).await.unwrap(),
        "cached b"
    );
    let reasons: Vec<_> = ON_ERROR_REASONS.lock().unwrap().drain(..).collect();
    assert_eq!(
        reasons,
        [
            ("down".into(), Failed),
            ("slow".into(), TimedOut),
            ("down".into(), Failed),
            ("b".into(), RejectedOpen),
        ]
    );
}

// --- deadline ---------------------------------------------------------------------------

#[circuit_breaker(name = "behaviour::deadline", timeout = "2s", consecutive_failures = 2)]
async fn slow(delay: Duration) -> Result<(), TestError> {
    tokio::time::sleep(delay).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_deadline_is_a_failure() {
    slow(Duration::from_secs(1)).await.unwrap();

    let started = Instant::now();
    match slow(Duration::from_secs(30)).await {
        Err(TestError::Breaker(BreakerError::Timeout { name, after })) => {
            assert_eq!(name, "behaviour::deadline");
            assert_eq!(after, Duration::from_secs(2));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "dropped at the deadline"
    );
    let c = counts("behaviour::deadline");
    assert_eq!((c.total_failures, c.consecutive_failures), (1, 1));

    assert!(slow(Duration::from_secs(30)).await.is_err());
    assert_eq!(state("behaviour::deadline"), State::Open);
}

// --- half-open probing and recovery -----------------------------------------------------

#[circuit_breaker(
    name = "behaviour::half_open",
    consecutive_failures = 1,
    reset_timeout = "10s",
    max_requests = 2
)]
async fn probe(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn half_open_probes_close_the_breaker_or_reopen_it() {
    const NAME: &str = "behaviour::half_open";
    assert!(probe(true).await.is_err());
    assert_eq!(state(NAME), State::Open);

    advance(Duration::from_secs(9)).await;
    match probe(false).await {
        Err(TestError::Breaker(BreakerError::Open { retry_after, .. })) => {
            assert_eq!(retry_after, Duration::from_secs(1));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    advance(Duration::from_secs(1)).await;
    assert_eq!(state(NAME), State::HalfOpen);
    probe(false).await.unwrap();
    assert_eq!(state(NAME), State::HalfOpen, "one of two probes succeeded");
    probe(false).await.unwrap();
    assert_eq!(
        state(NAME),
        State::Closed,
        "max_requests successes close it"
    );

    // A failed probe re-opens the breaker at once.
    assert!(probe(true).await.is_err());
    advance(Duration::from_secs(10)).await;
    assert!(matches!(probe(true).await, Err(TestError::Down)));
    assert_eq!(state(NAME), State::Open);
}

#[circuit_breaker(
    name = "behaviour::budget",
    consecutive_failures = 1,
    reset_timeout = "5s",
    max_requests = 1
)]
async fn held(fail: bool, hold: Duration) -> Result<(), TestError> {
    tokio::time::sleep(hold).await;
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn half_open_budget_rejects_extra_probes_and_dropped_probes_give_it_back() {
    const NAME: &str = "behaviour::budget";
    assert!(held(true, Duration::ZERO).await.is_err());
    advance(Duration::from_secs(5)).await;

    // The first probe is in flight: the second is rejected.
    let first = tokio::spawn(held(false, Duration::from_secs(1)));
    tokio::task::yield_now().await;
    match held(false, Duration::ZERO).await {
        Err(TestError::Breaker(BreakerError::HalfOpenFull { name })) => assert_eq!(name, NAME),
        other => panic!("expected a full half-open budget, got {other:?}"),
    }
    first.await.unwrap().unwrap();
    assert_eq!(state(NAME), State::Closed);

    // A probe dropped before it finishes records nothing and frees its slot.
    assert!(held(true, Duration::ZERO).await.is_err());
    advance(Duration::from_secs(5)).await;
    let dropped = tokio::time::timeout(
        Duration::from_millis(1),
        held(false, Duration::from_secs(1)),
    )
    .await;
    assert!(dropped.is_err(), "the probe was dropped in flight");
    assert_eq!(state(NAME), State::HalfOpen);
    held(false, Duration::ZERO).await.unwrap();
    assert_eq!(state(NAME), State::Closed);
}

#[circuit_breaker(
    name = "behaviour::interval",
    consecutive_failures = 2,
    interval = "10s"
)]
async fn sometimes(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn interval_clears_the_counts_while_closed() {
    assert!(sometimes(true).await.is_err());
    advance(Duration::from_secs(10)).await;
    assert!(sometimes(true).await.is_err());
    assert_eq!(state("behaviour::interval"), State::Closed);
    assert!(sometimes(true).await.is_err());
    assert_eq!(state("behaviour::interval"), State::Open);
}

// --- names ------------------------------------------------------------------------------

#[circuit_breaker(name = "behaviour::shared", consecutive_failures = 2)]
async fn shared_writer(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[circuit_breaker(name = "behaviour::shared", consecutive_failures = 2)]
async fn shared_reader() -> Result<u8, TestError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn functions_with_one_name_share_one_breaker() {
    assert_eq!(shared_reader().await.unwrap(), 1);
    for _ in 0..2 {
        assert!(shared_writer(true).await.is_err());
    }
    match shared_reader().await {
        Err(TestError::Breaker(BreakerError::Open { name, .. })) => {
            assert_eq!(name, "behaviour::shared");
        }
        other => panic!("the shared breaker should be open, got {other:?}"),
    }
    // One breaker, registered once. (Only this breaker is looked at: a look moves open
    // breakers along by the looking runtime's clock, and other tests pause their own.)
    let shared = registry::get("behaviour::shared").expect("registered");
    assert_eq!(shared.state(), async_breaker::State::Open);
    assert_eq!(shared.counts(), async_breaker::Counts::default());
}

#[circuit_breaker(name = "behaviour::conflict", consecutive_failures = 2)]
async fn conflict_first() -> Result<(), TestError> {
    Ok(())
}

#[circuit_breaker(name = "behaviour::conflict", consecutive_failures = 3)]
async fn conflict_second() -> Result<(), TestError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn one_name_with_different_settings_is_misconfigured_at_first_use() {
    conflict_first().await.unwrap();
    for _ in 0..2 {
        match conflict_second().await {
            Err(TestError::Breaker(e @ BreakerError::Misconfigured { .. })) => {
                let message = e.to_string();
                assert!(message.contains("\"behaviour::conflict\""), "{message}");
                assert!(message.contains("the trip policy"), "{message}");
            }
            other => panic!("expected a misconfiguration, got {other:?}"),
        }
    }
    conflict_first().await.unwrap();
}

#[circuit_breaker(name = "behaviour::zero_timeout", timeout = Duration::ZERO)]
async fn zero_timeout() -> Result<(), TestError> {
    Ok(())
}

#[circuit_breaker(reset_timeout = Duration::from_secs(0))]
async fn zero_reset_default_name() -> Result<(), TestError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn invalid_duration_expressions_are_misconfigured_at_first_use() {
    match zero_timeout().await {
        Err(TestError::Breaker(BreakerError::Misconfigured { name, reason })) => {
            assert_eq!(name, "behaviour::zero_timeout");
            assert!(
                reason.contains("timeout must be longer than zero"),
                "{reason}"
            );
        }
        other => panic!("expected a misconfiguration, got {other:?}"),
    }
    match zero_reset_default_name().await {
        Err(TestError::Breaker(BreakerError::Misconfigured { name, reason })) => {
            assert_eq!(name, "macro_behaviour::zero_reset_default_name");
            assert!(reason.contains("reset_timeout"), "{reason}");
        }
        other => panic!("expected a misconfiguration, got {other:?}"),
    }
}

static MISCONFIGURED_BODIES: AtomicU32 = AtomicU32::new(0);
static MISCONFIGURED_FALLBACKS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    name = "behaviour::misconfigured_with_fallback",
    timeout = Duration::ZERO,
    fallback = misconfigured_fallback
)]
async fn misconfigured_with_fallback(fail: bool) -> Result<u32, TestError> {
    MISCONFIGURED_BODIES.fetch_add(1, Ordering::SeqCst);
    if fail { Err(TestError::Down) } else { Ok(1) }
}

async fn misconfigured_fallback(_fail: bool) -> Result<u32, TestError> {
    MISCONFIGURED_FALLBACKS.fetch_add(1, Ordering::SeqCst);
    Ok(0)
}

#[circuit_breaker(
    name = "behaviour::misconfigured_on_error",
    timeout = Duration::ZERO,
    fallback = misconfigured_fallback,
    fallback_on = "error"
)]
async fn misconfigured_on_error(fail: bool) -> Result<u32, TestError> {
    MISCONFIGURED_BODIES.fetch_add(1, Ordering::SeqCst);
    if fail { Err(TestError::Down) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn a_misconfigured_function_runs_neither_body_nor_fallback_and_lists_no_breaker() {
    for fail in [false, true, false] {
        for result in [
            misconfigured_with_fallback(fail).await,
            misconfigured_on_error(fail).await,
        ] {
            assert!(
                matches!(
                    result,
                    Err(TestError::Breaker(BreakerError::Misconfigured { .. }))
                ),
                "{result:?}"
            );
        }
    }
    assert_eq!(MISCONFIGURED_BODIES.load(Ordering::SeqCst), 0);
    assert_eq!(MISCONFIGURED_FALLBACKS.load(Ordering::SeqCst), 0);
    for name in [
        "behaviour::misconfigured_with_fallback",
        "behaviour::misconfigured_on_error",
    ] {
        assert!(registry::get(name).is_none(), "{name} is listed");
    }
}

#[circuit_breaker]
async fn named_by_default() -> Result<(), TestError> {
    Ok(())
}

struct Inventory;

impl Inventory {
    #[circuit_breaker]
    async fn count(&self) -> Result<u32, TestError> {
        Ok(3)
    }
}

struct Shelf<T>(T);

impl<T: Send + Sync> Shelf<T> {
    #[circuit_breaker]
    async fn size(&self) -> Result<usize, TestError> {
        Ok(std::mem::size_of_val(&self.0))
    }
}

struct Twin<T>(T);

impl Twin<u8> {
    #[circuit_breaker]
    async fn get(&self) -> Result<u32, TestError> {
        Ok(u32::from(self.0))
    }
}

impl Twin<u16> {
    #[circuit_breaker]
    async fn get(&self) -> Result<u32, TestError> {
        Ok(u32::from(self.0))
    }
}

#[tokio::test(start_paused = true)]
async fn default_names_come_from_the_module_the_type_and_the_function() {
    named_by_default().await.unwrap();
    assert!(registry::get("macro_behaviour::named_by_default").is_some());

    Inventory.count().await.unwrap();
    assert!(registry::get("macro_behaviour::Inventory::count").is_some());

    // One breaker for every instantiation of a generic type, named without its arguments.
    Shelf(1_u8).size().await.unwrap();
    Shelf("x").size().await.unwrap();
    assert_eq!(counts("macro_behaviour::Shelf::size").total_successes, 2);

    // Two functions whose default names collide still get a breaker each, under that name.
    Twin(1_u8).get().await.unwrap();
    Twin(2_u16).get().await.unwrap();
    Twin(3_u16).get().await.unwrap();
    let mut twins: Vec<u64> = registry::snapshot()
        .iter()
        .filter(|s| s.name == "macro_behaviour::Twin::get")
        .map(|s| s.counts.total_successes)
        .collect();
    twins.sort_unstable();
    assert_eq!(twins, [1, 2]);
}

// A default name belongs to its function alone; an explicit name is shared only with other
// explicit uses of it. So an explicit name equal to another function's default name never
// joins that function's breaker, whichever runs first.

#[circuit_breaker(consecutive_failures = 1)]
async fn default_named_first(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[circuit_breaker(
    name = "macro_behaviour::default_named_first",
    consecutive_failures = 1
)]
async fn explicit_named_second() -> Result<(), TestError> {
    Ok(())
}

#[circuit_breaker(consecutive_failures = 1)]
async fn default_named_second(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[circuit_breaker(
    name = "macro_behaviour::default_named_second",
    consecutive_failures = 1
)]
async fn explicit_named_first() -> Result<(), TestError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_explicit_name_equal_to_a_default_name_is_its_own_breaker_in_both_orders() {
    // The default-named function runs first.
    assert!(default_named_first(true).await.is_err());
    assert!(matches!(
        default_named_first(false).await,
        Err(TestError::Breaker(BreakerError::Open { .. }))
    ));
    explicit_named_second().await.unwrap();
    // The explicitly named function runs first.
    explicit_named_first().await.unwrap();
    assert!(default_named_second(true).await.is_err());
    assert!(matches!(
        default_named_second(false).await,
        Err(TestError::Breaker(BreakerError::Open { .. }))
    ));
    explicit_named_first().await.unwrap();
    for name in [
        "macro_behaviour::default_named_first",
        "macro_behaviour::default_named_second",
    ] {
        let listed = registry::snapshot()
            .iter()
            .filter(|s| s.name == name)
            .count();
        assert_eq!(listed, 2, "{name}");
        assert_eq!(state(name), State::Closed, "`get` finds the shared one");
    }
}

fn hook_one(_: &str, _: State, _: State) {}
fn hook_two(_: &str, _: State, _: State) {}

#[circuit_breaker(name = "behaviour::hooks_differ", on_state_change = hook_one)]
async fn hooked_once() -> Result<(), TestError> {
    Ok(())
}

#[circuit_breaker(name = "behaviour::hooks_differ", on_state_change = hook_two)]
async fn hooked_otherwise() -> Result<(), TestError> {
    Ok(())
}

fn lenient(result: &Result<(), TestError>) -> Outcome {
    match result {
        Err(TestError::NotFound) => Outcome::Ignored,
        other => Outcome::of(other),
    }
}

#[circuit_breaker(name = "behaviour::classifiers_differ", classify = lenient)]
async fn classified_leniently() -> Result<(), TestError> {
    Ok(())
}

#[circuit_breaker(name = "behaviour::classifiers_differ")]
async fn classified_by_default() -> Result<(), TestError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn one_name_with_a_different_hook_or_classifier_is_misconfigured() {
    hooked_once().await.unwrap();
    match hooked_otherwise().await {
        Err(TestError::Breaker(BreakerError::Misconfigured { reason, .. })) => {
            assert!(reason.contains("on_state_change hook"), "{reason}");
        }
        other => panic!("expected a misconfiguration, got {other:?}"),
    }
    classified_leniently().await.unwrap();
    match classified_by_default().await {
        Err(TestError::Breaker(BreakerError::Misconfigured { reason, .. })) => {
            assert!(reason.contains("classify function"), "{reason}");
        }
        other => panic!("expected a misconfiguration, got {other:?}"),
    }
}

// --- policies, classification, hooks ----------------------------------------------------

fn not_found_is_no_failure(result: &Result<u32, TestError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(TestError::NotFound) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

#[circuit_breaker(
    name = "behaviour::classify",
    consecutive_failures = 2,
    classify = not_found_is_no_failure
)]
async fn lookup(id: u32) -> Result<u32, TestError> {
    match id {
        0 => Err(TestError::NotFound),
        1 => Err(TestError::Down),
        n => Ok(n),
    }
}

#[tokio::test(start_paused = true)]
async fn classify_decides_what_counts_as_a_failure() {
    const NAME: &str = "behaviour::classify";
    for _ in 0..5 {
        assert!(matches!(lookup(0).await, Err(TestError::NotFound)));
    }
    assert_eq!(state(NAME), State::Closed);
    assert_eq!(counts(NAME).total_ignored, 5);
    assert_eq!(lookup(2).await.unwrap(), 2);
    for _ in 0..2 {
        assert!(lookup(1).await.is_err());
    }
    assert_eq!(state(NAME), State::Open);
}

#[circuit_breaker(name = "behaviour::ratio", failure_ratio = 0.5, min_requests = 4)]
async fn ratio(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn failure_ratio_trips_once_enough_calls_failed() {
    const NAME: &str = "behaviour::ratio";
    ratio(false).await.unwrap();
    assert!(ratio(true).await.is_err());
    ratio(false).await.unwrap();
    assert_eq!(
        state(NAME),
        State::Closed,
        "3 calls are fewer than min_requests"
    );
    assert!(ratio(true).await.is_err());
    assert_eq!(state(NAME), State::Open, "2 of 4 calls failed");
}

fn three_failures_in_total(counts: &Counts) -> bool {
    counts.total_failures >= 3
}

#[circuit_breaker(name = "behaviour::custom_trip", trip = three_failures_in_total)]
async fn custom_trip(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_custom_trip_policy_decides_when_to_open() {
    for fail in [true, false, true, false] {
        let _ = custom_trip(fail).await;
    }
    assert_eq!(state("behaviour::custom_trip"), State::Closed);
    assert!(custom_trip(true).await.is_err());
    assert_eq!(state("behaviour::custom_trip"), State::Open);
}

static TRANSITIONS: Mutex<Vec<(String, State, State)>> = Mutex::new(Vec::new());

fn record_transition(name: &str, from: State, to: State) {
    TRANSITIONS
        .lock()
        .unwrap()
        .push((name.to_owned(), from, to));
}

#[circuit_breaker(
    name = "behaviour::hook",
    consecutive_failures = 1,
    reset_timeout = "1s",
    on_state_change = record_transition
)]
async fn hooked(fail: bool) -> Result<(), TestError> {
    if fail { Err(TestError::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn on_state_change_sees_every_transition() {
    assert!(hooked(true).await.is_err());
    advance(Duration::from_secs(1)).await;
    hooked(false).await.unwrap();
    let seen: Vec<_> = TRANSITIONS
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, _, _)| name == "behaviour::hook")
        .map(|(_, from, to)| (*from, *to))
        .collect();
    assert_eq!(
        seen,
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
}

// --- shapes: methods, patterns, io::Result, panics ---------------------------------------

struct Counter {
    live: u32,
    cached: u32,
}

impl Counter {
    #[circuit_breaker(name = "behaviour::method", consecutive_failures = 1, fallback = cached)]
    async fn bump(&mut self, by: u32) -> Result<u32, TestError> {
        if by == 0 {
            return Err(TestError::Down);
        }
        self.live += by;
        Ok(self.live)
    }

    async fn cached(&mut self, by: u32) -> Result<u32, TestError> {
        self.cached += by;
        Ok(self.cached)
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_falls_back_on_the_same_receiver() {
    let mut counter = Counter { live: 0, cached: 0 };
    assert_eq!(counter.bump(2).await.unwrap(), 2);
    assert!(counter.bump(0).await.is_err());
    assert_eq!(counter.bump(5).await.unwrap(), 5);
    assert_eq!((counter.live, counter.cached), (2, 5));
}

#[circuit_breaker(name = "behaviour::patterns", consecutive_failures = 1, fallback = pair_cached)]
async fn pair((a, b): (u32, u32)) -> Result<u32, TestError> {
    if a == 0 {
        Err(TestError::Down)
    } else {
        Ok(a + b)
    }
}

async fn pair_cached(pair: (u32, u32)) -> Result<u32, TestError> {
    Ok(pair.0 * pair.1)
}

#[tokio::test(start_paused = true)]
async fn destructured_arguments_reach_the_fallback_whole() {
    assert_eq!(pair((1, 2)).await.unwrap(), 3);
    assert!(pair((0, 1)).await.is_err());
    assert_eq!(pair((3, 4)).await.unwrap(), 12);
}

#[circuit_breaker(name = "behaviour::io", timeout = "1s", consecutive_failures = 1)]
async fn read_slowly(delay: Duration) -> io::Result<u8> {
    tokio::time::sleep(delay).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn io_results_carry_the_breaker_error() {
    let timed_out = read_slowly(Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
    let inner = timed_out
        .get_ref()
        .and_then(|e| e.downcast_ref::<BreakerError>());
    assert!(matches!(inner, Some(BreakerError::Timeout { .. })));

    let rejected = read_slowly(Duration::ZERO).await.unwrap_err();
    assert_eq!(rejected.kind(), io::ErrorKind::Other);
    let inner = rejected
        .get_ref()
        .and_then(|e| e.downcast_ref::<BreakerError>());
    assert!(matches!(inner, Some(BreakerError::Open { .. })));
}

#[circuit_breaker(name = "behaviour::panic", consecutive_failures = 1)]
async fn panics(panic: bool) -> Result<(), TestError> {
    assert!(!panic, "the dependency panicked");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_body_counts_as_a_failure() {
    let joined = tokio::spawn(panics(true)).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(state("behaviour::panic"), State::Open);
}

// --- durations in hours and days ---------------------------------------------------------

#[circuit_breaker(
    name = "behaviour::hours_and_days",
    timeout = "1h",
    reset_timeout = "1d",
    consecutive_failures = 1
)]
async fn overnight(delay: Duration) -> Result<(), TestError> {
    tokio::time::sleep(delay).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn durations_in_hours_and_days_are_used_as_written() {
    let started = Instant::now();
    match overnight(Duration::from_secs(2 * 3_600)).await {
        Err(TestError::Breaker(BreakerError::Timeout { after, .. })) => {
            assert_eq!(after, Duration::from_secs(3_600));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(3_600));
    match overnight(Duration::ZERO).await {
        Err(TestError::Breaker(BreakerError::Open { retry_after, .. })) => {
            assert_eq!(retry_after, Duration::from_secs(86_400));
        }
        other => panic!("expected an open breaker, got {other:?}"),
    }
    advance(Duration::from_secs(86_400 - 1)).await;
    assert!(
        overnight(Duration::ZERO).await.is_err(),
        "still open a second before a day"
    );
    advance(Duration::from_secs(1)).await;
    overnight(Duration::ZERO).await.unwrap();
}

// --- a fallback calling its own function ----------------------------------------------

#[circuit_breaker(name = "behaviour::recursive_fallback", fallback = call_again)]
async fn recursive(depth: u32) -> Result<u32, TestError> {
    Ok(depth)
}

/// A mistake: the fallback calls its own protected function, which is rejected again.
async fn call_again(depth: u32) -> Result<u32, TestError> {
    Box::pin(recursive(depth + 1)).await
}

#[tokio::test(start_paused = true)]
async fn a_fallback_calling_its_own_function_while_open_ends_with_the_rejection() {
    assert_eq!(recursive(0).await.unwrap(), 0);
    registry::get("behaviour::recursive_fallback")
        .unwrap()
        .force_open();
    match recursive(0).await {
        Err(TestError::Breaker(BreakerError::ForcedOpen { name })) => {
            assert_eq!(name, "behaviour::recursive_fallback");
        }
        other => panic!("expected the rejection, got {other:?}"),
    }
}

// --- one breaker per key -----------------------------------------------------------------

#[circuit_breaker(key = host, consecutive_failures = 1, fallback = cached_stock)]
async fn stock_at(host: &str, fail: bool) -> Result<u32, TestError> {
    if fail { Err(TestError::Down) } else { Ok(10) }
}

async fn cached_stock(_host: &str, _fail: bool) -> Result<u32, TestError> {
    Ok(0)
}

#[tokio::test(start_paused = true)]
async fn a_key_gives_each_host_its_own_breaker() {
    assert!(matches!(stock_at("a:80", true).await, Err(TestError::Down)));
    // `a:80` is open: its fallback answers, while `b:80` still calls through.
    assert_eq!(stock_at("a:80", false).await.unwrap(), 0);
    assert_eq!(stock_at("b:80", false).await.unwrap(), 10);
    assert_eq!(state("macro_behaviour::stock_at[a:80]"), State::Open);
    assert_eq!(state("macro_behaviour::stock_at[b:80]"), State::Closed);
    assert_eq!(counts("macro_behaviour::stock_at[b:80]").total_successes, 1);
}

#[circuit_breaker(name = "behaviour::tenants", key = tenant, max_keys = 1, consecutive_failures = 1)]
async fn per_tenant(tenant: u64, fail: bool) -> Result<u64, TestError> {
    if fail {
        Err(TestError::Down)
    } else {
        Ok(tenant)
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_key_set_shares_the_overflow_breaker() {
    assert!(per_tenant(1, true).await.is_err());
    assert_eq!(state("behaviour::tenants[1]"), State::Open);
    // The only slot holds an open breaker, which is never evicted: tenant 2 overflows.
    assert_eq!(per_tenant(2, false).await.unwrap(), 2);
    assert_eq!(counts("behaviour::tenants[*]").total_successes, 1);
    assert!(registry::get("behaviour::tenants[2]").is_none());
    // Once tenant 1's breaker is closed and idle again, tenant 2 gets one of its own.
    registry::get("behaviour::tenants[1]").unwrap().reset();
    assert_eq!(per_tenant(2, false).await.unwrap(), 2);
    assert_eq!(counts("behaviour::tenants[2]").total_successes, 1);
}

struct Region {
    host: String,
}

impl Region {
    #[circuit_breaker(key = &self.host, consecutive_failures = 2)]
    async fn price(&self, fail: bool) -> Result<u32, TestError> {
        if fail { Err(TestError::Down) } else { Ok(5) }
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_keys_its_breakers_on_its_receiver() {
    let east = Region {
        host: "east".to_string(),
    };
    let west = Region {
        host: "west".to_string(),
    };
    for _ in 0..2 {
        assert!(east.price(true).await.is_err());
    }
    assert!(matches!(
        east.price(false).await,
        Err(TestError::Breaker(BreakerError::Open { .. }))
    ));
    assert_eq!(west.price(false).await.unwrap(), 5);
    assert_eq!(state("macro_behaviour::Region::price[east]"), State::Open);
}

#[circuit_breaker(
    key = host,
    consecutive_failures = 2,
    fallback = stock_from_cache,
    fallback_on = "error",
    fallback_reason = true
)]
async fn keyed_stock(host: &str, fail: bool) -> Result<String, TestError> {
    if fail {
        Err(TestError::Down)
    } else {
        Ok(format!("{host}: live"))
    }
}

async fn stock_from_cache(
    host: &str,
    _fail: bool,
    reason: async_breaker::FallbackReason,
) -> Result<String, TestError> {
    Ok(format!("{host}: cached after {reason:?}"))
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_fall_back_on_errors_per_key() {
    use async_breaker::FallbackReason::{Failed, RejectedOpen};
    for _ in 0..2 {
        let answer = keyed_stock("a", true).await.unwrap();
        assert_eq!(answer, format!("a: cached after {Failed:?}"));
    }
    let answer = keyed_stock("a", false).await.unwrap();
    assert_eq!(
        answer,
        format!("a: cached after {RejectedOpen:?}"),
        "a's breaker is open"
    );
    assert_eq!(keyed_stock("b", false).await.unwrap(), "b: live");
    assert_eq!(state("macro_behaviour::keyed_stock[a]"), State::Open);
    assert_eq!(state("macro_behaviour::keyed_stock[b]"), State::Closed);
}
