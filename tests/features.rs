//! The facade's cargo features, seen from a user's side: `tracing` events on transitions,
//! rejections and timeouts, `serde` snapshots, and `shared = true` with and without
//! `redis`. (`metrics` is covered by `tests/observability.rs` and
//! `tests/alloc_metrics.rs`.) Each part compiles only with its feature on:
//! `cargo test --test features --features tracing,serde,redis`; the part about a feature
//! being off only without it: `cargo test --test features`.

/// A dependency's error.
#[cfg(any(feature = "tracing", feature = "serde"))]
#[derive(Debug)]
struct Down;

#[cfg(any(feature = "tracing", feature = "serde"))]
impl From<async_breaker::BreakerError> for Down {
    fn from(_: async_breaker::BreakerError) -> Self {
        Down
    }
}

#[cfg(feature = "tracing")]
mod tracing_events {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use async_breaker::{CircuitBreaker, TripPolicy};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::Down;

    /// One event as it was emitted: level, target and every field as text.
    #[derive(Debug, Clone)]
    struct Seen {
        level: Level,
        target: String,
        fields: BTreeMap<String, String>,
    }

    impl Seen {
        fn field(&self, name: &str) -> &str {
            self.fields.get(name).map_or("<missing>", String::as_str)
        }
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    /// A subscriber that keeps every event.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    /// The capture, installed as the global default once for this test binary. (A
    /// thread-scoped `with_default` subscriber is not enough: another test's thread may
    /// register the breaker's callsites first, with no subscriber, and tracing caches that
    /// interest.)
    fn capture() -> &'static Capture {
        static CAPTURE: OnceLock<Capture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone())
                .expect("no other global subscriber in this test binary");
            capture
        })
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(Seen {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                fields,
            });
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn transitions_rejections_and_timeouts_are_events_that_name_their_breaker() {
        let capture = capture();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        {
            rt.block_on(async {
                let a = CircuitBreaker::builder("features.tracing.a")
                    .trip_policy(TripPolicy::ConsecutiveFailures(2))
                    .reset_timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let b = CircuitBreaker::builder("features.tracing.b")
                    .timeout(Duration::from_millis(10))
                    .build()
                    .unwrap();
                for _ in 0..2 {
                    let _ = a.call(async { Err::<(), _>(Down) }).await;
                }
                let _ = a.call(async { Ok::<(), Down>(()) }).await; // rejected
                let _ = b
                    .call(async {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok::<(), Down>(())
                    })
                    .await; // timed out
                tokio::time::advance(Duration::from_secs(5)).await;
                let _ = a.call(async { Ok::<(), Down>(()) }).await; // probe, closes
            });
        }

        let seen = capture.0.lock().unwrap().clone();
        let ours: Vec<&Seen> = seen
            .iter()
            .filter(|e| {
                e.target == "breaker" && e.field("breaker").starts_with("features.tracing.")
            })
            .collect();
        let summary: Vec<(Level, &str, &str)> = ours
            .iter()
            .map(|e| (e.level, e.field("breaker"), e.field("message")))
            .collect();
        assert_eq!(
            summary,
            [
                (Level::WARN, "features.tracing.a", "circuit breaker opened"),
                (Level::DEBUG, "features.tracing.a", "call rejected"),
                (
                    Level::DEBUG,
                    "features.tracing.b",
                    "call timed out; counted as a failure"
                ),
                (
                    Level::INFO,
                    "features.tracing.a",
                    "circuit breaker half-open; probing"
                ),
                (Level::INFO, "features.tracing.a", "circuit breaker closed"),
            ],
            "{seen:#?}"
        );

        let opened = ours[0];
        assert_eq!(opened.field("from"), "closed");
        assert_eq!(opened.field("to"), "open");
        assert_eq!(opened.field("failures"), "2");
        assert_eq!(opened.field("consecutive_failures"), "2");
        assert_eq!(opened.field("requests"), "2");
        assert_eq!(opened.field("retry_after"), "Some(5s)");
        assert!(opened.field("cause").contains("trip policy"), "{opened:?}");
        assert!(ours[1].field("error").contains("is open"), "{:?}", ours[1]);
        assert_eq!(ours[2].field("after"), "10ms");
        let closed = ours[4];
        assert_eq!(
            (closed.field("from"), closed.field("to")),
            ("half-open", "closed")
        );
        assert_eq!(closed.field("successes"), "1");
    }

    #[test]
    fn a_reconfiguration_is_an_info_event_naming_its_breaker() {
        let capture = capture();
        let b = CircuitBreaker::builder("features.reconfigured")
            .build()
            .unwrap();
        let mut settings = b.settings();
        settings.max_requests = 3;
        b.reconfigure(settings).unwrap();
        let seen = capture.0.lock().unwrap().clone();
        let ours: Vec<&Seen> = seen
            .iter()
            .filter(|e| e.field("breaker") == "features.reconfigured")
            .collect();
        assert_eq!(ours.len(), 1, "{seen:#?}");
        assert_eq!(ours[0].level, Level::INFO);
        assert_eq!(ours[0].field("message"), "circuit breaker reconfigured");
        assert_eq!(
            (ours[0].field("from"), ours[0].field("to")),
            ("closed", "closed")
        );
        assert!(
            ours[0].field("cause").contains("reconfigured"),
            "{:?}",
            ours[0]
        );
    }
}

#[cfg(feature = "serde")]
mod serde_snapshots {
    use std::time::Duration;

    use async_breaker::{CircuitBreaker, Jitter, TripPolicy, Window, registry};
    use serde_json::json;

    use super::Down;

    #[test]
    fn windows_slow_calls_backoff_and_jitter_serialize_as_settings() {
        let settings = |b: async_breaker::Builder| {
            serde_json::to_value(b.build().unwrap().settings()).unwrap()
        };
        let rolling = settings(
            CircuitBreaker::builder("features.serde.rolling")
                .timeout(Duration::from_secs(2))
                .window(Window::Rolling {
                    length: Duration::from_millis(1500),
                    buckets: 15,
                })
                .slow_call(Duration::from_millis(500))
                .slow_call_ratio(0.25, 8)
                .backoff(2.0, Duration::from_secs(600))
                .jitter(Jitter::Equal),
        );
        assert_eq!(
            rolling["window"],
            json!({ "kind": "rolling", "length": 1.5, "buckets": 15 })
        );
        assert_eq!(rolling["slow_call"], json!(0.5));
        assert_eq!(
            rolling["slow_call_ratio"],
            json!({ "ratio": 0.25, "min_requests": 8 })
        );
        assert_eq!(
            rolling["backoff"],
            json!({ "factor": 2.0, "max_reset_timeout": 600.0 })
        );
        assert_eq!(rolling["jitter"], json!("equal"));
        let calls = settings(
            CircuitBreaker::builder("features.serde.calls").window(Window::Calls { calls: 50 }),
        );
        assert_eq!(calls["window"], json!({ "kind": "calls", "calls": 50 }));
        let fixed = settings(
            CircuitBreaker::builder("features.serde.fixed").interval(Duration::from_secs(90)),
        );
        assert_eq!(
            fixed["window"],
            json!({ "kind": "fixed", "interval": 90.0 })
        );
        assert_eq!(fixed["jitter"], json!("none"));
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_serialize_with_durations_in_seconds() {
        let b = CircuitBreaker::builder("features.serde")
            .timeout(Duration::from_millis(250))
            .trip_policy(TripPolicy::FailureRatio {
                ratio: 0.5,
                min_requests: 2,
            })
            .reset_timeout(Duration::from_secs(30))
            .max_requests(2)
            .build()
            .unwrap();
        let _ = b.call(async { Ok::<(), Down>(()) }).await;
        let _ = b.call(async { Err::<(), Down>(Down) }).await; // 1 of 2 failed: trips
        tokio::time::advance(Duration::from_millis(7500)).await;

        let settings = json!({
            "timeout": 0.25,
            "max_requests": 2,
            "window": { "kind": "fixed", "interval": null },
            "reset_timeout": 30.0,
            "trip_policy": { "kind": "failure_ratio", "failure_ratio": 0.5, "min_requests": 2 },
            "slow_call": null,
            "slow_call_ratio": null,
            "backoff": null,
            "jitter": "none",
        });
        let zero = json!({
            "requests": 0, "total_successes": 0, "total_failures": 0, "total_ignored": 0,
            "consecutive_successes": 0, "consecutive_failures": 0,
            "slow_calls": 0, "consecutive_slow_calls": 0,
        });
        assert_eq!(
            serde_json::to_value(b.snapshot()).unwrap(),
            json!({
                "name": "features.serde",
                "state": "open",
                "forced": false,
                "counts": zero,
                "retry_after": 22.5,
                "attempt": 1,
                "settings": settings,
            })
        );

        // Held open by an operator: no probe is coming, so no retry_after.
        b.force_open();
        // Only this breaker is looked at: a look moves an open breaker along by the clock
        // of the runtime that looks, and the other tests here run on clocks of their own.
        let listed = registry::get("features.serde")
            .expect("registered")
            .snapshot();
        assert_eq!(
            serde_json::to_value(listed).unwrap(),
            json!({
                "name": "features.serde",
                "state": "open",
                "forced": true,
                "counts": zero,
                "retry_after": null,
                "attempt": 1,
                "settings": settings,
            })
        );
    }
}

/// `shared = true` in the attribute builds breakers that join the process-wide fleet.
#[cfg(feature = "redis")]
mod redis_shared {
    use async_breaker::{BreakerError, State, circuit_breaker, registry};

    #[circuit_breaker(shared = true, timeout = "2s")]
    async fn default_named() -> Result<u32, BreakerError> {
        Ok(1)
    }

    #[circuit_breaker(name = "features.redis.named", shared = true, consecutive_failures = 3)]
    async fn named() -> Result<u32, BreakerError> {
        Ok(2)
    }

    #[circuit_breaker(name = "features.redis.keyed", key = host, shared = true)]
    async fn keyed(host: &str) -> Result<u32, BreakerError> {
        Ok(u32::try_from(host.len()).unwrap_or(u32::MAX))
    }

    /// No fleet is installed in this test binary: the breakers work as local ones, and
    /// would join a fleet installed later.
    #[tokio::test]
    async fn shared_breakers_work_before_a_fleet_is_installed() {
        assert_eq!(default_named().await.unwrap(), 1);
        assert_eq!(named().await.unwrap(), 2);
        assert_eq!(keyed("10.0.0.7:8080").await.unwrap(), 13);
        for name in [
            "features.redis.named",
            "features.redis.keyed[10.0.0.7:8080]",
        ] {
            let breaker = registry::get(name).unwrap_or_else(|| panic!("{name} is registered"));
            assert_eq!(breaker.state(), State::Closed, "{name}");
        }
    }
}

/// Without the `redis` feature, `shared = true` is one compile error, on the key, that says
/// to enable the feature. (trybuild builds its cases with this test's features.)
#[cfg(not(feature = "redis"))]
#[test]
fn shared_true_needs_the_redis_feature() {
    trybuild::TestCases::new().compile_fail("tests/ui/without_redis/*.rs");
}
