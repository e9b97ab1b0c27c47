//! The observability example's shop, over real HTTP on 127.0.0.1: a dependency driven
//! into failure trips its breaker, and `/metrics`, `/breakers`, the state-change listeners
//! and operator control all show it.
//!
//! The metrics recorder is process-wide and a breaker registers its metrics when it is
//! built, so this binary installs one recorder before anything else and runs one shop,
//! in one test, with breaker names of its own (`it.pricing`, `it.inventory`).

#[path = "../examples/observability/service.rs"]
mod service;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_breaker::{Cause, StateChange};
use async_breaker::{State, registry};
use serde_json::Value;

use service::{App, Dependency, Options, Scrape};

const PRICING: &str = "it.pricing";
const INVENTORY: &str = "it.inventory";

/// The transitions of this test's breakers, as a listener sees them.
fn listen() -> (registry::ListenerId, Arc<Mutex<Vec<StateChange>>>) {
    let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let log = Arc::clone(&seen);
    let id = registry::on_state_change(move |change| {
        if change.name.starts_with("it.") {
            log.lock().unwrap().push(change.clone());
        }
    });
    (id, seen)
}

/// The one entry of `/breakers` named `name`.
fn entry<'a>(breakers: &'a Value, name: &str) -> &'a Value {
    let all = breakers.as_array().expect("/breakers is a JSON array");
    let mut found = all.iter().filter(|b| b["name"] == name);
    let one = found
        .next()
        .unwrap_or_else(|| panic!("{name} in {breakers:#}"));
    assert!(found.next().is_none(), "{name} listed twice");
    one
}

fn calls(scrape: &Scrape, breaker: &str, outcome: &str) -> Option<f64> {
    scrape.value(
        "breaker_calls_total",
        &[("breaker", breaker), ("outcome", outcome)],
    )
}

fn transitions(scrape: &Scrape, breaker: &str, from: &str, to: &str) -> Option<f64> {
    scrape.value(
        "breaker_transitions_total",
        &[("breaker", breaker), ("from", from), ("to", to)],
    )
}

fn gauge(scrape: &Scrape, breaker: &str) -> Option<f64> {
    scrape.value("breaker_state", &[("breaker", breaker)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dependency_shows_in_metrics_breakers_and_listeners() {
    let metrics = service::install_recorder().expect("the only recorder of this binary");
    let (listener, seen) = listen();
    let pricing = Dependency::start("1999").await.expect("bind 127.0.0.1");
    let inventory = Dependency::start("42").await.expect("bind 127.0.0.1");
    // A reset_timeout far longer than the test: the breaker stays open until an operator
    // resets it, whatever the machine's speed. The deadline is generous for the same
    // reason: no call here may time out.
    let options = Options {
        prefix: "it.",
        trip_after: 3,
        reset_timeout: Duration::from_secs(3600),
        timeout: Duration::from_secs(60),
    };
    let app = App::start(&options, &pricing, &inventory, metrics)
        .await
        .expect("the shop starts");
    let url = app.url();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let get = |path: &str| service::get(&client, &format!("{url}{path}"));
    let post = |path: &str| service::post(&client, &format!("{url}{path}"));
    let put = |path: &str, body: &str| service::put(&client, &format!("{url}{path}"), body);

    // Before any call: every series exists (handles are made when a breaker is built),
    // at zero, and the gauge says closed.
    let scrape = Scrape::parse(&get("/metrics").await.unwrap().body);
    for outcome in [
        "success",
        "failure",
        "ignored",
        "timeout",
        "rejected_open",
        "rejected_half_open",
    ] {
        assert_eq!(calls(&scrape, PRICING, outcome), Some(0.0), "{outcome}");
    }
    assert_eq!(gauge(&scrape, PRICING), Some(0.0));
    assert_eq!(transitions(&scrape, PRICING, "closed", "open"), Some(0.0));

    // Two good calls, then the dependency fails: three failures trip the breaker, and the
    // next two calls are refused without reaching it.
    for _ in 0..2 {
        let answer = get("/price/sku-1").await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "1999"));
    }
    pricing.set_failing(true);
    for _ in 0..3 {
        let answer = get("/price/sku-1").await.unwrap();
        assert_eq!(answer.status, 502, "{answer:?}");
        assert!(answer.body.contains("503"), "{answer:?}");
    }
    for _ in 0..2 {
        let answer = get("/price/sku-1").await.unwrap();
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.body.contains("\"it.pricing\" is open"), "{answer:?}");
        let retry_after = answer.retry_after.expect("Retry-After on a rejection");
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(
        pricing.hits(),
        5,
        "the open breaker kept calls off the dependency"
    );
    assert_eq!(app.pricing().state(), State::Open);
    let answer = get("/stock/sku-1").await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "42"));

    // /metrics: the counters, the gauge and the one transition, per breaker.
    let scrape = Scrape::parse(&get("/metrics").await.unwrap().body);
    assert_eq!(calls(&scrape, PRICING, "success"), Some(2.0));
    assert_eq!(calls(&scrape, PRICING, "failure"), Some(3.0));
    assert_eq!(calls(&scrape, PRICING, "rejected_open"), Some(2.0));
    assert_eq!(calls(&scrape, PRICING, "timeout"), Some(0.0));
    assert_eq!(calls(&scrape, PRICING, "rejected_half_open"), Some(0.0));
    assert_eq!(gauge(&scrape, PRICING), Some(2.0), "2 is open");
    assert_eq!(transitions(&scrape, PRICING, "closed", "open"), Some(1.0));
    assert_eq!(
        transitions(&scrape, PRICING, "open", "half-open"),
        Some(0.0)
    );
    assert_eq!(
        scrape.lines("breaker_transitions_total"),
        [r#"breaker_transitions_total{breaker="it.pricing",from="closed",to="open"} 1"#],
        "that transition and no other"
    );
    assert_eq!(
        scrape.value(
            "breaker_call_duration_seconds_count",
            &[("breaker", PRICING)]
        ),
        Some(5.0),
        "admitted calls only"
    );
    assert_eq!(
        scrape.value(
            "breaker_call_duration_seconds_bucket",
            &[("breaker", PRICING), ("le", "+Inf")]
        ),
        Some(5.0)
    );
    // The other breaker is untouched by pricing's failures.
    assert_eq!(calls(&scrape, INVENTORY, "success"), Some(1.0));
    assert_eq!(calls(&scrape, INVENTORY, "failure"), Some(0.0));
    assert_eq!(gauge(&scrape, INVENTORY), Some(0.0));
    assert_eq!(transitions(&scrape, INVENTORY, "closed", "open"), Some(0.0));

    // /breakers: the registry snapshot, as JSON.
    let breakers = get("/breakers").await.unwrap().json().unwrap();
    let p = entry(&breakers, PRICING);
    assert_eq!(p["state"], "open");
    assert_eq!(p["forced"], false);
    // The trip began a new generation: the counts of the open period, still zero.
    assert_eq!(p["counts"]["requests"], 0);
    assert_eq!(p["counts"]["total_failures"], 0);
    let retry_after = p["retry_after"].as_f64().expect("seconds until a probe");
    assert!(retry_after > 0.0 && retry_after <= 3600.0, "{retry_after}");
    assert_eq!(p["settings"]["reset_timeout"], 3600.0);
    assert_eq!(p["settings"]["timeout"], 60.0);
    assert_eq!(p["settings"]["trip_policy"]["kind"], "consecutive_failures");
    assert_eq!(p["settings"]["trip_policy"]["consecutive_failures"], 3);
    let i = entry(&breakers, INVENTORY);
    assert_eq!(i["state"], "closed");
    assert_eq!(i["counts"]["requests"], 1);
    assert_eq!(i["counts"]["total_successes"], 1);
    assert_eq!(i["retry_after"], Value::Null);

    // The listener saw the trip, with its cause and the counts that caused it.
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let trip = &seen[0];
        assert_eq!(trip.name, PRICING);
        assert_eq!(
            (trip.from, trip.to, trip.cause),
            (State::Closed, State::Open, Cause::Tripped)
        );
        assert_eq!(trip.counts.requests, 5);
        assert_eq!(trip.counts.total_successes, 2);
        assert_eq!(trip.counts.consecutive_failures, 3);
        assert!(trip.retry_after.is_some_and(|d| d <= options.reset_timeout));
    }

    // Operator control over HTTP: reset pricing (the dependency is healthy again), hold
    // inventory open, and an unknown name or action is a 404.
    pricing.set_failing(false);
    let reset = post("/breakers/it.pricing/reset").await.unwrap();
    assert_eq!(reset.status, 200, "{reset:?}");
    let reset = reset.json().unwrap();
    assert_eq!(
        (&reset["state"], &reset["forced"]),
        (&"closed".into(), &false.into())
    );
    assert_eq!(get("/price/sku-1").await.unwrap().status, 200);
    let held = post("/breakers/it.inventory/force-open")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&held["state"], &held["forced"]),
        (&"open".into(), &true.into())
    );
    let refused = get("/stock/sku-1").await.unwrap();
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.body.contains("held open by an operator"),
        "{refused:?}"
    );
    assert_eq!(
        refused.retry_after, None,
        "no probe is coming while held open"
    );
    assert_eq!(
        post("/breakers/it.nothing/reset").await.unwrap().status,
        404
    );
    assert_eq!(
        post("/breakers/it.pricing/explode").await.unwrap().status,
        404
    );

    // Live reconfiguration over HTTP: a JSON body of the settings to change; mistakes are
    // a 400 that names them and change nothing.
    let changed = put(
        "/breakers/it.pricing/settings",
        r#"{"timeout": "1m 30s", "consecutive_failures": 7}"#,
    )
    .await
    .unwrap();
    assert_eq!(changed.status, 200, "{changed:?}");
    let changed = changed.json().unwrap();
    assert_eq!(changed["settings"]["timeout"], 90.0);
    assert_eq!(
        changed["settings"]["trip_policy"]["consecutive_failures"],
        7
    );
    assert_eq!(
        changed["settings"]["reset_timeout"], 3600.0,
        "what the body leaves out stays"
    );
    let typo = put("/breakers/it.pricing/settings", r#"{"timout": "1s"}"#)
        .await
        .unwrap();
    assert_eq!(typo.status, 400, "{typo:?}");
    assert!(typo.body.contains("did you mean `timeout`"), "{typo:?}");
    let zero = put("/breakers/it.pricing/settings", r#"{"max_requests": 0}"#)
        .await
        .unwrap();
    assert_eq!(zero.status, 400, "{zero:?}");
    assert!(zero.body.contains("at least 1"), "{zero:?}");
    let not_json = put("/breakers/it.pricing/settings", "timeout=1s")
        .await
        .unwrap();
    assert_eq!(not_json.status, 400, "{not_json:?}");
    let unchanged = registry::get(PRICING).unwrap().settings();
    assert_eq!(unchanged.timeout, Some(Duration::from_secs(90)));
    assert_eq!(
        put("/breakers/it.nothing/settings", "{}")
            .await
            .unwrap()
            .status,
        404
    );

    let scrape = Scrape::parse(&get("/metrics").await.unwrap().body);
    assert_eq!(
        scrape.value("breaker_reconfigurations_total", &[("breaker", PRICING)]),
        Some(1.0)
    );
    assert_eq!(transitions(&scrape, PRICING, "open", "closed"), Some(1.0));
    assert_eq!(gauge(&scrape, PRICING), Some(0.0));
    assert_eq!(calls(&scrape, PRICING, "success"), Some(3.0));
    assert_eq!(transitions(&scrape, INVENTORY, "closed", "open"), Some(1.0));
    assert_eq!(gauge(&scrape, INVENTORY), Some(2.0));
    assert_eq!(calls(&scrape, INVENTORY, "rejected_open"), Some(1.0));
    let breakers = get("/breakers").await.unwrap().json().unwrap();
    assert_eq!(entry(&breakers, INVENTORY)["forced"], true);
    assert_eq!(entry(&breakers, PRICING)["state"], "closed");
    {
        let seen = seen.lock().unwrap();
        let causes: Vec<_> = seen.iter().map(|c| (c.name.as_str(), c.cause)).collect();
        assert_eq!(
            causes,
            [
                (PRICING, Cause::Tripped),
                (PRICING, Cause::Reset),
                (INVENTORY, Cause::ForcedOpen),
                (PRICING, Cause::Reconfigured),
            ]
        );
    }

    assert!(registry::remove_listener(listener));
    app.shutdown().await;
    pricing.shutdown().await;
    inventory.shutdown().await;
    assert!(
        registry::get(PRICING).is_none() && registry::get(INVENTORY).is_none(),
        "a stopped shop's breakers leave the registry"
    );
}
