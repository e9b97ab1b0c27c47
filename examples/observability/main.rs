//! Eyes on the breakers: a shop guarded by one breaker per dependency, exposing
//! `GET /metrics` (Prometheus text) and `GET /breakers` (the registry as JSON), with
//! operator control at `POST /breakers/{name}/{force-open|force-closed|reset}` and live
//! reconfiguration at `PUT /breakers/{name}/settings` (a JSON body such as
//! `{"timeout": "750ms"}`).
//!
//! ```text
//! cargo run --example observability --features metrics,serde,config,tracing
//! ```
//!
//! A short script drives it over real HTTP on 127.0.0.1 and prints what an operator would
//! see: the pricing dependency fails, its breaker trips (a `tracing` warning, a listener
//! line, the state gauge at 2), rejections are counted, the dependency recovers and a
//! probe closes the breaker; then an operator holds the inventory breaker open and resets
//! it, and gives pricing a shorter deadline live. Every step is checked; a wrong one exits non-zero. It takes about a second.
//!
//! Needs the `metrics`, `serde` and `config` features (`tracing` adds the log lines); cargo says so
//! when they are missing.

mod service;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    script::run().await
}

mod script {
    use std::time::Duration;

    use async_breaker::{State, registry};

    use crate::service::{self, App, Dependency, Options, Scrape};

    /// Fails the example with a message unless `$cond` holds.
    macro_rules! check {
        ($cond:expr, $($why:tt)+) => {
            if !$cond {
                return Err(format!($($why)+).into());
            }
        };
    }

    pub(crate) async fn run() -> Result<(), Box<dyn std::error::Error>> {
        // 1. Wiring, in this order: the subscriber and the recorder first, then the
        //    breakers (each registers its metrics when it is built).
        #[cfg(feature = "tracing")]
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .without_time()
            .init();
        let metrics = service::install_recorder()?;
        let listener = registry::on_state_change(|change| {
            println!(
                "  [listener] {}: {} -> {} ({})",
                change.name,
                change.from,
                change.to,
                change.cause.describe()
            );
        });

        let pricing = Dependency::start("1999").await?;
        let inventory = Dependency::start("42").await?;
        let options = Options {
            prefix: "",
            trip_after: 3,
            reset_timeout: Duration::from_millis(400),
            timeout: Duration::from_secs(2),
        };
        let app = App::start(&options, &pricing, &inventory, metrics).await?;
        let url = app.url();
        println!("shop on {url}: GET /price/{{sku}}, /stock/{{sku}}, /metrics, /breakers");
        let client = reqwest::Client::builder().no_proxy().build()?;
        let get = |path: &str| service::get(&client, &format!("{url}{path}"));
        let post = |path: &str| service::post(&client, &format!("{url}{path}"));
        let put = |path: &str, body: &str| service::put(&client, &format!("{url}{path}"), body);

        // 2. Healthy traffic.
        for path in ["/price/sku-1", "/price/sku-2", "/stock/sku-1"] {
            let answer = get(path).await?;
            println!("GET {path} -> {} {}", answer.status, answer.body.trim());
            check!(answer.status == 200, "{path} answered {}", answer.status);
        }

        // 3. The pricing database goes down: three failures trip the breaker, after which
        //    callers are refused at once and the dependency gets no more traffic.
        println!("\n-- the pricing dependency starts failing");
        pricing.set_failing(true);
        let hits_before = pricing.hits();
        for expected in [502, 502, 502, 503, 503] {
            let answer = get("/price/sku-1").await?;
            println!(
                "GET /price/sku-1 -> {} {}{}",
                answer.status,
                answer.body.trim(),
                answer
                    .retry_after
                    .map(|s| format!(" (Retry-After: {s})"))
                    .unwrap_or_default()
            );
            check!(answer.status == expected, "expected {expected}: {answer:?}");
        }
        check!(
            pricing.hits() - hits_before == 3,
            "the open breaker let {} calls through",
            pricing.hits() - hits_before - 3
        );

        // 4. What an operator sees.
        let breakers = get("/breakers").await?.json()?;
        println!("\nGET /breakers (one line each here):");
        for b in breakers.as_array().into_iter().flatten() {
            println!(
                "  {}: {}, forced {}, retry_after {}, counts {}",
                b["name"], b["state"], b["forced"], b["retry_after"], b["counts"]
            );
        }
        check!(
            breakers[1]["name"] == "pricing",
            "sorted by name: {breakers}"
        );
        check!(breakers[1]["state"] == "open", "{breakers}");
        check!(
            breakers[0]["state"] == "closed",
            "inventory is fine: {breakers}"
        );
        let scrape = Scrape::parse(&get("/metrics").await?.body);
        println!("\nGET /metrics (breaker_* series that are not zero, without buckets):");
        for line in scrape.lines("breaker_") {
            println!("  {line}");
        }
        let pricing_calls = |outcome| {
            scrape.value(
                "breaker_calls_total",
                &[("breaker", "pricing"), ("outcome", outcome)],
            )
        };
        check!(pricing_calls("success") == Some(2.0), "{scrape:?}");
        check!(pricing_calls("failure") == Some(3.0), "{scrape:?}");
        check!(pricing_calls("rejected_open") == Some(2.0), "{scrape:?}");
        check!(
            scrape.value("breaker_state", &[("breaker", "pricing")]) == Some(2.0),
            "the gauge says open"
        );

        // 5. The dependency recovers; after reset_timeout one probe goes through and its
        //    success closes the breaker.
        println!("\n-- the pricing dependency recovers");
        pricing.set_failing(false);
        tokio::time::sleep(options.reset_timeout).await;
        let answer = get("/price/sku-1").await?;
        println!(
            "GET /price/sku-1 -> {} {}",
            answer.status,
            answer.body.trim()
        );
        check!(answer.status == 200, "the probe: {answer:?}");
        check!(app.pricing().state() == State::Closed, "a probe closes it");

        // 6. Operator control: hold the inventory breaker open (maintenance window), then
        //    reset it. Both show in the snapshot, the listener and the metrics.
        println!("\n-- an operator holds inventory open, then resets it");
        let held = post("/breakers/inventory/force-open").await?.json()?;
        println!(
            "POST /breakers/inventory/force-open -> state {}, forced {}",
            held["state"], held["forced"]
        );
        check!(held["state"] == "open" && held["forced"] == true, "{held}");
        let answer = get("/stock/sku-1").await?;
        println!(
            "GET /stock/sku-1 -> {} {}",
            answer.status,
            answer.body.trim()
        );
        check!(answer.status == 503, "{answer:?}");
        let reset = post("/breakers/inventory/reset").await?.json()?;
        println!(
            "POST /breakers/inventory/reset -> state {}, forced {}",
            reset["state"], reset["forced"]
        );
        check!(
            reset["state"] == "closed" && reset["forced"] == false,
            "{reset}"
        );
        check!(
            get("/stock/sku-1").await?.status == 200,
            "reset lets calls through"
        );

        // 7. During an incident, an operator gives pricing a shorter deadline without a
        //    restart; a typo in a key is refused and changes nothing.
        println!("\n-- an operator reconfigures pricing live");
        let body = r#"{"timeout": "750ms", "consecutive_failures": 5}"#;
        let changed = put("/breakers/pricing/settings", body).await?;
        println!(
            "PUT /breakers/pricing/settings {body} -> {} timeout {}s",
            changed.status,
            changed.json()?["settings"]["timeout"]
        );
        check!(changed.status == 200, "{changed:?}");
        check!(
            app.pricing().settings().timeout == Some(Duration::from_millis(750)),
            "the new deadline is in force"
        );
        let typo = put("/breakers/pricing/settings", r#"{"timout": "1s"}"#).await?;
        println!(
            "PUT /breakers/pricing/settings {{\"timout\": ..}} -> {} {}",
            typo.status,
            typo.body.trim()
        );
        check!(typo.status == 400, "{typo:?}");

        let scrape = Scrape::parse(&get("/metrics").await?.body);
        println!("\nGET /metrics (transitions that happened):");
        for line in scrape.lines("breaker_transitions_total") {
            println!("  {line}");
        }
        let transitions = |breaker, from, to| {
            scrape.value(
                "breaker_transitions_total",
                &[("breaker", breaker), ("from", from), ("to", to)],
            )
        };
        for (breaker, from, to) in [
            ("pricing", "closed", "open"),
            ("pricing", "open", "half-open"),
            ("pricing", "half-open", "closed"),
            ("inventory", "closed", "open"),
            ("inventory", "open", "closed"),
        ] {
            check!(
                transitions(breaker, from, to) == Some(1.0),
                "{breaker}: {from} -> {to} once"
            );
        }

        registry::remove_listener(listener);
        app.shutdown().await;
        pricing.shutdown().await;
        inventory.shutdown().await;
        println!("\nobservability: every check passed");
        Ok(())
    }
}
