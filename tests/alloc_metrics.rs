//! With the `metrics` feature on, the call path still never touches the heap: a breaker
//! makes its metric handles once, when it is built, and a call only bumps them.
//!
//! Counted like `tests/alloc.rs` (a per-thread counting allocator from
//! `allocation-counter`, a current-thread runtime on the test's own thread, a warm-up
//! before counting). Each breaker is built under a *local* recorder
//! (`metrics::with_local_recorder`), so its handles belong to that recorder and the tests
//! of this binary neither share nor fight over the process-wide one:
//!
//! - [`Atomics`], a recorder whose every counter, gauge and histogram is an atomic, shows
//!   that the breaker itself allocates nothing, and that each call lands in the right
//!   series;
//! - the Prometheus exporter's recorder shows the same for counters and gauges; its
//!   histograms buffer samples in blocks until the next scrape, so calls that record a
//!   duration allocate one block per many calls, never one per call.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allocation_counter::measure;
use async_breaker::{BreakerError, CircuitBreaker, State, TripPolicy};
// The facade does not re-export the window settings (yet): the runtime's.
use breaker_runtime::Window;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Label, Metadata,
    Recorder, SharedString, Unit,
};

#[path = "support/alloc.rs"]
#[allow(dead_code)]
mod support;

use support::{
    AppError, CALLS, allocations_of, assert_no_allocation, fails, paused_runtime, runtime, works,
};

/// Calls made in `allocations_of`, warm-up included.
#[allow(clippy::cast_precision_loss)]
const ALL_CALLS: f64 = (CALLS + 16) as f64;

// --- a recorder made of atomics ----------------------------------------------------------

/// One series: a counter's value, a gauge's `f64` bits, or a histogram's sample count.
#[derive(Debug, Default)]
struct Series(AtomicU64);

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + value);
    }
    fn decrement(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Series {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A recorder that allocates only when a series is registered.
#[derive(Debug, Default)]
struct Atomics {
    series: Mutex<HashMap<Key, Arc<Series>>>,
}

impl Atomics {
    fn series(&self, key: &Key) -> Arc<Series> {
        let mut all = self.series.lock().unwrap();
        Arc::clone(all.entry(key.clone()).or_default())
    }

    /// The raw value of a series, looked up by name and labels in registration order.
    fn raw(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect();
        let key = Key::from_parts(name, labels);
        let all = self.series.lock().unwrap();
        let series = all.get(&key).unwrap_or_else(|| panic!("no series {key:?}"));
        series.0.load(Ordering::Relaxed)
    }

    fn calls(&self, breaker: &str, outcome: &str) -> f64 {
        let raw = self.raw(
            "breaker_calls_total",
            &[("breaker", breaker), ("outcome", outcome)],
        );
        raw as f64
    }

    fn state(&self, breaker: &str) -> f64 {
        f64::from_bits(self.raw("breaker_state", &[("breaker", breaker)]))
    }

    fn durations(&self, breaker: &str) -> f64 {
        self.raw("breaker_call_duration_seconds", &[("breaker", breaker)]) as f64
    }

    fn transitions(&self, breaker: &str, from: &str, to: &str) -> f64 {
        let raw = self.raw(
            "breaker_transitions_total",
            &[("breaker", breaker), ("from", from), ("to", to)],
        );
        raw as f64
    }
}

impl Recorder for Atomics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

/// A breaker whose metric handles belong to `recorder`.
fn build(recorder: &dyn Recorder, builder: async_breaker::Builder) -> CircuitBreaker {
    metrics::with_local_recorder(recorder, || builder.build()).expect("valid settings")
}

/// The counter really counts on this thread, so a zero below means zero.
#[test]
fn the_counting_allocator_is_installed() {
    let info = measure(|| {
        black_box(Box::new(7_u64));
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn closed_calls_record_metrics_without_allocating() {
    let rt = runtime();
    let _inside = rt.enter();
    let recorder = Atomics::default();
    let name = "alloc_metrics.closed";
    let breaker = build(
        &recorder,
        CircuitBreaker::builder(name).trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX)),
    );
    assert_eq!(recorder.state(name), 0.0, "closed from the start");

    let info = allocations_of(&rt, |i| breaker.call(works(i)));
    assert_no_allocation("closed, success", info);
    let info = allocations_of(&rt, |i| breaker.call(fails(i)));
    assert_no_allocation("closed, failure", info);

    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(recorder.calls(name, "success"), ALL_CALLS);
    assert_eq!(recorder.calls(name, "failure"), ALL_CALLS);
    assert_eq!(recorder.durations(name), 2.0 * ALL_CALLS);
    assert_eq!(recorder.state(name), 0.0);
}

#[test]
fn closed_calls_with_a_deadline_and_timeouts_do_not_allocate() {
    let rt = paused_runtime();
    let _inside = rt.enter();
    let recorder = Atomics::default();
    let name = "alloc_metrics.deadline";
    let breaker = build(
        &recorder,
        CircuitBreaker::builder(name)
            .timeout(Duration::from_millis(10))
            .trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX)),
    );
    let info = allocations_of(&rt, |i| breaker.call(works(i)));
    assert_no_allocation("closed, success, with a deadline", info);
    let slow = |i: u64| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        works(i).await
    };
    let info = allocations_of(&rt, |i| breaker.call(slow(i)));
    assert_no_allocation("closed, deadline passed", info);

    assert_eq!(recorder.calls(name, "success"), ALL_CALLS);
    assert_eq!(recorder.calls(name, "timeout"), ALL_CALLS);
    assert_eq!(
        recorder.calls(name, "failure"),
        0.0,
        "a timeout is its own outcome"
    );
    assert_eq!(recorder.durations(name), 2.0 * ALL_CALLS);
}

#[test]
fn open_rejections_record_metrics_without_allocating() {
    let rt = runtime();
    let _inside = rt.enter();
    let recorder = Atomics::default();
    let name = "alloc_metrics.open";
    let breaker = build(
        &recorder,
        CircuitBreaker::builder(name)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(3600)),
    );
    rt.block_on(async {
        let _ = breaker.call(fails(0)).await;
    });
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(recorder.transitions(name, "closed", "open"), 1.0);
    assert_eq!(recorder.state(name), 2.0);

    let breaker = &breaker;
    let info = allocations_of(&rt, |i| async move {
        let rejected = breaker.call(works(i)).await;
        assert!(matches!(
            rejected,
            Err(AppError::Breaker(BreakerError::Open { .. }))
        ));
    });
    assert_no_allocation("open, rejected", info);
    assert_eq!(recorder.calls(name, "rejected_open"), ALL_CALLS);
    assert_eq!(
        recorder.durations(name),
        1.0,
        "rejected calls have no duration"
    );
    assert_eq!(recorder.state(name), 2.0);
}

#[test]
fn half_open_rejections_record_metrics_without_allocating() {
    let rt = paused_runtime();
    let _inside = rt.enter();
    let recorder = Atomics::default();
    let name = "alloc_metrics.half_open";
    let breaker = build(
        &recorder,
        CircuitBreaker::builder(name)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(1)),
    );
    rt.block_on(async {
        let _ = breaker.call(fails(0)).await;
        tokio::time::advance(Duration::from_secs(1)).await;
    });
    let probe = breaker.try_acquire().expect("the probe slot");
    assert_eq!(recorder.state(name), 1.0, "1 is half-open");
    let breaker = &breaker;
    let info = allocations_of(&rt, |i| async move {
        let rejected = breaker.call(works(i)).await;
        assert!(matches!(
            rejected,
            Err(AppError::Breaker(BreakerError::HalfOpenFull { .. }))
        ));
    });
    assert_no_allocation("half-open, rejected", info);
    assert_eq!(recorder.calls(name, "rejected_half_open"), ALL_CALLS);
    probe.success();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(recorder.transitions(name, "open", "half-open"), 1.0);
    assert_eq!(recorder.transitions(name, "half-open", "closed"), 1.0);
    assert_eq!(recorder.state(name), 0.0);
}

#[test]
fn slow_calls_record_metrics_without_allocating_whatever_the_window() {
    let rt = paused_runtime();
    let _inside = rt.enter();
    let recorder = Atomics::default();
    let windows = [
        ("fixed", Window::Fixed { interval: None }),
        (
            "interval",
            Window::Fixed {
                interval: Some(Duration::from_millis(10)),
            },
        ),
        (
            "rolling",
            Window::Rolling {
                length: Duration::from_millis(10),
                buckets: 10,
            },
        ),
        ("count", Window::Calls { calls: 100 }),
    ];
    for (what, window) in windows {
        let name = format!("alloc_metrics.slow.{what}");
        let breaker = build(
            &recorder,
            CircuitBreaker::builder(name.clone())
                .window(window)
                .slow_call(Duration::from_millis(1))
                .slow_call_ratio(1.0, u64::MAX)
                .trip_policy(TripPolicy::ConsecutiveFailures(u32::MAX)),
        );
        let slow = |i: u64| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if i.is_multiple_of(2) {
                works(i).await
            } else {
                fails(i).await
            }
        };
        let info = allocations_of(&rt, |i| breaker.call(slow(i)));
        assert_no_allocation(&format!("{what} window, slow calls"), info);
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(
            recorder.raw("breaker_slow_calls_total", &[("breaker", &name)]) as f64,
            ALL_CALLS,
            "{what}"
        );
    }
}

// --- the Prometheus exporter's recorder --------------------------------------------------

#[test]
fn under_the_prometheus_recorder_rejections_do_not_allocate() {
    let rt = runtime();
    let _inside = rt.enter();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let name = "alloc_metrics.prometheus.open";
    let breaker = build(
        &recorder,
        CircuitBreaker::builder(name)
            .trip_policy(TripPolicy::ConsecutiveFailures(1))
            .reset_timeout(Duration::from_secs(3600)),
    );
    rt.block_on(async {
        let _ = breaker.call(fails(0)).await;
    });
    let breaker = &breaker;
    let info = allocations_of(&rt, |i| async move {
        let _ = breaker.call(works(i)).await;
    });
    assert_no_allocation("open, rejected, Prometheus", info);
    let text = handle.render();
    let line =
        format!("breaker_calls_total{{breaker=\"{name}\",outcome=\"rejected_open\"}} {ALL_CALLS}");
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
}

#[test]
fn under_the_prometheus_recorder_closed_calls_allocate_only_its_sample_blocks() {
    let rt = runtime();
    let _inside = rt.enter();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let name = "alloc_metrics.prometheus.closed";
    let breaker = build(&recorder, CircuitBreaker::builder(name));
    let info = allocations_of(&rt, |i| breaker.call(works(i)));
    // The exporter's histogram keeps samples in fixed-size blocks until a scrape or an
    // upkeep drains them: a block now and then, never one per call.
    assert!(info.count_total <= CALLS / 16, "{info:?}");
    let text = handle.render();
    let line = format!("breaker_call_duration_seconds_count{{breaker=\"{name}\"}} {ALL_CALLS}");
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
}
